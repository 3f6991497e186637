"""Anomaly flags: a cell whose p50 stands far from its siblings.

Siblings are cells of the same scenario and variant that differ from it in
exactly one version axis (python, django or asgiref) and in nothing else:
the same server, workers, threads and view on another release. When a cell
has at least MIN_SIBLINGS of them and its median p50 is FACTOR times above
the highest of theirs (or below the lowest), it is flagged with the axis
that changed. Against every sibling, not their median: when the siblings
themselves spread widely, no one of them is "the" odd one.
Server, workers and view are not axes here: they are what a run compares on
purpose, and their differences are the verdicts, not anomalies.

A flag is a pointer, not a verdict: it says where to look (a release that
changed something, or one disturbed cell), and the report puts it on its
first screen so it is not missed among many cells.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import twin_sets
from analysis.summary import CELL_COLUMNS

AXES = ("python", "django", "asgiref")
# How far from its siblings' median a cell must be to be flagged. 1.5x:
# the steady cells of a real run vary by up to about 10 % (CV), and fresh
# servers on this shared 2-core machine by 5-17 % (A/A); 50 % is well clear
# of both, while the version effects seen so far on one server stay within it.
FACTOR = 1.5
# Fewest siblings to judge against: with one, either cell could be the odd one.
MIN_SIBLINGS = 2
METRIC = "latency_p50"

_COLUMNS = ["cell_id", *CELL_COLUMNS, "scenario", "variant", "axis", "p50_ms",
            "siblings_p50_ms", "ratio", "siblings"]


def anomalies(medians: pd.DataFrame, samples: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (cell, axis) flagged: its p50, its siblings' median p50,
    the ratio, and the siblings as "django 5.1.4: 1.92 ms, ..." text.
    ``medians`` is ``summary.cell_medians`` output; ``samples`` (optional)
    lets A/A twins be left out, as they are no release of their own."""
    keep = ["cell_id", *CELL_COLUMNS, "scenario", "variant", METRIC]
    frame = medians.loc[medians[METRIC].notna(), keep]   # a narrow frame: fast to group
    if samples is not None:
        twins = {c for ids in twin_sets(samples) for c in ids[1:]}
        frame = frame[~frame["cell_id"].isin(twins)]
    rows, checked = [], 0
    for axis in AXES:
        others = [c for c in CELL_COLUMNS if c != axis] + ["scenario", "variant"]
        for _, group in frame.groupby(others, dropna=False, sort=True):
            releases = group[axis].nunique()
            if releases <= MIN_SIBLINGS or len(group) != releases:
                continue   # too few releases, or two cells per release (ambiguous)
            checked += len(group)
            rows += _flag(group, axis)
    flags = pd.DataFrame(rows, columns=_COLUMNS)
    flags.attrs["checked"] = checked   # (cell, axis) pairs that had enough siblings
    return flags


def _flag(group: pd.DataFrame, axis: str) -> list[dict]:
    values = group[METRIC].to_numpy(dtype=float)
    rows = []
    for i, value in enumerate(values):
        siblings = np.delete(values, i)
        low, high = siblings.min(), siblings.max()
        if low <= 0 or not (value >= FACTOR * high or value * FACTOR <= low):
            continue
        cell = group.iloc[i]
        reference = float(np.median(siblings))
        others = group.iloc[np.arange(len(values)) != i]
        described = ", ".join(f"{axis} {v}: {p:.3g} ms" for v, p in
                              zip(others[axis], others[METRIC]))
        rows.append({**{c: cell[c] for c in ["cell_id", *CELL_COLUMNS, "scenario", "variant"]},
                     "axis": axis, "p50_ms": float(value), "siblings_p50_ms": reference,
                     "ratio": float(value) / reference, "siblings": described})
    return rows


def anomaly_lines(flags: pd.DataFrame) -> list[str]:
    """The report's first-screen block, in words."""
    head = (f"Cells whose p50 is {FACTOR:g}× above the highest (or below the lowest) of at"
            f" least {MIN_SIBLINGS} siblings that differ from it only in one of"
            f" {', '.join(AXES)}: a place to look, not a verdict.")
    if not flags.attrs.get("checked"):
        return [f"Not checked: no cell has {MIN_SIBLINGS} siblings that differ from it only in"
                f" one of {', '.join(AXES)}.", ""]
    if flags.empty:
        return [head + f" **None** among {flags.attrs['checked']} (cell, axis) pairs.", ""]
    lines = [head, ""]
    # One line per cell, naming every axis along which it stands out.
    for cell_id, rows in flags.groupby("cell_id", sort=False):
        r = rows.iloc[0]
        where = (f"{r.server} ({r.interface}, {r.workers}w), {r.view} view, Python {r.python},"
                 f" Django {r.django}, asgiref {r.asgiref}, {r.scenario} {r.variant}")
        against = "; ".join(f"×{a.ratio:.2f} the median of its {a.axis} siblings ({a.siblings})"
                            for a in rows.itertuples(index=False))
        axes = ", ".join(f"{a} {r[a]}" for a in rows["axis"])
        lines.append(f"- **{axes}** stands out: `{cell_id}` {where}: p50 {r.p50_ms:.3g} ms,"
                     f" {against}.")
    return lines + [""]
