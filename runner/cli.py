"""`lab`: the one entry point; every Make target goes through it.

Stages: up (provision) · configure · run · report · down.
"""
from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from runner import REPO_ROOT, ui
from runner.core.errors import LabError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Django WSGI/ASGI benchmark lab.")
matrix_app = typer.Typer(no_args_is_help=True, help="Inspect matrix files.")
app.add_typer(matrix_app, name="matrix")
tune_app = typer.Typer(no_args_is_help=True,
                       help="Host settings that decide a benchmark's noise: show, apply, restore.")
app.add_typer(tune_app, name="tune")

BYO_MATRIX = REPO_ROOT / "matrices" / "byo.yaml"    # `lab run --app` without a matrix
LabOpt = typer.Option("local", "--lab", help="Lab name (inventory/<lab>/hosts.yml).")


def _guard(fn, *args, **kwargs):
    """Turn LabError into one red line and exit 1; Ctrl-C into exit 130."""
    try:
        return fn(*args, **kwargs)
    except LabError as exc:
        ui.error(str(exc))
        raise typer.Exit(1)
    except KeyboardInterrupt:
        ui.error("interrupted")
        raise typer.Exit(130)


@app.command()
def up(lab: str = LabOpt,
       subnet: Optional[str] = typer.Option(None, help="A /24 inside 198.18.0.0/15 (local "
                                                       "target; default from infra/labs.yaml).")):
    """Provision the lab with its target (infra/labs.yaml; default: local network
    namespaces with sshd and CPU sets); write the inventory."""
    from runner.lab.targets import remember, target_of

    def go():
        target, settings = target_of(lab)
        if subnet:
            settings["subnet"] = subnet
        target.preflight()
        remember(lab, target)
        start = time.monotonic()
        path = target.up(lab, settings, log=ui.info)
        ui.info(f"lab {lab!r} ({target.name}) is up in {time.monotonic() - start:.1f} s; "
                f"inventory: {path}")
    _guard(go)


def _restore_tuning(lab: str) -> None:
    """Before a lab goes, put back what `lab tune apply` changed on its hosts
    (the journal of old values lives in the lab_root that down deletes)."""
    from runner.lab import tune
    from runner.lab.inventory import inventory_path, load_lab
    if not inventory_path(lab).is_file():
        return                     # not up: nothing was applied through it
    try:
        machines = tune.restore(load_lab(lab))
    except Exception as exc:  # noqa: BLE001 - a broken lab must still come down
        ui.warn(f"lab {lab!r}: could not check for host tuning to restore: {str(exc)[:200]}")
        return
    for machine in machines:
        if machine["restored"] or machine["failed"]:
            ui.info(f"lab {lab!r}: {', '.join(machine['hosts'])}: {len(machine['restored'])} tuned "
                    f"setting(s) restored, {len(machine['failed'])} failed")


@app.command()
def down(lab: str = LabOpt):
    """Destroy the lab and check that nothing of it is left."""
    from runner.lab.targets import target_of

    def go():
        target, _ = target_of(lab)
        target.preflight()
        start = time.monotonic()
        _restore_tuning(lab)
        target.down(lab, log=ui.info)
        ui.info(f"lab {lab!r} is down in {time.monotonic() - start:.1f} s; nothing of it is left")
    _guard(go)


@app.command()
def health(lab: str = LabOpt):
    """Check an up lab's hosts; exit 1 naming each broken one."""
    from runner.lab.targets import target_of

    def go():
        target, _ = target_of(lab)
        problems = target.health(lab)
        for problem in problems:
            ui.error(f"lab {lab!r}: {problem}")
        if problems:
            raise typer.Exit(1)
        ui.info(f"lab {lab!r} ({target.name}): every host answers")
    _guard(go)


def _tune_rows(settings: list[dict]) -> list[tuple[str, str, str, str]]:
    """(setting, value, tuned value, state); the IRQs on measured CPUs as one row."""
    def state(s: dict) -> str:
        if s.get("ok"):
            return "tuned" if s.get("kind") == "setting" else "ok"
        if s.get("changeable"):
            return "not tuned: `lab tune apply` changes it"
        return f"cannot change here: {s.get('why') or 'read-only'}"
    rows, irqs = [], [s for s in settings if s.get("irq")]
    for s in settings:
        if not s.get("irq"):
            rows.append((s["name"], str(s.get("value")), str(s.get("tuned", "") or ""), state(s)))
    if irqs:
        off = [s for s in irqs if not s.get("ok")]
        rows.append((f"irq affinity ({len(irqs)} IRQs)", f"{len(off)} on the measured CPUs",
                     "none on them", state(off[0]) if off else "tuned"))
    return rows


