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

from analysis import compare_runs, load_run, write_reports
from runner import REPO_ROOT
from runner.archive.pack import verify
from runner.core.files import sha256_file
from runner.core.errors import LabError
from runner.matrix.expand import load_matrix
from runner.matrix.locks import locks_of_run
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
        locks = locks_of_run(matrix, manifest, old, ui)
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

