"""All of the CLI's output goes through here (rich): messages, phases and
progress bars, so every long step shows progress and errors look alike."""
from __future__ import annotations

import contextlib
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# Not a terminal (CI, a pipe): wide enough for the report tables.
console = Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False)


def info(message: str) -> None:
    console.print(escape(message))


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


@contextlib.contextmanager
def phase(title: str):
    """A step of unknown length: shows its current sub-step."""
    with console.status(f"{title}") as status:
        yield lambda detail: status.update(escape(f"{title}: {detail}"))
    console.print(f"[green]✓[/] {title}")


@contextlib.contextmanager
def progress(title: str, total: int):
    if not console.is_terminal:
        # A log (CI, a pipe) gets one line per step instead of a redrawn bar.
        done = 0

        def advance(detail: str) -> None:
            nonlocal done
            done += 1
            console.print(escape(f"{title} [{done}/{total}] {detail}"))
        yield advance
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[detail]}")]
    with Progress(*columns, console=console, transient=not sys.stdout.isatty()) as bar:
        task = bar.add_task(title, total=total, detail="")
        yield lambda detail: bar.update(task, advance=1, detail=escape(detail))
    console.print(f"[green]✓[/] {title}: {total} done")


def table(title: str, frame) -> None:
    """Print a frame; columns with one value in every row are printed once
    under it, so the columns that vary stay readable on a terminal."""
    constant = [c for c in frame.columns if len(frame) > 1 and frame[c].astype(str).nunique() == 1]
    shared = ", ".join(f"{c}={frame[c].iloc[0]}" for c in constant)
    frame = frame.drop(columns=constant)
    t = Table(title=title, show_lines=False)
    for col in frame.columns:
        t.add_column(str(col), overflow="ellipsis", max_width=70)
    for row in frame.itertuples(index=False):
        t.add_row(*("" if v is None else escape(str(v)) for v in row))
    console.print(t)
    if shared:
        # Not a table caption: rich wraps a caption to the table's width.
        console.print(escape(f"  all rows: {shared}"), soft_wrap=True)


def exclusions(excluded) -> None:
    """Excluded cells grouped by reason; reasons are printed whole, never cut."""
    if not excluded:
        console.print("excluded: none")
        return
    by_reason: dict[str, list[str]] = {}
    for x in excluded:
        by_reason.setdefault(x.reason, []).append(x.spec.label())
    console.print(f"[bold]excluded: {len(excluded)} cells, {len(by_reason)} reasons[/]")
    for reason, labels in by_reason.items():
        console.print(f"- [yellow]{escape(reason)}[/]", soft_wrap=True)
        for label in labels:
            console.print(f"    {escape(label)}", soft_wrap=True)