@tune_app.command("show")
def tune_show(lab: str = LabOpt):
    """Every setting on each machine of the lab, its value, the tuned value and
    whether it can be changed there."""
    from runner.lab import tune
    from runner.lab.inventory import load_lab

    def go():
        for machine in tune.show(load_lab(lab)):
            ui.info(f"machine of host(s) {', '.join(machine['hosts'])}; measured CPUs {machine['cpus']}"
                    + ("; an apply is in force (`lab tune restore` undoes it)" if machine.get("journal") else ""))
            rows = _tune_rows(machine["settings"])
            width = max(len(r[0]) for r in rows)
            for name, value, tuned, state in rows:
                print(f"  {name:<{width}}  {value:<24} {tuned:<14} {state}")
    _guard(go)


@tune_app.command("apply")
def tune_apply(lab: str = LabOpt):
    """Change what can be changed to its tuned value, recording each old value first."""
    from runner.lab import tune
    from runner.lab.inventory import load_lab

    def go():
        _tune_report(tune.apply(load_lab(lab)), "changed",
                     lambda c: f"{c['name']}: {c['from']} -> {c['to']}",
                     lambda m: f"{len(m['changed'])} changed, {len(m['skipped'])} cannot be "
                               f"changed here (`lab tune show` says why)")
    _guard(go)


def _tune_report(machines, done_key: str, line, summary) -> None:
    """Per machine: a line per setting done, a summary line, a line per
    setting that failed; exit 1 when any failed."""
    failed = False
    for machine in machines:
        where = ", ".join(machine["hosts"])
        for item in machine[done_key]:
            ui.info(f"{where}: {line(item)}")
        ui.info(f"{where}: {summary(machine)}")
        for f in machine["failed"]:
            failed = True
            ui.error(f"{where}: {f['name']}: {f['error']}")
    if failed:
        raise typer.Exit(1)


@tune_app.command("restore")
def tune_restore(lab: str = LabOpt):
    """Put back exactly what `lab tune apply` changed (also after an interrupted apply)."""
    from runner.lab import tune
    from runner.lab.inventory import load_lab

    def go():
        _tune_report(tune.restore(load_lab(lab)), "restored",
                     lambda r: f"{r['name']}: back to {r['to']}",
                     lambda m: f"{len(m['restored'])} setting(s) restored")
    _guard(go)


AppOpt = typer.Option(None, "--app", metavar="PATH_OR_GIT_URL",
                      help="Your own Django project, for a matrix with an `app:` section "
                           "(docs/byo.md).")


@matrix_app.command("show")
def matrix_show(matrix: Path, app_source: Optional[str] = AppOpt):
    """Print the cells of a matrix and the excluded ones with reasons (resolving
    pins with uv against the package index; no host is touched)."""
    import pandas as pd

    from runner.matrix.locks import resolve_matrix
    from runner.matrix.expand import load_matrix
    from runner.scenarios import SCENARIOS

    def go():
        m = load_matrix(matrix, app_source)
        ui.info(f"{m.path}: {len(m.cells) + len(m.excluded)} combinations; "
                f"resolving {len(m.cells)} with uv and Django's metadata")
        cells, excluded = resolve_matrix(m, REPO_ROOT / ".lab" / "lock-cache")
        envs = len({c.env_id for c in cells})
        ui.table(f"{m.name}: {len(cells)} cells ({envs} environments) × "
                 f"{m.protocol.repetitions} repetitions",
                 pd.DataFrame([c.columns() for c in cells]))
        ui.exclusions(excluded)
        for name, params in m.scenarios.items():
            variants = SCENARIOS[name].variants(params, {})
            shown = ", ".join(v.label for v in variants) or "one per rate, from the concurrency peak"
            ui.info(f"scenario {name}: {shown}; settings {params.model_dump()}")
        ui.info("each cell × scenario variant × repetition runs on a fresh server")
    _guard(go)


ReconfigureOpt = typer.Option(
    False, "--reconfigure", help="Run the whole playbook even if nothing changed since its last run.")


@app.command("install")
def install_cmd(matrix: Path, lab: str = LabOpt, reconfigure: bool = ReconfigureOpt):
    """Resolve a matrix and install every cell's environment on the lab, without
    measuring: prints what was installed, left alone, failed or excluded."""
    from runner.execute.run import install, require_cells, resolve
    from runner.lab import lock as lab_lock
    from runner.lab.inventory import load_lab
    from runner.lab.targets import target_of
    from runner.matrix.expand import load_matrix

    def go():
        m = load_matrix(matrix)
        the_lab = load_lab(lab)
        cells, exclusions = resolve(m, ui)
        require_cells(m, cells, exclusions)
        log = target_of(lab)[0].state_dir(lab) / "logs" / f"install-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
        start = time.monotonic()
        with lab_lock.hold(the_lab.vars["lab_state_dir"], lab, f"lab install {matrix}"):
            runnable, failed, _, _ = install(the_lab, m, cells, exclusions, log, ui, reconfigure)
        ui.info(f"{len(runnable) - len(failed)} cells ready on lab {lab!r} in "
                f"{time.monotonic() - start:.1f} s; {len(failed)} failed; "
                f"{len(exclusions)} excluded; ansible log: {log}")
        if failed:
            raise typer.Exit(1)
    _guard(go)


