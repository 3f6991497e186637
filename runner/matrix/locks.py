"""Resolve each cell's pins into a lock file with hashes (uv pip compile).

The lock is what gets installed, so it is what identifies a cell: `cell_id`
hashes the cell's coordinates and the resolved versions, and `env_id` hashes
the lock itself (cells that differ only in server flags share one venv).
Locks are cached by their input, so re-resolving an unchanged matrix is free.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from runner.matrix import compat
from runner.core.errors import LabError
from runner.core.files import sha256_bytes, write_atomic
from runner.core.model import is_aa_twin
from runner.matrix.expand import (ALL_SERVER_PACKAGES, BASE_PACKAGES, CORE_AXES, CellSpec, Exclusion,
                                   Matrix)
from runner.catalog.servers import SERVERS
from runner.catalog.user_app import is_app_view

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
                "workers": s.workers, "threads": s.threads, "python": s.python,
                "django": s.django, "asgiref": self.asgiref, "view": s.view, **dict(s.extras)}


def requirements_for(spec: CellSpec, pins: dict[str, str], app_requirements: str = "") -> str:
    """The `==` pins a cell asks for: Django, asgiref, DRF, its server's
    packages, and every pinned package that belongs to no server (an extra);
    then, for a view of the user's project, its requirements file as given."""
    versions = {**pins, **dict(spec.extras), "django": spec.django}
    if spec.asgiref:
        versions["asgiref"] = spec.asgiref
    extras = sorted(p for p in versions if p not in ALL_SERVER_PACKAGES)
    names = ["django", "asgiref", *BASE_PACKAGES, *SERVERS[spec.server].packages, *extras]
    lines = [f"{n}=={versions[n]}" for n in dict.fromkeys(names) if n in versions]
    if app_requirements.strip() and is_app_view(spec.view):
        lines.append(app_requirements.strip())
    return "\n".join(lines) + "\n"


def parse_lock(lock_text: str) -> tuple[tuple[str, str], ...]:
    found = (PINNED_LINE.match(line) for line in lock_text.splitlines())
    return tuple(sorted((m.group(1).lower().replace("_", "-"), m.group(2)) for m in found if m))


def _sha(text: str) -> str:
    return sha256_bytes(text)


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"     # the venv's own uv first
    uv = str(beside) if beside.exists() else shutil.which("uv")
    if not uv:
        raise LabError("uv not found on PATH (run `make setup`)")
    return uv


