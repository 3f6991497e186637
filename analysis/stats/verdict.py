"""The lab's one verdict: its thresholds, its rules and its words.

Every place that judges calls a rule here; no other module holds a
threshold or a verdict word of its own.

**Thresholds.** :data:`MIN_EFFECT` (5 %) is the one effect size the lab
cares about: the smallest p50 change called slower or faster over
repetitions, the ± margin within which a paired pair is equivalent, the
rounding read around a figure a write-up gives exactly, and the effect an
order claim needs. :data:`ALPHA` is the significance level of the paired
tests.

**Rules, chosen by the run's design** (:func:`design_of`):

- a run measured in randomized complete blocks (``protocol.design``,
  runner/core/model.py) is judged pair by pair on its within-block ratios
  (analysis/stats/paired.py): :func:`paired_rule` says slower, faster,
  equivalent, undetermined or not judged;
- any other run is judged on bootstrap intervals over repetitions
  (analysis/stats/bootstrap.py): :func:`bootstrap_rule` says slower, faster
  or no significant difference.

A report prints one verdict per comparison: :func:`of_design` puts the
design's verdict on each row of ``bootstrap.compare``, so the verdict
sentences, the scenario tables and the paired section all print the same
word for a pair.

The other judgements read intervals the same two ways: a seed's claim
against a run (:func:`claim_overlap`, :func:`claim_difference`,
:func:`claim_order`, :func:`claim_equivalent`) and two runs' figures against each other
(:func:`runs_agree`).

Only the rules live here: the statistics they read (intervals, p-values)
are computed in bootstrap.py and paired.py.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from runner.core.model import BLOCKS_DESIGN

# --------------------------------------------------------------------------
# Thresholds (each one a judgement call; the reports state them)

# Smallest p50 change called slower/faster, as |ratio - 1| (like pyperf's
# --min-speed or asv's --factor, which defaults to 10 %). 5 %: below it the
# per-request cost is too small to decide between servers on, and the steady
# cells of a real 3-repetition run already vary 2-9 % between repetitions.
# The same 5 % is the paired rule's equivalence margin and a seed's rounding.
MIN_EFFECT = 0.05
# Significance level of the paired tests (after Holm's adjustment).
ALPHA = 0.05

# --------------------------------------------------------------------------
# Words

SLOWER = "slower"
FASTER = "faster"
NOT_SIGNIFICANT = "no significant difference"   # bootstrap rule: neither
EQUIVALENT = "equivalent"                       # paired rule: within ±MIN_EFFECT
UNDETERMINED = "undetermined"                   # paired rule: neither shown
NOT_JUDGED = "not judged"
# A seed's claim against a run.
REPRODUCED = "reproduced"
DIRECTION_ONLY = "reproduced in direction only"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURED = "not measured"
# Two runs' figures.
AGREES, DISAGREES = "agrees", "disagrees"

# --------------------------------------------------------------------------
# Designs

BLOCKS = BLOCKS_DESIGN
REPETITIONS = "repetitions"


def design_of(manifest: dict) -> str:
    """:data:`BLOCKS` for a run measured in randomized complete blocks, else
    :data:`REPETITIONS` (a shuffled order: bootstrap over repetitions)."""
    in_blocks = (manifest.get("protocol") or {}).get("design") == BLOCKS_DESIGN
    return BLOCKS if in_blocks else REPETITIONS


# --------------------------------------------------------------------------
# A cell against its baseline


def bootstrap_rule(diff_low: float, diff_high: float, ratio: float, diff: float = math.nan,
                   noise_floor_ms: float = math.nan, min_repetitions: int = 3
                   ) -> tuple[str, str]:
    """The rule over repetitions: (verdict, why). "slower"/"faster" need all of

    - an interval of the p50 difference (cell minus baseline) that excludes 0;
    - an effect of at least :data:`MIN_EFFECT`: ``|ratio - 1| >= MIN_EFFECT``;
    - when the run has an A/A control, ``|diff|`` above its noise floor.

    Anything else is "no significant difference", and ``why`` says which
    condition failed ("" for a significant verdict). ``min_repetitions``:
    below it there is no interval (bootstrap.MIN_REPETITIONS).
    """
    if math.isnan(diff_low) or math.isnan(diff_high):
        return NOT_SIGNIFICANT, f"no interval: fewer than {min_repetitions} repetitions"
    if diff_low <= 0 <= diff_high:
        return NOT_SIGNIFICANT, "the interval includes 0"
    effect = abs(ratio - 1)
    if not effect >= MIN_EFFECT:
        return NOT_SIGNIFICANT, (f"a {effect * 100:.1f} % effect, below the"
                                 f" {MIN_EFFECT * 100:g} % minimum")
    if not math.isnan(noise_floor_ms) and not abs(diff) > noise_floor_ms:
        return NOT_SIGNIFICANT, f"within the A/A noise floor of {noise_floor_ms:.3f} ms"
    return (SLOWER if diff_low > 0 else FASTER), ""


def paired_rule(p_different: float, p_equivalent: float, ratio: float,
                min_blocks: int = 3) -> tuple[str, str]:
    """The rule within blocks: (verdict, why) from a pair's (Holm-adjusted)
    p-values (paired.pair_test): "slower"/"faster" when the t-test of the
    mean log ratio is below :data:`ALPHA`, "equivalent" when the two
    one-sided tests of ±MIN_EFFECT are, "undetermined" otherwise, "not
    judged" below ``min_blocks`` blocks (no p-value)."""
    if math.isnan(p_different):
        return NOT_JUDGED, f"fewer than {min_blocks} blocks"
    if p_different < ALPHA:
        return (SLOWER if ratio > 1 else FASTER), ""
    if p_equivalent < ALPHA:
        return EQUIVALENT, ""
    return UNDETERMINED, (f"the blocks neither show a difference nor bound it within"
                          f" ±{MIN_EFFECT * 100:g} %")


