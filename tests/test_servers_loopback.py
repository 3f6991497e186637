"""Integration test: really run every server configuration on 127.0.0.1.

One venv is built with uv from `DEFAULT_PINS` (session-scoped, in pytest's
tmp dir). uv first tries --offline, from its cache alone: uWSGI ships only an
sdist, and a normal install revalidates it and, when the index answers
"modified", compiles it again (about 25 s on 2 cores); from the cache the
venv takes about a second. Only if the cache lacks something does it install
from the index. Then, for each server
configuration, with workers=1 and, where the server allows it, workers=2
(and for the servers that take a threads setting also workers=2 with
threads=2):

- start the exact argv from runner/catalog/servers.py on 127.0.0.1 and a free port,
  in its own session (start_new_session=True), cwd=lab_app, clean env;
- wait until it answers (at most STARTUP_S);
- check that every listening socket of its processes is 127.0.0.1:port;
- GET every view in runner/catalog/views.py and compare status and body byte for byte;
- SIGTERM its process group, SIGKILL after STOP_GRACE_S, and check that no
  process of the session remains.

Traffic goes only to 127.0.0.1, and every loop is bounded in time and count.
"""
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

from runner.catalog.servers import DEFAULT_PINS, SERVERS, clean_env
from runner.catalog.views import JSON_VIEWS, VIEWS

REPO = Path(__file__).resolve().parent.parent
APP_DIR = REPO / "lab_app"
PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python3")
LOOPBACK = "127.0.0.1"
STARTUP_S = 20.0  # from spawn to the first 200 answer
REQUEST_TIMEOUT_S = 5.0  # one HTTP request
STOP_GRACE_S = 10.0  # SIGTERM to SIGKILL
REAP_S = 5.0  # after SIGKILL, until no process of the session is left
POLL_S = 0.05
SETTLE_WINDOW_S = 0.2  # see _wait_settled
SETTLE_WINDOWS = 2
SETTLE_TICKS = 2
INSTALL_TIMEOUT_S = 300

CASES = [(name, 1, 1) for name in SERVERS] + [
    (name, 2, 1) for name, s in SERVERS.items() if s.max_workers is None or s.max_workers >= 2
] + [(name, 2, 2) for name, s in SERVERS.items() if s.takes_threads]
CASE_IDS = [f"{n}-w{w}" + (f"-t{t}" if t != 1 else "") for n, w, t in CASES]


def _uv() -> str:
    for candidate in (Path(sys.executable).parent / "uv", REPO / ".venv" / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    import shutil

    found = shutil.which("uv")
    if not found:
        pytest.fail("uv not found: install the project's dependencies (uv is one of them)")
    return found


@pytest.fixture(scope="session")
def venv_bin(tmp_path_factory) -> Path:
    """One venv with DEFAULT_PINS on CPython 3.12, shared by every case."""
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: the loopback test needs CPython 3.12 there")
    venv = tmp_path_factory.mktemp("servers") / "venv"
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--python", str(PYTHON), str(venv)],
                   check=True, timeout=INSTALL_TIMEOUT_S)
    pins = [f"{name}=={version}" for name, version in DEFAULT_PINS.items()]
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *pins]
    cached = subprocess.run([*install, "--offline"], capture_output=True,
                            timeout=INSTALL_TIMEOUT_S)
    if cached.returncode != 0:
        subprocess.run(install, check=True, timeout=INSTALL_TIMEOUT_S)
    return venv / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _get(port: int, path: str, timeout: float = REQUEST_TIMEOUT_S):
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def _session_stats(sid: int) -> dict[int, list[str]]:
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


