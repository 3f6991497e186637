"""Options that several commands share, defined once."""
from __future__ import annotations

import typer

from runner import REPO_ROOT

LabOpt = typer.Option("local", "--lab", help="Lab name (inventory/<lab>/hosts.yml).")

AppOpt = typer.Option(None, "--app", metavar="PATH_OR_GIT_URL",
                      help="Your own Django project, for a matrix with an `app:` section "
                           "(docs/byo.md).")

ReconfigureOpt = typer.Option(
    False, "--reconfigure", help="Run the whole playbook even if nothing changed since its last run.")

FullOpt = typer.Option(False, "--full", help="The write-up's own size (matrices/seeds/full/) "
                                           "instead of the default size.")

ResultsOpt = typer.Option(REPO_ROOT / "results", help="Folder of run folders.")
