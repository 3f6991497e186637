"""Writing manifest.json, the provenance of one run: the lab's commit,
the controller's tools, the sha256 of every file.

Its schema and history: runner/core/model.py.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

from runner import REPO_ROOT
from runner.core.files import sha256_file, write_atomic
from runner.core.model import MANIFEST_NAME, SCHEMA_VERSION, Manifest


def _first_line(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def lab_git_commit() -> dict:
    """The lab's own commit, and whether the working tree differed from it."""
    head = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"])
    status = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain"],
                            capture_output=True, text=True).stdout
    return {"commit": head, "dirty": bool(status.strip())}


def controller_tools() -> dict:
    return {"python": platform.python_version(),
            "terraform": _first_line(["terraform", "version"]),
            "ansible": _first_line(["ansible-playbook", "--version"]),
            "uv": _first_line(["uv", "--version"])}


def file_hashes(run_dir: Path, cache: dict | None = None) -> dict[str, str]:
    """{relative path: sha256} of every file but the manifest and dot-files
    (temporary ones). With `cache` (kept by the caller between writes), a
    file whose size and mtime are unchanged is not read again: the manifest
    is written after every unit."""
    hashes = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME and not path.name.startswith("."):
            rel = str(path.relative_to(run_dir))
            if cache is None:
                hashes[rel] = sha256_file(path)
                continue
            st = path.stat()
            seen = cache.get(rel)
            if seen is None or seen[:2] != (st.st_size, st.st_mtime_ns):
                seen = cache[rel] = (st.st_size, st.st_mtime_ns, sha256_file(path))
            hashes[rel] = seen[2]
    return hashes


def write_manifest(run_dir: Path, manifest: Manifest | dict, cache: dict | None = None,
                   strict: bool = False) -> Path:
    """Validate the manifest against the model, then write it atomically
    (fsync'd) with the hashes of every other file in the folder. `strict`
    (the run state's writes): a field the model does not declare is
    refused, since readers would keep it untyped; otherwise (a manifest
    read from an older run) such fields are kept as they are."""
    data = (manifest.model_dump(exclude_unset=True) if isinstance(manifest, Manifest)
            else dict(manifest))
    body = Manifest.model_validate({**data, "schema_version": SCHEMA_VERSION,
                                    "files": file_hashes(run_dir, cache)})
    if strict and (undeclared := body.undeclared()):
        raise ValueError(f"manifest fields the model does not declare: {', '.join(undeclared)}")
    return write_atomic(run_dir / MANIFEST_NAME, body.to_json())
