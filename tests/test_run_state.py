"""The run state (runner/execute/state.py) without a lab: the folder says
`running` from the start and after every unit, stays readable whenever the
controller is killed, is reported cut short once the controller is gone,
and `lab run --resume` takes it up (measuring only what it lacks)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from runner.core.controller import ALIVE, GONE, this_controller
from runner.core.model import (
    CellRecord,
    CellStatus,
    Manifest,
    RunStatus,
    cut_short_notice,
    read_manifest,
)
from runner.execute import run as run_module
from runner.execute.repetition import Outcome
from runner.execute.results import Samples
from runner.execute.run import Unit, cell_records, earlier_samples, measured_units
from runner.execute.state import RunState
from runner.matrix.expand import CellSpec
from runner.matrix.locks import Cell
from runner.core.model import Variant
from runner.scenarios.single_client import Params as SingleParams
from tests.conftest import REPO

FAULTS = REPO / "tests" / "data" / "matrices" / "faults.yaml"
FROZEN = REPO / "tests" / "data" / "runs"


def a_cell(cell_id="c1"):
    spec = CellSpec(python="3.12", django="5.2.19", asgiref="3.13.0", server="uvicorn",
                    workers=1, view="drf")
    return Cell(spec=spec, cell_id=cell_id, env_id="e1", lock_text="x==1\n", packages=(("x", "1"),))


def a_unit(cell, rep, variant="keep-alive"):
    return Unit(cell, "single-client", SingleParams(), Variant(variant), rep)


def measuring_state(run_dir: Path, cells) -> RunState:
    state = RunState.begin(run_dir, run_dir.name, "demo", {"name": "demo"})
    state.save_manifest()
    records = [CellRecord(**c.columns(), env_id=c.env_id, lock=f"locks/{c.cell_id}.txt",
                          status=CellStatus.PENDING, failures=[], units_ok=0, units_planned=2)
               for c in cells]
    state.measuring(Manifest(run_id=run_dir.name, status=RunStatus.RUNNING, matrix_name="demo",
                             cells=records, timings={"started": time.time(), "repetitions": []}),
                    Samples(run_dir.name))
    return state


def test_the_folder_says_running_from_the_start_and_after_every_unit(tmp_path):
    run_dir = tmp_path / "20261208T000000Z-demo-abcd"
    run_dir.mkdir()
    state = RunState.begin(run_dir, run_dir.name, "demo", {"name": "demo"})
    state.save_manifest()
    first = read_manifest(run_dir / "manifest.json")
    assert first.status == RunStatus.RUNNING and first.controller.pid == os.getpid()
    assert first.controller_state == ALIVE and not first.cut_short

    cell = a_cell()
    state = measuring_state(run_dir, [cell])
    state.record_unit(a_unit(cell, 0), Outcome(metrics={"latency_p50": (1.0, "ms")},
                                               argv=["uvicorn"], raw_dir="raw/c1/rep0"), "")
    state.save()
    m = read_manifest(run_dir / "manifest.json")
    assert m.status == "running" and m.cells[0].units_ok == 1 and m.cells[0].status == "ok"
    assert m.timings.finished is None and len(m.timings.repetitions) == 1
    assert set(m.files) == {"results.parquet"}
    assert len(pd.read_parquet(run_dir / "results.parquet")) == 1
    state.record_unit(a_unit(cell, 1), Outcome(failure="server died", argv=["uvicorn"],
                                               raw_dir="raw/c1/rep1"), "")
    state.settle_unfinished()
    state.finish(RunStatus.INTERRUPTED)
    m = read_manifest(run_dir / "manifest.json")
    assert m.status == "interrupted" and m.cells[0].status == "partial"
    assert m.cells[0].failures[0].reason == "server died" and m.timings.finished


def test_the_written_json_keeps_the_shape_of_a_frozen_run(tmp_path):
    """A manifest the runner built is written with the same keys and values
    it was given (nothing added, nothing dropped)."""
    source = FROZEN / "20261122T193656Z-scenarios-1221" / "manifest.json"
    data = json.loads(source.read_text())
    m = read_manifest(source)
    assert m.undeclared() == []
    from runner.execute.manifest import write_manifest
    write_manifest(tmp_path, m)
    written = json.loads((tmp_path / "manifest.json").read_text())
    data.pop("schema_version"), written.pop("schema_version")
    data.pop("files"), written.pop("files")
    assert written == data


def test_an_undeclared_field_is_not_written(tmp_path):
    from runner.execute.manifest import write_manifest
    with pytest.raises(ValueError, match="cells\\[0\\].colour"):
        write_manifest(tmp_path, strict=True, manifest={"run_id": "r", "status": "running",
                                  "cells": [{"cell_id": "c", "server": "uvicorn", "interface": "asgi",
                                             "workers": 1, "python": "3.12", "django": "5.2",
                                             "view": "drf", "colour": ["blue"],
                                             "djangorestframework": "3.16.1"}]})


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from runner.execute.repetition import Outcome
    from tests.test_run_state import a_cell, a_unit, measuring_state
    run_dir = Path(sys.argv[1])
    cell = a_cell()
    state = measuring_state(run_dir, [cell])
    print("ready", flush=True)
    rep = 0
    while True:
        state.record_unit(a_unit(cell, rep), Outcome(metrics={{"latency_p50": (rep, "ms")}},
                          argv=["uvicorn"], raw_dir=f"raw/c1/rep{{rep}}"), "")
        (run_dir / "raw").mkdir(exist_ok=True)
        (run_dir / "raw" / f"rep{{rep}}.txt").write_text("x" * 5000)
        state.save()
        rep += 1
""")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_controller_killed_at_any_instant_leaves_a_readable_folder(tmp_path, seed):
    """SIGKILL while the state is being written, again and again: the
    manifest and the samples are always whole, and the samples hold at least
    every unit the manifest counts."""
    import random
    rng = random.Random(seed)
    run_dir = tmp_path / "20261208T000000Z-demo-abcd"
    run_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(repo=str(REPO)), str(run_dir)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.3, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    m = read_manifest(run_dir / "manifest.json")
    samples = pd.read_parquet(run_dir / "results.parquet")
    assert m.status == "running" and m.controller.pid == proc.pid
    assert m.controller_state == GONE and m.cut_short
    assert len(samples) >= m.cells[0].units_ok > 0
    # A write cut short leaves at most its dot-named temp file: never hashed, never read.
    temps = [p.name for p in run_dir.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".tmp") for name in temps) and not set(temps) & set(m.files)
    assert "was cut short" in cut_short_notice(m) and run_dir.name in cut_short_notice(m)


