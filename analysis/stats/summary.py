"""Reduce long-form samples to per-cell medians and baseline ratios.

Pure functions over DataFrames: no I/O, so the tests can feed them frames
built by hand and the report and CLI share the exact same numbers.
"""

from __future__ import annotations

import re

import pandas as pd

from analysis.runs.load import KEYS, REPETITION_KEYS
from runner.core.model import CELL_COLUMNS
# Cells are only comparable when the software under test and the workload are
# the same (down to the variant: c=16 is never read against c=1); server,
# interface and workers are what the comparison varies.
GROUP_COLUMNS = ["python", "django", "asgiref", "view", "scenario", "variant"]

METRICS = [
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "latency_mean",
    "requests_per_s",
    "requests",
    "errors",
    "server_cpu_percent",
    "server_rss_mb",
    "server_threads",
    "server_uss_mb",
    "client_cpu_percent",
    "client_cpu_share",
    "client_saturated",
    "littles_law_ratio",
]

NO_BASELINE = "no WSGI baseline"

_RATIO_COLUMNS = [
    "cell_id",
    "server",
    "interface",
    "workers",
    "threads",
    *GROUP_COLUMNS,
    "baseline_cell_id",
    "baseline_server",
    "baseline_workers",
    "p50_ratio",
    "p50_diff_ms",
    "p99_ratio",
    "mean_ratio",
    "throughput_ratio",
]
_UNMATCHED_COLUMNS = ["cell_id", "server", "interface", "workers", "threads", *GROUP_COLUMNS,
                      "reason"]


