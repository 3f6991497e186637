"""analysis/stats/paired.py: paired within-block log ratios. Intervals whose
coverage is checked by simulation, A/A pairs, planted effects, equivalence
at ±5 %, drift that cancels, and pairing by block from a sample table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.stats import paired
from runner.core.model import BLOCKS_DESIGN
from tests.support.simulate import RNG_SEED, simulate


def test_the_interval_covers_the_true_ratio_95_percent_of_the_time():
    rng = np.random.default_rng(RNG_SEED)
    trials, covered = 1000, 0
    for _ in range(trials):
        cell, base = simulate(10, 1.05, 0.04, rng)
        r = paired.pair_test(np.log(cell / base))
        covered += r["ratio_low"] <= 1.05 <= r["ratio_high"]
    assert 0.93 <= covered / trials <= 0.97    # 95 % ± 3 standard errors


def test_aa_pairs_are_rarely_called_different_and_a_planted_5_percent_is_found():
    rng = np.random.default_rng(RNG_SEED + 1)
    trials = 500
    aa = [paired.pair_test(np.log(np.divide(*simulate(10, 1.0, 0.02, rng))))["p_different"]
          for _ in range(trials)]
    planted = [paired.pair_test(np.log(np.divide(*simulate(10, 1.05, 0.02, rng))))["p_different"]
               for _ in range(trials)]
    assert np.mean(np.array(aa) < paired.ALPHA) <= 0.065
    assert np.mean(np.array(planted) < paired.ALPHA) >= 0.90


def test_a_drift_through_the_run_cancels_in_the_pairs():
    # The machine slows by half over the run; both cells move with it.
    drift = np.linspace(1.0, 1.5, 12)
    base, cell = 2.0 * drift, 2.1 * drift * np.exp(np.linspace(-0.01, 0.01, 12))
    r = paired.pair_test(np.log(cell / base))
    assert r["ratio"] == pytest.approx(1.05, rel=1e-3)
    assert r["ratio_low"] < 1.05 < r["ratio_high"] and r["ratio_high"] / r["ratio_low"] < 1.02


def frame(cells: dict[str, list[float]], scenario="single-client", variant="keep-alive"):
    rows = [{"run_id": "r", "cell_id": c, "scenario": scenario, "variant": variant,
             "repetition": k, "metric": "latency_p50", "value": v}
            for c, values in cells.items() for k, v in enumerate(values) if v is not None]
    return pd.DataFrame(rows)


def test_blocks_pair_by_repetition_and_a_block_missing_on_one_side_is_dropped():
    samples = frame({"a": [1.0, 2.0, 4.0, None], "b": [2.0, 4.0, 8.0, 3.0]})
    table = paired.blocks(samples)
    d = paired.log_ratios(table, "a", "b", "single-client", "keep-alive")
    assert np.allclose(d, np.log(0.5)) and len(d) == 3
    assert len(paired.log_ratios(table, "a", "zz", "single-client", "keep-alive")) == 0


def verdicts(cells: dict, pairs: list[tuple]) -> pd.DataFrame:
    table = pd.DataFrame([{"cell_id": a, "baseline_cell_id": b, "scenario": "single-client",
                           "variant": "keep-alive", "kind": kind} for a, b, kind in pairs])
    return paired.paired_verdicts(frame(cells), table).set_index("cell_id")


def test_verdicts_slower_equivalent_undetermined_and_not_judged():
    rng = np.random.default_rng(RNG_SEED + 2)
    base = 2.0 * np.exp(rng.normal(0, 0.3, 12))
    jitter = lambda sd: np.exp(rng.normal(0, sd, 12))   # noqa: E731
    out = verdicts({"base": list(base), "slow": list(base * 1.2 * jitter(0.01)),
                    "same": list(base * jitter(0.005)), "wild": list(base * jitter(0.3)),
                    "few": list(base[:2]) + [None] * 10},
                   [("slow", "base", "vs baseline"), ("same", "base", "A/A"),
                    ("wild", "base", "vs baseline"), ("few", "base", "vs baseline")])
    assert out.loc["slow", "verdict"] == paired.SLOWER
    assert out.loc["slow", "ratio"] == pytest.approx(1.2, rel=0.02)
    assert out.loc["same", "verdict"] == paired.EQUIVALENT
    assert out.loc["wild", "verdict"] == paired.UNDETERMINED
    assert out.loc["few", "verdict"] == paired.NOT_JUDGED and out.loc["few", "blocks"] == 2
    assert (out.loc[["slow", "same", "wild"], "blocks"] == 12).all()


def test_p_values_are_holm_adjusted_across_the_run():
    rng = np.random.default_rng(RNG_SEED + 3)
    base = 2.0 * np.exp(rng.normal(0, 0.3, 8))
    cells = {"base": list(base)}
    cells.update({f"c{i}": list(base * np.exp(rng.normal(0.01, 0.02, 8))) for i in range(6)})
    pairs = [(f"c{i}", "base", "vs baseline") for i in range(6)]
    out = verdicts(cells, pairs)
    table = paired.blocks(frame(cells))
    raw = [paired.pair_test(paired.log_ratios(table, f"c{i}", "base", "single-client",
                                              "keep-alive"))["p_different"] for i in range(6)]
    adjusted = out.loc[[f"c{i}" for i in range(6)], "p_different"].to_numpy()
    assert (adjusted >= np.array(raw) - 1e-12).all()
    assert min(adjusted) == pytest.approx(min(1.0, 6 * min(raw)))


def test_the_report_shows_the_paired_section_only_for_a_run_in_blocks(tmp_path):
    import json
    import shutil
    from pathlib import Path

    from analysis.report.markdown import build_report
    frozen = Path(__file__).parent / "data" / "runs" / "20261122T193656Z-scenarios-1221"
    run = tmp_path / frozen.name
    shutil.copytree(frozen, run)
    assert paired.TITLE not in build_report(run)        # shuffled, not in blocks
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["protocol"]["design"] = BLOCKS_DESIGN
    (run / "manifest.json").write_text(json.dumps(manifest))
    text = build_report(run)
    section = text.split(f"## {paired.TITLE}")[1].split("\n## ")[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
    assert rows and all(ln.count("|") == 10 for ln in rows)
    assert any("| vs baseline |" in ln for ln in rows)
