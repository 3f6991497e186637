"""analysis.stats.bootstrap on hand-built sample frames whose answer is known.

Each frame holds a few cells with chosen per-repetition values, e.g. a
baseline at p50 1.0/1.1/1.2 ms and an ASGI cell at 2.0/2.1/2.2 ms: clearly
separated, so the verdict must be "slower" with an interval above 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.runs.load import load_run
from analysis.stats.bootstrap import (
    CV_WARN,
    aa_controls,
    cell_stats,
    client_saturation,
    compare,
    not_compared,
    stability_warnings,
)
from analysis.stats.verdict import FASTER, MIN_EFFECT, NOT_SIGNIFICANT, SLOWER
from analysis.stats.verdict import bootstrap_rule as decide
from analysis.stats.summary import cell_medians
from tests.support.frames import cell, frame
from tests.support.runs import FROZEN

BASE = "gunicorn-sync"
def baseline(p50=(1.0, 1.1, 1.2), cell_id="base", **kw) -> list[dict]:
    return cell(cell_id, BASE, "wsgi", p50=list(p50), **kw)


def asgi(p50, cell_id="asgi", server="uvicorn", **kw) -> list[dict]:
    return cell(cell_id, server, "asgi", p50=list(p50), **kw)


def one(frame_: pd.DataFrame, **where) -> pd.Series:
    rows = frame_
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# --------------------------------------------------------------------------
# cell_stats


def test_cell_stats_median_interval_and_cv():
    stats = cell_stats(frame(baseline(p50=(1.0, 1.2, 1.1))))
    row = one(stats, metric="latency_p50")
    assert row["repetitions"] == 3
    assert row["median"] == pytest.approx(1.1)
    # a bootstrap interval of a median lies within the values resampled
    assert 1.0 <= row["ci_low"] <= 1.1 <= row["ci_high"] <= 1.2
    assert row["cv"] == pytest.approx(np.std([1.0, 1.1, 1.2], ddof=1) / 1.1)


def test_cell_stats_medians_agree_with_cell_medians():
    samples, _ = load_run(FROZEN)
    stats = cell_stats(samples).set_index(["cell_id", "metric"])["median"]
    medians = cell_medians(samples).set_index("cell_id")
    for (cell_id, metric), value in stats.items():
        assert value == pytest.approx(medians.loc[cell_id, metric]), (cell_id, metric)


def test_fewer_than_three_repetitions_give_no_interval_and_a_warning():
    stats = cell_stats(frame(baseline(p50=(1.0, 1.1))))
    row = one(stats, metric="latency_p50")
    assert row["repetitions"] == 2
    assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])
    warnings = stability_warnings(stats)
    few = one(warnings, kind="few repetitions")
    assert few["cell_id"] == "base"
    assert "only 2 repetition(s): no confidence interval" in few["message"]


def test_interval_is_reproducible_and_ignores_other_cells():
    alone = cell_stats(frame(asgi(p50=(2.0, 2.3, 2.1, 2.6, 1.9))))
    crowd = cell_stats(frame(baseline(), asgi(p50=(2.0, 2.3, 2.1, 2.6, 1.9)),
                             asgi(p50=(5.0, 5.5, 6.0, 5.2, 5.1), cell_id="other")))
    columns = ["median", "ci_low", "ci_high", "cv"]
    first = one(alone, metric="latency_p50")[columns]
    assert list(one(crowd, cell_id="asgi", metric="latency_p50")[columns]) == list(first)
    assert list(one(cell_stats(frame(asgi(p50=(2.0, 2.3, 2.1, 2.6, 1.9)))),
                    metric="latency_p50")[columns]) == list(first)


def test_repetitions_of_two_runs_stay_apart():
    samples = frame(baseline(run_id="r1"), baseline(p50=(1.3, 1.4, 1.5), run_id="r2"))
    row = one(cell_stats(samples), metric="latency_p50")
    assert row["repetitions"] == 6
    assert row["median"] == pytest.approx(1.25)
    assert cell_medians(samples).loc[0, "repetitions"] == 6


# --------------------------------------------------------------------------
# stability warnings


@pytest.mark.parametrize("p50, warned", [
    ((1.0, 1.1, 1.2), False),  # CV 9.1 %
    ((1.0, 1.3, 1.6), True),   # CV 23 %
])
def test_cv_warning_only_above_threshold(p50, warned):
    stats = cell_stats(frame(baseline(p50=p50, rps=[1000, 1000, 1000])))
    cv = one(stats, metric="latency_p50")["cv"]
    assert (cv >= CV_WARN) == warned
    noisy = stability_warnings(stats).query("kind == 'noisy'")
    assert len(noisy) == int(warned)
    if warned:
        assert "p50 latency varies 23.1 % between repetitions" in noisy.iloc[0]["message"]


def test_saturated_client_is_warned_from_cpu_in_runs_without_the_flag():
    samples = frame(baseline(cpu=[95, 92, 97]), asgi(p50=(2, 2, 2), cpu=[85, 89, 80]))
    hot = stability_warnings(cell_stats(samples), saturation=client_saturation(samples))
    hot = hot.query("kind == 'client saturated'")
    assert list(hot["cell_id"]) == ["base"]
    assert hot.iloc[0]["message"] == (
        "client saturated in repetitions 1, 2, 3 of 3 (client CPU share 0.95, 0.92, 0.97):"
        " the load generator may be measuring itself")


def test_failed_cell_is_warned():
    cells = [{"cell_id": "ok1", "status": "ok"},
             {"cell_id": "bad", "server": "daphne", "status": "failed", "reason": "no answer"}]
    warnings = stability_warnings(cell_stats(frame(baseline())), cells)
    failed = one(warnings, kind="failed")
    assert failed["cell_id"] == "bad" and failed["message"] == "failed: no answer"


def test_steady_cells_raise_no_warning():
    stats = cell_stats(frame(baseline(p50=(1.0, 1.01, 1.02)), asgi(p50=(2.0, 2.02, 2.01))))
    assert stability_warnings(stats).empty


# --------------------------------------------------------------------------
# the verdict rule


@pytest.mark.parametrize("low, high, ratio, diff, floor, verdict, why", [
    (0.9, 1.2, 2.0, 1.0, math.nan, SLOWER, ""),
    (-1.2, -0.9, 0.5, -1.0, math.nan, FASTER, ""),
    (-0.1, 0.3, 1.1, 0.1, math.nan, NOT_SIGNIFICANT, "includes 0"),
    (0.01, 0.03, 1.02, 0.02, math.nan, NOT_SIGNIFICANT, "below the 5 % minimum"),
    (0.05, 0.09, 1.07, 0.07, 0.1, NOT_SIGNIFICANT, "noise floor"),
    (0.15, 0.25, 1.2, 0.2, 0.1, SLOWER, ""),
    (math.nan, math.nan, 2.0, 1.0, math.nan, NOT_SIGNIFICANT, "fewer than 3 repetitions"),
])
def test_decide(low, high, ratio, diff, floor, verdict, why):
    got_verdict, got_why = decide(low, high, ratio, diff, floor)
    assert got_verdict == verdict
    assert why in got_why
    assert bool(got_why) == (verdict == NOT_SIGNIFICANT)


def test_min_effect_boundary():
    assert decide(0.01, 0.2, 1 + MIN_EFFECT, 0.05)[0] == SLOWER
    assert decide(0.01, 0.2, 1 + MIN_EFFECT * 0.99, 0.05)[0] == NOT_SIGNIFICANT


# --------------------------------------------------------------------------
# compare


def test_separated_cells_are_slower_with_interval_above_zero():
    row = one(compare(frame(baseline(), asgi(p50=(2.0, 2.1, 2.2))), BASE), cell_id="asgi")
    assert row["verdict"] == SLOWER and row["why"] == ""
    assert row["p50_diff_ms"] == pytest.approx(1.0)
    assert 0 < row["p50_diff_low"] <= 1.0 <= row["p50_diff_high"]
    assert row["p50_ratio_low"] <= row["p50_ratio"] == pytest.approx(2.1 / 1.1)
    assert row["p50_ratio"] <= row["p50_ratio_high"]
    # req/s = 1000 / p50, so throughput drops: its whole interval is below 1
    assert row["throughput_ratio_low"] <= row["throughput_ratio"]
    assert row["throughput_ratio"] <= row["throughput_ratio_high"] < 1
    assert (row["repetitions"], row["baseline_repetitions"]) == (3, 3)
    assert row["baseline_cell_id"] == "base"
    assert math.isnan(row["noise_floor_ms"])


def test_faster_cell():
    row = one(compare(frame(baseline(), asgi(p50=(0.5, 0.55, 0.6))), BASE), cell_id="asgi")
    assert row["verdict"] == FASTER
    assert row["p50_diff_high"] < 0


def test_overlapping_noisy_cells_are_not_significant():
    samples = frame(baseline(p50=(1.0, 1.5, 2.0)), asgi(p50=(1.1, 1.6, 1.9)))
    row = one(compare(samples, BASE), cell_id="asgi")
    assert row["verdict"] == NOT_SIGNIFICANT
    assert row["p50_diff_low"] < 0 < row["p50_diff_high"]
    assert "includes 0" in row["why"]


def test_effect_below_minimum_is_not_significant_even_if_interval_excludes_zero():
    samples = frame(baseline(p50=(1.0, 1.001, 1.002)), asgi(p50=(1.02, 1.021, 1.022)))
    row = one(compare(samples, BASE), cell_id="asgi")
    assert row["p50_diff_low"] > 0  # the interval excludes 0 ...
    assert row["p50_ratio"] - 1 < MIN_EFFECT  # ... but the effect is 2 %
    assert row["verdict"] == NOT_SIGNIFICANT
    assert "below the 5 % minimum" in row["why"]


def test_few_repetitions_give_no_interval_and_no_verdict():
    samples = frame(baseline(), asgi(p50=(2.0, 2.1)))
    row = one(compare(samples, BASE), cell_id="asgi")
    assert math.isnan(row["p50_diff_low"]) and math.isnan(row["throughput_ratio_low"])
    assert row["p50_diff_ms"] == pytest.approx(2.05 - 1.1)  # the point estimate is still there
    assert row["verdict"] == NOT_SIGNIFICANT
    assert "fewer than 3 repetitions" in row["why"]


def test_pairing_is_summarys():
    # Same python/django/asgiref/view/scenario only: a cell on another Python
    # has no baseline and is listed by not_compared instead.
    other = cell("asgi-313", "uvicorn", "asgi", p50=[2.0, 2.1, 2.2],
                 extra={"python": "3.13"})
    samples = frame(baseline(), asgi(p50=(2.0, 2.1, 2.2)), other)
    assert list(compare(samples, BASE)["cell_id"]) == ["asgi"]
    assert list(not_compared(samples, BASE)["cell_id"]) == ["asgi-313"]


# --------------------------------------------------------------------------
# A/A control


def test_no_aa_pair_means_no_noise_floor():
    samples = frame(baseline(), asgi(p50=(2.0, 2.1, 2.2)))
    assert aa_controls(samples).empty


def test_aa_pair_sets_the_noise_floor():
    # Two identical gunicorn-sync cells 0.1 ms apart; uvicorn 0.07 ms above
    # the first: its interval excludes 0 and the effect is 7 % (>= 5 %), yet
    # it is within what identical cells differ by.
    samples = frame(
        baseline(p50=(1.0, 1.01, 1.02), cell_id="base-a"),
        baseline(p50=(1.10, 1.11, 1.12), cell_id="base-b"),
        asgi(p50=(1.07, 1.08, 1.09)),
        asgi(p50=(2.0, 2.1, 2.2), cell_id="daphne", server="daphne"),
    )
    controls = aa_controls(samples)
    control = one(controls, cell_id="base-a")
    assert control["twin_cell_id"] == "base-b"
    assert control["p50_diff_ms"] == pytest.approx(0.1)
    assert control["p50_diff_low"] > 0

    compared = compare(samples, BASE)
    # The twin is the control, not a second baseline: no "ambiguous baseline".
    assert not_compared(samples, BASE).empty
    assert set(compared["baseline_cell_id"]) == {"base-a"}
    close = one(compared, cell_id="asgi")
    assert close["noise_floor_ms"] == pytest.approx(0.1)
    assert close["p50_diff_low"] > 0 and close["p50_ratio"] - 1 >= MIN_EFFECT
    assert close["verdict"] == NOT_SIGNIFICANT
    assert "noise floor" in close["why"]
    assert one(compared, cell_id="daphne")["verdict"] == SLOWER


def test_cells_differing_in_an_extra_column_are_not_an_aa_pair():
    samples = frame(
        baseline(cell_id="a", extra={"djangorestframework": "3.15.2"}),
        baseline(cell_id="b", extra={"djangorestframework": "3.16.0"}),
    )
    assert aa_controls(samples).empty


def test_same_cell_in_two_runs_is_not_an_aa_pair():
    samples = frame(baseline(run_id="r1"), baseline(run_id="r2"))
    assert aa_controls(samples).empty


def test_aa_noise_floor_is_per_variant():
    # The twins differ by 0.1 ms at c=1 but by 5 ms at c=16 (queueing is
    # noisier). uvicorn is 0.3 ms above at c=1 (a verdict) and 3 ms above at
    # c=16 (within that level's floor): each level is read against its own.
    def level(variant, base_a, base_b, uv):
        return [baseline(p50=base_a, cell_id="base-a", variant=variant),
                baseline(p50=base_b, cell_id="base-b", variant=variant),
                asgi(p50=uv, variant=variant)]
    samples = frame(*level("c=1", (1.0, 1.01, 1.02), (1.1, 1.11, 1.12), (1.3, 1.31, 1.32)),
                    *level("c=16", (20.0, 20.1, 20.2), (25.0, 25.1, 25.2), (23.0, 23.1, 23.2)))
    controls = aa_controls(samples).set_index("variant")
    assert controls.loc["c=1", "p50_diff_ms"] == pytest.approx(0.1)
    assert controls.loc["c=16", "p50_diff_ms"] == pytest.approx(5.0)
    compared = compare(samples, BASE).set_index("variant")
    assert compared.loc["c=1", "noise_floor_ms"] == pytest.approx(0.1)
    assert compared.loc["c=16", "noise_floor_ms"] == pytest.approx(5.0)
    assert compared.loc["c=1", "verdict"] == SLOWER
    assert compared.loc["c=16", "verdict"] == NOT_SIGNIFICANT
    assert "noise floor" in compared.loc["c=16", "why"]
    assert compared.loc["c=16", "p50_diff_ms"] == pytest.approx(3.0)  # against c=16's baseline


def test_saturation_flag_of_zero_overrides_a_busy_cpu():
    rows = frame(baseline(cpu=[95, 96, 97]))
    flags = rows[rows["metric"] == "latency_p50"].assign(metric="client_saturated", value=0.0)
    assert not client_saturation(rows).empty  # no flag: CPU decides
    assert client_saturation(pd.concat([rows, flags])).empty
