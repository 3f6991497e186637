"""`lab calibrate`: planted sizes, the template's checks, and calibration.json
computed from blocks whose true effects are known (analysis/questions/calibration.py)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.questions import calibration
from runner.catalog.views import VIEWS, spin_us
from runner.core.errors import LabError
from runner.core.model import AA_SUFFIX, CALIBRATION_PLAN_NAME, MANIFEST_NAME, SAMPLES_NAME
from runner.execute import calibrate

BASE_MS = 1.0


def test_planted_sizes_are_the_effect_of_the_pilot_p50():
    assert calibrate.planted_us(1.2, [5, 10]) == {5.0: 60, 10.0: 120}
    with pytest.raises(LabError, match="round to the same microseconds"):
        calibrate.planted_us(0.01, [5, 6])
    with pytest.raises(LabError, match="no usable p50"):
        calibrate.planted_us(float("nan"), [5])


def test_spin_views_are_made_on_demand_with_their_size_in_the_path():
    assert "spin-57" in VIEWS and VIEWS["spin-57"].path == "/spin/?us=57"
    assert spin_us("spin-57") == 57 and spin_us("drf") is None
    assert "spin-x" not in VIEWS and VIEWS.get("spin-") is None
    with pytest.raises(KeyError):
        VIEWS["nope"]


def test_a_template_with_more_than_one_cell_is_refused(tmp_path):
    raw = yaml.safe_load(calibrate.TEMPLATE.read_text())
    raw["axes"]["view"] = ["spin-0", "drf"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(LabError, match=r"exactly one cell, with view \[spin-0\]"):
        calibrate.check_template(bad)
    assert calibrate.check_template(calibrate.TEMPLATE)["axes"]["view"] == ["spin-0"]


def test_bad_effects_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(LabError, match="--effects"):
        calibrate.calibrate(effects=[5, 5], results_root=tmp_path)
    assert not any(tmp_path.iterdir())


def calibration_run(tmp_path, n_blocks, effects_us, aa_noise, seed=7):
    """A run folder like lab calibrate's: spin-0 at BASE_MS, planted cells
    at +us, every cell with a twin; a large drift common to each block and
    lognormal noise per window."""
    rng = np.random.default_rng(seed)
    views = {"spin-0": 0, **{f"spin-{us}": us for us in effects_us}}
    cells, rows = [], []
    drift = rng.normal(0, 0.05, n_blocks)
    for view, us in views.items():
        for twin in ("", AA_SUFFIX):
            cell_id = f"{view}{twin}"
            cells.append({"cell_id": cell_id, "view": view, "server": "granian-wsgi",
                          "interface": "wsgi", "workers": 1, "python": "3.12",
                          "django": "5.2.19", "aa_twin_of": view if twin else None})
            for k in range(n_blocks):
                # The planted cost adds to the request's time, whatever the block's pace.
                value = BASE_MS * math.exp(drift[k] + rng.normal(0, aa_noise)) + us / 1000.0
                rows.append({"run_id": "r", "cell_id": cell_id, "server": "granian-wsgi",
                             "interface": "wsgi", "workers": 1, "threads": 1,
                             "python": "3.12", "django": "5.2.19", "asgiref": "3.13.0",
                             "view": view, "scenario": "single-client",
                             "variant": "keep-alive", "repetition": k,
                             "metric": "latency_p50", "value": value, "unit": "ms"})
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    pd.DataFrame(rows).to_parquet(run_dir / SAMPLES_NAME)
    (run_dir / MANIFEST_NAME).write_text(json.dumps({"run_id": "r", "status": "complete", "cells": cells,
                                                     "schema_version": 3}))
    plan = {"pilot_run": "p", "pilot_p50_ms": BASE_MS,
            "planted": [{"nominal_pct": us / 10, "us": us, "view": f"spin-{us}"}
                        for us in effects_us]}
    (run_dir / CALIBRATION_PLAN_NAME).write_text(yaml.safe_dump(plan))
    return run_dir


def test_calibration_json_finds_planted_effects_and_calls_aa_pairs_the_same(tmp_path):
    run_dir = calibration_run(tmp_path, n_blocks=40, effects_us=[50, 100], aa_noise=0.01)
    path, result = calibration.write_calibration(run_dir, blocks_per_trial=4)
    on_disk = json.loads(path.read_text())
    assert on_disk == json.loads(json.dumps(result))
    for key in ("aa_halfwidth_pct", "aa_false_verdict_rate", "aa_trials", "planted"):
        assert key in on_disk
    # 3 A/A pairs x 10 trials of 4 blocks; 2 planted pairs x 10 trials each.
    assert on_disk["aa_trials"] == 30 and on_disk["blocks"] == 40
    assert on_disk["aa_false_verdict_rate"] <= 0.1
    # sd of a log ratio is 1.41 % here: the 40-block interval is about ±0.45 %.
    assert 0.2 < on_disk["aa_halfwidth_pct"] < 0.8
    five, ten = on_disk["planted"]
    # True effects: us over each block's own baseline p50 (about 1 ms, drifting).
    assert five["effect_pct"] == pytest.approx(5.0, abs=0.5)
    assert ten["effect_pct"] == pytest.approx(2 * five["effect_pct"], rel=0.05)
    assert five["measured_pct"] == pytest.approx(5.0, abs=1.0)
    assert ten["trials"] == 20 and ten["detected_rate"] == 1.0
    assert five["detected_rate"] >= 0.9
    low, high = five["measured_interval_pct"]
    assert low < five["effect_pct"] < high
    line = calibration.closing_line(on_disk)
    assert "A/A 95 % interval" in line and f"+{five['effect_pct']:.1f} % planted" in line and "of 20 trials" in line


def test_noise_larger_than_the_effect_is_not_called_detected(tmp_path):
    # 10 % window noise: a planted 5 % is mostly missed in trials of 4 blocks,
    # and the A/A interval says why.
    run_dir = calibration_run(tmp_path, n_blocks=24, effects_us=[50], aa_noise=0.10)
    _, result = calibration.write_calibration(run_dir, blocks_per_trial=4)
    assert result["aa_halfwidth_pct"] > 5
    assert result["planted"][0]["detected_rate"] < 0.5


def test_a_run_that_is_not_a_calibration_is_refused(tmp_path):
    run_dir = calibration_run(tmp_path, n_blocks=4, effects_us=[50], aa_noise=0.01)
    (run_dir / CALIBRATION_PLAN_NAME).unlink()
    with pytest.raises(ValueError, match="not a calibration run"):
        calibration.write_calibration(run_dir)
    assert not (run_dir / "calibration.json").exists()
