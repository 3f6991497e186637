"""The server under test on its host, over SSH: start it fresh in its own
session with a clean environment, probe it from the client host until it
answers with the view's exact response, wait for its workers, warm it up,
stop it and check nothing of it is left, and clear servers an earlier run
left behind. Every step has a time bound.
"""
from __future__ import annotations

import contextlib
import json
import shlex
import signal
import threading

from runner.catalog import user_app
from runner.catalog.servers import SERVERS
from runner.catalog.views import VIEWS, View
from runner.core.errors import StepFailed
from runner.lab.host_paths import HostPaths
from runner.lab.ssh import run
from runner.session.lease import watchdog_command
from runner.session.session import PORT, Context, Session
from runner.tools import wrk

READY_TIMEOUT_S = 30.0
READY_SLICE_S = 5.0     # the readiness probe's slice: a dead server is seen after one
WORKERS_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
# The server's whole environment (env -i): nothing of the SSH session's, so no
# GUNICORN_CMD_ARGS, WEB_CONCURRENCY or the like can change what the argv says.
# PYTHONHASHSEED fixed: every fresh server hashes str keys alike (dict and
# set layouts, the order of set iteration), so that this per-process
# randomness is not part of the noise between repetitions. Figures are then
# for this one seed; the manifest records it (protocol.server_env).
SERVER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin",
              "DJANGO_SETTINGS_MODULE": "labproject.settings", "PYTHONDONTWRITEBYTECODE": "1",
              "PYTHONHASHSEED": "0"}


def server_env(project: user_app.UserApp | None) -> dict:
    """SERVER_ENV, with a user's project's own settings module."""
    return {**SERVER_ENV, "DJANGO_SETTINGS_MODULE": project.settings} if project else SERVER_ENV


def env_prefix(env: dict) -> str:
    """`env -i K=V ...`: a command under exactly this environment."""
    return "env -i " + " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env.items())


def probe_command(client_paths: HostPaths, url: str, view: View, timeout_s: float,
                  request_timeout_s: float = 2.0) -> str:
    """The readiness probe (session/host/probe.py) on the client host: waits
    until `url` answers, then checks the view's status and body."""
    return (f"{client_paths.tools_python} {client_paths.tool('probe.py')} --url {shlex.quote(url)} "
            f"--timeout {timeout_s:g} --request-timeout {request_timeout_s:g} "
            f"--expect-status {view.expected_status} "
            f"--expect-body-hex {shlex.quote(view.expected_body.hex())} --match {view.match}")


def _json_tail(text: str) -> dict:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return json.loads(lines[-1]) if lines else {}


def start_server(ctx: Context, cell, rep_dir: str, extra_env: dict | None = None,
                 wrapper: list[str] | None = None) -> tuple[int, list[str]]:
    """Start the cell's server (under `wrapper`'s argv, if given); returns
    (its pid, the server's own argv)."""
    sp = HostPaths.of(ctx.server_host)
    server = SERVERS[cell.spec.server]
    project = user_app.project_of(cell.spec.view)
    app_dir = sp.user_app if project else sp.app
    argv = server.command(app_dir, sp.venv_bin(cell.env_id), ctx.server_host.traffic_address, PORT,
                          cell.spec.workers, cell.spec.threads, versions=dict(cell.packages),
                          app=VIEWS[cell.spec.view].app,
                          target=project.target(server.interface) if project else None)
    # setsid: the server leads its own session, so stopping it reaches every
    # worker it forked, and the check for leftovers has one key (the session).
    # Its watchdog (session/lease.py) stops it if this controller dies.
    env = env_prefix({**server_env(project), **(extra_env or {})})
    cmd = (f"mkdir -p {rep_dir} && cd {app_dir} && ({env} setsid "
           f"{shlex.join([*(wrapper or []), *argv])} > {rep_dir}/server.log 2>&1 < /dev/null & "
           f"pid=$!; {watchdog_command(ctx.server_host)} echo $pid)")
    out = run(ctx.server_conn, cmd, timeout=30).stdout.strip()
    return int(out.splitlines()[-1]), argv


@contextlib.contextmanager
def deferred_sigint():
    """Hold a Ctrl-C (SIGINT) until the block has ended, then raise it."""
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
    envs = f"{HostPaths.of(ctx.server_host).envs}/"
    # "[/]root/..." matches the path but not this shell's own command line.
    pattern = shlex.quote(f"[{envs[0]}]{envs[1:]}")
    found = run(ctx.server_conn, f"pgrep -af {pattern} || true", timeout=15).stdout.strip()
    if found:
        run(ctx.server_conn, f"pkill -KILL -f {pattern}; sleep 0.5", timeout=15, warn=True)
    return found


