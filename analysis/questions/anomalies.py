"""Anomaly flags: a cell that stands far from its siblings along one axis.

Siblings along an axis are the cells of the same scenario and variant that
differ from a cell in exactly that axis and in nothing else. Which axes,
and where:

- python, django, asgiref (a release): in every scenario.
- server: in every scenario, but only against servers of the same interface
  (the interface stays among the columns siblings share). WSGI against ASGI
  is the verdict the lab exists to measure, not an anomaly; within one
  interface the servers run the same app, so one far from the rest is worth
  a look.
- workers, threads: only where one request is in flight at a time
  (single-client, concurrency c=1). There more workers or threads should
  change nothing, so a 4-worker cell far above the 1- and 2-worker cells is
  a stall or contention; under load they change latency on purpose (the
  scaling is what concurrency measures).
- view: not an axis. Views do different work on purpose (the raw app against
  DRF is several times), so their gaps say nothing; and every sibling set
  above holds a single view, so a disturbed cell of any view is already
  judged against cells of its own view. A "ratio to the view's other cells"
  would repeat those same comparisons.
- event loop, HTTP implementation: not axes of their own. They are fixed by
  each configuration's argv in runner/catalog/servers.py, which the analysis
  may not import (only runner.core); a copy of that table here would drift
  the day a configuration changes its --loop. And two configurations that
  differ only in loop or parser (hypercorn-asyncio and hypercorn-uvloop,
  uvicorn and uvicorn-h11) share an interface, so they are compared along
  `server` anyway; the flag names the server, whose description names both.

Metrics: the medians over repetitions of p50, mean and p99. A stall in one
repetition of two barely moves p50 (it hits a few % of the requests) but
moves that repetition's mean and p99 a lot, and the median of two is their
average. (With three or more repetitions the median drops one disturbed
repetition on purpose; the stability warnings point at those.)

Rule: with at least MIN_SIBLINGS siblings, a cell is flagged when its metric
is FACTORS[metric] times the highest of theirs, or at most the lowest divided
by it. Against every sibling, not their median: when the siblings themselves
spread widely, no one of them is "the" odd one. With a single sibling (only
along server, workers and threads) neither cell has a spread to be judged
against, so the ratio must clear the margin twice (the factor squared, as
each cell may be off by one margin) and only the slower cell is flagged: a
disturbance adds time, it does not take it away. Along a release one
sibling is not enough: a new release may move the cost for real, and a
step between two releases is a result to read, not a disturbed cell.

A flag is a pointer, not a verdict: it says where to look (a release that
changed something, or one disturbed cell), and the report puts it on its
first screen so it is not missed among many cells.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.runs.declared import declaring
from analysis.stats.bootstrap import twin_sets
from analysis.stats.summary import CELL_COLUMNS

VERSION_AXES = ("python", "django", "asgiref")
AXES = (*VERSION_AXES, "server", "workers", "threads")
# Axes along which one sibling is enough (with the squared factor, see above).
PAIR_AXES = ("server", "workers", "threads")
# Axes judged only where one request is in flight at a time: every variant
# of single-client, and concurrency's one-connection level.
ONE_CLIENT_AXES = ("workers", "threads")
# How far from its siblings a cell must be to be flagged. 1.5x: the steady
# cells of a real run vary by up to about 10 % (CV), and fresh servers on
# this shared 2-core machine by 5-17 % (A/A); 50 % is well clear of both,
# while the version effects seen so far on one server stay within it. p99 is
# set by the slowest 1 % of one 5 s window, a few dozen requests that one
# scheduler hiccup moves, so it needs 2x.
FACTORS = {"latency_p50": 1.5, "latency_mean": 1.5, "latency_p99": 2.0}
FACTOR = FACTORS["latency_p50"]
# Fewest siblings to judge against: with one, either cell could be the odd one.
MIN_SIBLINGS = 2
METRIC = "latency_p50"
LABELS = {"latency_p50": "p50", "latency_mean": "mean", "latency_p99": "p99"}

_ID = ["cell_id", *CELL_COLUMNS, "scenario", "variant"]
# p50_ms and siblings_p50_ms stay the p50 whatever the metric (the report's
# table reads them); value_ms, siblings_ms and ratio are of `metric`.
_COLUMNS = [*_ID, "axis", "metric", "value_ms", "siblings_ms", "ratio", "siblings",
            "p50_ms", "siblings_p50_ms"]


def anomalies(medians: pd.DataFrame, samples: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (cell, axis, metric) flagged: the cell's value, its
    siblings' median, the ratio, and the siblings as "django 5.1.4: 1.92 ms,
    ..." text. ``medians`` is ``summary.cell_medians`` output; ``samples``
    (optional) lets A/A twins be left out, as they are no cell of their own."""
    metrics = [m for m in FACTORS if m in medians.columns]
    frame = medians.reindex(columns=[*_ID, *metrics])
    frame = frame[frame[metrics].notna().any(axis=1)] if metrics else frame.iloc[:0]
    if samples is not None:
        twins = {c for ids in twin_sets(samples) for c in ids[1:]}
        frame = frame[~frame["cell_id"].isin(twins)]
    # Plain dicts, not pandas groupby: a version sweep has thousands of cells.
    cells = [{k: (None if pd.isna(v) else v) for k, v in r.items()}
             for r in frame.to_dict("records")]
    rows, checked = [], set()
    for axis in AXES:
        shared = [c for c in _ID if c not in ("cell_id", axis)]
        groups: dict[tuple, list[dict]] = {}
        for cell in cells:
            if axis in ONE_CLIENT_AXES and not _one_client(cell):
                continue
            groups.setdefault(tuple(cell[c] for c in shared), []).append(cell)
        for group in groups.values():
            if len({c[axis] for c in group}) != len(group):
                continue   # two cells with one value of the axis: ambiguous
            for metric in metrics:
                present = [c for c in group if c[metric] is not None]
                if len(present) - 1 >= (1 if axis in PAIR_AXES else MIN_SIBLINGS):
                    checked.update((c["cell_id"], c["scenario"], c["variant"], axis)
                                   for c in present)
                    rows += _flag(present, axis, metric)
    flags = pd.DataFrame(rows, columns=_COLUMNS)
    flags.attrs["checked"] = len(checked)   # (cell, axis) pairs that had enough siblings
    return flags


