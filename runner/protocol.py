"""One repetition of the single-client protocol, over SSH:

start a fresh server on the server host → wait until it answers and verify the
exact body (probe run on the client host) → warm up → measured window (wrk on
the client host under the psutil sampler; a second sampler watches the server's
process tree) → stop the server and check no process of it is left.

Every step has a time bound. A failure becomes a reason string; it never
escapes as an exception, so the run goes on with the other cells.
"""
from __future__ import annotations

import contextlib
import json
import shlex
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from runner import wrk
from runner.locks import Cell
from runner.remote_paths import HostPaths
from runner.servers import SERVERS
from runner.ssh import run
from runner.views import VIEWS

PORT = 8000
READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
SAMPLER_INTERVAL_S = 0.2
SCENARIO = "single-client"
# The server's whole environment (env -i): nothing of the SSH session's, so no
# GUNICORN_CMD_ARGS, WEB_CONCURRENCY or the like can change what the argv says.
SERVER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin",
              "DJANGO_SETTINGS_MODULE": "labproject.settings", "PYTHONDONTWRITEBYTECODE": "1"}


class StepFailed(Exception):
    pass


@dataclass
class Outcome:
    metrics: dict = field(default_factory=dict)   # metric -> (value, unit)
    observed_cpus: dict = field(default_factory=dict)  # role -> CPUs its processes could use
    failure: str | None = None
    timings: dict = field(default_factory=dict)   # step -> seconds
    argv: list = field(default_factory=list)


@dataclass
class Context:
    run_id: str
    run_dir: Path
    server_host: object
    client_host: object
    server_conn: object
    client_conn: object
    warmup_s: float
    duration_s: float


def _json_tail(text: str) -> dict:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return json.loads(lines[-1]) if lines else {}


def start_server(ctx: Context, cell: Cell, rep_dir: str) -> tuple[int, list[str]]:
    sp = HostPaths.of(ctx.server_host)
    argv = SERVERS[cell.spec.server].command(sp.app, sp.venv_bin(cell.env_id),
                                             ctx.server_host.address, PORT, cell.spec.workers,
                                             cell.spec.threads, versions=dict(cell.packages))
    # setsid: the server leads its own session, so stopping it reaches every
    # worker it forked, and the check for leftovers has one key (the session).
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in SERVER_ENV.items())
    cmd = (f"mkdir -p {rep_dir} && cd {sp.app} && "
           f"(env -i {env} setsid {shlex.join(argv)} > {rep_dir}/server.log 2>&1 < /dev/null & echo $!)")
    # Ctrl-C while this command is in flight would leave a server whose pid
    # nobody knows: hold the interrupt until the pid is back.
    with deferred_sigint():
        out = run(ctx.server_conn, cmd, timeout=30).stdout.strip()
    return int(out.splitlines()[-1]), argv


@contextlib.contextmanager
def deferred_sigint():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def reap_stale_servers(ctx: Context) -> str:
    """Stop servers of this lab left by an earlier run that was killed hard
    (every server runs from a venv under <lab_root>/envs/). Returns what was found."""
    envs = f"{HostPaths.of(ctx.server_host).root}/envs/"
    # "[/]root/..." matches the path but not this shell's own command line.
    pattern = shlex.quote(f"[{envs[0]}]{envs[1:]}")
    found = run(ctx.server_conn, f"pgrep -af {pattern} || true", timeout=15).stdout.strip()
    if found:
        run(ctx.server_conn, f"pkill -KILL -f {pattern}; sleep 0.5", timeout=15, warn=True)
    return found


def wait_ready(ctx: Context, cell: Cell) -> float:
    view = VIEWS[cell.spec.view]
    cp = HostPaths.of(ctx.client_host)
    url = f"http://{ctx.server_host.address}:{PORT}{view.path}"
    res = run(ctx.client_conn,
              f"{cp.tools_python} {cp.tool('probe.py')} --url {url} --timeout {READY_TIMEOUT_S:g} "
              f"--expect-status {view.expected_status} --expect-body-hex {view.expected_body.hex()}",
              timeout=READY_TIMEOUT_S + 15, warn=True)
    data = _json_tail(res.stdout)
    if not data.get("ready"):
        raise StepFailed(f"server did not answer within {READY_TIMEOUT_S:g} s ({data.get('error')})")
    if not data.get("body_ok"):
        raise StepFailed(f"verification failed: status {data.get('status')}, body {data.get('body')!r}, "
                         f"expected {view.expected_status} {view.expected_body!r}")
    return float(data["ready_after_s"])