def wait_ready(ctx: Context, cell, pid: int | None = None,
               one_request_s: float | None = None) -> float:
    """Seconds until the server answered with the exact expected bytes. The
    probe waits in slices of READY_SLICE_S; between slices a server `pid`
    that has exited fails at once rather than after the whole timeout.

    With `one_request_s` (a server under an instrument that counts every
    request it serves) a request the probe sends waits that long for its
    answer, in one slice: a probe that gave up on a request would leave it
    queued for a worker still booting, to be served uncounted for."""
    view = VIEWS[cell.spec.view]
    url = f"http://{ctx.server_host.traffic_address}:{PORT}{view.path}"
    timeout_s = one_request_s or READY_TIMEOUT_S
    waited, data = 0.0, {}
    while waited < timeout_s:
        step = timeout_s if one_request_s else min(READY_SLICE_S, timeout_s - waited)
        probe = probe_command(HostPaths.of(ctx.client_host), url, view, step,
                              request_timeout_s=one_request_s or 2.0)
        res = run(ctx.client_conn, probe, timeout=step + 15, warn=True)
        data = _json_tail(res.stdout)
        if data.get("ready"):
            data["ready_after_s"] = waited + float(data["ready_after_s"])
            break
        waited += step
        if pid is not None and run(ctx.server_conn, f"kill -0 {pid}", timeout=15,
                                   warn=True).return_code != 0:
            raise StepFailed(f"server did not answer: it exited within {waited:g} s "
                             f"(see its server.log; {data.get('error')})")
    if not data.get("ready"):
        raise StepFailed(f"server did not answer within {timeout_s:g} s ({data.get('error')})")
    if not data.get("body_ok"):
        raise StepFailed(f"verification failed: status {data.get('status')}, body {data.get('body')!r}, "
                         f"expected {view.expected_status} {view.expected_body!r}")
    return float(data["ready_after_s"])


# On the server host: every socket listening on the port, and for each pid
# that holds one its session id and name (ss -p reads /proc/*/fd as root).
LISTENERS_SCRIPT = """out=$(ss -Hltnp 'sport = :{port}')
printf '%s\\n' "$out" | sed -n 's/^/listen /p'
for p in $(printf '%s' "$out" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -un); do
  echo "owner $p $(ps -o sid= -p "$p" | tr -d ' ') $(cat /proc/"$p"/comm 2>/dev/null)"
done"""


def foreign_listeners(text: str, session: int) -> tuple[int, list[str]]:
    """(sockets listening, ["pid (name)" of each holder outside `session`])
    from LISTENERS_SCRIPT's output."""
    sockets = sum(1 for line in text.splitlines() if line.startswith("listen ") and line[7:].strip())
    foreign = ["? (its owner is not visible here)" for line in text.splitlines()
               if line.startswith("listen ") and line[7:].strip() and "pid=" not in line]
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["owner"] and (len(parts) < 3 or parts[2] != str(session)):
            foreign.append(f"{parts[1]} ({' '.join(parts[3:]) or '?'})")
    return sockets, foreign


def listen_facts(text: str) -> dict:
    """Socket-level facts of the server's port from LISTENERS_SCRIPT's
    output: how many sockets listen on it (one per worker when the server
    uses SO_REUSEPORT, so the kernel spreads connections by hash; one shared
    socket otherwise, whose workers take turns in accept) and the largest
    accept backlog (ss's Send-Q of a listening socket)."""
    rows = [line.split() for line in text.splitlines() if line.startswith("listen ")]
    backlogs = [int(r[3]) for r in rows if len(r) > 3 and r[3].isdigit()]
    return {"listen_sockets": (float(len(rows)), "count"),
            "listen_backlog": (float(max(backlogs, default=0)), "count")}


def prove_identity(ctx: Context, pid: int, when: str) -> dict:
    """The server measured is the server started: the port's every listening
    socket is held by the session this run started (setsid: the session id
    is the started pid), and that session is alive. Raises StepFailed;
    returns the port's listen_facts."""
    out = run(ctx.server_conn, LISTENERS_SCRIPT.format(port=PORT), timeout=15, warn=True).stdout
    sockets, foreign = foreign_listeners(out, pid)
    if foreign:
        raise StepFailed(f"{when}: port {PORT} is held by pid {', '.join(foreign)}, not by the "
                         f"server this run started (session {pid}); nothing of it is measured")
    if sockets == 0:
        raise StepFailed(f"{when}: nothing listens on port {PORT}: the server started "
                         f"(session {pid}) is gone")
    return listen_facts(out)


def stop_server(ctx: Context, pid: int, leader_only: bool = False) -> str | None:
    """Stop the server's whole session; return a problem or None when clean.
    SIGTERM goes to every process of the session at once, or with
    `leader_only` to the server's main process alone, whose own shutdown
    stops its workers (one signal each, as in production: a second one
    racing a worker's exit makes the shutdown differ from run to run)."""
    tries = int(STOP_GRACE_S / 0.1)
    term = f"kill -TERM {pid}" if leader_only else f"pkill -TERM -s {pid}"
    script = (f"{term}; for i in $(seq {tries}); do "
              f"pgrep -s {pid} >/dev/null || exit 0; sleep 0.1; done; "
              f"pkill -KILL -s {pid}; sleep 0.5; pgrep -s {pid} >/dev/null && exit 1; exit 2")
    code = run(ctx.server_conn, script, timeout=STOP_GRACE_S + 20, warn=True).return_code
    if code == 1:
        return "processes of the server were still alive after SIGKILL"
    if code == 2:
        return f"server ignored SIGTERM for {STOP_GRACE_S:g} s and was killed"
    listening = run(ctx.server_conn, f"ss -Hltn 'sport = :{PORT}'", timeout=15, warn=True).stdout
    return f"port {PORT} still listening after stop" if listening.strip() else None


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