def compile_lock(requirements: str, python: str, cache_dir: Path) -> tuple[str | None, str]:
    """Return (lock_text, "") or (None, resolver message)."""
    key = _sha(f"{python}\n{requirements}")[:16]
    cached, unsat = cache_dir / f"{key}.txt", cache_dir / f"{key}.unsat"
    if cached.exists():      # the same input was resolved before: reuse its lock
        return cached.read_text(), ""
    if unsat.exists():       # exact pins that conflicted once always will
        return None, unsat.read_text()
    proc = subprocess.run(
        [_uv(), "pip", "compile", "-", "--python-version", python, "--generate-hashes",
         "--no-header", "--no-annotate", "--quiet", "--python-platform", "x86_64-unknown-linux-gnu"],
        input=requirements, capture_output=True, text=True, timeout=300,
        # Resolving for another Python needs no interpreter of it; without
        # this uv tries to download one, which costs seconds (or fails) here.
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    if proc.returncode != 0:
        message = " ".join(proc.stderr.split()).removeprefix(
            "error: No solution found when resolving dependencies: ")
        message = message.removeprefix("error: No solution found when resolving dependencies ")
        message = message.removeprefix("cause: ")[-600:] or f"uv exited {proc.returncode}"
        if "No solution found" in proc.stderr:   # not a network error: worth keeping
            _store(unsat, message)
        return None, message
    _store(cached, proc.stdout)
    return proc.stdout, ""


def cell_from_lock(spec: CellSpec, lock_text: str) -> Cell:
    """The Cell that `lock_text` makes of `spec`: the one place ids are made,
    so a lock resolved now and the same lock read back from an archived run
    (`lab reproduce`) give the same cell_id and env_id."""
    packages = parse_lock(lock_text)
    identity = {"python": spec.python, "server": spec.server, "workers": spec.workers,
                "view": spec.view, "packages": packages}
    if spec.threads != 1:   # keeps the ids of cells from before the threads axis
        identity["threads"] = spec.threads
    return Cell(spec=spec, cell_id=_sha(json.dumps(identity, sort_keys=True))[:12],
                env_id=_sha(f"{spec.python}\n{lock_text}")[:12], lock_text=lock_text,
                packages=packages)


def resolve_cells(specs, pins: dict[str, str], cache_dir: Path, log=lambda msg: None,
                  app_requirements: str = ""):
    """Resolve every spec; return (cells, exclusions). Never raises for a bad cell."""
    def wants(spec):
        return requirements_for(spec, pins, app_requirements)
    # Each resolution mostly waits on the package index: run the distinct
    # ones side by side.
    wanted = {(spec.python, wants(spec)) for spec in specs}
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {key: pool.submit(compile_lock, key[1], key[0], cache_dir) for key in wanted}
        resolved = {key: f.result() for key, f in futures.items()}
    cells, exclusions = [], []
    for spec in specs:
        lock, error = resolved[(spec.python, wants(spec))]
        if lock is None:
            exclusions.append(Exclusion(spec, f"pins do not resolve: {error}"))
            log(f"excluded {spec.label()}: {error}")
            continue
        cell = cell_from_lock(spec, lock)
        _store(cache_dir / "cells" / f"{cell.cell_id}.txt", lock)
        cells.append(cell)
    return cells, exclusions


def _store(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    write_atomic(path, text)


def resolve_matrix(matrix: Matrix, cache_dir: Path, log=lambda msg: None):
    """(cells, exclusions) for a whole matrix: its rule exclusions, then
    Django's declared Pythons (Trove classifiers), then the resolver."""
    pairs = {(c.django, c.python) for c in matrix.cells}
    with ThreadPoolExecutor(max_workers=8) as pool:
        reasons = dict(zip(pairs, pool.map(
            lambda pair: compat.unsupported_reason(*pair, cache_dir), pairs)))
    exclusions = list(matrix.excluded)
    candidates = []
    for spec in matrix.cells:
        if reason := reasons[(spec.django, spec.python)]:
            exclusions.append(Exclusion(spec, reason))
        else:
            candidates.append(spec)
    cells, unresolved = resolve_cells(candidates, matrix.pins, cache_dir, log,
                                      matrix.app.requirements if matrix.app else "")
    return cells, exclusions + unresolved


def environments(cells: list[Cell]) -> list[dict]:
    """One environment per distinct lock, as the playbooks take them
    (`lab_envs`); the lock is what gets synced."""
    envs = {}
    for cell in cells:
        envs[cell.env_id] = {"env_id": cell.env_id, "python": cell.spec.python,
                             "lock_text": cell.lock_text,
                             "lock_sha256": sha256_bytes(cell.lock_text)}
    return sorted(envs.values(), key=lambda e: e["env_id"])


def _same_cell(spec, cell: dict) -> bool:
    """Does the archived manifest's cell have the coordinates of `spec`?
    asgiref only when the matrix pins it (otherwise the resolver chose it,
    and the lock says which); package axes are the cell's own columns."""
    for axis in CORE_AXES:
        wanted = spec.value(axis)
        if axis == "asgiref" and wanted is None:
            continue
        have = cell.get(axis, 1 if axis == "threads" else None)
        if str(have) != str(wanted):
            return False
    packages = cell.get("packages") or {}
    return all(str(cell.get(p, packages.get(p))) == str(v) for p, v in spec.extras)


def locks_of_run(matrix, manifest: dict, run_dir: Path, ui) -> dict:
    """{CellSpec: lock text} for every cell of `matrix` a run had (its
    manifest's cells, A/A twins aside: the protocol brings them back), read
    from its folder (locks/<cell_id>.txt): `lab reproduce`, `lab run --resume`.
    Warns when a lock does not give the archived cell_id here (the lab's
    cell identity changed since): the comparison matches cells by their
    coordinates, so it still holds."""
    archived = [c for c in manifest.get("cells") or []
                if isinstance(c, dict) and not is_aa_twin(c)]
    root = run_dir.resolve()
    locks = {}
    for spec in matrix.cells:
        matches = [c for c in archived if _same_cell(spec, c)]
        if not matches:
            continue
        if len(matches) > 1:
            raise LabError(f"{run_dir.name}: {len(matches)} archived cells match "
                           f"{spec.label()}: {', '.join(c['cell_id'] for c in matches)}")
        cell = matches[0]
        lock = (root / (cell.get("lock") or f"locks/{cell['cell_id']}.txt")).resolve()
        if root not in lock.parents or not lock.is_file():
            raise LabError(f"{run_dir.name}: the lock of cell {cell['cell_id']} "
                           f"({cell.get('lock')}) is not in the archive")
        locks[spec] = lock.read_text()
        made = cell_from_lock(spec, locks[spec]).cell_id
        if made != cell["cell_id"]:
            ui.warn(f"{spec.label()}: the archived lock gives cell id {made} here, "
                    f"{cell['cell_id']} in the archive; cells are compared by coordinates")
    return locks