@matrix_app.command("schema")
def matrix_schema():
    """Print the matrix file's JSON Schema (every field documented)."""
    import json

    from runner.matrix.schema import MatrixFile
    print(json.dumps(MatrixFile.model_json_schema(), indent=2))


@app.command()
def run(matrix: Optional[Path] = typer.Argument(None, help="The matrix file (not with --resume)."),
        lab: str = LabOpt,
        results: Path = typer.Option(REPO_ROOT / "results", help="Folder of run folders."),
        reconfigure: bool = ReconfigureOpt,
        resume: Optional[str] = typer.Option(
            None, help="Finish this interrupted or failed run (its id under --results, or its "
                       "folder): only the units not yet measured, same locks and seed."),
        app_source: Optional[str] = AppOpt):
    """Configure the hosts for MATRIX and measure every cell; writes results/<run_id>/.
    With --app and no MATRIX, runs matrices/byo.yaml on that project."""
    from runner.execute.run import resume_run, run_matrix

    def go():
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
        _print_report(run_dir)
        ui.info(f"results: {run_dir}")
    _guard(go)


FullOpt = typer.Option(False, "--full", help="The write-up's own size (matrices/seeds/full/) "
                                           "instead of the default size.")


@app.command()
def seed(seed_id: str = typer.Argument(..., metavar="SEED", help="000-004 (matrices/seeds/)."),
         lab: str = LabOpt, full: bool = FullOpt,
         results: Path = typer.Option(REPO_ROOT / "results", help="Folder of run folders.")):
    """Run one seed write-up's matrix and set its published figures beside the
    lab's, with a verdict per claim (the report's first section)."""
    from runner.matrix.seeds import seed_matrix

    def go():
        _check_claims()
        matrix = seed_matrix(seed_id, full)
        ui.info(f"seed {seed_id}: {matrix.relative_to(REPO_ROOT)}")
        run_dir = run_matrix_and_report(matrix, lab, results)
        ui.info(f"results: {run_dir}")
    _guard(go)


@app.command()
def seeds(lab: str = LabOpt, full: bool = FullOpt,
          results: Path = typer.Option(REPO_ROOT / "results", help="Folder of run folders.")):
    """Run every seed's matrix in turn; write results/seeds-<time>.md, one
    published-vs-measured section per seed, and print each seed's verdict."""
    from analysis.seeds import seeds_summary
    from runner.matrix.seeds import seed_matrices

    def go():
        _check_claims()
        matrices = seed_matrices(full)
        runs, failed = {}, []
        start = time.monotonic()
        for number, (key, matrix) in enumerate(matrices.items(), 1):
            ui.info(f"seed {key} ({number}/{len(matrices)}, {time.monotonic() - start:.0f} s "
                    f"so far): {matrix.relative_to(REPO_ROOT)}")
            try:
                runs[key] = run_matrix_and_report(matrix, lab, results)
            except LabError as exc:
                ui.error(f"seed {key}: {exc}")
                failed.append(key)
        path, lines = seeds_summary(runs, results)
        for line in lines:
            ui.info(line)
        ui.info(f"seeds: {path} ({time.monotonic() - start:.0f} s)")
        if failed:
            raise LabError(f"seed(s) {', '.join(failed)} did not run to the end (above)")
    _guard(go)


def _check_claims() -> None:
    """Refuse to start a long run when the claims file does not load."""
    from analysis.seeds import load_claims
    try:
        load_claims()
    except ValueError as exc:
        raise LabError(str(exc)) from None


def run_matrix_and_report(matrix: Path, lab: str, results: Path) -> Path:
    from runner.execute.run import run_matrix
    run_dir = run_matrix(matrix, lab_name=lab, results_root=results, ui=ui)
    _print_report(run_dir)
    return run_dir


