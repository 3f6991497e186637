"""Resolve each cell's pins into a lock file with hashes (uv pip compile).

The lock is what gets installed, so it is what identifies a cell: `cell_id`
hashes the cell's coordinates and the resolved versions, and `env_id` hashes
the lock itself (cells that differ only in server flags share one venv).
Locks are cached by their input, so re-resolving an unchanged matrix is free.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runner.errors import LabError
from runner.matrix import BASE_PACKAGES, CellSpec
from runner.servers import SERVERS

PINNED_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


@dataclass(frozen=True)
class Cell:
    """A cell whose pins are resolved: everything downstream keys on cell_id."""

    spec: CellSpec
    cell_id: str
    env_id: str
    lock_text: str
    packages: tuple[tuple[str, str], ...]

    @property
    def asgiref(self) -> str:
        return dict(self.packages).get("asgiref", "")

    def columns(self) -> dict:
        s = self.spec
        return {"cell_id": self.cell_id, "server": s.server, "interface": s.interface,
                "workers": s.workers, "python": s.python, "django": s.django,
                "asgiref": self.asgiref, "view": s.view}


@dataclass(frozen=True)
class Exclusion:
    spec: CellSpec
    reason: str


def requirements_for(spec: CellSpec, pins: dict[str, str]) -> str:
    names = ["django", "asgiref", *BASE_PACKAGES, *SERVERS[spec.server].packages]
    versions = {**pins, "django": spec.django}
    if spec.asgiref:
        versions["asgiref"] = spec.asgiref
    lines = [f"{n}=={versions[n]}" for n in dict.fromkeys(names) if n in versions]
    return "\n".join(lines) + "\n"


def parse_lock(lock_text: str) -> tuple[tuple[str, str], ...]:
    found = (PINNED_LINE.match(line) for line in lock_text.splitlines())
    return tuple(sorted((m.group(1).lower().replace("_", "-"), m.group(2)) for m in found if m))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _uv() -> str:
    uv = shutil.which("uv")
    if not uv:
        raise LabError("uv not found on PATH (run `make setup`)")
    return uv


def compile_lock(requirements: str, python: str, cache_dir: Path) -> tuple[str | None, str]:
    """Return (lock_text, "") or (None, resolver message)."""
    key = _sha(f"{python}\n{requirements}")[:16]
    cached = cache_dir / f"{key}.txt"
    if cached.exists():
        return cached.read_text(), ""
    proc = subprocess.run(
        [_uv(), "pip", "compile", "-", "--python-version", python, "--generate-hashes",
         "--no-header", "--no-annotate", "--quiet", "--python-platform", "x86_64-unknown-linux-gnu"],
        input=requirements, capture_output=True, text=True, timeout=300,
        # Resolving for another Python needs no interpreter of it; without
        # this uv tries to download one, which costs seconds (or fails) here.
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    if proc.returncode != 0:
        return None, " ".join(proc.stderr.split())[-600:] or f"uv exited {proc.returncode}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(proc.stdout)
    tmp.rename(cached)
    return proc.stdout, ""


def resolve_cells(specs, pins: dict[str, str], cache_dir: Path, log=lambda msg: None):
    """Resolve every spec; return (cells, exclusions). Never raises for a bad cell."""
    # Each resolution mostly waits on the package index: run the distinct
    # ones side by side.
    wanted = {(spec.python, requirements_for(spec, pins)) for spec in specs}
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {key: pool.submit(compile_lock, key[1], key[0], cache_dir) for key in wanted}
        resolved = {key: f.result() for key, f in futures.items()}
    cells, exclusions = [], []
    for spec in specs:
        lock, error = resolved[(spec.python, requirements_for(spec, pins))]
        if lock is None:
            exclusions.append(Exclusion(spec, f"pins do not resolve: {error}"))
            log(f"excluded {spec.label()}: {error}")
            continue
        packages = parse_lock(lock)
        identity = {"python": spec.python, "server": spec.server, "workers": spec.workers,
                    "view": spec.view, "packages": packages}
        cells.append(Cell(spec=spec, cell_id=_sha(json.dumps(identity, sort_keys=True))[:12],
                          env_id=_sha(f"{spec.python}\n{lock}")[:12], lock_text=lock,
                          packages=packages))
    return cells, exclusions
