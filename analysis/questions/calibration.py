"""What a calibration run (`lab calibrate`, runner/execute/calibrate.py)
shows this lab can resolve: calibration.json in the run folder.

The run measured, in randomized complete blocks, `spin-0` (the baseline)
and one `spin-<µs>` cell per planted cost, every cell with an A/A twin. From
the single-client p50 of each block (analysis/stats/paired.py):

- **A/A pairs**: each cell against its twin. `aa_halfwidth_pct` is the half
  width of the 95 % interval of the baseline's A/A ratio over all blocks: the
  smallest effect a run of that many blocks can tell apart from noise.
- **Planted pairs**: each planted cell against the baseline, and each planted
  twin against the baseline's twin. Its true effect (`effect_pct`) is its µs
  over the baseline's p50 in the same block, averaged over blocks on the log
  scale the paired estimate uses: near the nominal % the pilot sized it for.
- **Trials**: the blocks split, in run order, into disjoint groups of
  `blocks_per_trial`; each group is one trial of the lab's paired test
  (paired.pair_test judged by verdict.paired_rule: ALPHA, the ±MIN_EFFECT
  equivalence margin) on each pair: a
  small run of that many blocks. An A/A pair called slower or faster is a
  false verdict; a planted pair called slower is a detection. Within a trial
  each pair is tested on its own (no Holm adjustment: a rate per test).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.stats import paired, verdict
from analysis.runs.declared import one
from analysis.runs.load import load_run
from runner.core.files import write_atomic
from runner.core.model import CALIBRATION_NAME, CALIBRATION_PLAN_NAME

BLOCKS_PER_TRIAL = 4
DIFFERENT = (verdict.SLOWER, verdict.FASTER)


def _pct(ratio: float) -> float:
    return round((ratio - 1.0) * 100.0, 3) if math.isfinite(ratio) else math.nan


def _halfwidth_pct(test: dict) -> float:
    if not math.isfinite(test["ratio_low"]):
        return math.nan
    return round((test["ratio_high"] - test["ratio_low"]) / 2.0 * 100.0, 3)


def planted_effect_pct(us: float, baseline_ms: np.ndarray) -> float:
    """The true effect of `us` µs added to each block's baseline p50, on the
    scale the paired estimate measures: exp(mean ln(1 + us / p50_k)) - 1."""
    baseline_ms = baseline_ms[baseline_ms > 0]
    if not len(baseline_ms):
        return math.nan
    return float(np.expm1(np.mean(np.log1p(us / (baseline_ms * 1000.0)))) * 100.0)


def trials(d: np.ndarray, blocks_per_trial: int) -> list[dict]:
    """The paired test on each disjoint run of `blocks_per_trial` blocks."""
    out = []
    for start in range(0, len(d) - blocks_per_trial + 1, blocks_per_trial):
        test = paired.pair_test(d[start:start + blocks_per_trial])
        test["verdict"] = verdict.paired_rule(test["p_different"], test["p_equivalent"],
                                              test["ratio"], paired.MIN_BLOCKS)[0]
        out.append(test)
    return out


def _pair_summary(d: np.ndarray, blocks_per_trial: int) -> dict:
    whole = paired.pair_test(d)
    tried = trials(d, blocks_per_trial)
    return {"blocks": int(len(d)), "ratio": whole["ratio"], "ratio_low": whole["ratio_low"],
            "ratio_high": whole["ratio_high"], "halfwidth_pct": _halfwidth_pct(whole),
            "trial_verdicts": [t["verdict"] for t in tried]}


def calibration(samples: pd.DataFrame, manifest: dict, plan: dict,
                blocks_per_trial: int = BLOCKS_PER_TRIAL) -> dict:
    """calibration.json's content for one calibration run (module doc)."""
    if blocks_per_trial < paired.MIN_BLOCKS:
        raise ValueError(f"blocks_per_trial must be at least {paired.MIN_BLOCKS}, "
                         f"got {blocks_per_trial}")
    cells = {c["view"]: c for c in manifest.get("cells", []) if not c.get("aa_twin_of")}
    twins = {c["aa_twin_of"]: c["cell_id"] for c in manifest.get("cells", []) if c.get("aa_twin_of")}
    if "spin-0" not in cells:
        raise ValueError("not a calibration run: no spin-0 cell in its manifest")
    base = cells["spin-0"]["cell_id"]
    # The scenario and variant calibration measures (its report declares them).
    scenario, variant = one("calibration_variant")
    table = paired.blocks(samples[(samples["scenario"] == scenario)
                                  & (samples["variant"] == variant)])

    def d(cell_id: str, against: str) -> np.ndarray:
        return paired.log_ratios(table, cell_id, against, scenario, variant)

    base_p50 = table[(base, scenario, variant)].dropna() if len(table) else pd.Series(dtype=float)
    base_p50_ms = float(base_p50.median()) if len(base_p50) else math.nan

    aa = {view: _pair_summary(d(twins[c["cell_id"]], c["cell_id"]), blocks_per_trial)
          for view, c in cells.items() if c["cell_id"] in twins}
    aa_verdicts = [v for pair in aa.values() for v in pair["trial_verdicts"]]

    planted = []
    for entry in plan.get("planted", []):
        cell = cells.get(entry["view"])
        if cell is None:
            continue
        pairs = [d(cell["cell_id"], base)]
        if cell["cell_id"] in twins and base in twins:
            pairs.append(d(twins[cell["cell_id"]], twins[base]))
        summaries = [_pair_summary(x, blocks_per_trial) for x in pairs]
        verdicts = [v for s in summaries for v in s["trial_verdicts"]]
        effect = planted_effect_pct(entry["us"], base_p50.to_numpy())
        planted.append({
            "effect_pct": round(effect, 3), "nominal_pct": entry["nominal_pct"],
            "us": entry["us"], "view": entry["view"],
            "measured_pct": _pct(summaries[0]["ratio"]),
            "measured_interval_pct": [_pct(summaries[0]["ratio_low"]),
                                      _pct(summaries[0]["ratio_high"])],
            "detected_rate": (sum(v == verdict.SLOWER for v in verdicts) / len(verdicts)
                              if verdicts else math.nan),
            "trials": len(verdicts), "pairs": summaries})

    baseline_aa = aa.get("spin-0", {})
    return {
        "run_id": manifest.get("run_id"),
        "pilot_run": plan.get("pilot_run"), "pilot_p50_ms": plan.get("pilot_p50_ms"),
        "server": cells["spin-0"].get("server"), "scenario": f"{scenario} {variant}",
        "metric": paired.METRIC, "baseline_p50_ms": round(base_p50_ms, 5),
        "blocks": baseline_aa.get("blocks", 0), "blocks_per_trial": blocks_per_trial,
        "alpha": verdict.ALPHA, "margin_pct": verdict.MIN_EFFECT * 100,
        "aa_halfwidth_pct": baseline_aa.get("halfwidth_pct", math.nan),
        "aa_false_verdict_rate": (sum(v in DIFFERENT for v in aa_verdicts) / len(aa_verdicts)
                                  if aa_verdicts else math.nan),
        "aa_trials": len(aa_verdicts),
        "aa_pairs": aa,
        "planted": planted,
    }


