"""Paired comparisons within blocks: each cell against its WSGI baseline (and
each A/A twin against its original) by the log ratio of their p50s measured
in the same block, so a drift of the machine through the run, which moves
both alike, cancels.

The runner measures in randomized complete blocks (repetition k of every
cell is block k; runner/execute/run.py). For a pair of cells, each block
where both were measured gives one log ratio d = ln(p50 cell / p50 baseline).
Over the blocks:

- the estimate is exp(mean d) and its 95 % interval exp(t-interval of the
  mean): scipy.stats.ttest_1samp(d).confidence_interval(); tests/
  test_analysis_paired.py checks its coverage by simulation;
- **different**: the t-test of mean d = 0, its p-values Holm-adjusted across
  every pair of the run (statsmodels.stats.multitest.multipletests), below
  ALPHA: "slower" or "faster";
- **equivalent** within ±MIN_EFFECT: two one-sided t-tests (TOST) that mean d
  lies inside ±ln(1 + MIN_EFFECT), Holm-adjusted likewise, below ALPHA;
- otherwise **undetermined**: the blocks neither show a difference nor bound
  it within the margin.

Fewer than MIN_BLOCKS blocks: not judged. The rule and its thresholds are
analysis/stats/verdict.py's (paired_rule); this module computes what it reads.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.stats import verdict
from analysis.stats.verdict import (ALPHA, EQUIVALENT, FASTER, MIN_EFFECT, NOT_JUDGED, SLOWER,
                                    UNDETERMINED)

MIN_BLOCKS = 3
METRIC = "latency_p50"
COLUMNS = ["cell_id", "baseline_cell_id", "scenario", "variant", "kind", "blocks", "ratio",
           "ratio_low", "ratio_high", "p_different", "p_equivalent", "verdict"]


def blocks(samples: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """`metric` per block (run_id, repetition) in rows and (cell_id,
    scenario, variant) in columns."""
    rows = samples[samples["metric"] == metric]
    return rows.pivot_table(index=["run_id", "repetition"],
                            columns=["cell_id", "scenario", "variant"], values="value",
                            aggfunc="first")


def log_ratios(table: pd.DataFrame, cell_id: str, baseline_cell_id: str, scenario: str,
               variant: str) -> np.ndarray:
    """ln(cell / baseline), one per block of `table` (:func:`blocks`) in
    which both cells were measured."""
    a, b = (cell_id, scenario, variant), (baseline_cell_id, scenario, variant)
    if a not in table.columns or b not in table.columns:
        return np.empty(0)
    both = pd.DataFrame({"a": table[a], "b": table[b]}).dropna()
    both = both[(both > 0).all(axis=1)]
    return np.log(both["a"].to_numpy() / both["b"].to_numpy())


def pair_test(d: np.ndarray, margin: float = MIN_EFFECT) -> dict:
    """Estimate, 95 % interval and the two raw p-values of one pair's log ratios."""
    n = len(d)
    if n < MIN_BLOCKS or not np.isfinite(d).all():
        return {"blocks": n, "ratio": math.nan, "ratio_low": math.nan, "ratio_high": math.nan,
                "p_different": math.nan, "p_equivalent": math.nan}
    if np.ptp(d) == 0:   # identical ratios in every block: no spread to test
        same = math.exp(float(d[0]))
        return {"blocks": n, "ratio": same, "ratio_low": same, "ratio_high": same,
                "p_different": 0.0 if d[0] else 1.0,
                "p_equivalent": 0.0 if abs(d[0]) < math.log1p(margin) else 1.0}
    test = stats.ttest_1samp(d, 0.0)
    low, high = test.confidence_interval(1 - ALPHA)
    bound = math.log1p(margin)
    above = stats.ttest_1samp(d, -bound, alternative="greater").pvalue
    below = stats.ttest_1samp(d, bound, alternative="less").pvalue
    return {"blocks": n, "ratio": math.exp(float(np.mean(d))), "ratio_low": math.exp(low),
            "ratio_high": math.exp(high), "p_different": float(test.pvalue),
            "p_equivalent": float(max(above, below))}