def run_wrk(ctx: Context, cell: Cell, seconds: float, rep_dir: str, tag: str) -> wrk.WrkResult:
    cp = HostPaths.of(ctx.client_host)
    url = f"http://{ctx.server_host.address}:{PORT}{VIEWS[cell.spec.view].path}"
    argv = wrk.command(url, seconds, cp.tool("report.lua"))
    cmd = (f"mkdir -p {rep_dir} && {cp.tools_python} {cp.tool('sampler.py')} exec "
           f"--interval {SAMPLER_INTERVAL_S} --out {rep_dir}/{tag}-client.jsonl "
           f"--stdout {rep_dir}/{tag}-wrk.txt -- {shlex.join(argv)}")
    res = run(ctx.client_conn, cmd, timeout=seconds + 30, warn=True)
    out = run(ctx.client_conn, f"cat {rep_dir}/{tag}-wrk.txt", timeout=15, warn=True).stdout
    if res.return_code != 0:
        raise StepFailed(f"wrk exited {res.return_code}: {' '.join(out.split())[:200]}")
    return wrk.parse(out)


def start_sampler(ctx: Context, pid: int, rep_dir: str) -> int:
    sp = HostPaths.of(ctx.server_host)
    cmd = (f"(setsid {sp.tools_python} {sp.tool('sampler.py')} tree --pid {pid} "
           f"--interval {SAMPLER_INTERVAL_S} --max-seconds {ctx.duration_s + 60:g} "
           f"--out {rep_dir}/server.jsonl > {rep_dir}/sampler.log 2>&1 < /dev/null & echo $!)")
    return int(run(ctx.server_conn, cmd, timeout=15).stdout.split()[-1])


def stop_sampler(ctx: Context, sampler_pid: int, rep_dir: str) -> dict:
    run(ctx.server_conn,
        f"kill -TERM {sampler_pid} 2>/dev/null; for i in $(seq 100); do "
        f"kill -0 {sampler_pid} 2>/dev/null || break; sleep 0.05; done", timeout=15, warn=True)
    trace = run(ctx.server_conn, f"tail -n 1 {rep_dir}/server.jsonl", timeout=15, warn=True).stdout
    try:
        return _json_tail(trace)["summary"]
    except (ValueError, KeyError):
        raise StepFailed("server sampler wrote no summary") from None


def server_alive(ctx: Context, pid: int) -> bool:
    return run(ctx.server_conn, f"kill -0 {pid}", timeout=15, warn=True).return_code == 0


def stop_server(ctx: Context, pid: int) -> str | None:
    """Stop the server's whole session; return a problem or None when clean."""
    tries = int(STOP_GRACE_S / 0.1)
    script = (f"pkill -TERM -s {pid}; for i in $(seq {tries}); do "
              f"pgrep -s {pid} >/dev/null || exit 0; sleep 0.1; done; "
              f"pkill -KILL -s {pid}; sleep 0.5; pgrep -s {pid} >/dev/null && exit 1; exit 2")
    code = run(ctx.server_conn, script, timeout=STOP_GRACE_S + 20, warn=True).return_code
    if code == 1:
        return "processes of the server were still alive after SIGKILL"
    if code == 2:
        return f"server ignored SIGTERM for {STOP_GRACE_S:g} s and was killed"
    listening = run(ctx.server_conn, f"ss -Hltn 'sport = :{PORT}'", timeout=15, warn=True).stdout
    return f"port {PORT} still listening after stop" if listening.strip() else None


def fetch(conn, remote_dir: str, names: list[str], local_dir: Path) -> None:
    local_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            conn.get(f"{remote_dir}/{name}", str(local_dir / name))
        except OSError:
            pass  # a step that failed early writes fewer files; the reason is recorded


def cpu_list(cpus) -> str:
    """[0, 1, 2, 5] -> "0-2,5", the kernel's own notation (Cpus_allowed_list)."""
    cpus, parts = sorted(cpus or []), []
    for cpu in cpus:
        if parts and cpu == parts[-1][1] + 1:
            parts[-1][1] = cpu
        else:
            parts.append([cpu, cpu])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def parse_cpu_list(text: str) -> list[int]:
    cpus = []
    for part in filter(None, str(text).split(",")):
        a, _, b = part.partition("-")
        cpus.extend(range(int(a), int(b or a) + 1))
    return cpus


