"""Intervals, stability warnings and the comparisons judged over repetitions
(the rule that judges them: analysis/stats/verdict.py).

Pure functions over sample frames (as :func:`analysis.runs.load.load_runs`
returns them): no I/O. The unit of replication is the repetition: each
repetition's value of a metric (one wrk window, see
``summary.per_repetition``) is one observation, and every interval below is
a percentile bootstrap over those observations (``scipy.stats.bootstrap``).

Read the intervals for what they are: with 3 repetitions the bootstrap
interval of a median is (about) the range of the 3 values, which covers the
true median only about 75 % of the time, not 95 %. More repetitions make
the interval honest; fewer than :data:`MIN_REPETITIONS` give none at all.
"""

from __future__ import annotations

import inspect
import math
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from analysis.runs.saturation import client_saturation, saturation_text
from analysis.stats import verdict
from analysis.stats.summary import (
    CELL_COLUMNS,
    KEYS,
    REPETITION_KEYS,
    asgi_vs_wsgi,
    cell_medians,
    per_repetition,
    unmatched_cells,
)

# --------------------------------------------------------------------------
# Constants (each one a judgement call; the report states them)

# Confidence level of every interval.
CONFIDENCE = 0.95
# Resamples per interval. 1999, as Davison & Hinkley advise for percentile
# intervals: (B + 1) * 0.025 is a whole number, so each end is an exact order
# statistic of the resampled values. scipy's default of 9999 costs 5x the
# bootstrap time (most of a 100,000-sample report) and gave the very same
# intervals, to 3 decimals, on the 3-repetition demo run.
N_RESAMPLES = 1999
# Fixed seed, so the same run gives the same report twice. Each call starts
# a fresh generator from it and scipy draws one index array for every row of
# a batch, so a cell's interval depends only on its own repetitions, never
# on which other cells the run holds.
SEED = 20250101
# Below 3 repetitions there is no interval: 2 values give only 3 possible
# resampled medians, and a "95 %" interval from them means nothing.
MIN_REPETITIONS = 3
# pyperf's check: "the standard deviation is >= 10 % of the mean" makes a
# result unstable. Same threshold, over repetitions.
CV_WARN = 0.10
# Metrics whose CV is checked: the ones the verdicts rest on. Tail latency
# (p99) is noisy by nature and would warn on every run.
STABILITY_METRICS = ("latency_p50", "requests_per_s")

_METRIC_NAMES = {"latency_p50": "p50 latency", "requests_per_s": "throughput (req/s)"}

# Sample-table columns that are not coordinates of a cell.
_SAMPLE_COLUMNS = {*KEYS, *REPETITION_KEYS, "metric", "value", "unit"}
# Resampled values held in memory per bootstrap call (8 bytes each).
_MAX_VALUES_PER_CALL = 4_000_000

_STATS_COLUMNS = [*KEYS, *CELL_COLUMNS, "metric", "repetitions", "median", "ci_low", "ci_high",
                  "cv"]
_WARNING_COLUMNS = ["cell_id", "scenario", "variant", "server", "interface", "workers", "threads",
                    "kind", "message"]
_CONTROL_COLUMNS = ["cell_id", "twin_cell_id", "scenario", "variant", *CELL_COLUMNS,
                    "repetitions", "twin_repetitions", "p50_diff_ms", "p50_diff_low",
                    "p50_diff_high"]


# --------------------------------------------------------------------------
# Per cell


