"""One matrix over two server/client pairs, end to end, on a lab of four
namespaces: the cells are sharded by comparison group and both pairs
measure at once. Losing a pair's server host mid-run stops that pair alone,
in one line naming the host and the cells it left; the other pair finishes;
`lab run --resume`, with that pair still down, leaves it out and measures
only what is left on the other pair, keeping every sample measured before.

(On this 2-core machine the pairs share the cores: this checks correctness,
not speed.)"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runner.lab.inventory import load_lab
from runner.lab.targets import local as infra
from tests.conftest import REPO
from tests.support.lab import LAB, LAB_CMD, lab, run_folders

pytestmark = pytest.mark.e2e

PAIRS = "pairs"
MATRIX = REPO / "tests" / "data" / "matrices" / "pairs.yaml"
HOSTS = {"server-a": {"role": "server", "cpus": "1", "pair": "a"},
         "client-a": {"role": "client", "cpus": "0", "pair": "a"},
         "server-b": {"role": "server", "cpus": "1", "pair": "b"},
         "client-b": {"role": "client", "cpus": "0", "pair": "b"}}


@pytest.fixture(scope="module")
def pairs_lab(tmp_path_factory):
    labs = tmp_path_factory.mktemp("labs") / "labs.yaml"
    labs.write_text(yaml.safe_dump({PAIRS: {"target": "local", "subnet": "198.18.4.0/24",
                                            "hosts": HOSTS}}))
    env = {"DJLAB_LABS_FILE": str(labs)}
    # The shared lab's wheels, if it downloaded them already: no second download.
    wheels, mine = REPO / ".lab" / LAB / "wheelhouse", REPO / ".lab" / PAIRS / "wheelhouse"
    if wheels.is_dir() and not mine.exists():
        mine.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(wheels), str(mine)], check=True)
    lab("up", "--lab", PAIRS, env_extra=env)
    try:
        yield env
    finally:
        lab("down", "--lab", PAIRS, check=False)
        assert infra.leftovers(PAIRS) == []
        shutil.rmtree(REPO / ".lab" / PAIRS, ignore_errors=True)


def start(args: list[str], env: dict) -> tuple[subprocess.Popen, list[str]]:
    """The CLI in the background, its output collected line by line."""
    proc = subprocess.Popen(LAB_CMD + args, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
    lines: list[str] = []

    def read():
        for line in proc.stdout:
            lines.append(line)
    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def lose_ssh(host: str) -> None:
    """Kill every sshd of a host, its open sessions included."""
    for pid in subprocess.run(["ip", "netns", "pids", f"djlab-{PAIRS}-{host}"],
                              capture_output=True, text=True).stdout.split():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def test_two_pairs_share_a_matrix_and_a_lost_pair_is_resumed(pairs_lab, tmp_path):
    results = tmp_path / "results"
    proc, lines = start(["run", str(MATRIX), "--lab", PAIRS, "--results", str(results)], pairs_lab)
    deadline = time.monotonic() + 600
    # Pair b has measured a unit and is on its next: lose its server host now.
    while not any(line.startswith("pair b: measuring single-client [2/") for line in lines):
        assert proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    lose_ssh("server-b")
    proc.wait(timeout=600)
    time.sleep(0.5)                         # the reader thread takes the last lines
    output = " ".join("".join(lines).split())
    server_b = load_lab(PAIRS).hosts["server-b"]
    assert proc.returncode == 1, output
    assert "Traceback" not in output
    assert (f"pair b: host server-b ({server_b.address}) is unreachable over SSH after 3 tries"
            in output), output
    assert "the other pairs finished, `lab run --resume RUN_ID` measures the rest" in output

    (run_dir,) = run_folders(results)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    pairs = manifest["pairs"]
    assert {n: (p["server"], p["client"], p["cells"]) for n, p in pairs.items()} == {
        "a": ("server-a", "client-a", 3), "b": ("server-b", "client-b", 3)}
    assert "error" not in pairs["a"] and pairs["b"]["unfinished"]
    by_pair = {c["cell_id"]: c["pair"] for c in manifest["cells"]}
    # Each view (comparison group) with its twin on one pair; pair a finished.
    for cell in manifest["cells"]:
        same_view = {c["pair"] for c in manifest["cells"] if c["view"] == cell["view"]}
        assert same_view == {cell["pair"]}
        if cell["pair"] == "a":
            assert cell["status"] == "ok" and cell["units_ok"] == 2, cell
    assert set(pairs["b"]["unfinished"]) <= {i for i, p in by_pair.items() if p == "b"}

    # Pair b is still down: --resume leaves it out, saying so, and measures what
    # is left on pair a (Ansible limited to the hosts that answer).
    before = pd.read_parquet(run_dir / "results.parquet")
    resumed_run = lab("run", "--resume", run_dir.name, "--lab", PAIRS, "--results", str(results),
                      env_extra=pairs_lab)
    said = " ".join((resumed_run.stdout + resumed_run.stderr).split())
    assert f"pair b left out of this run: host server-b ({server_b.address}) does not answer SSH" in said
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert "b" in manifest["pairs_left_out"]
    assert all(c["status"] == "ok" and c["units_ok"] == 2 for c in manifest["cells"]), manifest["cells"]
    for cell in manifest["cells"]:
        assert cell["pair"] == "a"                   # b's cells finished on a ...
        if by_pair[cell["cell_id"]] == "b" and cell["cell_id"] not in pairs["b"]["unfinished"]:
            assert cell["measured_on"] == ["b"]
    moved = [c for c in manifest["cells"] if c["cell_id"] in pairs["b"]["unfinished"]]
    assert moved and all(c["measured_on"][-1] == "a" for c in moved)   # ... and say where
    units_on = {(t["cell_id"], t["repetition"]): t["pair"] for t in manifest["timings"]["repetitions"]}
    assert set(units_on.values()) == {"a", "b"}
    (resumed,) = manifest["resumptions"]
    assert "pair b" in resumed["previous_error"]
    after = pd.read_parquet(run_dir / "results.parquet")
    assert after.groupby("cell_id")["repetition"].nunique().to_dict() == {i: 2 for i in by_pair}
    kept = after.merge(before[["cell_id", "repetition"]].drop_duplicates())
    pd.testing.assert_frame_equal(
        kept.sort_values(list(kept.columns)).reset_index(drop=True),
        before.sort_values(list(before.columns)).reset_index(drop=True), check_like=True)