def _session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is `sid`."""
    return sorted(_session_stats(sid))


def _session_cpu_ticks(sid: int) -> int:
    # utime and stime are stat fields 14 and 15, i.e. fields[11] and fields[12] here.
    return sum(int(f[11]) + int(f[12]) for f in _session_stats(sid).values())


def _socket_inodes(pids: list[int]) -> set[int]:
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


def _listening(pids: list[int]) -> set[tuple]:
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
    inodes = _socket_inodes(pids)
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        cols = line.split()
        flags, inode = int(cols[3], 16), int(cols[6])
        if inode in inodes and flags & 0x10000:
            found.add(("unix", cols[7] if len(cols) > 7 else ""))
    return found


def _log_tail(log: Path, n: int = 40) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def _wait_ready(proc: subprocess.Popen, port: int, log: Path, min_procs: int = 1,
                path: str = VIEWS["sync"].path) -> float:
    """Wait (at most STARTUP_S) for a 200 answer at `path`, then for the tree to settle."""
    start = time.monotonic()
    deadline = start + STARTUP_S
    last_error = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before answering:\n{_log_tail(log)}")
        try:
            status, _, _ = _get(port, path, timeout=1.0)
            if status == 200:
                _wait_settled(proc, min_procs, deadline, log)
                return time.monotonic() - start
            last_error = f"status {status}"
        except OSError as exc:
            last_error = repr(exc)
        time.sleep(POLL_S)
    pytest.fail(f"no answer within {STARTUP_S} s (last: {last_error}):\n{_log_tail(log)}")


def _wait_settled(proc: subprocess.Popen, min_procs: int, deadline: float, log: Path) -> None:
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
    before = _session_cpu_ticks(proc.pid)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_WINDOW_S)
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} while starting:\n{_log_tail(log)}")
        now = _session_cpu_ticks(proc.pid)
        enough = len(_session_pids(proc.pid)) >= min_procs
        quiet = quiet + 1 if enough and now - before <= SETTLE_TICKS else 0
        before = now
        if quiet >= SETTLE_WINDOWS:
            return
    pytest.fail(f"server did not settle within {STARTUP_S} s "
                f"(processes: {_session_pids(proc.pid)}):\n{_log_tail(log)}")


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    """A server from `argv` in lab_app's folder, in its own session, with the
    environment the lab gives it, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=APP_DIR, env=clean_env(os.environ),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> bool:
    """SIGTERM the process group, SIGKILL after a bound; True if SIGKILL was needed."""
    pgid = proc.pid
    killed = False
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and (proc.poll() is None or _session_pids(pgid)):
        time.sleep(POLL_S)
    if proc.poll() is None or _session_pids(pgid):
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
        while time.monotonic() < deadline and _session_pids(pgid):
            time.sleep(POLL_S)
    return killed


