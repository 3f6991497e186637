"""user-ramp end to end on the shared e2e lab (tests/conftest.py's `lab_up`):
the playbooks start PostgreSQL and nginx, Locust ramps 2 then 4 users
through nginx to each app server and the votes land in PostgreSQL; when
PostgreSQL cannot start, user-ramp fails with its log while io-mix in the
same run still measures. (That `lab down` with both services running leaves
no process behind is checked by the fixture's teardown, for every process
of every host of the lab.)

Runs the `lab` CLI as a user would. Traffic stays on the lab's own subnet.
"""
import json
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from runner.lab.inventory import load_lab
from tests.conftest import REPO
from tests.support.lab import LAB, SUBNET, lab, run_folders

pytestmark = pytest.mark.e2e

STATE = REPO / ".lab" / LAB
SERVER_ROOT = STATE / "hosts" / "server" / "root"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

MATRIX = """
name: user-ramp-lab
axes:
  python: ["3.12"]
  django: ["5.2.19"]
  asgiref: ["3.13.0"]
  server: [gunicorn-sync, uvicorn]
  view: [polls, io-sync]
pins: {djangorestframework: "3.18.3", gunicorn: "27.0.1", uvicorn: "0.54.0", uvloop: "0.23.0",
       httptools: "0.9.0", psycopg: "3.3.9", psycopg-binary: "3.3.9"}
exclude:
  - {server: uvicorn, view: io-sync}
protocol: {repetitions: 1, warmup_s: 1, seed: 3}
scenarios:
  user-ramp: {steps: [2, 4], step_s: 3, spawn_rate: 10, questions: 4}
  io-mix: {slow_s: 0.2, n_slow: 1, n_fast: 2, modes: [sequential]}
"""


def run_matrix(tmp_path):
    matrix = tmp_path / "user-ramp-lab.yaml"
    matrix.write_text(textwrap.dedent(MATRIX))
    results = tmp_path / "results"
    lab("run", str(matrix), "--lab", LAB, "--results", str(results), timeout=1200)
    (run_dir,) = run_folders(results)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return manifest, pd.read_parquet(run_dir / "results.parquet"), run_dir


def test_postgresql_that_cannot_start_fails_only_user_ramp(lab_up, tmp_path):
    # Something else holds PostgreSQL's address and port on the server host
    # before the first configure, so the playbook cannot start it (as after a
    # crash or a port clash). `ip netns exec` execs python itself, so killing
    # this pid frees the port; the sleep bounds it, and `lab down` would end
    # it with the namespace.
    server = load_lab(LAB).by_role("server").address
    squatter = subprocess.Popen(
        ["ip", "netns", "exec", f"djlab-{LAB}-server", "python3", "-c",
         "import socket, time; s = socket.socket(); "
         "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
         f"s.bind(('{server}', 5432)); s.listen(); time.sleep(900)"])
    try:
        time.sleep(1)
        manifest, df, run_dir = run_matrix(tmp_path)
    finally:
        squatter.kill()
        squatter.wait(timeout=30)
    assert manifest["status"] == "complete"
    cells = {(c["view"], c["server"]): c for c in manifest["cells"]}
    for server in ("gunicorn-sync", "uvicorn"):
        cell = cells[("polls", server)]
        assert cell["status"] == "failed", cell
        reason = cell["failures"][0]["reason"]
        assert "cannot migrate and seed the polls database" in reason, reason
        assert "postgres on server:" in reason and "Address already in use" in reason, reason
    # The other scenario of the same run still measured.
    assert cells[("io-sync", "gunicorn-sync")]["status"] == "ok"
    assert set(df["scenario"]) == {"io-mix"}


def test_user_ramp_goes_through_nginx_to_postgresql(lab_up, tmp_path):
    # The configure stage starts PostgreSQL again (the port is free now): the
    # setup error the last run left sends it through the playbook.
    manifest, df, run_dir = run_matrix(tmp_path)
    assert manifest["status"] == "complete"
    assert manifest["configure"]["why"].startswith("server: setup-error"), manifest["configure"]
    assert all(c["status"] == "ok" for c in manifest["cells"]), manifest["cells"]
    ramp = df[df.scenario == "user-ramp"].set_index(["server", "metric"])["value"]
    for server in ("gunicorn-sync", "uvicorn"):
        m = ramp.xs(server)
        assert m["failure_pct@2"] == 0 and m["failure_pct@4"] == 0
        assert m["users_reached@4"] == 4 and m["unfinished@4"] == 0
        # 4 users, a request then a 1-2 s wait each: about 2.7 requests/s.
        assert 1.0 < m["requests_per_s@4"] < 5.0
        assert m["max_users_without_failures"] == 4
        assert 0 < m["latency_p50@4"] <= m["latency_p99@4"] < 5000
        assert m["postgres_cpu_percent"] > 0 and m["server_cpu_percent@4"] > 0
        assert {"server_rss_mb", "client_cpu_percent", "client_saturated"} <= set(m.index)
    raw = next(run_dir.glob("raw/*/user-ramp/ramp/rep0"))
    assert (raw / "locust_steps.csv").is_file() and (raw / "locust_stats_history.csv").is_file()
    # The votes reached the database (votes are reset before each repetition).
    votes = subprocess.run([str(PG_BIN / "psql"), "-h", str(SERVER_ROOT / "postgres" / "run"),
                            "-U", "postgres", "-d", "polls", "-tAXc",
                            "select coalesce(sum(votes), 0) from polls_choice"],
                           capture_output=True, text=True, timeout=30, cwd="/")
    assert votes.returncode == 0 and int(votes.stdout) > 0, votes.stderr
    facts = json.loads((STATE / "facts" / "postgres-server.json").read_text())
    assert facts["version"].startswith("postgres (PostgreSQL) 15") and facts["trust_cidr"] == SUBNET
    assert not (SERVER_ROOT / "postgres" / "setup-error.txt").exists()