def _one_client(cell: dict) -> bool:
    variants = declaring("one_client_variants").get(cell["scenario"], ())
    return variants == "*" or cell["variant"] in variants


def _flag(group: list[dict], axis: str, metric: str) -> list[dict]:
    values = np.array([c[metric] for c in group], dtype=float)
    factor = FACTORS[metric]
    rows = []
    for i, value in enumerate(values):
        siblings = np.delete(values, i)
        low, high = siblings.min(), siblings.max()
        if low <= 0:
            continue
        if len(siblings) == 1:   # a pair: the slower one, by the margin twice
            if value < factor ** 2 * high:
                continue
        elif not (value >= factor * high or value * factor <= low):
            continue
        cell, others = group[i], group[:i] + group[i + 1:]
        reference = float(np.median(siblings))
        described = ", ".join(f"{axis} {c[axis]}: {c[metric]:.3g} ms" for c in others)
        p50s = [c.get(METRIC) for c in others if c.get(METRIC) is not None]
        rows.append({**{c: cell[c] for c in _ID}, "axis": axis, "metric": metric,
                     "value_ms": float(value), "siblings_ms": reference,
                     "ratio": float(value) / reference, "siblings": described,
                     "p50_ms": cell.get(METRIC),
                     "siblings_p50_ms": float(np.median(p50s)) if p50s else None})
    return rows


def anomaly_lines(flags: pd.DataFrame) -> list[str]:
    """The report's first-screen block, in words."""
    factors = ", ".join(f"{LABELS[m]} {f:g}×" for m, f in FACTORS.items())
    head = (f"Cells whose p50, mean or p99 is far above the highest (or below the lowest) of"
            f" at least {MIN_SIBLINGS} siblings that differ from it only in one of"
            f" {', '.join(AXES)} ({factors}); servers only against the same interface,"
            f" workers and threads only with one client; along {', '.join(PAIR_AXES)} one"
            f" sibling suffices for the slower cell at the factor squared. A place to look,"
            f" not a verdict.")
    if not flags.attrs.get("checked"):
        return ["Not checked: no cell has siblings that differ from it only in one of"
                f" {', '.join(AXES)} ({MIN_SIBLINGS} needed along a release).", ""]
    if flags.empty:
        return [head + f" **None** among {flags.attrs['checked']} (cell, axis) pairs.", ""]
    lines = [head, ""]
    # One line per cell and workload, naming every axis and metric along which it stands out.
    for (cell_id, _, _), rows in flags.groupby(["cell_id", "scenario", "variant"],
                                               sort=False, dropna=False):
        r = rows.iloc[0]
        where = (f"{r.server} ({r.interface}, {r.workers}w), {r.view} view, Python {r.python},"
                 f" Django {r.django}, asgiref {r.asgiref}, {r.scenario} {r.variant}")
        against = "; ".join(
            f"{LABELS[a.metric]} {a.value_ms:.3g} ms, ×{a.ratio:.2f} the median of its"
            f" {a.axis} siblings ({a.siblings})" for a in rows.itertuples(index=False))
        axes = ", ".join(f"{a} {r[a]}" for a in dict.fromkeys(rows["axis"]))
        metrics = ", ".join(LABELS[m] for m in dict.fromkeys(rows["metric"]))
        lines.append(f"- **{axes}** stands out ({metrics}): `{cell_id}` {where}: {against}.")
    return lines + [""]
