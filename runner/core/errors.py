"""The kinds of failure the lab tells apart."""
from __future__ import annotations

import errno
from pathlib import Path


class LabError(Exception):
    """A user-facing error: message printed as one line, exit 1."""


class StepFailed(Exception):
    """One measured unit failed; the reason is recorded and the run goes on."""


class StorageFault(LabError):
    """A local output (the run folder) cannot be written: the run stops."""


class HostUnreachable(LabError):
    """A lab host stays unreachable over SSH: the run stops."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line: its type and its message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:limit]


WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def storage_fault(exc: BaseException, root: Path | str) -> StorageFault | None:
    """A StorageFault if `exc` is a failed write of a file under the local
    folder `root` (a full disk, a read-only or unwritable folder), else None.
    Paramiko's errors are OSErrors too; they name no file under `root`."""
    if (isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS and exc.filename
            and Path(str(exc.filename)).is_relative_to(Path(root))):
        return StorageFault(f"cannot write {exc.filename}: {exc.strerror}")
    return None
