"""Stop a server whose controller is gone (runs on the server host, beside it).

  watchdog.py --session PID --lease FILE [--timeout S] [--every S]

The runner starts one beside every server it starts (its own session, so
stopping the server does not stop it). The controller renews FILE (touches
it) every few seconds while it runs. Once a second this script looks at
the server and at the lease:

- no process of the server's session or process group is left (it was
  stopped normally): exit 0;
- the lease is older than --timeout seconds, or missing (the controller was
  killed, lost its host, or ended its run): SIGKILL every process of the
  server's session and process group, note it in FILE's folder
  (watchdog.log), exit 3.

The lease's age is taken on this host's own clock (mtime against now), so
the controller's clock does not matter. Standard library only, like every
host-side script: it runs with the hosts' own Python.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def session_members(sid: int) -> list[int]:
    """Pids whose session or process group is `sid` (/proc/PID/stat fields 5
    and 6, read after the parenthesised command name)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 3 and fields[0] != b"Z" and sid in (int(fields[2]), int(fields[3])):
            found.append(int(name))
    return found


def _state(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()[0]


def group_alive(sid: int) -> bool:
    """Whether any live process of the server is left: cheaply its leader
    (one small read a second), else any member of its session or group (a
    zombie is dead, whoever may reap it)."""
    if _state(sid) not in (None, b"Z", b"X"):
        return True
    return bool(session_members(sid))


def lease_age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")


def kill_all(sid: int) -> list[int]:
    """SIGKILL the group and every member of the session, until none is left
    (a process may fork while it is being killed); returns the pids seen."""
    seen: set[int] = set()
    for _ in range(50):
        with_pids = [p for p in session_members(sid) if p != os.getpid()]
        seen.update(with_pids)
        try:
            os.killpg(sid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in with_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.1)
        if not [p for p in session_members(sid) if p != os.getpid()]:
            break
    return sorted(seen)


def note(lease: str, text: str) -> None:
    try:
        with open(os.path.join(os.path.dirname(lease) or ".", "watchdog.log"), "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")
    except OSError:
        pass


def watch(sid: int, lease: str, timeout: float, every: float) -> int:
    while True:
        if not group_alive(sid):
            return 0
        age = lease_age(lease)
        if age > timeout:
            pids = kill_all(sid)
            why = "missing" if age == float("inf") else f"{age:.1f} s old"
            note(lease, f"lease {lease} {why} (limit {timeout:g} s): killed server session "
                        f"{sid}, pids {pids}")
            return 3
        time.sleep(every)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--session", type=int, required=True,
                        help="the server's session id (its setsid'd pid)")
    parser.add_argument("--lease", required=True, help="the file the controller renews")
    parser.add_argument("--timeout", type=float, default=15.0,
                        help="seconds without a renewal before the server is killed")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between looks")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)     # the SSH session that started it may end
    return watch(args.session, args.lease, args.timeout, args.every)


if __name__ == "__main__":
    sys.exit(main())
