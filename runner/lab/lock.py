"""One run per lab at a time: an exclusive lock on <lab_state_dir>/run.lock.

flock(2) belongs to the open file, so a run that crashes or is killed
releases it with its process: no stale lock to clear by hand. The holder
writes who it is into the file, so a refused run can name it. Another lab
has another state dir, hence another lock: two labs on one machine may run
at once.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

from runner.core.errors import LabError

LOCK_NAME = "run.lock"


@contextlib.contextmanager
def hold(state_dir: Path | str, lab_name: str, what: str):
    """Hold the lab's run lock while the block runs, or raise LabError naming
    the holder. `what` says who holds it (e.g. "lab run matrices/demo.yaml")."""
    path = Path(state_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"lab {lab_name!r} is busy: {holder(path)}. One run per lab at a "
                           "time: wait for it to end, or stop it (Ctrl-C), then try again") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"what": what, "pid": os.getpid(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S %Z")}).encode())
        yield
    finally:
        os.close(fd)          # releases the lock


def holder(path: Path) -> str:
    try:
        h = json.loads(path.read_text())
        return f"{h['what']} (pid {h['pid']}, since {h['since']}) holds {path}"
    except (OSError, ValueError, KeyError):
        return f"another process holds {path}"