def metrics_from(result: wrk.WrkResult, server: dict, client: dict) -> dict:
    lat = result.latency_ms
    return {
        "latency_p50": (lat["p50"], "ms"), "latency_p90": (lat["p90"], "ms"),
        "latency_p99": (lat["p99"], "ms"), "latency_mean": (lat["mean"], "ms"),
        "latency_max": (lat["max"], "ms"),
        "requests_per_s": (result.requests_per_s, "1/s"), "requests": (result.requests, "count"),
        "errors": (result.errors, "count"),
        "server_cpu_percent": (server["cpu_percent"], "%"),
        "server_rss_mb": (server["rss_mean"] / 2**20, "MB"),
        "server_threads": (server["threads_peak"], "count"),
        "server_processes": (server["processes"], "count"),
        "server_ctx_voluntary": (server["ctx_voluntary"], "count"),
        "server_ctx_involuntary": (server["ctx_involuntary"], "count"),
        "server_sampler_cpu_percent": (server["sampler_cpu_percent"], "%"),
        "client_cpu_percent": (client["cpu_percent"], "%"),
    }


def run_repetition(ctx: Context, cell: Cell, repetition: int) -> Outcome:
    outcome = Outcome()
    sp, cp = HostPaths.of(ctx.server_host), HostPaths.of(ctx.client_host)
    s_dir = sp.rep_dir(ctx.run_id, cell.cell_id, repetition)
    c_dir = cp.rep_dir(ctx.run_id, cell.cell_id, repetition)
    local = ctx.run_dir / "raw" / cell.cell_id / f"rep{repetition}"
    clock = time.monotonic()
    marks = {}
    pid = None

    def mark(step):
        nonlocal clock
        now = time.monotonic()
        marks[step] = round(now - clock, 4)
        clock = now

    try:
        pid, outcome.argv = start_server(ctx, cell, s_dir)
        mark("start")
        outcome.metrics["ready_after_s"] = (wait_ready(ctx, cell), "s")
        mark("ready_verify")
        if ctx.warmup_s > 0:
            run_wrk(ctx, cell, ctx.warmup_s, c_dir, "warmup")
        mark("warmup")
        sampler_pid = start_sampler(ctx, pid, s_dir)
        result = run_wrk(ctx, cell, ctx.duration_s, c_dir, "measured")
        server_summary = stop_sampler(ctx, sampler_pid, s_dir)
        mark("measured")
        if not server_alive(ctx, pid):
            raise StepFailed("server died during the measured window")
        client_summary = _json_tail(run(ctx.client_conn, f"tail -n 1 {c_dir}/measured-client.jsonl",
                                        timeout=15).stdout)["summary"]
        if result.requests == 0:
            raise StepFailed("wrk completed no request in the measured window")
        outcome.metrics.update(metrics_from(result, server_summary, client_summary))
        outcome.observed_cpus = {"server": cpu_list(server_summary.get("cpu_affinity")),
                                 "client": cpu_list(client_summary.get("cpu_affinity"))}
        # A measurement outside the declared CPU sets is not the one asked for.
        for role, host in (("server", ctx.server_host), ("client", ctx.client_host)):
            declared = cpu_list(parse_cpu_list(host.cpus))
            if outcome.observed_cpus[role] != declared:
                raise StepFailed(f"{role} processes could run on CPUs {outcome.observed_cpus[role]!r}, "
                                 f"declared {declared!r}")
    except StepFailed as exc:
        outcome.failure = str(exc)
    except (ValueError, KeyError) as exc:  # includes wrk.WrkOutputError
        outcome.failure = f"{type(exc).__name__}: {exc}"
    finally:
        if pid is not None:
            problem = stop_server(ctx, pid)
            mark("stop")
            if problem and not outcome.failure:
                outcome.failure = problem
        fetch(ctx.server_conn, s_dir, ["server.log", "server.jsonl", "sampler.log"], local)
        fetch(ctx.client_conn, c_dir, ["measured-wrk.txt", "measured-client.jsonl",
                                            "warmup-wrk.txt"], local)
    outcome.timings = marks
    overhead = sum(v for k, v in marks.items() if k in ("start", "ready_verify", "stop"))
    outcome.metrics["runner_overhead_s"] = (overhead, "s")
    return outcome
