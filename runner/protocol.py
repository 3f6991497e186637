"""One repetition of one scenario variant on one cell, over SSH:

(scenario's before_start) → start a fresh server on the server host →
primer: wait until it answers and verify its response (probe on the client
host) → wait until all its workers are up → warm-up (wrk, not measured) →
the scenario's measured window(s) (runner/scenarios/, psutil on both hosts,
traces cut to the window) → stop the server and check no process of it is
left. Each phase's start and end (epoch seconds) are recorded.

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

from invoke.exceptions import CommandTimedOut
from paramiko.ssh_exception import SSHException

from runner import wrk
from runner.locks import Cell
from runner.remote_paths import HostPaths
from runner.scenarios import SCENARIOS
from runner.scenarios.base import SAMPLER_INTERVAL_S, Session, StepFailed, Variant
from runner.servers import SERVERS
from runner.ssh import run
from runner.views import VIEWS

PORT = 8000
READY_TIMEOUT_S = 30.0
WORKERS_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
__all__ = ["SAMPLER_INTERVAL_S", "StepFailed"]
# The server's whole environment (env -i): nothing of the SSH session's, so no
# GUNICORN_CMD_ARGS, WEB_CONCURRENCY or the like can change what the argv says.
SERVER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin",
              "DJANGO_SETTINGS_MODULE": "labproject.settings", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass
class Outcome:
    metrics: dict = field(default_factory=dict)   # metric -> (value, unit)
    observed_cpus: dict = field(default_factory=dict)  # role -> CPUs its processes could use
    failure: str | None = None
    timings: dict = field(default_factory=dict)   # step -> seconds
    phases: dict = field(default_factory=dict)    # phase -> [start, end] epoch seconds
    argv: list = field(default_factory=list)
    raw_dir: str = ""


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
    port: int = PORT


def _json_tail(text: str) -> dict:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return json.loads(lines[-1]) if lines else {}


def start_server(ctx: Context, cell: Cell, rep_dir: str,
                 extra_env: dict | None = None) -> tuple[int, list[str]]:
    sp = HostPaths.of(ctx.server_host)
    argv = SERVERS[cell.spec.server].command(sp.app, sp.venv_bin(cell.env_id),
                                             ctx.server_host.address, PORT, cell.spec.workers,
                                             cell.spec.threads, versions=dict(cell.packages),
                                             app=VIEWS[cell.spec.view].app)
    # setsid: the server leads its own session, so stopping it reaches every
    # worker it forked, and the check for leftovers has one key (the session).
    env = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in {**SERVER_ENV, **(extra_env or {})}.items())
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
              f"--expect-status {view.expected_status} --expect-body-hex {view.expected_body.hex()} "
              f"--match {view.match}",
              timeout=READY_TIMEOUT_S + 15, warn=True)
    data = _json_tail(res.stdout)
    if not data.get("ready"):
        raise StepFailed(f"server did not answer within {READY_TIMEOUT_S:g} s ({data.get('error')})")
    if not data.get("body_ok"):
        raise StepFailed(f"verification failed: status {data.get('status')}, body {data.get('body')!r}, "
                         f"expected {view.expected_status} {view.expected_body!r}")
    return float(data["ready_after_s"])


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


def wait_for_workers(ctx: Context, pid: int, workers: int) -> int:
    """With several workers the first answer comes from the first one up: wait
    until the server's session holds a supervisor and `workers` workers, so
    that no worker is still booting when the load starts (and granian, which
    hangs on a SIGTERM during a worker's boot, is never stopped then)."""
    want = workers + 1 if workers > 1 else 1
    tries = int(WORKERS_TIMEOUT_S / 0.1)
    res = run(ctx.server_conn, f"for i in $(seq {tries}); do n=$(pgrep -c -s {pid}); "
                               f"[ \"$n\" -ge {want} ] && echo $n && exit 0; sleep 0.1; done; "
                               f"echo $n; exit 1", timeout=WORKERS_TIMEOUT_S + 15, warn=True)
    count = int((res.stdout.split() or ["0"])[-1])
    if res.return_code != 0:
        raise StepFailed(f"only {count} server process(es) after {WORKERS_TIMEOUT_S:g} s; "
                         f"expected at least {want} for {workers} worker(s)")
    return count


def warm_up(ctx: Context, session: Session) -> None:
    cp = HostPaths.of(ctx.client_host)
    argv = wrk.command(session.url(session.view.path), ctx.warmup_s, cp.tool("report.lua"))
    res = run(ctx.client_conn, f"mkdir -p {session.client_dir} && {shlex.join(argv)} "
                               f"> {session.client_dir}/warmup-wrk.txt 2>&1",
              timeout=ctx.warmup_s + 30, warn=True)
    if res.return_code != 0:
        raise StepFailed(f"warm-up wrk exited {res.return_code}")


def check_cpus(ctx: Context, session: Session) -> dict:
    """A measurement outside the declared CPU sets is not the one asked for."""
    window = session.last_window
    observed = {"server": cpu_list(window.server.get("cpu_affinity")),
                "client": cpu_list(window.client.get("cpu_affinity"))}
    for role, host in (("server", ctx.server_host), ("client", ctx.client_host)):
        declared = cpu_list(parse_cpu_list(host.cpus))
        if observed[role] != declared:
            raise StepFailed(f"{role} processes could run on CPUs {observed[role]!r}, "
                             f"declared {declared!r}")
    return observed


def run_repetition(ctx: Context, cell: Cell, scenario: str, params, variant: Variant,
                   repetition: int) -> Outcome:
    outcome = Outcome()
    plugin = SCENARIOS[scenario]
    session = Session(ctx, cell, scenario, variant, repetition)
    outcome.raw_dir = session.relative_dir
    clock = time.monotonic()
    marks, phases = {}, {}

    def mark(step):
        nonlocal clock
        now = time.monotonic()
        marks[step] = round(now - clock, 4)
        clock = now

    @contextlib.contextmanager
    def phase(name):
        began = time.time()
        try:
            yield
        finally:
            phases[name] = [began, time.time()]

    try:
        with phase("prepare"):
            plugin.before_start(session, params)
        session.pid, outcome.argv = start_server(ctx, cell, session.server_dir,
                                                 plugin.server_env(ctx, params))
        mark("start")
        with phase("primer"):
            outcome.metrics["ready_after_s"] = (wait_ready(ctx, cell), "s")
            wait_for_workers(ctx, session.pid, cell.spec.workers)
        mark("ready_verify")
        if ctx.warmup_s > 0 and plugin.warmup:
            with phase("warmup"):
                warm_up(ctx, session)
        mark("warmup")
        with phase("measured"):
            outcome.metrics.update(plugin.measure(session, params, variant))
        mark("measured")
        if session.last_window is not None:
            outcome.observed_cpus = check_cpus(ctx, session)
    except StepFailed as exc:
        outcome.failure = str(exc)
    except (ValueError, KeyError) as exc:  # includes wrk.WrkOutputError
        outcome.failure = f"{type(exc).__name__}: {exc}"
    except CommandTimedOut as exc:
        # A step over its bound (a hung load generator, say) fails this unit only.
        outcome.failure = f"a step timed out after {exc.timeout:g} s: {exc.result.command[:160]}"
    except (SSHException, OSError) as exc:
        outcome.failure = f"SSH failed during the repetition: {type(exc).__name__}: {exc}"
    finally:
        if session.pid is not None:
            problem = stop_server(ctx, session.pid)
            mark("stop")
            if problem and not outcome.failure:
                outcome.failure = problem
        session.fetch(ctx.server_conn, session.server_dir, ["server.log"])
        session.fetch(ctx.client_conn, session.client_dir, ["warmup-wrk.txt"])
    outcome.timings = marks
    outcome.phases = phases
    overhead = sum(v for k, v in marks.items() if k in ("start", "ready_verify", "stop"))
    outcome.metrics["runner_overhead_s"] = (overhead, "s")
    return outcome
