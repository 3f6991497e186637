"""`lab`: the one entry point; every Make target goes through it.

Stages: up (provision) · configure · run · report · down.

This module only assembles the command: each group of commands lives in its
own module, and every command runs inside the one error guard
(runner/cli/guard.py). Commands are listed in `lab --help` in the order they
are added here.
"""
from __future__ import annotations

import typer

from runner.cli import lifecycle, matrix, measure, results, tune
from runner.cli.guard import GuardedGroup

app = typer.Typer(cls=GuardedGroup, add_completion=False, no_args_is_help=True,
                  help="Django WSGI/ASGI benchmark lab.")
matrix_app = typer.Typer(no_args_is_help=True, help="Inspect matrix files.")
app.add_typer(matrix_app, name="matrix")
tune_app = typer.Typer(no_args_is_help=True,
                       help="Host settings that decide a benchmark's noise: show, apply, restore.")
app.add_typer(tune_app, name="tune")

app.command("up")(lifecycle.up)
app.command("down")(lifecycle.down)
app.command("health")(lifecycle.health)
app.command("install")(matrix.install_cmd)
app.command("run")(measure.run)
app.command("seed")(measure.seed)
app.command("seeds")(measure.seeds)
app.command("calibrate")(measure.calibrate)
app.command("report")(results.report)
app.command("archive")(results.archive)
app.command("verify")(results.verify)
app.command("compare")(results.compare_cmd)
app.command("reproduce")(results.reproduce_cmd)
app.command("apt-packages")(lifecycle.apt_packages)

matrix_app.command("show")(matrix.show)
matrix_app.command("schema")(matrix.schema)

tune_app.command("show")(tune.show)
tune_app.command("apply")(tune.apply)
tune_app.command("restore")(tune.restore)


def main():
    app(prog_name="lab")