def of_design(compared: pd.DataFrame, paired: pd.DataFrame | None) -> pd.DataFrame:
    """``compared`` (bootstrap.compare) with the verdict its run's design
    gives: unchanged without a paired table (a run not in blocks); else each
    row's ``verdict`` and ``why`` are its pair's from the paired table
    (paired.paired_verdicts), so no report prints two verdicts for a pair."""
    if paired is None or compared.empty:
        return compared
    mine = paired[paired["kind"] == "vs baseline"]
    rules = {(r["cell_id"], r["baseline_cell_id"], r["scenario"], r["variant"]):
             paired_rule(r["p_different"], r["p_equivalent"], r["ratio"])
             for r in mine.to_dict("records")}
    keys = list(zip(compared["cell_id"], compared["baseline_cell_id"], compared["scenario"],
                    compared["variant"]))
    judged = [rules.get(k, (NOT_JUDGED, "no blocks with both cells")) for k in keys]
    return compared.assign(verdict=[v for v, _ in judged], why=[w for _, w in judged])


# --------------------------------------------------------------------------
# A seed's claim against a run (analysis/questions/seeds.py)


def claim_overlap(point, low, high, band, n) -> tuple[str, str]:
    """A value, difference or ratio claim: reproduced when the interval (or,
    without one, the point) meets the published band."""
    if math.isnan(low):   # too few repetitions for an interval: the point alone
        hit = band[0] <= point <= band[1]
        return (REPRODUCED if hit else NOT_REPRODUCED), f"point estimate only ({n} repetitions)"
    return (REPRODUCED if low <= band[1] and high >= band[0] else NOT_REPRODUCED), ""


def claim_difference(point, low, high, band, n, null) -> tuple[str, str]:
    """A difference or ratio claim: :func:`claim_overlap` with its band;
    not reproduced but the interval excluding ``null`` (0 for a difference,
    1 for a ratio) on the published side: reproduced in direction only."""
    said, note = claim_overlap(point, low, high, band, n)
    published = (band[0] + band[1]) / 2
    if said == NOT_REPRODUCED and beyond(low, high, null, point) == np.sign(published - null):
        said = DIRECTION_ONLY
    return said, note


def claim_order(direction, ratio, low, high) -> tuple[str, str]:
    """An order claim ("lower"/"higher"): the ratio's interval wholly on the
    claimed side by at least MIN_EFFECT."""
    want = -1 if direction == "lower" else 1
    side = beyond(low, high, 1.0, ratio)
    effect = abs(ratio - 1) >= MIN_EFFECT
    if side == want and effect:
        return REPRODUCED, ""
    if side == -want and effect:
        return NOT_REPRODUCED, "the opposite holds"
    if inside(low, high, ratio, MIN_EFFECT):
        return NOT_REPRODUCED, f"{EQUIVALENT} within ±{MIN_EFFECT * 100:g} %"
    return UNDETERMINED, "the interval straddles no effect"


def claim_equivalent(margin, ratio, low, high) -> tuple[str, str]:
    """An equivalence claim: the ratio's interval inside 1 ± margin."""
    if inside(low, high, ratio, margin):
        return REPRODUCED, f"{EQUIVALENT} within ±{margin * 100:g} %"
    outside = (low > 1 + margin or high < 1 - margin) if not math.isnan(low) \
        else abs(ratio - 1) > margin
    return (NOT_REPRODUCED if outside else UNDETERMINED), f"margin ±{margin * 100:g} %"


def beyond(low, high, null, point) -> int:
    """+1 / -1 when the interval (or, without one, the point) lies wholly
    above / below `null`; 0 when it straddles it."""
    lo, hi = (point, point) if math.isnan(low) else (low, high)
    return 1 if lo > null else -1 if hi < null else 0


def inside(low, high, ratio, margin) -> bool:
    """Whether the interval (or, without one, the ratio) lies within 1 ± margin."""
    lo, hi = (ratio, ratio) if math.isnan(low) else (low, high)
    return 1 - margin <= lo and hi <= 1 + margin


# --------------------------------------------------------------------------
# Two runs' figures (analysis/report/compare_runs.py)


def runs_agree(low_a: float, high_a: float, low_b: float, high_b: float) -> bool:
    """Whether two runs' intervals of one figure overlap (a value plausible
    for both: no evidence of a change)."""
    return low_a <= high_b and low_b <= high_a