@app.command()
def calibrate(lab: str = LabOpt,
              template: Path = typer.Option(REPO_ROOT / "matrices" / "calibrate.yaml",
                                            help="One-cell matrix with view spin-0."),
              effects: str = typer.Option("5,10", help="Planted costs, % of the baseline p50."),
              blocks_per_trial: int = typer.Option(4, help="Blocks per trial of the paired test."),
              results: Path = typer.Option(REPO_ROOT / "results", help="Folder of run folders.")):
    """Plant known costs next to A/A twins; write calibration.json (what this lab resolves)."""
    from analysis.calibration import closing_line, write_calibration
    from runner.execute.calibrate import calibrate as run_calibration

    def go():
        try:
            planted = [float(e) for e in effects.split(",") if e.strip()]
        except ValueError:
            raise LabError(f"--effects: expected percentages like 5,10; got {effects!r}") from None
        if blocks_per_trial < 3:
            raise LabError(f"--blocks-per-trial: at least 3, got {blocks_per_trial}")
        run_dir = run_calibration(template, lab_name=lab, effects=planted,
                                  results_root=results, ui=ui)
        _print_report(run_dir)
        path, result = write_calibration(run_dir, blocks_per_trial)
        ui.info(f"calibration: {path}")
        ui.info(closing_line(result))
    _guard(go)


def _print_report(run_dir: Path) -> Path:
    """Write report.md and report.html, print the tables; return report.md's path."""
    from analysis.html_report import write_reports
    from runner.core.model import MANIFEST_NAME, cut_short_notice, read_manifest
    with contextlib.suppress(ValueError):      # a manifest at fault: the report says which
        if notice := cut_short_notice(read_manifest(Path(run_dir) / MANIFEST_NAME)):
            ui.warn(notice)
    try:
        markdown, html, tables = write_reports(run_dir)
    except ValueError as exc:   # the analysis names the file or field at fault
        raise LabError(f"report of {run_dir}: {exc}") from None
    for title, frame in tables:
        if len(frame):
            ui.table(title, frame)
    ui.info(f"report.html: {html}")
    return markdown


@app.command()
def report(run: Path = typer.Argument(REPO_ROOT / "results" / "latest",
                                      help="A run folder (default: results/latest).")):
    """Write report.md and report.html (with plots) for a run and print its tables."""
    def go():
        if not run.exists():
            raise LabError(f"{run}: no such run folder")
        path = _print_report(run)
        ui.info(f"report: {path}")
    _guard(go)


@app.command()
def archive(run: Path = typer.Argument(REPO_ROOT / "results" / "latest", help="A run folder."),
            out: Path = typer.Option(REPO_ROOT / "archives", help="Where the archive goes.")):
    """Pack a run folder into one .tar.gz with a sha256 for every member."""
    from runner.archive.pack import pack

    def go():
        ui.info(f"archive: {pack(run, out)}")
    _guard(go)


@app.command()
def verify(archive_file: Path = typer.Argument(..., metavar="FILE")):
    """Check an archive: names every member changed, missing or unlisted."""
    from runner.archive.pack import verify as verify_archive

    def go():
        problems = verify_archive(archive_file)
        for problem in problems:
            ui.error(problem)
        if problems:
            raise typer.Exit(1)
        ui.info(f"{archive_file}: every member matches its sha256")
    _guard(go)


def _print_comparison(comparison) -> None:
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


@app.command("compare")
def compare_cmd(run_a: Path = typer.Argument(..., metavar="RUN_A"),
                run_b: Path = typer.Argument(..., metavar="RUN_B"),
                out: Optional[Path] = typer.Option(None, "--out",
                                                   help="Write the comparison as markdown here "
                                                        "(never over an existing file).")):
    """Compare two run folders cell by cell: do RUN_B's figures agree with RUN_A's
    within their 95 % intervals, and what differs in their environments."""
    from analysis.compare_runs import compare_runs

    def go():
        if out is not None and (out.exists() or out.is_symlink()):
            raise LabError(f"{out} already exists, not overwriting it")
        try:
            comparison = compare_runs(run_a, run_b)
        except ValueError as exc:   # analysis.load names the folder or file at fault
            raise LabError(str(exc)) from None
        _print_comparison(comparison)
        if out is not None:
            try:
                with out.open("x", encoding="utf-8") as f:
                    f.write(comparison.markdown())
            except FileExistsError:
                raise LabError(f"{out} already exists, not overwriting it") from None
            except OSError as exc:
                raise LabError(f"cannot write {out}: {exc.strerror}") from None
            ui.info(f"comparison: {out}")
    _guard(go)


@app.command("reproduce")
def reproduce_cmd(archive_file: Path = typer.Argument(..., metavar="FILE"), lab: str = LabOpt,
                  results: Path = typer.Option(REPO_ROOT / "results",
                                               help="Folder of run folders.")):
    """Run an archived run again on this lab, from its own locks, matrix and
    protocol, and compare the new figures with the archived ones."""
    from runner.archive.reproduce import COMPARISON_NAME, reproduce

    def go():
        run_dir, comparison = reproduce(archive_file, lab_name=lab, results_root=results, ui=ui)
        _print_comparison(comparison)
        ui.info(f"comparison: {run_dir / COMPARISON_NAME}")
        ui.info(f"results: {run_dir}")
    _guard(go)


def main():
    app(prog_name="lab")


if __name__ == "__main__":
    sys.exit(main())