def paired_verdicts(samples: pd.DataFrame, pairs: pd.DataFrame,
                    margin: float = MIN_EFFECT) -> pd.DataFrame:
    """One row per pair (columns ``cell_id``, ``baseline_cell_id``,
    ``scenario``, ``variant`` and ``kind``: "vs baseline" or "A/A") with the
    blocks it rests on, the ratio and its interval, the Holm-adjusted
    p-values and the verdict (module doc)."""
    rows, table = [], blocks(samples)
    for p in pairs.to_dict("records"):
        d = log_ratios(table, p["cell_id"], p["baseline_cell_id"], p["scenario"], p["variant"])
        rows.append({**p, **pair_test(d, margin)})
    out = pd.DataFrame(rows, columns=COLUMNS)
    judged = out["p_different"].notna()
    for column in ("p_different", "p_equivalent"):
        if judged.any():
            out.loc[judged, column] = multipletests(out.loc[judged, column], alpha=ALPHA,
                                                    method="holm")[1]
    out["verdict"] = [verdict_of(r) for r in out.to_dict("records")]
    return out


def verdict_of(row: dict) -> str:
    """The paired rule's word for one :func:`pair_test` row (verdict.paired_rule)."""
    return verdict.paired_rule(row["p_different"], row["p_equivalent"], row["ratio"],
                               MIN_BLOCKS)[0]


TITLE = "Paired within blocks"


def lines(table: pd.DataFrame) -> list[str]:
    """The report's section: one line per pair, with the blocks it rests on."""
    out = [f"## {TITLE}", "",
           "Each cell against its WSGI baseline, and each A/A twin against its original, by"
           " the ratio of their p50s measured in the same block (a block measures every cell"
           " once, in its own order), so a drift of the machine through the run cancels."
           f" Ratio: exp(mean log ratio), with its 95 % t-interval. **{SLOWER}**/**{FASTER}**:"
           f" the ratio differs from 1 (t-test); **{EQUIVALENT}**: it lies within"
           f" ±{MIN_EFFECT * 100:g} % (two one-sided tests); p-values Holm-adjusted across the"
           f" {int(table['p_different'].notna().sum())} judged pairs; **{UNDETERMINED}**:"
           f" neither. Below {MIN_BLOCKS} blocks: {NOT_JUDGED}.", ""]
    if table.empty:
        return out + ["No pair to compare.", ""]
    out += ["| cell | against | scenario | variant | kind | blocks | ratio | 95 % interval |"
            " verdict |", "|---|---|---|---|---|---:|---:|---|---|"]
    for r in table.to_dict("records"):
        interval = ("" if math.isnan(r["ratio_low"])
                    else f"[{r['ratio_low']:.3f}, {r['ratio_high']:.3f}]")
        ratio = "" if math.isnan(r["ratio"]) else f"{r['ratio']:.3f}"
        out.append(f"| `{r['cell_id']}` | `{r['baseline_cell_id']}` | {r['scenario']} |"
                   f" {r['variant']} | {r['kind']} | {r['blocks']} | {ratio} | {interval} |"
                   f" {r['verdict']} |")
    return out + [""]


def pairs_of(compared: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """The pairs a report judges: every cell against its baseline (from
    stats.compare) and every A/A twin against its original (stats.aa_controls)."""
    asgi = compared[["cell_id", "baseline_cell_id", "scenario", "variant"]].assign(kind="vs baseline")
    aa = controls.rename(columns={"twin_cell_id": "baseline_cell_id"})
    aa = aa[["cell_id", "baseline_cell_id", "scenario", "variant"]].assign(kind="A/A")
    return pd.concat([asgi, aa], ignore_index=True)
