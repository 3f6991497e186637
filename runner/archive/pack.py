"""Pack a run folder into one .tar.gz, and check such an archive.

An archive is the form in which a run leaves this machine, so it carries its
own checksums: ARCHIVE-SHA256SUMS (the first member) lists `sha256  path` for
every other file, paths relative to the run folder, so that after extracting
`cd <run_id> && sha256sum -c ARCHIVE-SHA256SUMS` works without this code. It
also covers the files written after manifest.json, which are therefore not in
the manifest's own `files`: report.md (`lab report`) and comparison.md (`lab
reproduce`: the new run against the archived one). pack() takes every file
of the folder, so these too; a changed one is named by verify() like any
other member.

Only the standard library is used, so an archive can be checked anywhere.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

from runner.core.errors import LabError
from runner.core.files import sha256_file
from runner.core.model import MANIFEST_NAME

SUMS_NAME = "ARCHIVE-SHA256SUMS"
MANIFEST = MANIFEST_NAME
_CHUNK = 1 << 20


def _unsafe(name: str) -> bool:
    """A member name that could land outside the extraction folder."""
    return name.startswith("/") or ".." in PurePosixPath(name).parts


def _load_manifest(run_dir: Path) -> dict:
    path = run_dir / MANIFEST
    if not path.is_file():
        raise LabError(f"{path} not found: not a run folder, refusing to archive it")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LabError(f"{path} is not readable JSON ({exc}), refusing to archive") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        # Without hashes we cannot tell an untouched run from an edited one.
        raise LabError(f"{path} has no 'files' hashes, cannot check the folder before archiving")
    return manifest


def _collect(run_dir: Path) -> dict[str, str | None]:
    """{relative POSIX path: sha256, or None for a folder} of what to pack.

    Dot-files are skipped, as manifest.file_hashes skips them: they are temp
    files of interrupted atomic writes. Empty folders (e.g. locks/) are kept
    as folder members. Symlinks and special files are refused: a run never
    creates them, and following one could pack something outside the run.
    """
    entries: dict[str, str | None] = {}
    for root, dirnames, filenames in os.walk(run_dir):
        for name in dirnames + filenames:
            path = Path(root) / name
            rel = path.relative_to(run_dir).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                entries[rel] = None
            elif stat.S_ISREG(mode):
                if not name.startswith("."):
                    entries[rel] = sha256_file(path)
            else:
                raise LabError(f"{path} is a symlink or special file, refusing to archive")
    return entries


def _check_against_manifest(run_dir: Path, files: dict, entries: dict) -> None:
    """Results are never edited in place, so any difference from the hashes
    written at the end of the run means the folder was tampered with."""
    problems = []
    for rel, expected in sorted(files.items()):
        if _unsafe(rel):
            problems.append(f"unsafe path: {rel}")
        elif entries.get(rel) is None:
            problems.append(f"missing: {rel}")
        elif entries[rel] != expected:
            problems.append(f"changed: {rel}")
    if problems:
        raise LabError(f"{run_dir} differs from its manifest.json, refusing to archive: "
                       + "; ".join(problems))


def _tarinfo(name: str, st: os.stat_result, is_dir: bool) -> tarfile.TarInfo:
    # Owner and permissions of the packing machine mean nothing elsewhere:
    # normalise them. Whole-second mtimes avoid PAX float headers.
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    info.size = 0 if is_dir else st.st_size
    return info


def _write(tmp, run_dir: Path, run_id: str, entries: dict[str, str | None]) -> None:
    sums = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(entries.items())
                   if digest is not None).encode()
    sums_info = _tarinfo(f"{run_id}/{SUMS_NAME}", (run_dir / MANIFEST).stat(), False)
    sums_info.size = len(sums)
    # One sorted list; the sums member sorts first (upper case), so a
    # streaming reader meets the checksums before the files they describe.
    members = sorted([(SUMS_NAME, "sums"), *((rel, d is None) for rel, d in entries.items())],
                     key=lambda m: m[0])
    # gzip header mtime 0 and no file name: the same folder gives the same bytes.
    with gzip.GzipFile(fileobj=tmp, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tarinfo(run_id, run_dir.stat(), True))
            for rel, kind in members:
                if kind == "sums":
                    tar.addfile(sums_info, io.BytesIO(sums))
                elif kind:
                    tar.addfile(_tarinfo(f"{run_id}/{rel}", (run_dir / rel).stat(), True))
                else:
                    with (run_dir / rel).open("rb") as f:
                        tar.addfile(_tarinfo(f"{run_id}/{rel}", os.fstat(f.fileno()), False), f)


def pack(run_dir: Path, out_dir: Path) -> Path:
    """Pack run_dir into <out_dir>/<run_id>.tar.gz and return that path."""
    run_dir = Path(run_dir).resolve()  # results/latest -> the real run id
    out_dir = Path(out_dir)
    if not run_dir.is_dir():
        raise LabError(f"{run_dir} is not a folder, refusing to archive it")
    run_id = run_dir.name
    out_dir = out_dir.resolve()
    if out_dir == run_dir or run_dir in out_dir.parents:
        # The archive would become part of the run it archives.
        raise LabError(f"output folder {out_dir} is inside the run folder {run_dir}")
    target = out_dir / f"{run_id}.tar.gz"
    if target.exists() or target.is_symlink():
        raise LabError(f"{target} already exists, not overwriting it")
    manifest = _load_manifest(run_dir)
    entries = _collect(run_dir)
    if SUMS_NAME in entries:
        raise LabError(f"{run_dir / SUMS_NAME} exists; that name is reserved for the archive")
    _check_against_manifest(run_dir, manifest["files"], entries)
    # Only now, so a refused pack leaves nothing behind.
    out_dir.mkdir(parents=True, exist_ok=True)

    # A dot-named temp file in out_dir: a crash leaves no file that looks like
    # an archive, and the rename below stays on one filesystem.
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{run_id}.", suffix=".tar.gz.tmp")
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as tmp:
            _write(tmp, run_dir, run_id, entries)
            tmp.flush()
            os.fsync(tmp.fileno())
        # Read back what was written (this also catches a file that changed
        # between hashing and packing) before it gets its final name.
        problems = verify(tmp_path)
        if problems:
            raise LabError(f"archive of {run_dir} failed its own check: {'; '.join(problems)}")
        try:
            # link() fails if the target exists, unlike rename(): a concurrent
            # pack of the same run cannot be silently replaced.
            os.link(tmp_path, target)
        except FileExistsError:
            raise LabError(f"{target} already exists, not overwriting it") from None
        except OSError:
            # Filesystem without hard links: check-then-rename is the best left.
            if target.exists() or target.is_symlink():
                raise LabError(f"{target} already exists, not overwriting it") from None
            os.replace(tmp_path, target)
        _fsync_dir(out_dir)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_members(archive: Path) -> tuple[dict[str, str], dict[str, bytes], list[str]]:
    """One forward pass over the archive, in memory only (nothing is extracted).

    Returns {file member: sha256}, the bytes of the small members we parse
    (sums, manifest), and problems found on the way. Raises tarfile/gzip errors.
    """
    hashes: dict[str, str] = {}
    texts: dict[str, bytes] = {}
    problems: list[str] = []
    with archive.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        # Stream mode: strictly forward, never seeks back through the gzip.
        with tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                name = member.name
                if _unsafe(name):
                    problems.append(f"unsafe path: {name}")
                    continue
                if member.isdir():
                    continue
                if not member.isreg():
                    problems.append(f"not a regular file or folder: {name}")
                    continue
                if name in hashes:
                    # On extraction the last copy would silently win.
                    problems.append(f"duplicate: {name}")
                    continue
                f = tar.extractfile(member)
                digest = hashlib.sha256()
                keep = name.endswith(f"/{SUMS_NAME}") or name.endswith(f"/{MANIFEST}")
                kept = []
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    if keep:
                        kept.append(chunk)
                hashes[name] = digest.hexdigest()
                if keep:
                    texts[name] = b"".join(kept)
        # tarfile stops at the end-of-archive blocks; read the rest so the gzip
        # trailer (CRC and length) is checked too.
        while gz.read(_CHUNK):
            pass
    return hashes, texts, problems


def _parse_sums(data: bytes) -> dict[str, str] | None:
    sums = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64:
            return None
        sums[rel] = digest
    return sums


def verify(archive: Path) -> list[str]:
    """Problems found in an archive made by pack(); an empty list means good."""
    archive = Path(archive)
    try:
        hashes, texts, problems = _read_members(archive)
    except FileNotFoundError as exc:
        return [f"cannot read archive: {exc}"]
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        # gzip.BadGzipFile is an OSError; a cut file gives EOFError or ReadError.
        return [f"archive is truncated or not a gzip tar: {archive}: {exc}"]

    # The run folder is the one holding the sums (or, failing that, the manifest).
    sums_members = [n for n in texts if n.endswith(f"/{SUMS_NAME}") and n.count("/") == 1]
    manifests = [n for n in texts if n.endswith(f"/{MANIFEST}") and n.count("/") == 1]
    if len(sums_members) > 1:
        return problems + [f"more than one {SUMS_NAME}: {', '.join(sorted(sums_members))}"]
    reported: set[str] = set()  # one problem per member is enough
    if sums_members:
        sums_name = sums_members[0]
        root = sums_name.split("/", 1)[0]
        sums = _parse_sums(texts[sums_name])
        if sums is None:
            return problems + [f"{sums_name} is not in 'sha256  path' format"]
        for rel, digest in sorted(sums.items()):
            name = f"{root}/{rel}"
            if _unsafe(rel):
                problems.append(f"unsafe path: {rel} (in {SUMS_NAME})")
            elif name not in hashes:
                problems.append(f"missing: {name}")
            elif hashes[name] != digest:
                problems.append(f"changed: {name}")
            else:
                continue
            reported.add(name)
        for name in sorted(hashes):
            if name != sums_name and not (name.startswith(f"{root}/")
                                          and name[len(root) + 1:] in sums):
                problems.append(f"unlisted: {name}")
                reported.add(name)
    else:
        problems.append(f"missing: {SUMS_NAME}")
        if len(manifests) != 1:
            return problems + [f"missing: {MANIFEST}"]
        root = manifests[0].split("/", 1)[0]

    # The manifest's own hashes, written at the end of the run, catch an
    # archive whose member and sums line were both rewritten.
    manifest_name = f"{root}/{MANIFEST}"
    if manifest_name not in texts:
        if manifest_name not in reported:
            problems.append(f"missing: {manifest_name}")
        return problems
    try:
        files = json.loads(texts[manifest_name]).get("files")
    except (ValueError, AttributeError) as exc:
        return problems + [f"{manifest_name} is not readable JSON: {exc}"]
    if not isinstance(files, dict):
        return problems + [f"{manifest_name} has no 'files' hashes"]
    for rel, digest in sorted(files.items()):
        name = f"{root}/{rel}"
        if name in reported:
            continue
        if name not in hashes:
            problems.append(f"missing: {name} (listed in {MANIFEST})")
        elif hashes[name] != digest:
            problems.append(f"disagrees with {MANIFEST}: {name}")
    return problems
