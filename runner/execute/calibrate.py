"""`lab calibrate`: plant known extra costs per request and run them, with
A/A twins, in randomized complete blocks, so that the analysis
(analysis/questions/calibration.py) can say what this lab resolves on this machine.

1. A pilot run measures the template's `spin-0` cell (lab_app's spin view
   holding the CPU 0 µs) for PILOT_REPETITIONS windows: its p50 sizes the
   planted costs.
2. The calibration run measures `spin-0` and one `spin-<µs>` cell per
   planted effect (µs = effect % of the pilot's p50), every cell with an A/A
   twin (`aa_control`), in the template's number of blocks.

Both are ordinary run folders (results never overwritten); the calibration
run's manifest names the pilot and the planted sizes under `calibration`.
The template is a matrix file with one server and the view `spin-0`
(matrices/calibrate.yaml).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import yaml

from runner import REPO_ROOT
from runner.core.errors import LabError
from runner.core.files import write_atomic
from runner.core.model import CALIBRATION_PLAN_NAME, SAMPLES_NAME
from runner.execute.run import run_matrix
from runner.scenarios import SCENARIOS
from runner.matrix.expand import load_matrix

TEMPLATE = REPO_ROOT / "matrices" / "calibrate.yaml"
DEFAULT_EFFECTS = (5.0, 10.0)
PILOT_REPETITIONS = 3
# The scenarios that can calibrate: those that declare the variant whose p50
# is one request at a time on a kept-alive connection.
CALIBRATING = [name for name, s in SCENARIOS.items() if s.calibration_variant]


def check_template(path: Path) -> dict:
    """The template as data, after the checks calibration needs beyond a matrix's."""
    matrix = load_matrix(path)          # a valid matrix first (names the bad field)
    raw = dict(matrix.raw)
    axes = raw["axes"]
    if len(matrix.cells) != 1 or axes.get("view") != ["spin-0"]:
        raise LabError(f"{path}: a calibration template has exactly one cell, with view "
                       f"[spin-0]; got {len(matrix.cells)} cell(s), view {axes.get('view')}")
    if len(matrix.scenarios) != 1 or list(matrix.scenarios)[0] not in CALIBRATING:
        raise LabError(f"{path}: scenarios: calibration runs {' or '.join(CALIBRATING)} only; "
                       f"got {', '.join(matrix.scenarios)}")
    if matrix.protocol.repetitions < 2:
        raise LabError(f"{path}: protocol.repetitions: calibration needs at least 2 blocks")
    return raw


def planted_us(p50_ms: float, effects) -> dict[float, int]:
    """{effect %: µs of CPU to plant}: effect % of the baseline's p50."""
    if not p50_ms > 0:
        raise LabError(f"the pilot measured no usable p50 ({p50_ms!r} ms)")
    sizes = {float(e): round(p50_ms * 1000.0 * float(e) / 100.0) for e in effects}
    if len(set(sizes.values()) | {0}) != len(sizes) + 1:
        raise LabError(f"planted effects {sorted(sizes)} % of a {p50_ms:.4f} ms p50 round to "
                       f"the same microseconds ({sizes}): choose effects further apart")
    return sizes


def pilot_p50_ms(run_dir: Path) -> float:
    """Median p50 (ms) of the pilot's windows of a calibrating scenario."""
    df = pd.read_parquet(run_dir / SAMPLES_NAME)
    p50 = df[(df["metric"] == "latency_p50") & df["scenario"].isin(CALIBRATING)]["value"]
    if p50.empty:
        raise LabError(f"the pilot run {run_dir.name} measured nothing (see its manifest)")
    return float(p50.median())


def _write_matrix(folder: Path, raw: dict, **changes) -> Path:
    data = {**raw, **{k: v for k, v in changes.items() if k not in ("view", "protocol")}}
    data["axes"] = {**raw["axes"], "view": changes.get("view", raw["axes"]["view"])}
    data["protocol"] = {**raw.get("protocol", {}), **changes.get("protocol", {})}
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def calibrate(template: Path = TEMPLATE, lab_name: str = "local", effects=DEFAULT_EFFECTS,
              results_root: Path = REPO_ROOT / "results", ui=None) -> Path:
    """Run the pilot and the calibration run; return the calibration run's folder."""
    effects = [float(e) for e in effects]
    if not effects or any(not 0 < e <= 100 for e in effects) or len(set(effects)) != len(effects):
        raise LabError(f"--effects: expected distinct percentages in (0, 100], got {effects}")
    raw = check_template(Path(template))
    name = raw.get("name") or Path(template).stem
    with tempfile.TemporaryDirectory(prefix="lab-calibrate-") as tmp:
        pilot_matrix = _write_matrix(Path(tmp), raw, name=f"{name}-pilot",
                                     protocol={"repetitions": PILOT_REPETITIONS,
                                               "aa_control": False})
        ui.info(f"pilot: {PILOT_REPETITIONS} windows of spin-0 to size the planted costs")
        pilot_dir = run_matrix(pilot_matrix, lab_name=lab_name, results_root=results_root, ui=ui)
        p50 = pilot_p50_ms(pilot_dir)
        sizes = planted_us(p50, effects)
        ui.info(f"pilot p50 {p50:.4f} ms: planting " +
                ", ".join(f"+{e:g} % = {us} µs" for e, us in sizes.items()))
        views = ["spin-0", *(f"spin-{us}" for us in sizes.values())]
        main = _write_matrix(Path(tmp), raw, name=name, view=views,
                             protocol={"aa_control": True})
        run_dir = run_matrix(main, lab_name=lab_name, results_root=results_root, ui=ui)
    plan = {"template": str(template), "pilot_run": pilot_dir.name, "pilot_p50_ms": p50,
            "planted": [{"nominal_pct": e, "us": us, "view": f"spin-{us}"}
                        for e, us in sizes.items()]}
    write_atomic(run_dir / CALIBRATION_PLAN_NAME, yaml.safe_dump(plan, sort_keys=False))
    return run_dir
