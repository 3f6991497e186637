"""runner/session/host/watchdog.py with real processes on this machine: a
server whose controller stops renewing the lease is killed, group and all;
a server stopped normally is left alone and the watchdog exits."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

WATCHDOG = REPO / "runner" / "session" / "host" / "watchdog.py"


def start_server_group(tmp_path: Path) -> int:
    """A dummy server as the lab starts one: its own session (setsid), with a
    forked worker, detached from this test (so no zombie is left to us)."""
    script = "sleep 600 & sleep 600 & wait"
    out = subprocess.run(["sh", "-c", f"setsid sh -c '{script}' >/dev/null 2>&1 </dev/null & "
                                      "echo $!"], capture_output=True, text=True, check=True)
    pid = int(out.stdout.split()[-1])
    for _ in range(50):           # the workers are up
        if len(members(pid)) >= 3:
            break
        time.sleep(0.1)
    return pid


def members(sid: int) -> list[int]:
    """Live processes of the session (a zombie is dead: it only waits for
    its parent, which outside the lab may never reap it)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True,
                         text=True).stdout
    return [int(pid) for pid, s, stat in (line.split() for line in out.splitlines())
            if int(s) == sid and not stat.startswith("Z")]


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_watchdog(sid: int, lease: Path, timeout: float = 3.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WATCHDOG), "--session", str(sid), "--lease",
                             str(lease), "--timeout", str(timeout), "--every", "0.2"],
                            start_new_session=True)


def test_a_lapsed_lease_kills_the_servers_whole_session(tmp_path):
    lease = tmp_path / "run" / "lease-server"
    lease.parent.mkdir()
    lease.touch()
    sid = start_server_group(tmp_path)
    assert len(members(sid)) >= 3
    dog = start_watchdog(sid, lease, timeout=3.0)
    try:
        for _ in range(8):              # renewed: the server stays
            time.sleep(0.5)
            lease.touch()
        assert dog.poll() is None and len(members(sid)) >= 3
        stopped_renewing = time.monotonic()
        assert dog.wait(timeout=30) == 3          # renewals stop: killed within 30 s
        assert members(sid) == []
        took = time.monotonic() - stopped_renewing
        assert 3.0 <= took < 10, took
        assert f"killed server session {sid}" in (lease.parent / "watchdog.log").read_text()
    finally:
        kill(members(sid))
        if dog.poll() is None:
            dog.kill()


def test_a_missing_lease_counts_as_lapsed(tmp_path):
    sid = start_server_group(tmp_path)
    dog = start_watchdog(sid, tmp_path / "never-written", timeout=3.0)
    try:
        assert dog.wait(timeout=30) == 3
        assert members(sid) == []
    finally:
        kill(members(sid))
        if dog.poll() is None:
            dog.kill()


def test_a_server_stopped_normally_is_left_alone_and_the_watchdog_exits(tmp_path):
    lease = tmp_path / "lease"
    lease.touch()
    sid = start_server_group(tmp_path)
    dog = start_watchdog(sid, lease, timeout=60.0)
    try:
        time.sleep(1.0)
        assert dog.poll() is None
        subprocess.run(["pkill", "-TERM", "-s", str(sid)], check=True)    # as stop_server does
        assert dog.wait(timeout=10) == 0
        assert not (tmp_path / "watchdog.log").exists()
    finally:
        kill(members(sid))
        if dog.poll() is None:
            dog.kill()


def test_the_watchdog_leaves_other_sessions_alone(tmp_path):
    lease = tmp_path / "lease"
    bystander = start_server_group(tmp_path)
    sid = start_server_group(tmp_path)
    dog = start_watchdog(sid, lease, timeout=1.0)       # no lease at all: kill at once
    try:
        assert dog.wait(timeout=30) == 3
        assert members(sid) == [] and len(members(bystander)) >= 3
    finally:
        kill(members(sid) + members(bystander))
        if dog.poll() is None:
            dog.kill()


class LocalConn:
    """Stands in for a Fabric connection to the server host: runs the
    command on this machine (fails on demand)."""

    def __init__(self, fail=lambda: False):
        self.commands, self.fail = [], fail

    def run(self, command, **kwargs):
        self.commands.append(command)
        if self.fail():
            raise OSError("connection lost")
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        return type("Result", (), {"return_code": proc.returncode, "stdout": proc.stdout})()

    def close(self):
        pass


def a_host(tmp_path):
    root = tmp_path / "root"
    (root / "tools" / "venv" / "bin").mkdir(parents=True)
    (root / "tools" / "venv" / "bin" / "python").symlink_to(sys.executable)
    (root / "tools" / "watchdog.py").write_bytes(WATCHDOG.read_bytes())
    return type("Host", (), {"name": "server", "lab_root": str(root)})()


def test_the_lease_keeps_a_server_alive_while_renewed_and_its_end_stops_a_leftover(
        tmp_path, monkeypatch):
    """The controller's side (session/lease.py) with the watchdog command
    start_server uses: renewals outlast the timeout, a failed renewal does
    not stop the renewing, and the lease's removal at the end stops a
    server somehow left."""
    from runner.session import lease as lease_module
    monkeypatch.setattr(lease_module, "TIMEOUT_S", 2.0)
    host = a_host(tmp_path)
    failing = {"now": False}
    conn = LocalConn(fail=lambda: failing["now"])
    sid = start_server_group(tmp_path)
    try:
        with lease_module.Lease(host, renew_s=0.3, conn_factory=lambda h: conn) as held:
            lease = Path(lease_module.lease_path(host))
            assert lease.exists()
            subprocess.run(["bash", "-c", f"pid={sid}; {lease_module.watchdog_command(host)} "
                                          "echo started"], check=True, capture_output=True)
            failing["now"] = True                 # one renewal fails: the next reconnects
            time.sleep(0.5)
            failing["now"] = False
            time.sleep(3.5)                       # well past the 2 s timeout
            assert len(members(sid)) >= 3, "a renewed lease must keep the server"
            assert held.failures >= 1 and held.renewals >= 5
        assert not lease.exists()
        deadline = time.monotonic() + 10
        while members(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert members(sid) == []
    finally:
        kill(members(sid))


def test_taking_the_lease_fails_naming_a_missing_watchdog(tmp_path):
    from runner.core.errors import LabError
    from runner.session.lease import Lease
    host = a_host(tmp_path)
    (Path(host.lab_root) / "tools" / "watchdog.py").unlink()
    try:
        with Lease(host, conn_factory=lambda h: LocalConn()):
            pass
    except LabError as exc:
        assert "watchdog.py is missing" in str(exc)
    else:
        raise AssertionError("the lease was taken without a watchdog on the host")
