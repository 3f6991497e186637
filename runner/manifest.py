"""manifest.json: the provenance of one run.

SCHEMA_VERSION history (bump it, and say what changed, whenever a reader
would have to treat the file differently):
  1 - 2026-11-22: first version: matrix, protocol, hosts and facts, cells with
      argv/packages/status, tool versions, timings, sha256 of every file.
  2 - 2026-11-22: scenarios: protocol.scenarios (settings per scenario) and
      protocol.latency_models replace protocol.scenario/connections/threads/
      latency_model; cells[].status may be "partial", with cells[].failures
      (scenario, variant, repetition, reason, raw folder) and cells[].scenarios;
      timings.repetitions[] carry scenario, variant, raw folder and the
      phases' epoch start/end; raw/ is raw/<cell>/<scenario>/<variant>/rep<k>/.
      results.parquet gained the `variant` column (analysis reads version-1
      runs as variant "default").
     2026-11-23, still 2 (no reader has to change): an optional top-level
      `reproduces` {archive: path of the archive, archive_sha256, run_id: the
      archived run's id} in a run made by `lab reproduce`, whose cells come
      from that archive's locks; its `matrix_file` is then
      "<archive>:<run_id>/matrix.yaml".
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
from pathlib import Path

from runner import REPO_ROOT
from runner.results import write_atomic

SCHEMA_VERSION = 2


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


def file_hashes(run_dir: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name != "manifest.json" and not path.name.startswith("."):
            hashes[str(path.relative_to(run_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def write_manifest(run_dir: Path, manifest: dict) -> Path:
    body = {"schema_version": SCHEMA_VERSION, **manifest, "files": file_hashes(run_dir)}
    path = run_dir / "manifest.json"
    write_atomic(path, (json.dumps(body, indent=2, sort_keys=False, default=str) + "\n").encode())
    return path
