"""`lab reproduce FILE`: run an archived run again on this lab and say
whether the new figures agree with the archived ones.

1. The archive is verified first (runner.archive.pack.verify): any problem, and
   nothing is extracted, installed or created: "refusing to reproduce".
2. It is extracted (tarfile's "data" filter: no absolute paths, links out or
   device files) into a temporary folder, removed at the end whatever happens.
3. Its matrix.yaml (the matrix as given, with its protocol and seed) is run
   with the cells made from the archived locks (locks/<cell_id>.txt), not
   resolved again: the same spec and lock give the same cell_id
   (runner.matrix.locks.cell_from_lock). A cell of the matrix the archived run has
   no lock for is excluded ("not in the archived run"); A/A twins come back
   by themselves when the protocol asks for them.
4. The new run's manifest says what it reproduces (`reproduces`: archive
   path, its sha256, the archived run_id); report.md and report.html are
   written as after `lab run`, then the comparison of the archived run (A) with the new one
   (B), analysis.compare_runs, as comparison.md in the new run folder.
"""
from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from analysis.compare_runs import compare_runs
from analysis.html_report import write_reports
from analysis.load import load_run
from runner import REPO_ROOT
from runner.archive.pack import verify
from runner.core.files import sha256_file
from runner.core.errors import LabError
from runner.matrix.locks import cell_from_lock
from runner.matrix.expand import CORE_AXES, load_matrix
from runner.core.model import is_aa_twin
from runner.execute.run import run_matrix

COMPARISON_NAME = "comparison.md"
MATRIX_NAME = "matrix.yaml"


def extract(archive: Path, into: Path) -> Path:
    """Extract a verified archive into `into`; return its run folder."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise LabError(f"refusing to reproduce {archive}: cannot extract it: {exc}") from None
    folders = [p for p in into.iterdir() if p.is_dir()]
    if len(folders) != 1:
        raise LabError(f"refusing to reproduce {archive}: expected one run folder in it, "
                       f"found {len(folders)}")
    return folders[0]


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


def archived_locks(matrix, manifest: dict, run_dir: Path, ui) -> dict:
    """{CellSpec: lock text} for every cell of `matrix` the archived run had
    (its manifest's cells, A/A twins aside: the protocol brings them back).
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


def reproduce(archive_file: Path, lab_name: str = "local",
              results_root: Path = REPO_ROOT / "results", ui=None):
    """Run the archived run again; return (new run folder, Comparison)."""
    archive_file = Path(archive_file)
    problems = verify(archive_file)
    if problems:
        raise LabError(f"refusing to reproduce {archive_file}: " + "; ".join(problems))
    reproduces = {"archive": str(archive_file.resolve()), "archive_sha256": sha256_file(archive_file)}
    with tempfile.TemporaryDirectory(prefix="lab-reproduce-") as tmp:
        old = extract(archive_file, Path(tmp))
        try:
            # The analysis must be able to read it, or the comparison at the
            # end would fail after the whole run: check before running.
            _, manifest = load_run(old)
        except ValueError as exc:
            raise LabError(f"refusing to reproduce {archive_file}: {exc}") from None
        if not (old / MATRIX_NAME).is_file():
            raise LabError(f"refusing to reproduce {archive_file}: it holds no {MATRIX_NAME}")
        reproduces["run_id"] = manifest.get("run_id", old.name)
        matrix = load_matrix(old / MATRIX_NAME)
        locks = archived_locks(matrix, manifest, old, ui)
        if not locks:
            raise LabError(f"refusing to reproduce {archive_file}: none of its matrix's cells "
                           f"has a lock in the archive (status {manifest.get('status')!r})")
        ui.info(f"reproducing run {reproduces['run_id']} from {archive_file}: "
                f"{len(locks)} cells from its locks, {matrix.protocol.repetitions} repetitions")
        run_dir = run_matrix(old / MATRIX_NAME, lab_name=lab_name, results_root=results_root,
                             ui=ui, locks=locks, reproduces=reproduces)
        write_reports(run_dir)
        comparison = compare_runs(old, run_dir)
        comparison.path_a = archive_file   # the temporary folder is about to go
        with (run_dir / COMPARISON_NAME).open("x", encoding="utf-8") as out:
            out.write(comparison.markdown())
    return run_dir, comparison

