"""Where an ASGI server's extra per-request time goes (overhead attribution).

From baseline cells measured in the same run, on one server pair (an ASGI
server S against the WSGI baseline W, same Python, Django, asgiref, workers,
threads, scenario and variant), the single-client p50 difference of a view
splits into parts that add up to it exactly (each line uses p50 medians):

    server      raw_S - raw_W                       the servers alone, no framework
    handler     (async-bare_S - raw_S)              Django's handler on each interface's
                - (sync-bare_W - raw_W)             own path: async view under ASGI, sync
                                                    view under WSGI, no middleware
    hand-off    sync-bare_S - async-bare_S          a sync view under ASGI runs in a thread
                                                    (asgiref's sync_to_async); WSGI has none
    middleware  (sync_S - sync-bare_S)              what the default middleware costs more
                - (sync_W - sync-bare_W)            under ASGI than under WSGI
    drf         (drf_S - sync_S) - (drf_W - sync_W)  the DRF APIView over a plain view
                                                    (only when the run has drf cells)

    total = view_S - view_W (view: drf if measured, else sync) = sum of the parts

Each part's interval is a percentile bootstrap: every cell's repetitions are
resampled independently (the cells are independent servers), the medians of
each resample are combined as above, and the 2.5/97.5 % points are taken.
The same resamples feed every part, so the parts of one resample add up to
its total.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.render import formatting as fmt
from analysis.runs.declared import one
from analysis.stats.bootstrap import CONFIDENCE, MIN_REPETITIONS, N_RESAMPLES, SEED, twin_sets
from analysis.stats.summary import CELL_COLUMNS, KEYS, REPETITION_KEYS

METRIC = "latency_p50"
# The views each part needs; drf is optional.
NEEDED = {"W": ("raw", "sync-bare", "sync"), "S": ("raw", "sync-bare", "async-bare", "sync")}
PARTS = ("server", "handler", "hand-off", "middleware", "drf")
# What makes two cells one server pair's "same conditions".
_PAIR_COLUMNS = ["python", "django", "asgiref", "workers", "threads", "scenario", "variant"]
_COLUMNS = ["server", "baseline_server", *_PAIR_COLUMNS, "view", "part", "ms", "ms_low",
            "ms_high", "repetitions"]


def _parts(m: dict) -> dict[str, np.ndarray]:
    """The parts from medians ``m[(side, view)]`` (arrays of resamples)."""
    parts = {
        "server": m["S", "raw"] - m["W", "raw"],
        "handler": (m["S", "async-bare"] - m["S", "raw"]) - (m["W", "sync-bare"] - m["W", "raw"]),
        "hand-off": m["S", "sync-bare"] - m["S", "async-bare"],
        "middleware": (m["S", "sync"] - m["S", "sync-bare"]) - (m["W", "sync"] - m["W", "sync-bare"]),
    }
    if ("S", "drf") in m and ("W", "drf") in m:
        parts["drf"] = (m["S", "drf"] - m["S", "sync"]) - (m["W", "drf"] - m["W", "sync"])
    return parts


def _resampled_medians(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Medians of N_RESAMPLES resamples (with replacement) of ``values``."""
    picks = rng.integers(0, len(values), size=(N_RESAMPLES, len(values)))
    return np.median(values[picks], axis=1)


def attribution(samples: pd.DataFrame, baseline_server: str) -> pd.DataFrame:
    """One row per (ASGI server, conditions, part), plus a "total" row: the
    part in ms with its interval (NaN below MIN_REPETITIONS on any cell it
    uses), and the fewest repetitions among the cells used. Empty when the
    run lacks the cells (see :func:`missing_views`)."""
    reps = _repetitions(samples)
    rows = []
    for conditions, group in reps.groupby(_PAIR_COLUMNS, dropna=False, sort=True):
        ids = group.groupby(["server", "view"])["cell_id"].nunique()
        # Two cells for one server and view (another package pin): which one
        # a part should use is ambiguous, so that pair is not attributed.
        by_server_view = {(s, v): vals for (s, v), vals in
                          group.groupby(["server", "view"])["value"] if ids[s, v] == 1}
        for server in sorted({s for s, _ in by_server_view if s != baseline_server}):
            if group.loc[group["server"] == server, "interface"].iloc[0] != "asgi":
                continue
            cells = {("W", v): by_server_view.get((baseline_server, v)) for v in
                     (*NEEDED["W"], "drf")}
            cells |= {("S", v): by_server_view.get((server, v)) for v in (*NEEDED["S"], "drf")}
            cells = {k: np.asarray(v, dtype=float) for k, v in cells.items() if v is not None}
            if any((side, v) not in cells for side, views in NEEDED.items() for v in views):
                continue
            rows += _pair_rows(server, baseline_server, dict(zip(_PAIR_COLUMNS, conditions)),
                               cells)
    return pd.DataFrame(rows, columns=_COLUMNS)