def cell_medians(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell_id, scenario, variant): cell columns,
    ``repetitions``, and per metric the median over repetitions (column
    named as the metric).

    Medians, not means: with few repetitions one disturbed repetition (a
    noisy neighbour, a GC pause in the load generator) should not move the
    figure. Every known metric gets a column, NaN where it was not measured,
    so callers can rely on the columns existing.
    """
    keys = KEYS + CELL_COLUMNS
    if samples.empty:
        return pd.DataFrame(columns=[*keys, "repetitions", *METRICS])

    # First one value per repetition, then the median across repetitions,
    # so each repetition weighs the same.
    per_rep = per_repetition(samples).set_index([*keys, *REPETITION_KEYS, "metric"])["value"]
    medians = per_rep.groupby(level=[*keys, "metric"], dropna=False).median().unstack("metric")
    reps = (
        per_rep.index.to_frame(index=False)[[*keys, *REPETITION_KEYS]]
        .drop_duplicates()
        .groupby(keys, dropna=False)
        .size()
        .rename("repetitions")
    )
    out = reps.to_frame().join(medians).reset_index()
    out.columns.name = None

    # A cell_id is a hash of the pins, so it must map to one set of cell
    # columns; two rows for one key would mean the runner mislabelled samples.
    clash = out.duplicated(KEYS, keep=False)
    if clash.any():
        bad = sorted(out.loc[clash, "cell_id"].astype(str).unique())
        raise ValueError(f"cell_id(s) with inconsistent cell columns: {', '.join(bad)}")

    extra = [c for c in out.columns if c not in keys and c != "repetitions" and c not in METRICS]
    out = out.reindex(columns=[*keys, "repetitions", *METRICS, *sorted(extra)])
    return _sorted(out)


def per_repetition(samples: pd.DataFrame) -> pd.DataFrame:
    """One value per (cell_id, scenario, variant, repetition, metric): the
    cell columns, ``run_id``, ``repetition``, ``metric`` and ``value``.

    A repetition is identified by (run_id, repetition), so a frame holding
    several runs (:func:`analysis.runs.load.load_runs`) keeps run A's repetition 1
    apart from run B's. The value is a median, in case a runner ever writes a
    metric twice for one repetition.
    """
    keys = [*KEYS, *CELL_COLUMNS, *REPETITION_KEYS, "metric"]
    return samples.groupby(keys, dropna=False)["value"].median().reset_index()


def asgi_vs_wsgi(medians: pd.DataFrame, baseline_server: str) -> pd.DataFrame:
    """Ratios of each ASGI cell, and of each non-baseline WSGI cell, to the
    WSGI baseline cell of its group (same python, django, asgiref, view,
    scenario and variant).

    One table: the ``interface`` column says whether a row is an ASGI server
    or another WSGI server (e.g. granian-wsgi) measured against the same
    baseline. The baseline is the cell whose server is ``baseline_server``;
    if the group has none, the group's only WSGI cell stands in (its name is
    in ``baseline_server``). Cells with no usable baseline are left out here
    and listed by :func:`unmatched_cells`.
    """
    return _pair(medians, baseline_server)[0]


def unmatched_cells(medians: pd.DataFrame, baseline_server: str) -> pd.DataFrame:
    """Cells that :func:`asgi_vs_wsgi` could not compare, with a ``reason``,
    so the report can list them instead of dropping them silently."""
    return _pair(medians, baseline_server)[1]


def _pair(medians: pd.DataFrame, baseline_server: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows: list[dict] = []
    unmatched: list[dict] = []
    # Plain dicts, not pandas rows or groupby: a big run has thousands of
    # cells, and per-row or per-group pandas work would dominate the report's
    # time. Only the columns the ratios need are copied.
    needed = [*dict.fromkeys(["cell_id", "server", "interface", "workers", "threads",
                              *GROUP_COLUMNS, *_RATIO_METRICS])]
    groups: dict[tuple, list[dict]] = {}
    for cell in medians.reindex(columns=needed).to_dict("records"):
        key = tuple(None if _missing(cell[c]) else cell[c] for c in GROUP_COLUMNS)
        groups.setdefault(key, []).append(cell)
    for cells in groups.values():
        wsgi = [c for c in cells if c["interface"] == "wsgi"]
        candidates = [c for c in wsgi if c["server"] == baseline_server]
        if not candidates and len(wsgi) == 1:
            candidates = wsgi  # the fallback: the group's only WSGI cell
        baseline_ids = {c["cell_id"] for c in candidates}

        for cell in cells:
            if cell["cell_id"] in baseline_ids:
                continue  # a baseline is not compared with itself
            base, reason = _choose_baseline(candidates, cell, baseline_server)
            if base is None:
                unmatched.append({**_identity(cell), "reason": reason})
            else:
                rows.append({**_identity(cell), **_ratios(cell, base)})

    ratios = _sorted(pd.DataFrame(rows, columns=_RATIO_COLUMNS))
    missing = _sorted(pd.DataFrame(unmatched, columns=_UNMATCHED_COLUMNS))
    return ratios, missing


_RATIO_METRICS = ["latency_p50", "latency_p99", "latency_mean", "requests_per_s"]


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _choose_baseline(candidates: list[dict], cell: dict, baseline_server: str):
    """Return (baseline row, None) or (None, reason)."""
    if not candidates:
        return None, NO_BASELINE
    if len(candidates) == 1:
        return candidates[0], None
    # Several baseline cells (e.g. gunicorn-sync at 1 and 4 workers): the one
    # with the same worker count is the fair comparison; otherwise refuse to
    # guess rather than pick one silently.
    same_workers = [c for c in candidates if c["workers"] == cell["workers"]]
    if len(same_workers) == 1:
        return same_workers[0], None
    return None, f"ambiguous WSGI baseline: {len(candidates)} {baseline_server} cells"


def _identity(cell: dict) -> dict:
    return {c: cell[c] for c in ["cell_id", "server", "interface", "workers", "threads",
                                 *GROUP_COLUMNS]}


def _ratios(cell: dict, base: dict) -> dict:
    def ratio(metric: str) -> float:
        return float(cell[metric]) / float(base[metric])

    return {
        "baseline_cell_id": base["cell_id"],
        "baseline_server": base["server"],
        "baseline_workers": base["workers"],
        "p50_ratio": ratio("latency_p50"),
        "p50_diff_ms": float(cell["latency_p50"]) - float(base["latency_p50"]),
        "p99_ratio": ratio("latency_p99"),
        "mean_ratio": ratio("latency_mean"),
        "throughput_ratio": ratio("requests_per_s"),
    }


def variant_rank(variants) -> dict[str, int]:
    """{label: position} with numbers compared as numbers, so the levels of
    a sweep read c=1, c=4, c=16, c=64 rather than c=1, c=16, c=4, c=64."""
    return {label: i for i, label in enumerate(sorted(set(map(str, variants)), key=_natural))}


def _natural(label: str) -> list[tuple]:
    return [(0, float(part), "") if i % 2 else (1, 0.0, part)
            for i, part in enumerate(re.split(r"(\d+(?:\.\d+)?)", label)) if part]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """A stable, readable order: by group (variants in their natural order),
    WSGI before ASGI, then server."""
    if frame.empty:
        return frame.reset_index(drop=True)
    order = frame.assign(_wsgi_first=(frame["interface"] != "wsgi"))
    if "variant" in order.columns:
        order["_variant"] = order["variant"].map(variant_rank(order["variant"]))
    group = ["_variant" if c == "variant" else c for c in GROUP_COLUMNS]
    by = [c for c in [*group, "_wsgi_first", "server", "workers"] if c in order.columns]
    helpers = [c for c in ("_wsgi_first", "_variant") if c in order.columns]
    return order.sort_values(by, kind="stable").drop(columns=helpers).reset_index(drop=True)
