"""Real servers on 127.0.0.1 for the loopback tests: one venv with the
catalog's default pins (uv, from its cache when it can), a free port, a GET,
start in a session of its own, wait until it answers and its workers settle,
stop its process group and check that nothing of the session is left.

Traffic goes only to 127.0.0.1, and every loop is bounded in time and count."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from runner.catalog.servers import DEFAULT_PINS, clean_env
from runner.catalog.views import VIEWS

REPO = Path(__file__).resolve().parent.parent.parent
APP_DIR = REPO / "lab_app"
PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python3")
LOOPBACK = "127.0.0.1"
STARTUP_S = 20.0  # from spawn to the first 200 answer
REQUEST_TIMEOUT_S = 5.0  # one HTTP request
STOP_GRACE_S = 10.0  # SIGTERM to SIGKILL
REAP_S = 5.0  # after SIGKILL, until no process of the session is left
POLL_S = 0.05
SETTLE_WINDOW_S = 0.2  # see wait_settled
SETTLE_WINDOWS = 2
SETTLE_TICKS = 2
INSTALL_TIMEOUT_S = 300



def uv_path() -> str:
    for candidate in (Path(sys.executable).parent / "uv", REPO / ".venv" / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    import shutil

    found = shutil.which("uv")
    if not found:
        pytest.fail("uv not found: install the project's dependencies (uv is one of them)")
    return found


def build_server_venv(tmp_path_factory) -> Path:
    """One venv with DEFAULT_PINS on CPython 3.12, shared by every case."""
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: the loopback test needs CPython 3.12 there")
    venv = tmp_path_factory.mktemp("servers") / "venv"
    uv = uv_path()
    subprocess.run([uv, "venv", "--quiet", "--python", str(PYTHON), str(venv)],
                   check=True, timeout=INSTALL_TIMEOUT_S)
    pins = [f"{name}=={version}" for name, version in DEFAULT_PINS.items()]
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *pins]
    cached = subprocess.run([*install, "--offline"], capture_output=True,
                            timeout=INSTALL_TIMEOUT_S)
    if cached.returncode != 0:
        subprocess.run(install, check=True, timeout=INSTALL_TIMEOUT_S)
    return venv / "bin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def get(port: int, path: str, timeout: float = REQUEST_TIMEOUT_S):
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def session_stats(sid: int) -> dict[int, list[str]]:
    """/proc/PID/stat fields (from the state on) of the live processes in session `sid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[0] is the state, fields[3] the session id (stat fields 3 and 6).
        if int(fields[3]) == sid and fields[0] != "Z":
            found[int(entry.name)] = fields
    return found


def session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is `sid`."""
    return sorted(session_stats(sid))


def session_cpu_ticks(sid: int) -> int:
    # utime and stime are stat fields 14 and 15, i.e. fields[11] and fields[12] here.
    return sum(int(f[11]) + int(f[12]) for f in session_stats(sid).values())


def socket_inodes(pids: list[int]) -> set[int]:
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def listening(pids: list[int]) -> set[tuple]:
    """Every listening socket the processes hold: ("tcp", ip, port) or ("unix", path)."""
    found = set()
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        found |= {("tcp", c.laddr.ip, c.laddr.port) for c in conns
                  if c.status == psutil.CONN_LISTEN}
    # psutil does not tell a listening unix socket from a connected one:
    # /proc/net/unix does (flag __SO_ACCEPTCON, 0x10000).
    inodes = socket_inodes(pids)
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        cols = line.split()
        flags, inode = int(cols[3], 16), int(cols[6])
        if inode in inodes and flags & 0x10000:
            found.add(("unix", cols[7] if len(cols) > 7 else ""))
    return found


def log_tail(log: Path, n: int = 40) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def wait_ready(proc: subprocess.Popen, port: int, log: Path, min_procs: int = 1,
                path: str = VIEWS["sync"].path) -> float:
    """Wait (at most STARTUP_S) for a 200 answer at `path`, then for the tree to settle."""
    start = time.monotonic()
    deadline = start + STARTUP_S
    last_error = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before answering:\n{log_tail(log)}")
        try:
            status, _, _ = get(port, path, timeout=1.0)
            if status == 200:
                wait_settled(proc, min_procs, deadline, log)
                return time.monotonic() - start
            last_error = f"status {status}"
        except OSError as exc:
            last_error = repr(exc)
        time.sleep(POLL_S)
    pytest.fail(f"no answer within {STARTUP_S} s (last: {last_error}):\n{log_tail(log)}")


def wait_settled(proc: subprocess.Popen, min_procs: int, deadline: float, log: Path) -> None:
    """Wait until the server's process tree is complete and idle.

    The first answer comes from the first worker that is up; with several
    workers the others may still be importing Django. A signal that reaches
    a worker in that window can be lost (granian-asgi with 2 workers then
    never exits on SIGTERM), and a measurement started then would time a
    booting server. So "ready" also means: at least `min_procs` processes,
    and their CPU time flat (<= SETTLE_TICKS clock ticks) for SETTLE_WINDOWS
    consecutive windows of SETTLE_WINDOW_S.
    """
    quiet = 0
    before = session_cpu_ticks(proc.pid)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_WINDOW_S)
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} while starting:\n{log_tail(log)}")
        now = session_cpu_ticks(proc.pid)
        enough = len(session_pids(proc.pid)) >= min_procs
        quiet = quiet + 1 if enough and now - before <= SETTLE_TICKS else 0
        before = now
        if quiet >= SETTLE_WINDOWS:
            return
    pytest.fail(f"server did not settle within {STARTUP_S} s "
                f"(processes: {session_pids(proc.pid)}):\n{log_tail(log)}")


def start(argv: list[str], log: Path) -> subprocess.Popen:
    """A server from `argv` in lab_app's folder, in its own session, with the
    environment the lab gives it, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=APP_DIR, env=clean_env(os.environ),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(proc: subprocess.Popen) -> bool:
    """SIGTERM the process group, SIGKILL after a bound; True if SIGKILL was needed."""
    pgid = proc.pid
    killed = False
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and (proc.poll() is None or session_pids(pgid)):
        time.sleep(POLL_S)
    if proc.poll() is None or session_pids(pgid):
        killed = True
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=REAP_S)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + REAP_S
        while time.monotonic() < deadline and session_pids(pgid):
            time.sleep(POLL_S)
    return killed