def _pair_rows(server: str, baseline: str, conditions: dict, cells: dict) -> list[dict]:
    view = "drf" if ("S", "drf") in cells and ("W", "drf") in cells else "sync"
    fewest = min(len(v) for v in cells.values())
    point = _parts({k: np.median(v) for k, v in cells.items()})
    point["total"] = sum(point.values())
    rng = np.random.default_rng(SEED)
    resampled = _parts({k: _resampled_medians(v, rng) for k, v in sorted(cells.items())})
    resampled["total"] = sum(resampled.values())
    tail = (1 - CONFIDENCE) / 2 * 100
    rows = []
    for part, value in point.items():
        low, high = np.percentile(resampled[part], [tail, 100 - tail])
        if fewest < MIN_REPETITIONS:
            low = high = np.nan
        rows.append({"server": server, "baseline_server": baseline, **conditions, "view": view,
                     "part": part, "ms": float(value), "ms_low": float(low),
                     "ms_high": float(high), "repetitions": fewest})
    return rows


def _scenario() -> str:
    """The scenario whose p50 is split: the one whose report declares it the
    reference latency (one request at a time, kept alive)."""
    return one("reference_latency")[0]


def _repetitions(samples: pd.DataFrame) -> pd.DataFrame:
    """Per-repetition p50 of the single-client cells of the views used."""
    views = {*NEEDED["S"], "drf"}
    keep = (samples["scenario"] == _scenario()) & (samples["metric"] == METRIC) \
        & samples["view"].isin(views)
    twins = {cell_id for ids in twin_sets(samples) for cell_id in ids[1:]}
    subset = samples[keep & ~samples["cell_id"].isin(twins)]
    if subset.empty:
        return pd.DataFrame(columns=[*KEYS, *CELL_COLUMNS, "value"])
    keys = [*KEYS, *CELL_COLUMNS, *REPETITION_KEYS]
    return subset.groupby(keys, dropna=False)["value"].median().reset_index()


def missing_views(samples: pd.DataFrame) -> list[str]:
    """The views attribution needs that the run's single-client cells lack
    (empty when it has them all, or when it has none: then it was not asked)."""
    have = set(samples.loc[samples["scenario"] == _scenario(), "view"])
    needed = set(NEEDED["S"])
    if not have & {"raw", "sync-bare", "async-bare"}:
        return []
    return sorted(needed - have)


# --------------------------------------------------------------------------
# Display

TITLE = "Where the ASGI cost comes from"
_WHAT = {
    "server": "the server alone (raw apps, no framework)",
    "handler": "Django's handler on each interface's own path (no middleware)",
    "hand-off": "a sync view handed to a thread under ASGI (async view as reference)",
    "middleware": "the default middleware, ASGI minus WSGI",
    "drf": "the DRF APIView over a plain view, ASGI minus WSGI",
    "total": "the whole difference",
}


def attribution_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per server pair and conditions, one column per part:
    "+0.412 [+0.301, +0.530]" ms."""
    if frame.empty:
        return pd.DataFrame(columns=["server", "baseline", "view"])
    ids = ["server", "baseline_server", *_PAIR_COLUMNS, "view", "repetitions"]
    rows = []
    for key, parts in frame.groupby(ids, dropna=False, sort=False):
        row = dict(zip(["server", "baseline", *_PAIR_COLUMNS, "view", "repetitions"],
                       [str(k) for k in key]))
        for p in parts.itertuples(index=False):
            row[f"{p.part} ms"] = (f"{fmt.num(p.ms, 3, True)} "
                                   f"{fmt.interval((p.ms_low, p.ms_high), 3, True, '')}").strip()
        rows.append(row)
    return pd.DataFrame(rows, dtype=object)


def attribution_lines(frame: pd.DataFrame, missing: list[str]) -> list[str]:
    """The report section: what each part is, then one sentence per pair."""
    lines = [f"## {TITLE}", ""]
    if frame.empty:
        need = ", ".join(NEEDED["S"])
        why = (f"this run lacks the view(s) {', '.join(missing)}" if missing
               else "no ASGI server had every view it needs next to the WSGI baseline")
        return lines + [f"Not estimated: {why}. It needs {_scenario()} cells of the views"
                        f" {need} on an ASGI server and on the WSGI baseline, under the same"
                        " conditions (see `matrices/attribution.yaml`).", ""]
    lines += [f"The {_scenario()} p50 difference between an ASGI server and the WSGI"
              " baseline, split using cells of the same run (analysis/questions/attribution.py says"
              " how). The parts add up to the total; intervals are 95 % percentile"
              " bootstrap intervals over the repetitions of every cell used:", ""]
    lines += [f"- **{part}**: {what}" for part, what in _WHAT.items()] + [""]
    for key, parts in frame.groupby(["server", "baseline_server", *_PAIR_COLUMNS, "view"],
                                    dropna=False, sort=False):
        by_part = {p.part: p for p in parts.itertuples(index=False)}
        total = by_part.pop("total")
        split = ", ".join(f"{part} {fmt.num(p.ms, 3, True)} {fmt.ci((p.ms_low, p.ms_high), True)}"
                          for part, p in by_part.items())
        cond = dict(zip(["server", "baseline", *_PAIR_COLUMNS, "view"], key))
        lines.append(
            f"- {cond['server']} vs {cond['baseline']} (Python {cond['python']}, Django"
            f" {cond['django']}, asgiref {cond['asgiref']}, {cond['workers']} worker(s),"
            f" {cond['scenario']} {cond['variant']}, {total.repetitions}+ repetitions per"
            f" cell): the {cond['view']} view costs {fmt.num(total.ms, 3, True)} ms"
            f" {fmt.ci((total.ms_low, total.ms_high), True)} per request under ASGI = {split}.")
    return lines + [""]
