"""The controller's lease on a server host: a server outlives no controller.

While a pair measures, a thread of the controller touches a lease file on
the server host (<lab_root>/run/lease-<host>) every RENEW_S seconds, over an SSH
connection of its own. Every server is started with a watchdog beside it
(host/watchdog.py, its own session): once a second it checks the lease, and
SIGKILLs the server's session when the lease is more than TIMEOUT_S seconds
old or missing; it exits as soon as the server is stopped normally. A
controller killed with SIGKILL, or cut off from the host, stops renewing:
its server is gone TIMEOUT_S + RENEW_S + 1 s later at most (about 19 s),
without waiting for the next run. At the end of the pair's measuring, the
lease is removed (a server somehow left then is stopped at once).
"""
from __future__ import annotations

import shlex
import threading

from invoke.exceptions import CommandTimedOut, UnexpectedExit
from paramiko.ssh_exception import SSHException

from runner.core.errors import LabError, one_line
from runner.lab.host_paths import HostPaths
from runner.lab.ssh import connect, run

RENEW_S = 3.0
TIMEOUT_S = 15.0
WATCH_EVERY_S = 1.0
WATCHDOG = "watchdog.py"


def lease_path(host) -> str:
    """The lease of the controller on `host` (named after the host: two
    hosts sharing a lab_root keep apart)."""
    return f"{HostPaths.of(host).root}/run/lease-{host.name}"


def watchdog_command(host, pid_var: str = "$pid") -> str:
    """Start the watchdog of the server whose pid is in shell variable
    `pid_var`, in its own session, detached from the SSH session."""
    paths = HostPaths.of(host)
    return (f"setsid {paths.tools_python} {paths.tool(WATCHDOG)} --session {pid_var} "
            f"--lease {shlex.quote(lease_path(host))} --timeout {TIMEOUT_S:g} "
            f"--every {WATCH_EVERY_S:g} > /dev/null 2>&1 < /dev/null &")


class Lease:
    """Hold the lease on `host` while the block runs (a context manager).

    The first renewal happens on entry and must succeed (it also checks the
    watchdog is installed); later ones are best effort: a failed one closes
    the connection, the next reconnects. Missing renewals for TIMEOUT_S
    means the host's servers are stopped, so a lost host costs the unit it
    was measuring, which fails anyway."""

    def __init__(self, host, renew_s: float = RENEW_S, conn_factory=connect):
        self.host = host
        self.paths = HostPaths.of(host)
        self.renew_s = renew_s
        self._connect = conn_factory
        self._conn = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0
        self.failures = 0

    def _run(self, command: str):
        if self._conn is None:
            self._conn = self._connect(self.host)
        return run(self._conn, command, timeout=10, warn=True)

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:       # closing a broken connection: nothing to keep
                pass
            self._conn = None

    def renew(self) -> bool:
        path = shlex.quote(lease_path(self.host))
        try:
            ok = self._run(f"touch {path}").return_code == 0
        except Exception:      # noqa: BLE001 - the renewing thread must outlive any failure
            ok = False
        if ok:
            self.renewals += 1
        else:
            self.failures += 1
            self._drop()
        return ok

    def _loop(self) -> None:
        while not self._stop.wait(self.renew_s):
            self.renew()

    def __enter__(self) -> "Lease":
        path = lease_path(self.host)
        script = (f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])} && touch {shlex.quote(path)} && "
                  f"test -f {shlex.quote(self.paths.tool(WATCHDOG))}")
        try:
            res = self._run(script)
        except (SSHException, OSError, CommandTimedOut) as exc:
            self._drop()
            raise LabError(f"taking the lease on {self.host.name} failed: {one_line(exc)}") from None
        if res.return_code != 0:
            self._drop()
            raise LabError(f"{self.host.name}: {self.paths.tool(WATCHDOG)} is missing or the "
                           f"lease {path} cannot be written: configure the lab again "
                           "(`lab run --reconfigure`)")
        self.renewals += 1
        self._thread = threading.Thread(target=self._loop, name=f"lease-{self.host.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        try:        # the run's end: a server somehow left is stopped by its watchdog now
            self._run(f"rm -f {shlex.quote(lease_path(self.host))}")
        except (SSHException, OSError, CommandTimedOut, UnexpectedExit, EOFError):
            pass
        self._drop()
