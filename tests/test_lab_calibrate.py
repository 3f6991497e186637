"""`lab calibrate` end to end on the shared e2e lab: a pilot sizes a planted
cost from its own p50, the calibration run measures it next to A/A twins in
blocks, and calibration.json holds the figures the closing line prints."""
import json

import pytest
import yaml

from tests.conftest import REPO
from tests.support.lab import LAB, lab, run_folders

pytestmark = pytest.mark.e2e

TEMPLATE = REPO / "tests" / "data" / "matrices" / "calibrate-e2e.yaml"


def test_calibrate_plants_a_cost_sized_by_the_pilot_and_writes_calibration_json(
        lab_up, tmp_path):
    # A planted cost as large as the p50 itself: 3 blocks of 1 s windows on
    # this shared machine have shown A/A intervals of +-130 % and more, in
    # which a 30 % cost was once measured at -1 %. What this test holds is
    # the plumbing (the pilot sizes the cost, the run finds it beside its
    # twins); what the lab resolves is calibration.json's figure, not this.
    out = lab("calibrate", "--lab", LAB, "--template", str(TEMPLATE), "--effects", "100",
              "--blocks-per-trial", "3", "--results", str(tmp_path)).stdout
    pilot, run = run_folders(tmp_path)                 # run ids sort by time
    assert "calibrate-e2e-pilot-" in pilot.name and "pilot" not in run.name
    plan = yaml.safe_load((run / "calibration-plan.yaml").read_text())
    pilot_p50 = plan["pilot_p50_ms"]
    (planted,) = plan["planted"]
    assert planted["us"] == round(pilot_p50 * 1000 * 1.00) > 0
    manifest = json.loads((run / "manifest.json").read_text())
    views = sorted(c["view"] for c in manifest["cells"])
    assert views == sorted(["spin-0", "spin-0", planted["view"], planted["view"]])  # with twins
    result = json.loads((run / "calibration.json").read_text())
    assert result["blocks"] == 3 and result["aa_trials"] == 2     # 2 A/A pairs x 1 trial
    (found,) = result["planted"]
    assert found["trials"] == 2 and 0 <= found["detected_rate"] <= 1
    # The planted cost is what the measured ratio shows (within the noise of 3 blocks).
    assert 0 < found["effect_pct"] and found["measured_pct"] > 0.3 * found["effect_pct"]
    assert "calibration: A/A 95 % interval" in " ".join(out.split())
