"""A controller killed outright (SIGKILL of `lab run`) in the middle of a
unit, on the shared e2e lab (tests/conftest.py's `lab_up`), twice:

- the run folder is readable: manifest.json says `running` and names the
  dead controller, results.parquet holds every unit measured before;
- `lab report` reads it and says the run was cut short (console and
  report.md);
- no server of the lab runs on the server host 30 s after the kill (the
  controller's lease lapses and the watchdog beside the server kills it);
- `lab run --resume` completes it: every unit in the final results, the
  samples measured before the kill kept as they were.

The kill point is drawn from random.Random(seed); the seed is printed (set
KILL_SEED to replay one)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pandas as pd
import pytest

from runner.core.model import read_manifest
from tests.conftest import REPO
from tests.support.lab import LAB, LAB_CMD, lab, run_folders, servers_on_host

pytestmark = pytest.mark.e2e

MATRIX = REPO / "tests" / "data" / "matrices" / "controller-kill.yaml"
UNITS = 6            # one cell, single-client keep-alive, 6 repetitions
KEYS = ["cell_id", "scenario", "variant", "repetition"]
SERVER_GONE_WITHIN_S = 30.0


def units_done(run_dir) -> int:
    """Units the manifest counts as done (measured or failed), 0 before it lists cells."""
    try:
        m = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(c.get("units_ok", 0) + len(c.get("failures") or []) for c in m.get("cells") or [])


def kill_mid_run(results, rng) -> tuple:
    """Start `lab run`, SIGKILL it while the unit after a random number of
    finished ones is in flight; return (run folder, units finished, kill time)."""
    finished_before = rng.randint(1, UNITS - 2)
    proc = subprocess.Popen(LAB_CMD + ["run", str(MATRIX), "--lab", LAB, "--results", str(results)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 900         # the first run may configure the lab
        run_dir = None
        while time.monotonic() < deadline:
            folders = run_folders(results)
            run_dir = folders[0] if folders else None
            if run_dir is not None and units_done(run_dir) >= finished_before:
                break
            if proc.poll() is not None:
                pytest.fail(f"lab run ended before it could be killed:\n{proc.stdout.read()}")
            time.sleep(0.2)
        else:
            pytest.fail(f"{finished_before} units were not measured within 900 s")
        # The next unit's server is up: kill the controller while it runs.
        while time.monotonic() < deadline and not servers_on_host("server"):
            if proc.poll() is not None:
                pytest.fail(f"lab run ended before it could be killed:\n{proc.stdout.read()}")
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        running = servers_on_host("server")
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(timeout=30)
        print(f"killed lab run (pid {proc.pid}) after {units_done(run_dir)} unit(s) "
              f"(aimed at {finished_before}); servers on the host at the kill: {running}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return run_dir, killed_at


@pytest.mark.parametrize("attempt", [0, 1])
def test_a_killed_controller_leaves_a_run_cut_short_that_resume_completes(lab_up, tmp_path_factory,
                                                                          attempt):
    seed = int(os.environ.get("KILL_SEED", random.SystemRandom().randrange(1 << 30))) + attempt
    print(f"KILL_SEED={seed - attempt} (attempt {attempt}: random.Random({seed}))")
    rng = random.Random(seed)
    results = tmp_path_factory.mktemp(f"controller-kill-{attempt}")
    run_dir, killed_at = kill_mid_run(results, rng)

    # The folder as the dead controller left it: readable, running, cut short.
    manifest = read_manifest(run_dir / "manifest.json")
    assert manifest.status == "running" and manifest.cut_short, manifest.controller
    before = pd.read_parquet(run_dir / "results.parquet")
    measured_before = set(map(tuple, before[KEYS].drop_duplicates().itertuples(index=False)))
    assert len(measured_before) >= manifest.cells[0].units_ok >= 1

    # No server of the lab left on the server host, within 30 s of the kill.
    while servers_on_host("server") and time.monotonic() - killed_at < SERVER_GONE_WITHIN_S:
        time.sleep(0.5)
    left = servers_on_host("server")
    assert left == [], (f"servers still running {time.monotonic() - killed_at:.1f} s after the "
                        f"controller was killed: {left}")
    print(f"server host clear {time.monotonic() - killed_at:.1f} s after the kill")

    # lab report reads it and says it was cut short.
    reported = lab("report", str(run_dir))
    out = " ".join((reported.stdout + reported.stderr).split())    # the notice is a warning: stderr
    assert "This run was cut short" in out, out
    assert f"lab run --resume {run_dir.name}" in out, out
    assert "This run was cut short" in (run_dir / "report.md").read_text()

    # lab run --resume completes it, measuring only what was missing.
    resumed = " ".join(lab("run", "--resume", run_dir.name, "--lab", LAB,
                           "--results", str(results)).stdout.split())
    assert f"resuming run {run_dir.name} (running)" in resumed, resumed
    final = read_manifest(run_dir / "manifest.json")
    assert final.status == "complete", final.error
    assert final.resumptions[-1].previous_status == "running"
    assert final.resumptions[-1].units_measured_before == len(measured_before)
    assert all(c.status == "ok" for c in final.cells), [(c.cell_id, c.status) for c in final.cells]
    after = pd.read_parquet(run_dir / "results.parquet")
    keys = set(map(tuple, after[KEYS].drop_duplicates().itertuples(index=False)))
    assert {k[3] for k in keys} == set(range(UNITS)) and len(keys) == UNITS
    assert measured_before <= keys
    # The samples measured before the kill are kept as they were, not measured again.
    merged = before.merge(after, on=[*KEYS, "metric"], suffixes=("_before", "_after"))
    assert len(merged) == len(before)
    assert (merged["value_before"].fillna(-1) == merged["value_after"].fillna(-1)).all()
    assert servers_on_host("server") == []
