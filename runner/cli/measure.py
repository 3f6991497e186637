"""The commands that measure on a lab: `lab run`, `lab seed`, `lab seeds`,
`lab calibrate`; each prints its run's report at the end."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from runner import REPO_ROOT, ui
from runner.cli.guard import analysis_errors
from runner.cli.options import AppOpt, FullOpt, LabOpt, ReconfigureOpt, ResultsOpt
from runner.cli.results import print_report
from runner.core.errors import LabError

BYO_MATRIX = REPO_ROOT / "matrices" / "byo.yaml"    # `lab run --app` without a matrix


def run(matrix: Optional[Path] = typer.Argument(None, help="The matrix file (not with --resume)."),
        lab: str = LabOpt,
        results: Path = ResultsOpt,
        reconfigure: bool = ReconfigureOpt,
        resume: Optional[str] = typer.Option(
            None, help="Finish this interrupted or failed run (its id under --results, or its "
                       "folder): only the units not yet measured, same locks and seed."),
        app_source: Optional[str] = AppOpt):
    """Configure the hosts for MATRIX and measure every cell; writes results/<run_id>/.
    With --app and no MATRIX, runs matrices/byo.yaml on that project."""
    from runner.execute.run import resume_run, run_matrix

    if resume:
        if matrix is not None:
            raise LabError("give either a MATRIX or --resume RUN_ID, not both "
                           "(a resumed run keeps its own matrix file)")
        if app_source:
            raise LabError("--resume takes no --app: a resumed run measures its own project")
        folder = Path(resume) if Path(resume).is_dir() else results / resume
        if not folder.is_dir():
            raise LabError(f"--resume: no run folder {folder}")
        run_dir = resume_run(folder, lab_name=lab, ui=ui, reconfigure=reconfigure)
    elif matrix is None and not app_source:
        raise LabError("give a MATRIX file to run (or --resume RUN_ID, or --app PROJECT)")
    else:
        run_dir = run_matrix(matrix or BYO_MATRIX, lab_name=lab, results_root=results, ui=ui,
                             reconfigure=reconfigure, app_source=app_source)
    print_report(run_dir)
    ui.info(f"results: {run_dir}")


def seed(seed_id: str = typer.Argument(..., metavar="SEED", help="000-004 (matrices/seeds/)."),
         lab: str = LabOpt, full: bool = FullOpt,
         results: Path = ResultsOpt):
    """Run one seed write-up's matrix and set its published figures beside the
    lab's, with a verdict per claim (the report's first section)."""
    from runner.matrix.seeds import seed_matrix

    _check_claims()
    matrix = seed_matrix(seed_id, full)
    ui.info(f"seed {seed_id}: {matrix.relative_to(REPO_ROOT)}")
    run_dir = run_matrix_and_report(matrix, lab, results)
    ui.info(f"results: {run_dir}")


def seeds(lab: str = LabOpt, full: bool = FullOpt,
          results: Path = ResultsOpt):
    """Run every seed's matrix in turn; write results/seeds-<time>.md, one
    published-vs-measured section per seed, and print each seed's verdict."""
    from analysis import seeds_summary
    from runner.matrix.seeds import seed_matrices

    _check_claims()
    matrices = seed_matrices(full)
    runs, failed = {}, []
    start = time.monotonic()
    for number, (key, matrix) in enumerate(matrices.items(), 1):
        ui.info(f"seed {key} ({number}/{len(matrices)}, {time.monotonic() - start:.0f} s "
                f"so far): {matrix.relative_to(REPO_ROOT)}")
        try:
            runs[key] = run_matrix_and_report(matrix, lab, results)
        except LabError as exc:       # one seed failing does not stop the others
            ui.error(f"seed {key}: {exc}")
            failed.append(key)
    path, lines = seeds_summary(runs, results)
    for line in lines:
        ui.info(line)
    ui.info(f"seeds: {path} ({time.monotonic() - start:.0f} s)")
    if failed:
        raise LabError(f"seed(s) {', '.join(failed)} did not run to the end (above)")


def _check_claims() -> None:
    """Refuse to start a long run when the claims file does not load."""
    from analysis import load_claims
    with analysis_errors():
        load_claims()


def run_matrix_and_report(matrix: Path, lab: str, results: Path) -> Path:
    from runner.execute.run import run_matrix
    run_dir = run_matrix(matrix, lab_name=lab, results_root=results, ui=ui)
    print_report(run_dir)
    return run_dir


def calibrate(lab: str = LabOpt,
              template: Path = typer.Option(REPO_ROOT / "matrices" / "calibrate.yaml",
                                            help="One-cell matrix with view spin-0."),
              effects: str = typer.Option("5,10", help="Planted costs, % of the baseline p50."),
              blocks_per_trial: int = typer.Option(4, help="Blocks per trial of the paired test."),
              results: Path = ResultsOpt):
    """Plant known costs next to A/A twins; write calibration.json (what this lab resolves)."""
    from analysis import closing_line, write_calibration
    from runner.execute.calibrate import calibrate as run_calibration

    try:
        planted = [float(e) for e in effects.split(",") if e.strip()]
    except ValueError:
        raise LabError(f"--effects: expected percentages like 5,10; got {effects!r}") from None
    if blocks_per_trial < 3:
        raise LabError(f"--blocks-per-trial: at least 3, got {blocks_per_trial}")
    run_dir = run_calibration(template, lab_name=lab, effects=planted,
                              results_root=results, ui=ui)
    print_report(run_dir)
    path, result = write_calibration(run_dir, blocks_per_trial)
    ui.info(f"calibration: {path}")
    ui.info(closing_line(result))
