"""Tails from pooled histograms: a cell's p99 and p99.9 from all its
windows' real latency samples together, rather than the median of per-window
p99s (each of which, at one client for a few seconds, rests on a few dozen
samples above p99).

The runner keeps each wrk window's real samples as a histogram in its raw
folder (`raw/.../measured-latency-us.json`, {µs: count};
runner/scenarios/wrk_window.py); runs from before 2026-12-03 have none, and
get no section. Percentiles use wrk's rank rule (the smallest value whose
cumulative count reaches round(p/100 · count + 0.5)).

Clusters: the pooled samples split wherever two neighbouring latencies are
more than CLUSTER_GAP times apart (single linkage on log latency, which in
one dimension is exactly a split at the wide gaps of the sorted values). A
stall pattern shows as a cluster of its own: a delayed ACK near 40 ms, a
worker that missed its turn near its neighbour's request time.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from runner.core.model import LATENCY_HISTOGRAM_SUFFIX

TITLE = "Tails from pooled histograms"
WINDOW_TAG = "measured"
PERCENTILES = (50.0, 99.0, 99.9)
COLUMNS = ["cell_id", "scenario", "variant", "windows", "samples", "p50", "p99", "p99.9",
           "max", "clusters"]
CLUSTER_GAP = 2.0
MAX_CLUSTERS_SHOWN = 4


def clusters(values: np.ndarray, counts: np.ndarray) -> list[tuple[float, float, int]]:
    """(lowest µs, highest µs, samples) of each cluster, lowest first."""
    if not len(values):
        return []
    logs = np.log(np.maximum(values, 1))
    cuts = np.flatnonzero(np.diff(logs) > math.log(CLUSTER_GAP)) + 1
    return [(float(v[0]), float(v[-1]), int(c.sum()))
            for v, c in zip(np.split(values, cuts), np.split(counts, cuts))]


def cluster_text(found: list[tuple[float, float, int]]) -> str:
    """"0.21-0.95 ms 99.2 %; 40.1-41.3 ms 0.8 %": the largest few, in order."""
    total = sum(n for *_, n in found) or 1
    shown = sorted(sorted(found, key=lambda c: -c[2])[:MAX_CLUSTERS_SHOWN])
    parts = [(f"{lo / 1000:.3g}" + (f"-{hi / 1000:.3g}" if hi != lo else "")
              + f" ms {100 * n / total:.3g} %") for lo, hi, n in shown]
    hidden = len(found) - len(shown)
    return "; ".join(parts) + (f"; {hidden} more" if hidden > 0 else "")


def percentile_us(values: np.ndarray, counts: np.ndarray, p: float) -> float:
    """wrk's rule on a histogram given as sorted `values` and their `counts`."""
    total = int(counts.sum())
    rank = math.floor(p / 100.0 * total + 0.5 + 0.5)
    at = int(np.searchsorted(np.cumsum(counts), max(rank, 1)))
    return float(values[min(at, len(values) - 1)])


def pool(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted latencies (µs) and their counts over the histograms in `paths`."""
    merged: dict[int, int] = {}
    for path in paths:
        for value, count in json.loads(path.read_text()).items():
            merged[int(value)] = merged.get(int(value), 0) + int(count)
    values = np.array(sorted(merged), dtype=np.int64)
    return values, np.array([merged[v] for v in values], dtype=np.int64)


def pooled_tails(run_dir: Path, manifest: dict) -> pd.DataFrame:
    """One row per (cell, scenario, variant) with histograms: COLUMNS, in ms."""
    groups: dict[tuple, list[Path]] = {}
    for rep in (manifest.get("timings") or {}).get("repetitions") or []:
        path = Path(run_dir) / rep.get("raw", "") / f"{WINDOW_TAG}{LATENCY_HISTOGRAM_SUFFIX}"
        if rep.get("raw") and path.is_file():
            groups.setdefault((rep["cell_id"], rep["scenario"], rep["variant"]), []).append(path)
    rows = []
    for (cell_id, scenario, variant), paths in groups.items():
        values, counts = pool(paths)
        if not counts.sum():
            continue
        row = {"cell_id": cell_id, "scenario": scenario, "variant": variant,
               "windows": len(paths), "samples": int(counts.sum()),
               "max": float(values[-1]) / 1000.0,
               "clusters": cluster_text(clusters(values, counts))}
        for p in PERCENTILES:
            row[f"p{p:g}"] = percentile_us(values, counts, p) / 1000.0
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def lines(table: pd.DataFrame) -> list[str]:
    """The report's section (nothing for runs without histograms)."""
    if table.empty:
        return []
    out = [f"## {TITLE}", "",
           "Each cell's latencies over all its measured windows pooled into one histogram of"
           " real samples (one per request), in ms: its tail percentiles rest on every sample"
           " (`samples`), not on the median of per-window p99s. `clusters`: the samples split"
           f" where two neighbouring latencies are more than {CLUSTER_GAP:g}x apart, with each"
           " part's share: a stall pattern is a cluster of its own.", "",
           "| cell | scenario | variant | windows | samples | p50 | p99 | p99.9 | max | clusters |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in table.sort_values(["scenario", "variant", "cell_id"]).to_dict("records"):
        out.append(f"| `{r['cell_id']}` | {r['scenario']} | {r['variant']} | {r['windows']} |"
                   f" {r['samples']} | {r['p50']:.3f} | {r['p99']:.3f} | {r['p99.9']:.3f} |"
                   f" {r['max']:.3f} | {r['clusters']} |")
    return out + [""]