def test_no_view_touches_the_database(venv_bin):
    """Every view answers through Django's test clients without a DB connection attempt."""
    script = r"""
import asyncio, json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "labproject.settings"
import django
from django.db.backends.base.base import BaseDatabaseWrapper
attempts = []
original = BaseDatabaseWrapper.ensure_connection
def recording(self):
    attempts.append(self.alias)
    return original(self)
BaseDatabaseWrapper.ensure_connection = recording
django.setup()
from django.test import AsyncClient, Client
paths = json.loads(sys.argv[1])
out = {}
client = Client()
for p in paths:
    r = client.get(p)
    out["sync " + p] = [r.status_code, r.content.decode()]
async def main():
    client = AsyncClient()
    for p in paths:
        r = await client.get(p)
        out["async " + p] = [r.status_code, r.content.decode()]
asyncio.run(main())
print(json.dumps({"responses": out, "attempts": attempts}))
"""
    import json

    # The JSON views, the static page, and one of each sized family.
    checked = [*map(VIEWS.get, JSON_VIEWS), VIEWS["static"], VIEWS["spin-300"],
               VIEWS["spin-async-300"], VIEWS["sleep-sync-5"], VIEWS["sleep-async-5"]]
    paths = [v.path for v in checked]
    done = subprocess.run([str(venv_bin / "python"), "-c", script, json.dumps(paths)],
                          cwd=APP_DIR, env=clean_env(os.environ), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    for v in checked:
        for mode in ("sync", "async"):
            status, body = result["responses"][f"{mode} {v.path}"]
            assert status == v.expected_status, (v.name, body[:300])
            if v.match == "contains":
                assert v.expected_body in body.encode(), v.name
            else:
                assert body.encode() == v.expected_body, v.name


@pytest.mark.parametrize("name,workers,threads", CASES, ids=CASE_IDS)
def test_server_serves_every_view_on_loopback(venv_bin, tmp_path, name, workers, threads):
    server = SERVERS[name]
    port = _free_port()
    argv = server.command(str(APP_DIR), str(venv_bin), LOOPBACK, port, workers, threads)
    log = tmp_path / "server.log"
    proc = _start(argv, log)
    try:
        # With several workers: a supervisor plus at least `workers` workers.
        _wait_ready(proc, port, log, min_procs=workers + 1 if workers > 1 else 1)
        pids = _session_pids(proc.pid)
        # Only the one TCP listener asked for: no wildcard, no second port,
        # no unix control socket.
        assert _listening(pids) == {("tcp", LOOPBACK, port)}, _log_tail(log)

        for view in map(VIEWS.get, JSON_VIEWS):
            status, ctype, body = _get(port, view.path)
            assert status == view.expected_status, (view.name, body[:300])
            assert body == view.expected_body, view.name
            assert ctype.split(";")[0].strip() == view.expected_content_type, view.name
    finally:
        killed = _stop(proc)
        left = _session_pids(proc.pid)
        assert not left, f"processes of {name} still running after SIGKILL: {left}"
        assert proc.poll() is not None

    assert not killed, f"{name} needed SIGKILL: not gone {STOP_GRACE_S} s after SIGTERM:\n{_log_tail(log)}"

    text = log.read_text(errors="replace")
    for view in map(VIEWS.get, JSON_VIEWS):
        assert f"GET {view.path}" not in text, f"{name} wrote an access log line:\n{text}"


def _frame_options(port: int, path: str) -> tuple[bytes, str | None]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.read(), resp.getheader("X-Frame-Options")
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["gunicorn-sync", "uvicorn"])
def test_bare_app_serves_the_views_without_middleware(venv_bin, tmp_path, name):
    """The "django-bare" app answers the sync and async views with the same
    bytes, and without what the middleware adds (XFrameOptionsMiddleware's
    header), while the full app on the same server has it."""
    bare = [VIEWS["sync-bare"], VIEWS["async-bare"]]
    found = {}
    for app in ("django-bare", "django"):
        port = _free_port()
        argv = SERVERS[name].command(str(APP_DIR), str(venv_bin), LOOPBACK, port, 1, 1, app=app)
        log = tmp_path / f"{app}.log"
        proc = _start(argv, log)
        try:
            _wait_ready(proc, port, log)
            found[app] = [_frame_options(port, v.path) for v in bare]
        finally:
            _stop(proc)
    for view, (body, header) in zip(bare, found["django-bare"]):
        assert body == view.expected_body, view.name
        assert header is None, f"{view.name}: middleware ran under the bare app"
    assert all(header == "DENY" for _, header in found["django"])


def test_debug_app_serves_the_drf_view_with_debug_on(venv_bin, tmp_path):
    """The "django-debug" app answers drf-debug with the seed's exact bytes,
    and it is DEBUG that differs: its 404 is Django's technical page, the
    usual app's the plain one."""
    view = VIEWS["drf-debug"]
    pages = {}
    for app in ("django-debug", "django"):
        port = _free_port()
        argv = SERVERS["gunicorn-sync"].command(str(APP_DIR), str(venv_bin), LOOPBACK, port, 1,
                                                app=app)
        log = tmp_path / f"{app}.log"
        proc = _start(argv, log)
        try:
            _wait_ready(proc, port, log)
            status, _, body = _get(port, view.path)
            assert (status, body) == (200, view.expected_body), app
            pages[app] = _get(port, "/no-such-page/")
        finally:
            _stop(proc)
    assert pages["django-debug"][0] == pages["django"][0] == 404
    assert b"Using the URLconf defined in" in pages["django-debug"][2]
    assert b"Using the URLconf defined in" not in pages["django"][2]