def test_resuming_counts_what_was_measured_and_keeps_its_facts(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    cell, other = a_cell("c1"), a_cell("c2")
    state = measuring_state(run_dir, [cell, other])
    state.record_unit(a_unit(cell, 0), Outcome(metrics={"latency_p50": (1.0, "ms")},
                                               argv=["uvicorn", "x"], raw_dir="raw/c1/rep0",
                                               observed_cpus={"server": "1"}), "p1")
    state.save()
    old = read_manifest(run_dir / "manifest.json")
    samples = Samples("r")
    samples.rows = earlier_samples(run_dir)
    measured = measured_units(samples)
    assert measured == {("c1", "single-client", "keep-alive", 0)}
    matrix = SimpleNamespace(scenarios_for=lambda spec: {"single-client": SingleParams()})
    records = cell_records(matrix, [cell, other], {"e1": {"status": "unchanged", "seconds": 0.1}},
                           {}, {c.cell_id: c for c in old.cells}, measured)
    by_id = {r.cell_id: r for r in records}
    assert by_id["c1"].units_ok == 1 and by_id["c1"].command == ["uvicorn", "x"]
    assert by_id["c1"].measured_on == ["p1"] and by_id["c1"].observed_cpus == {"server": "1"}
    assert by_id["c2"].units_ok == 0 and by_id["c2"].status == "pending"
    resumed = RunState.resumption(old, len(measured))
    assert resumed[-1].previous_status == "running" and resumed[-1].units_measured_before == 1


def copy_frozen_as_running(tmp_path, controller: dict) -> Path:
    src = FROZEN / "20261122T193656Z-scenarios-1221"
    folder = tmp_path / "results" / src.name
    shutil.copytree(src, folder)
    data = json.loads((folder / "manifest.json").read_text())
    data.update(status="running", controller=controller)
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


def dead_controller() -> dict:
    proc = subprocess.Popen(["true"])
    proc.wait()
    me = this_controller().model_dump()
    return {**me, "pid": proc.pid, "started": 1}


def test_lab_report_says_a_run_was_cut_short(tmp_path):
    from runner.cli import app
    folder = copy_frozen_as_running(tmp_path, dead_controller())
    result = CliRunner().invoke(app, ["report", str(folder)])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    assert "This run was cut short" in out and f"lab run --resume {folder.name}" in out
    assert "This run was cut short" in (folder / "report.md").read_text()


def test_a_running_run_whose_controller_lives_is_not_called_cut_short(tmp_path):
    folder = copy_frozen_as_running(tmp_path, this_controller().model_dump())
    m = read_manifest(folder / "manifest.json")
    assert m.controller_state == ALIVE and not m.cut_short and cut_short_notice(m) is None


def test_resume_refuses_a_run_whose_controller_lives_and_takes_one_cut_short(tmp_path,
                                                                            monkeypatch):
    from runner.execute.run import resume_run
    from runner.core.errors import LabError
    live = copy_frozen_as_running(tmp_path / "a", this_controller().model_dump())
    with pytest.raises(LabError, match="is still running"):
        resume_run(live, ui=SimpleNamespace(warn=print, info=print))

    folder = copy_frozen_as_running(tmp_path / "b", dead_controller())
    (folder / "matrix.yaml").write_text((REPO / "tests" / "data" / "matrices" /
                                         "scenarios.yaml").read_text())
    seen = {}
    monkeypatch.setattr(run_module, "load_lab", lambda name: SimpleNamespace(
        name=name, vars={"lab_state_dir": str(tmp_path / "state")}))
    monkeypatch.setattr(run_module, "locks_of_run", lambda matrix, manifest, run_dir, ui:
                        {"spec": "lock"} if manifest["status"] == "running" else {})
    monkeypatch.setattr(run_module, "_run_matrix", lambda *a, **kw: seen.update(a=a, kw=kw))
    resume_run(folder, ui=SimpleNamespace(warn=print, info=print))
    run_dir, old = seen["kw"]["resume"]
    assert run_dir == folder and old.status == "running" and old.cut_short
