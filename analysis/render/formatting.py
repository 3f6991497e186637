"""Formatting for the report and the console: numbers, intervals, tables.

Every figure the lab shows passes through here, so report.md and the CLI
print the same strings.
"""

from __future__ import annotations

import math

import pandas as pd

# Columns that hold names or versions: left-aligned even when they look like
# numbers ("3.12"); every other column of a table is a number, right-aligned.
TEXT_COLUMNS = {
    "cell_id", "server", "interface", "python", "django", "asgiref", "view",
    "scenario", "baseline", "status", "reason", "verdict", "finding", "warning", "twin_cell_id",
    "variant", "level", "metric", "unit", "raw", "client saturated", "saturated",
    # lab compare's tables (analysis/report/compare_runs.py)
    "aa_twin", "cell_id_a", "cell_id_b", "same_lock", "status_a", "status_b", "note",
    "what", "A", "B",
}


def display(frame: pd.DataFrame, id_columns: list[str], value_columns: list) -> pd.DataFrame:
    """A frame of strings: ``id_columns`` as text, then per (title, source,
    formatter) of ``value_columns`` the formatted source column."""
    out = pd.DataFrame({c: [text(v) for v in frame[c]] for c in id_columns}, dtype=object)
    for title, source, fmt in value_columns:
        out[title] = [fmt(v) for v in frame[source]]
    return out.reset_index(drop=True)


def label(row) -> str:
    """How a cell is named in a sentence: `id` server (interface, Nw)."""
    return (f"`{row.get('cell_id')}` {row.get('server')} ({row.get('interface')},"
            f" {row.get('workers')}w)")


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def is_whole(value) -> bool:
    return not is_missing(value) and float(value) == int(float(value))


def num(value, decimals: int, signed: bool = False) -> str:
    if is_missing(value):
        return "n/a"
    return f"{float(value):{'+' if signed else ''}.{decimals}f}"


def interval(bounds, decimals: int, signed: bool = False, missing: str = "n/a") -> str:
    """"[low, high]", or ``missing`` when there is no interval."""
    low, high = bounds
    if is_missing(low) or is_missing(high):
        return missing
    return f"[{num(low, decimals, signed)}, {num(high, decimals, signed)}]"


def ci(bounds, signed: bool = False) -> str:
    """An interval inside a sentence."""
    return interval(bounds, 3, signed, missing="(no interval)")


def general(value) -> str:
    """A number of unknown scale (a generic table): 4 significant digits,
    whole numbers from 10,000 on."""
    if is_missing(value):
        return "n/a"
    value = float(value)
    return f"{value:.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def percent(value) -> str:
    return "n/a" if is_missing(value) else f"{float(value) * 100:.1f}"


def text(value) -> str:
    return "n/a" if is_missing(value) else str(value)


def seconds(value) -> str:
    return "? s" if value is None else f"{float(value):g} s"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-style table, numbers right-aligned. Small and local so the
    report does not depend on tabulate's version or presence."""
    if frame.empty:
        return "(no rows)"

    def cell(v) -> str:
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" if c in TEXT_COLUMNS else "---:" for c in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
