"""Small file helpers every stage uses: one atomic write, one hash.

A reader (Ansible, the analysis, a second `lab` command) never sees half a
file: it is written to a dot-named temp file in the same folder, then
renamed over the target."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> Path:
    """Write `data` (text is UTF-8) to `path` atomically; returns `path`.
    The parent folder is created; the temp file is removed on any failure.
    The data reach the disk before the rename, and the rename before this
    returns (fsync of the file, then of the folder): a reader finds the old
    file or the new one, whole, even after the process is killed or the
    machine loses power."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)   # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:       # some file systems refuse a folder's fsync: the rename stands
        pass
    finally:
        os.close(fd)


def sha256_bytes(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The file's sha256, read in chunks (archives can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