def _finite(value):
    """NaN as null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_calibration(run_dir: Path, blocks_per_trial: int = BLOCKS_PER_TRIAL) -> tuple[Path, dict]:
    """Compute and write run_dir/calibration.json; return its path and content."""
    run_dir = Path(run_dir).resolve()
    samples, manifest = load_run(run_dir)
    plan_path = run_dir / CALIBRATION_PLAN_NAME
    if not plan_path.exists():
        raise ValueError(f"{run_dir.name}: no {CALIBRATION_PLAN_NAME}: not a calibration run")
    plan = yaml.safe_load(plan_path.read_text())
    result = _finite(calibration(samples, manifest, plan, blocks_per_trial))
    path = write_atomic(run_dir / CALIBRATION_NAME, json.dumps(result, indent=2) + "\n")
    return path, result


def closing_line(result: dict) -> str:
    """The one line `lab calibrate` ends with."""
    def fmt(x, spec):
        return "n/a" if x is None else format(x, spec)
    planted = "; ".join(
        f"+{fmt(p['effect_pct'], '.1f')} % planted: measured {fmt(p['measured_pct'], '+.1f')} %,"
        f" detected {fmt(p['detected_rate'], '.0%')} of {p['trials']} trials"
        for p in result["planted"])
    return (f"calibration: A/A 95 % interval ±{fmt(result['aa_halfwidth_pct'], '.2f')} % over "
            f"{result['blocks']} blocks; A/A called different in "
            f"{fmt(result['aa_false_verdict_rate'], '.0%')} of {result['aa_trials']} trials; "
            f"{planted} (trials of {result['blocks_per_trial']} blocks)")
