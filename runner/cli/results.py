"""What is done with a run folder: `lab report`, `lab archive`, `lab verify`,
`lab compare`, `lab reproduce`; and the printing of a report and of a
comparison, which the measuring commands share."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import typer

from runner import REPO_ROOT, ui
from runner.cli.guard import analysis_errors
from runner.cli.options import LabOpt, ResultsOpt
from runner.core.errors import LabError


def print_report(run_dir: Path) -> Path:
    """Write report.md and report.html, print the tables; return report.md's path."""
    from analysis import write_reports
    from runner.core.model import MANIFEST_NAME, cut_short_notice, read_manifest
    with contextlib.suppress(ValueError):      # a manifest at fault: the report says which
        if notice := cut_short_notice(read_manifest(Path(run_dir) / MANIFEST_NAME)):
            ui.warn(notice)
    with analysis_errors(f"report of {run_dir}: "):   # the analysis names the file or field at fault
        markdown, html, tables = write_reports(run_dir)
    for title, frame in tables:
        if len(frame):
            ui.table(title, frame)
    ui.info(f"report.html: {html}")
    return markdown


def report(run: Path = typer.Argument(REPO_ROOT / "results" / "latest",
                                      help="A run folder (default: results/latest).")):
    """Write report.md and report.html (with plots) for a run and print its tables."""
    if not run.exists():
        raise LabError(f"{run}: no such run folder")
    path = print_report(run)
    ui.info(f"report: {path}")


def archive(run: Path = typer.Argument(REPO_ROOT / "results" / "latest", help="A run folder."),
            out: Path = typer.Option(REPO_ROOT / "archives", help="Where the archive goes.")):
    """Pack a run folder into one .tar.gz with a sha256 for every member."""
    from runner.archive.pack import pack

    ui.info(f"archive: {pack(run, out)}")


def verify(archive_file: Path = typer.Argument(..., metavar="FILE")):
    """Check an archive: names every member changed, missing or unlisted."""
    from runner.archive.pack import verify as verify_archive

    problems = verify_archive(archive_file)
    for problem in problems:
        ui.error(problem)
    if problems:
        raise typer.Exit(1)
    ui.info(f"{archive_file}: every member matches its sha256")


def print_comparison(comparison) -> None:
    """The summary line, the tables, and the environment differences when a
    cell disagrees (otherwise how many there are: the markdown has them)."""
    ui.info(f"{comparison.run_b} against {comparison.run_a}: {comparison.summary()}")
    for title, frame in comparison.tables()[:2]:
        if len(frame):
            ui.table(title, frame)
    env = comparison.environment
    if env.empty:
        ui.info("environment: no difference between the two manifests")
    elif comparison.any_disagree:
        ui.table("environment differences (some cells disagree)", env)
    else:
        ui.info(f"environment: {len(env)} difference(s) between the manifests, not shown as no "
                "cell disagrees (the markdown lists them)")


def compare_cmd(run_a: Path = typer.Argument(..., metavar="RUN_A"),
                run_b: Path = typer.Argument(..., metavar="RUN_B"),
                out: Optional[Path] = typer.Option(None, "--out",
                                                   help="Write the comparison as markdown here "
                                                        "(never over an existing file).")):
    """Compare two run folders cell by cell: do RUN_B's figures agree with RUN_A's
    within their 95 % intervals, and what differs in their environments."""
    from analysis import compare_runs

    if out is not None and (out.exists() or out.is_symlink()):
        raise LabError(f"{out} already exists, not overwriting it")
    with analysis_errors():   # analysis.load names the folder or file at fault
        comparison = compare_runs(run_a, run_b)
    print_comparison(comparison)
    if out is not None:
        try:
            with out.open("x", encoding="utf-8") as f:
                f.write(comparison.markdown())
        except FileExistsError:
            raise LabError(f"{out} already exists, not overwriting it") from None
        except OSError as exc:
            raise LabError(f"cannot write {out}: {exc.strerror}") from None
        ui.info(f"comparison: {out}")


def reproduce_cmd(archive_file: Path = typer.Argument(..., metavar="FILE"), lab: str = LabOpt,
                  results: Path = ResultsOpt):
    """Run an archived run again on this lab, from its own locks, matrix and
    protocol, and compare the new figures with the archived ones."""
    from runner.archive.reproduce import COMPARISON_NAME, reproduce

    run_dir, comparison = reproduce(archive_file, lab_name=lab, results_root=results, ui=ui)
    print_comparison(comparison)
    ui.info(f"comparison: {run_dir / COMPARISON_NAME}")
    ui.info(f"results: {run_dir}")
