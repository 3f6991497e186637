"""analysis/stats/tails.py: tails from windows' histograms pooled per cell, with
wrk's percentile rule, checked against answers computed by hand."""
from __future__ import annotations

import json

import numpy as np

from analysis.stats import tails
from runner.tools import wrk


def window(run_dir, raw, histogram):
    folder = run_dir / raw
    folder.mkdir(parents=True)
    (folder / "measured-latency-us.json").write_text(json.dumps(
        {str(k): v for k, v in histogram.items()}))


def test_the_pooled_p99_rests_on_every_window_not_on_a_median_of_p99s(tmp_path):
    # Window 0: 990 samples at 1 ms, 10 at 50 ms; window 1 and 2: 1000 at 1 ms.
    # Per window p99 = 1 ms, 1 ms, 1 ms... except window 0 at rank 990: 1 ms too;
    # pooled (3000 samples, 10 slow), p99.9 is at rank 2997: 50 ms.
    reps = []
    for k, hist in enumerate([{1000: 990, 50000: 10}, {1000: 1000}, {1000: 1000}]):
        raw = f"raw/c1/single-client/keep-alive/rep{k}"
        window(tmp_path, raw, hist)
        reps.append({"cell_id": "c1", "scenario": "single-client", "variant": "keep-alive",
                     "repetition": k, "raw": raw})
    reps.append({"cell_id": "c2", "scenario": "single-client", "variant": "keep-alive",
                 "repetition": 0, "raw": "raw/c2/none"})     # a window without histogram
    table = tails.pooled_tails(tmp_path, {"timings": {"repetitions": reps}})
    (row,) = table.to_dict("records")
    assert row["windows"] == 3 and row["samples"] == 3000
    assert row["p50"] == 1.0 and row["p99"] == 1.0 and row["p99.9"] == 50.0 and row["max"] == 50.0
    text = "\n".join(tails.lines(table))
    assert "| `c1` | single-client | keep-alive | 3 | 3000 | 1.000 | 1.000 | 50.000 |" in text
    # The 10 stalls are a cluster of their own.
    assert row["clusters"] == "1 ms 99.7 %; 50 ms 0.333 %"


def test_clusters_split_only_at_wide_gaps():
    # A spread body (0.8-1.5 ms, neighbours < 2x apart), a 40 ms delayed-ACK
    # group, and one 400 ms outlier.
    values = np.array([800, 900, 1100, 1500, 39000, 41000, 400000])
    counts = np.array([100, 500, 300, 80, 15, 4, 1])
    assert tails.clusters(values, counts) == [(800.0, 1500.0, 980), (39000.0, 41000.0, 19),
                                              (400000.0, 400000.0, 1)]
    assert tails.cluster_text(tails.clusters(values, counts)) == (
        "0.8-1.5 ms 98 %; 39-41 ms 1.9 %; 400 ms 0.1 %")
    assert tails.clusters(np.array([], dtype=np.int64), np.array([], dtype=np.int64)) == []


def test_the_pooled_percentile_follows_wrks_rank_rule():
    rng = np.random.default_rng(5)
    hist = {}
    for v in rng.integers(100, 5000, 777):
        hist[int(v)] = hist.get(int(v), 0) + 1
    values = np.array(sorted(hist))
    counts = np.array([hist[v] for v in values])
    for p in (50.0, 90.0, 99.0, 99.9):
        assert tails.percentile_us(values, counts, p) == wrk.percentile(hist, p)


def test_a_run_without_histograms_has_no_section(tmp_path):
    table = tails.pooled_tails(tmp_path, {"timings": {"repetitions": []}})
    assert table.empty and tails.lines(table) == []
