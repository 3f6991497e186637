"""The instructions instrument end to end on the shared e2e lab: a forking
server (gunicorn sync: the arbiter and its worker, each counted apart) and
a single-process one (uvicorn: its event loop apart from the threads that
run Django's sync code), each started under Valgrind's callgrind twice per
repetition, the report dividing the difference of the totals by the
difference of the counts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from analysis.scenarios.instructions import PER_REQUEST
from analysis.runs.load import load_run
from tests.conftest import REPO
from tests.support.lab import LAB, lab, run_folders

pytestmark = pytest.mark.e2e

MATRIX = REPO / "tests/data/matrices/instructions.yaml"


def test_two_servers_counted_per_process_and_thread(lab_up, tmp_path):
    proc = lab("run", str(MATRIX), "--lab", LAB, "--results", str(tmp_path), timeout=1200)
    run_dir, = run_folders(tmp_path)
    samples, manifest = load_run(run_dir)
    per_request = samples[samples["variant"] == PER_REQUEST]
    figures = {(r.server, r.metric): r.value for r in per_request.itertuples()}

    # A DRF request costs on the order of a million instructions under either server.
    for server in ("gunicorn-sync", "uvicorn"):
        assert 3e5 < figures[(server, "instructions_per_request")] < 3e7
    # gunicorn: the worker (another process than the one started) does the work.
    gunicorn = figures[("gunicorn-sync", "instructions_per_request")]
    assert figures[("gunicorn-sync", "instructions_other_processes_per_request")] > 0.95 * gunicorn
    # uvicorn: one process; Django's sync view runs in a thread the event loop hands it to.
    uvicorn = figures[("uvicorn", "instructions_per_request")]
    assert figures[("uvicorn", "instructions_main_process_per_request")] == uvicorn
    assert figures[("uvicorn", "instructions_other_threads_per_request")] > 0.01 * uvicorn
    assert figures[("uvicorn", "instructions_main_thread_per_request")] > 0.5 * uvicorn

    counted = samples[samples["metric"] == "processes_counted"]
    assert set(counted[counted["server"] == "gunicorn-sync"]["value"]) == {2.0}
    assert set(counted[counted["server"] == "uvicorn"]["value"]) == {1.0}

    # Each instructions unit ran its server under the wrapper (the cell's
    # command is the server's own), with its per-process randomness fixed.
    for cell in manifest["cells"]:
        assert cell["status"] == "ok"
        assert "valgrind" not in cell["command"]
    units = manifest["timings"]["repetitions"]
    assert len(units) == 6
    for unit in units:
        wrapper = unit.get("wrapper", [])
        if unit["scenario"] == "instructions":
            assert wrapper[:4] == ["setarch", "-R", "valgrind", "--tool=callgrind"]
        else:
            assert wrapper == []
    assert manifest["protocol"]["server_env"]["PYTHONHASHSEED"] == "0"
    # Where the instrument comes from, as for the load generators.
    valgrind = manifest["tools"]["load_generators"]["server"]["valgrind"]
    assert valgrind["origin"].startswith("Debian package valgrind ")
    assert len(valgrind["sha256"]) == 64
    # Each unit keeps its counts per process and thread, and Valgrind's logs.
    for cell in manifest["cells"]:
        for variant in ("n_2", "n_12"):
            unit = run_dir / "raw" / cell["cell_id"] / "instructions" / variant / "rep0"
            rows = json.loads((unit / "instructions.json").read_text())
            assert rows and all(r["instructions"] > 0 for r in rows)
            assert list(unit.glob("valgrind.*.log"))

    report = (run_dir / "report.md").read_text()
    assert "instructions: instructions per request" in report
    assert "callgrind" in report
    assert "instructions per request" in proc.stdout
    # Both instruments on the same cells, side by side, with what a request
    # costs in time per instruction (under a nanosecond to a few here).
    side = report.split("instructions: wall clock and instructions side by side")[1]
    side = side.split("\n#")[0]
    assert "ns per instruction" in side and "gunicorn-sync" in side and "uvicorn" in side

    # No scenario of this matrix needs PostgreSQL or nginx: none was set up.
    inventory = yaml.safe_load((REPO / "inventory" / LAB / "hosts.yml").read_text())
    server_root = Path(inventory["all"]["children"]["server"]["hosts"]["server"]["lab_root"])
    assert not (server_root / "postgres" / "data").exists()
    assert not (server_root / "nginx" / "nginx.pid").exists()