def cell_stats(samples: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (cell_id, scenario, variant, metric): the cell columns,
    ``repetitions`` (with a value for that metric), ``median`` over
    repetitions, its bootstrap interval ``ci_low``/``ci_high`` (NaN below
    :data:`MIN_REPETITIONS`), and ``cv``, the coefficient of variation
    (sample std / mean over repetitions; NaN for one repetition or mean 0).

    ``metrics`` limits the work to those metrics (default: all present).
    """
    per_rep = per_repetition(samples).dropna(subset=["value"])
    if metrics is not None:
        per_rep = per_rep[per_rep["metric"].isin(list(metrics))]
    if per_rep.empty:
        return pd.DataFrame(columns=_STATS_COLUMNS)

    keys = [*KEYS, *CELL_COLUMNS, "metric"]
    grouped = per_rep.groupby(keys, dropna=False, sort=True)["value"]
    out = grouped.agg(repetitions="count", median="median", mean="mean", std="std").reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cv"] = np.where(out["mean"] != 0, out["std"] / out["mean"], np.nan)

    # Each group's values, contiguous and in group order, without a Python
    # loop over groups (a big run has tens of thousands).
    codes = grouped.ngroup().to_numpy()
    values = per_rep["value"].to_numpy()[np.argsort(codes, kind="stable")]
    counts = out["repetitions"].to_numpy()
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    low = np.full(len(out), np.nan)
    high = np.full(len(out), np.nan)
    for n in np.unique(counts[counts >= MIN_REPETITIONS]):
        rows = np.flatnonzero(counts == n)
        matrix = values[starts[rows, None] + np.arange(n)]
        low[rows], high[rows] = _bootstrap(_median, (matrix,))
    out["ci_low"], out["ci_high"] = low, high
    return out[_STATS_COLUMNS]


def stability_warnings(stats: pd.DataFrame, cells: Sequence[dict] = (),
                       saturation: pd.DataFrame | None = None) -> pd.DataFrame:
    """pyperf-style warnings, one row per problem: ``kind`` is one of
    "failed", "few repetitions", "noisy", "client saturated", and
    ``message`` says it in words.

    ``stats`` is :func:`cell_stats` output (it needs the
    :data:`STABILITY_METRICS` rows to check those); ``cells`` is the
    manifest's cell list, for failed and partial cells; ``saturation`` is
    :func:`client_saturation` output (no saturation check without it).
    """
    who = _WARNING_COLUMNS[:7]
    rows: list[dict] = []
    for cell in cells:
        if cell.get("status") != "ok":
            rows.append({**{c: cell.get(c) for c in who}, "scenario": None, "variant": None,
                         "kind": "failed", "message": _failure_message(cell)})

    # Each check selects its rows at once (a big run has thousands of cells),
    # then the warnings are put back in the cells' order.
    keyed = [stats[KEYS]] + ([saturation[KEYS]] if saturation is not None else [])
    order = {key: i for i, key in enumerate(dict.fromkeys(
        key for frame in keyed for key in zip(*(frame[c] for c in KEYS))))}
    found: list[tuple[int, int, dict]] = []

    def add(frame: pd.DataFrame, check: int, kind: str, message) -> None:
        for row in frame.to_dict("records"):
            found.append((order[tuple(row[c] for c in KEYS)], check,
                          {**{c: row[c] for c in who}, "kind": kind, "message": message(row)}))

    most = stats.groupby(KEYS, dropna=False, sort=False)["repetitions"].transform("max")
    few = stats.assign(reps=most)[most < MIN_REPETITIONS].drop_duplicates(KEYS)
    add(few, 0, "few repetitions", lambda r: f"only {r['reps']} repetition(s): no confidence"
        f" interval (needs {MIN_REPETITIONS})")
    noisy = stats[stats["metric"].isin(STABILITY_METRICS) & (stats["cv"] >= CV_WARN)]
    add(noisy, 1, "noisy", lambda r: f"{_METRIC_NAMES.get(r['metric'], r['metric'])} varies"
        f" {r['cv'] * 100:.1f} % between repetitions (std/mean; warn at {CV_WARN * 100:g} %)")
    if saturation is not None:
        add(saturation, 2, "client saturated", lambda r: saturation_text(r)
            + ": the load generator may be measuring itself")
    rows += [row for *_, row in sorted(found, key=lambda f: f[:2])]
    return pd.DataFrame(rows, columns=_WARNING_COLUMNS)


def _failure_message(cell: dict) -> str:
    """"failed: reason", or for a cell with several failed repetitions the
    first and how many more (report.md lists them all)."""
    failures = cell.get("failures") or []
    reason = cell.get("reason") or "no reason recorded"
    more = f" (and {len(failures) - 1} more failure(s))" if len(failures) > 1 else ""
    return f"{cell.get('status')}: {reason}{more}"


# --------------------------------------------------------------------------
# A/A control


def aa_controls(samples: pd.DataFrame) -> pd.DataFrame:
    """A/A control pairs: cells identical in every column but ``cell_id``
    (two configurations the runner measured as if different, though they are
    the same). One row per pair, scenario and variant, with the p50 difference
    (twin minus cell) and its bootstrap interval: what the lab reports as a
    difference when there is none, i.e. the noise floor. Empty when the run
    holds no such pair.
    """
    pairs = [(a, b) for twins in twin_sets(samples) for i, a in enumerate(twins)
             for b in twins[i + 1:]]
    if not pairs:
        return pd.DataFrame(columns=_CONTROL_COLUMNS)
    medians = cell_medians(samples)
    cells = {key: row for key, row in zip(zip(*(medians[c] for c in KEYS)),
                                          medians.to_dict("records"))}
    units: dict[str, set] = defaultdict(set)  # cell_id -> its (scenario, variant)s
    for cell_id, scenario, variant in cells:
        units[cell_id].add((scenario, variant))
    values = _rep_values(samples, ["latency_p50"])
    rows, items = [], []
    for a, b in pairs:
        for scenario, variant in sorted(units[a] & units[b]):
            x = values.get((b, scenario, variant, "latency_p50"), np.empty(0))
            y = values.get((a, scenario, variant, "latency_p50"), np.empty(0))
            cell = cells[(a, scenario, variant)]
            rows.append({"cell_id": a, "twin_cell_id": b, "scenario": scenario,
                         "variant": variant, **{c: cell[c] for c in CELL_COLUMNS},
                         "repetitions": len(y), "twin_repetitions": len(x),
                         "p50_diff_ms": _diff(x, y)})
            items.append((x, y))
    out = pd.DataFrame(rows, columns=_CONTROL_COLUMNS)
    out["p50_diff_low"], out["p50_diff_high"] = _intervals(_diff_of_medians, items)
    return out


# --------------------------------------------------------------------------
# Against the WSGI baseline


def compare(samples: pd.DataFrame, baseline_server: str,
            saturation: pd.DataFrame | None = None,
            medians: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each cell against its WSGI baseline (the pairing of
    ``summary.asgi_vs_wsgi``: same python, django, asgiref, view, scenario
    and variant), one row per compared cell, scenario and variant that has a
    p50 latency on both sides (io-mix, say, has none: its own report section
    shows it).

    Columns: those of ``asgi_vs_wsgi`` (point ratios and the p50 difference
    of medians), plus ``repetitions``/``baseline_repetitions``, the bootstrap
    intervals ``p50_diff_low/high``, ``p50_ratio_low/high`` and
    ``throughput_ratio_low/high`` (the two cells' repetitions resampled
    independently), ``noise_floor_ms`` (largest |A/A p50 difference| in the
    scenario and variant, NaN without a control), ``verdict`` and ``why``
    (``verdict.bootstrap_rule``), and ``saturated_client``: "" or which side's
    windows had a saturated client (:func:`client_saturation`), which the verdict
    then rests on. ``saturation`` and ``medians``: :func:`client_saturation`
    and ``summary.cell_medians`` of ``samples``, if already computed.
    """
    ratios = asgi_vs_wsgi(_comparable_medians(samples, medians), baseline_server)
    values = _rep_values(samples, ["latency_p50", "requests_per_s"])
    controls = aa_controls(samples)
    floors = (controls.assign(size=controls["p50_diff_ms"].abs())
              .groupby(["scenario", "variant"])["size"].max())

    def reps(cell_id: str, r, metric: str) -> np.ndarray:
        return values.get((cell_id, r.scenario, r.variant, metric), np.empty(0))

    p50 = [(reps(r.cell_id, r, "latency_p50"), reps(r.baseline_cell_id, r, "latency_p50"))
           for r in ratios.itertuples()]
    rps = [(reps(r.cell_id, r, "requests_per_s"), reps(r.baseline_cell_id, r, "requests_per_s"))
           for r in ratios.itertuples()]
    out = ratios.copy()
    out["repetitions"] = [len(x) for x, _ in p50]
    out["baseline_repetitions"] = [len(y) for _, y in p50]
    out["p50_diff_low"], out["p50_diff_high"] = _intervals(_diff_of_medians, p50)
    out["p50_ratio_low"], out["p50_ratio_high"] = _intervals(_ratio_of_medians, p50)
    out["throughput_ratio_low"], out["throughput_ratio_high"] = _intervals(_ratio_of_medians, rps)
    out["noise_floor_ms"] = [float(floors.get((s, v), math.nan))
                             for s, v in zip(out["scenario"], out["variant"])]
    decided = [
        verdict.bootstrap_rule(r.p50_diff_low, r.p50_diff_high, r.p50_ratio, r.p50_diff_ms,
                               r.noise_floor_ms, MIN_REPETITIONS)
        for r in out.itertuples()
    ]
    out["verdict"] = [v for v, _ in decided]
    out["why"] = [w for _, w in decided]
    if saturation is None:
        saturation = client_saturation(samples)
    hot = {tuple(row[c] for c in KEYS): row for row in saturation.to_dict("records")}
    out["saturated_client"] = [_saturation_note(hot, r) for r in out.itertuples()]
    return out


def _saturation_note(hot: dict, r) -> str:
    """Which side of a comparison had saturated client windows, in words."""
    notes = []
    for side, cell_id in (("this cell", r.cell_id), ("the baseline", r.baseline_cell_id)):
        row = hot.get((cell_id, r.scenario, r.variant))
        if row is not None:
            notes.append(f"{side}: {saturation_text(row)}")
    return "; ".join(notes)


def not_compared(samples: pd.DataFrame, baseline_server: str,
                 medians: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cells :func:`compare` left out, with a ``reason``
    (``summary.unmatched_cells`` on the same pairing)."""
    return unmatched_cells(_comparable_medians(samples, medians), baseline_server)


def median_interval(x: np.ndarray) -> tuple[float, float]:
    """Bootstrap interval of the median of one cell's repetitions (NaN, NaN
    below MIN_REPETITIONS), as :func:`cell_stats` computes it."""
    low, high = _intervals(_median, [(np.asarray(x, float),)])
    return float(low[0]), float(high[0])


def difference_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Bootstrap interval of median(x) - median(y), the two resampled
    independently, as :func:`compare` computes the p50 difference."""
    low, high = _intervals(_diff_of_medians, [(np.asarray(x, float), np.asarray(y, float))])
    return float(low[0]), float(high[0])


def ratio_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Bootstrap interval of median(x) / median(y)."""
    low, high = _intervals(_ratio_of_medians, [(np.asarray(x, float), np.asarray(y, float))])
    return float(low[0]), float(high[0])


# --------------------------------------------------------------------------
# Helpers


def twin_sets(samples: pd.DataFrame) -> list[list[str]]:
    """Sorted cell_ids of each set of cells identical in every cell column."""
    if samples.empty:
        return []
    candidates = [c for c in samples.columns if c not in _SAMPLE_COLUMNS]
    cells = samples[["cell_id", *candidates]].drop_duplicates()
    # A column that varies within one cell (a timestamp, say) describes the
    # sample, not the cell: leave it out of the comparison.
    constant = cells.groupby("cell_id", dropna=False)[candidates].nunique(dropna=False).max()
    identity = [c for c in candidates if constant.get(c, 1) <= 1]
    cells = cells[["cell_id", *identity]].drop_duplicates()
    if not identity:
        return []
    sets = cells.groupby(identity, dropna=False)["cell_id"].agg(sorted)
    return [list(ids) for ids in sets if len(ids) > 1]


def _comparable_medians(samples: pd.DataFrame, medians: pd.DataFrame | None = None
                        ) -> pd.DataFrame:
    """Cell medians without the twins of A/A pairs (all but the first
    cell_id of each set): a twin is the control, and two identical baseline
    cells would otherwise make the baseline ambiguous. Only rows with a p50
    latency: the verdict is about it, and a scenario without one (io-mix's
    elapsed seconds, a ramp's per-step figures) is shown in its own section."""
    medians = cell_medians(samples) if medians is None else medians
    twins = {cell_id for ids in twin_sets(samples) for cell_id in ids[1:]}
    keep = ~medians["cell_id"].isin(twins) & medians["latency_p50"].notna()
    return medians[keep].reset_index(drop=True)


def _rep_values(samples: pd.DataFrame, metrics: list[str]) -> dict[tuple, np.ndarray]:
    """{(cell_id, scenario, variant, metric): per-repetition values}."""
    subset = samples[samples["metric"].isin(metrics)]
    per_rep = per_repetition(subset).dropna(subset=["value"])
    return {key: group.to_numpy() for key, group in
            per_rep.groupby([*KEYS, "metric"], dropna=False)["value"]}


def _median(x, axis=-1):
    """np.median, about twice as fast on many short rows (a few repetitions
    each): sorting with the short axis first is vectorised across rows."""
    ordered = np.sort(np.moveaxis(x, axis, 0), axis=0)
    mid = ordered.shape[0] // 2
    return ordered[mid] if ordered.shape[0] % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _diff_of_medians(x, y, axis=-1):
    return _median(x, axis) - _median(y, axis)


def _ratio_of_medians(x, y, axis=-1):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _median(x, axis) / _median(y, axis)


def _diff(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.median(x) - np.median(y)) if len(x) and len(y) else math.nan


def _intervals(statistic: Callable, items: list[tuple[np.ndarray, ...]]):
    """Bootstrap interval of ``statistic`` for each item (a tuple of 1-D
    samples); (NaN, NaN) where a sample has fewer than MIN_REPETITIONS.
    Items with the same sample sizes go through scipy together."""
    low = np.full(len(items), np.nan)
    high = np.full(len(items), np.nan)
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        if min(len(a) for a in item) >= MIN_REPETITIONS:
            by_shape[tuple(len(a) for a in item)].append(i)
    for shape, rows in by_shape.items():
        stacked = tuple(np.stack([items[i][k] for i in rows]) for k in range(len(shape)))
        low[rows], high[rows] = _bootstrap(statistic, stacked)
    return low, high


def _bootstrap(statistic: Callable, data: tuple[np.ndarray, ...]):
    """Percentile interval of ``statistic`` over the last axis of each 2-D
    array in ``data`` (one row per item), in chunks of rows that fit in
    memory. Percentile, not BCa: BCa's jackknife acceleration from 3-5
    repetitions is unstable and degenerates when repetitions tie."""
    per_row = N_RESAMPLES * sum(a.shape[-1] for a in data)
    chunk = max(1, _MAX_VALUES_PER_CALL // per_row)
    rows = data[0].shape[0]
    low, high = np.empty(rows), np.empty(rows)
    for start in range(0, rows, chunk):
        part = tuple(a[start:start + chunk] for a in data)
        result = bootstrap(part, statistic, n_resamples=N_RESAMPLES, vectorized=True,
                           paired=False, axis=-1, confidence_level=CONFIDENCE,
                           method="percentile", **{_RNG_ARG: np.random.default_rng(SEED)})
        low[start:start + chunk] = result.confidence_interval.low
        high[start:start + chunk] = result.confidence_interval.high
    return low, high


# scipy >= 1.15 calls the generator ``rng``; 1.11-1.14 call it ``random_state``.
_RNG_ARG = "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"
