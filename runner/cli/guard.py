"""The one error guard of the `lab` command, and the one way the analysis's
errors become the user's.

Every command runs inside `GuardedGroup.invoke` (the top `lab` group is made
with it, so the `matrix` and `tune` groups' commands are guarded too): a
LabError is one red line on stderr and exit 1; Ctrl-C is `error:
interrupted` and exit 130. A command that has more to say raises
`typer.Exit` itself (health, verify, install, tune). Any other exception is
a bug and keeps its traceback."""
from __future__ import annotations

import contextlib

import typer
from typer.core import TyperGroup

from runner import ui
from runner.core.errors import LabError


class GuardedGroup(TyperGroup):
    """A typer group whose commands' LabError and Ctrl-C end in one line."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LabError as exc:
            ui.error(str(exc))
            raise typer.Exit(1)
        except KeyboardInterrupt:
            ui.error("interrupted")
            raise typer.Exit(130)


@contextlib.contextmanager
def analysis_errors(prefix: str = ""):
    """The analysis raises ValueError naming the file or field at fault (a
    run folder or a claims file the user gave): a LabError here, so the
    guard prints it as one line, after `prefix`."""
    try:
        yield
    except ValueError as exc:
        raise LabError(f"{prefix}{exc}") from None
