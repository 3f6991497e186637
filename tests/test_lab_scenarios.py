"""The workloads end to end on the local lab, at small sizes, and the run
protocol's failure paths: a server killed in the middle of its measured
window, a server that hangs (SIGSTOP), each recorded as a failed repetition
with its reason and logs while the run goes on."""
import glob
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from runner.lab.inventory import load_lab
from tests.conftest import REPO
from tests.support.lab import (LAB, LAB_CMD, lab, run_folders,
                               servers_on_host)
from runner.session.session import SAMPLER_INTERVAL_S

pytestmark = pytest.mark.e2e

MATRICES = REPO / "tests" / "data" / "matrices"
PSUTIL_COLUMNS = {"server_cpu_percent", "server_rss_mb", "server_uss_mb", "server_threads",
                  "server_ctx_voluntary", "server_ctx_involuntary", "server_fds",
                  "server_connections", "client_cpu_percent", "client_saturated"}


def load(run_dir: Path):
    return (json.loads((run_dir / "manifest.json").read_text()),
            pd.read_parquet(run_dir / "results.parquet"))


def test_wrk_scenarios_land_in_results_with_psutil_columns(lab_up, tmp_path_factory):
    results = tmp_path_factory.mktemp("scenarios")
    lab("run", str(MATRICES / "scenarios.yaml"), "--lab", LAB, "--results", str(results))
    (run_dir,) = run_folders(results)
    manifest, df = load(run_dir)
    assert manifest["status"] == "complete"
    assert all(c["status"] == "ok" for c in manifest["cells"]), manifest["cells"]
    got = set(map(tuple, df[["scenario", "variant"]].drop_duplicates().values))
    assert got == {("single-client", "keep-alive"), ("single-client", "close"),
                   ("concurrency", "c=8"), ("memory", "default"), ("hey", "c=8")}
    for (scenario, variant), rows in df.groupby(["scenario", "variant"]):
        assert PSUTIL_COLUMNS <= set(rows["metric"]), (scenario, variant)
        assert rows["repetition"].nunique() == 1
    wide = df.pivot_table(index=["server", "scenario", "variant", "repetition"],
                          columns="metric", values="value")
    assert (wide["errors"] == 0).all() and (wide["requests"] > 50).all()
    # The server's sampler sees the connections wrk keeps open: eight at c=8,
    # one for one client (uvicorn keeps connections alive). gunicorn's sync worker
    # closes each after its response, so one client holds one connection, or
    # two for the instant wrk's next one is queued before the old one is gone.
    conc = wide.xs(("concurrency", "uvicorn"), level=["scenario", "server"])
    assert (conc.xs("c=8", level="variant")["server_connections"] == 8).all(), conc
    # hey's 8 workers share keep-alive connections: eight of them on uvicorn,
    # and its figures agree with wrk's at the same concurrency within a factor.
    by_hey = wide.xs(("hey", "uvicorn"), level=["scenario", "server"])
    assert (by_hey["server_connections"] == 8).all(), by_hey
    ratio = by_hey["requests_per_s"].iloc[0] / conc["requests_per_s"].iloc[0]
    assert 0.33 < ratio < 3, ratio
    assert "hey closed loop (hey 0.1.4), N worker(s)" in manifest["protocol"]["latency_models"]["hey"]
    assert manifest["tools"]["load_generators"]["client"]["hey"]["origin"].startswith(
        "Debian package hey 0.1.4")
    kept = wide.xs(("uvicorn", "single-client", "keep-alive"), level=["server", "scenario", "variant"])
    assert (kept["server_connections"] == 1).all(), kept
    single = wide.xs(("gunicorn-sync", "single-client"), level=["server", "scenario"])
    assert (single["server_connections"] <= 2).all(), single["server_connections"]
    # Memory: one worker seen per single-worker cell, USS below RSS.
    mem = wide.xs("memory", level="scenario")
    assert (mem["workers_seen"] == 1).all()
    assert (mem["worker_uss_mb_after_load"] < mem["worker_rss_mb_after_load"]).all()
    assert (mem["worker_uss_mb_after_load"] > 10).all()
    # Traces in the run folder are cut to the load's window.
    timing = manifest["timings"]["repetitions"][0]
    rep = run_dir / timing["raw"]
    client = json.loads((rep / "measured-client.jsonl").read_text().splitlines()[-1])["summary"]
    cut = [json.loads(line)["t"] for line in (rep / "measured-server.jsonl").read_text().splitlines()]
    full = (rep / "measured-server-full.jsonl").read_text().splitlines()
    inside = [t for t in cut if client["child_start"] <= t <= client["child_end"]]
    # At most a sample each side, and one every SAMPLER_INTERVAL_S inside.
    expected = int((client["child_end"] - client["child_start"]) / SAMPLER_INTERVAL_S) - 1
    assert len(inside) >= len(cut) - 2 and len(inside) >= expected >= 3, (inside, expected)
    assert len(full) > len(cut)
    start, end = timing["phases"]["measured"]
    assert timing["phases"]["warmup"][1] <= start <= client["child_start"] <= client["child_end"] <= end
    assert lab_processes_of_servers() == []


def lab_processes_of_servers() -> list[int]:
    return servers_on_host("server")


def server_pids(envs: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", envs], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class FaultInjector(threading.Thread):
    """Watches the server host's run folders; in the first measured window it
    kills the server, in the second it freezes it (SIGSTOP), the third is left alone."""

    def __init__(self, server_root: Path, started: float):
        super().__init__(daemon=True)
        self.root, self.started = server_root, started
        self.done: list[str] = []
        self.stop = threading.Event()

    def run(self):
        seen = set()
        pattern = str(self.root / "runs" / "*" / "*" / "*" / "*" / "rep*" / "measured-server-full.jsonl")
        while not self.stop.is_set() and len(self.done) < 2:
            for path in glob.glob(pattern):
                if path in seen or os.path.getmtime(path) < self.started:
                    continue
                seen.add(path)
                time.sleep(0.7)   # well inside the 3 s window
                sig = signal.SIGKILL if not self.done else signal.SIGSTOP
                for pid in server_pids(str(self.root / "envs") + "/"):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                self.done.append(f"{sig.name} {Path(path).parent.name}")
                break
            time.sleep(0.05)


def test_a_killed_and_a_hung_server_fail_their_repetitions_and_the_run_goes_on(lab_up, tmp_path_factory):
    results = tmp_path_factory.mktemp("faults")
    server = load_lab(LAB).by_role("server")
    injector = FaultInjector(Path(server.lab_root), time.time())
    injector.start()
    try:
        lab("run", str(MATRICES / "faults.yaml"), "--lab", LAB, "--results", str(results))
    finally:
        injector.stop.set()
        injector.join(timeout=10)
    assert len(injector.done) == 2, injector.done
    (run_dir,) = run_folders(results)
    manifest, df = load(run_dir)
    assert manifest["status"] == "complete"
    (cell,) = manifest["cells"]
    assert cell["status"] == "partial"
    reasons = sorted(f["reason"] for f in cell["failures"])
    assert len(reasons) == 2, cell["failures"]
    assert any("server died during the measured window" in r for r in reasons), reasons
    hung = [r for r in reasons if "died" not in r]
    assert hung and any(s in hung[0] for s in ("no request", "timeout", "ignored SIGTERM")), hung
    for failure in cell["failures"]:
        assert (run_dir / failure["raw"] / "server.log").is_file()
    # The third repetition was measured; the failed ones left no samples.
    assert sorted(df["repetition"].unique()) == [
        r for r in range(3) if r not in {f["repetition"] for f in cell["failures"]}]
    assert "partial" in (run_dir / "report.md").read_text()
    assert lab_processes_of_servers() == []


def test_open_loop_and_io_mix_workloads(lab_up, tmp_path_factory):
    """fixed-rate runs after concurrency at fractions of each cell's own peak;
    io-mix reproduces seed 001's shape on the raw apps."""
    results = tmp_path_factory.mktemp("workloads")
    lab("run", str(MATRICES / "workloads.yaml"), "--lab", LAB, "--results", str(results))
    (run_dir,) = run_folders(results)
    manifest, df = load(run_dir)
    assert manifest["status"] == "complete"
    assert all(c["status"] == "ok" for c in manifest["cells"]), manifest["cells"]
    wide = df.pivot_table(index=["server", "scenario", "variant"], columns="metric", values="value")
    for server in ("gunicorn-sync", "uvicorn"):
        peak = wide.loc[(server, "concurrency", "c=8"), "requests_per_s"]
        rates = wide.xs((server, "fixed-rate"), level=["server", "scenario"])
        assert len(rates) == 2
        half = rates.loc[rates["target_rate"] < peak]
        over = rates.loc[rates["target_rate"] > peak]
        assert len(half) == 1 and len(over) == 1, rates["target_rate"]
        # Open loop: every scheduled request was either sent or counted as
        # dropped (k6 never silently sends fewer), and latency from the
        # intended send time is never below the latency from the actual send.
        for _, r in rates.iterrows():
            scheduled = r["target_rate"] * 2
            assert abs(r["requests"] + r["dropped"] - scheduled) <= 0.02 * scheduled, r
            assert r["achieved_rate"] <= r["target_rate"] * 1.02
        assert (rates["latency_p50"] >= rates["send_latency_p50"] - 0.05).all()
        # Above the peak requests queue: the rate is not held, and the queueing
        # shows as intended-time latency or drops, not hidden.
        o = over.iloc[0]
        assert o["rate_held"] == 0 and (o["dropped"] > 0 or o["latency_p99"] > o["send_latency_p99"])
        assert PSUTIL_COLUMNS - {"server_connections"} <= set(
            df[(df.scenario == "fixed-rate") & (df.server == server)]["metric"])
    io = wide.xs("io-mix", level="scenario")
    slow_total = 3 * 0.5
    for server in ("gunicorn-sync", "uvicorn"):
        assert io.loc[(server, "sequential"), "elapsed_s"] >= slow_total
        assert io.loc[(server, "sequential"), "errors"] == 0
    # One sync worker serves the slow requests one after another; uvicorn's
    # event loop overlaps them (seed 001's table).
    assert io.loc[("gunicorn-sync", "concurrent"), "elapsed_s"] >= slow_total
    assert io.loc[("uvicorn", "concurrent"), "elapsed_s"] < slow_total * 0.7


IMPOSTOR = """
import http.server
class Same(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {body!r}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(({address!r}, {port}), Same)
srv.timeout = 1
import time
end = time.monotonic() + 900          # bounded, and killed by the test
while time.monotonic() < end:
    srv.handle_request()
"""


def test_an_impostor_answering_on_the_port_is_never_measured(lab_up, tmp_path_factory):
    """Seen in a real run (two runs on one lab): the cell's server could not
    bind, another process answered the probe with the same body, and it was
    measured. The identity proof fails the repetition instead."""
    from runner.catalog.views import VIEWS
    from runner.session.session import PORT

    results = tmp_path_factory.mktemp("impostor")
    address = load_lab(LAB).by_role("server").address
    # `ip netns exec` execs python itself: this pid is the impostor's.
    impostor = subprocess.Popen(
        ["ip", "netns", "exec", f"djlab-{LAB}-server", "python3", "-c",
         IMPOSTOR.format(body=VIEWS["drf"].expected_body, address=address, port=PORT)])
    try:
        time.sleep(1)
        lab("run", str(MATRICES / "short.yaml"), "--lab", LAB, "--results", str(results))
    finally:
        impostor.kill()
        impostor.wait(timeout=30)
    (run_dir,) = run_folders(results)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (cell,) = manifest["cells"]
    assert cell["status"] == "failed", cell
    reason = cell["failures"][0]["reason"]
    assert f"after readiness: port {PORT} is held by pid {impostor.pid} (python3)" in reason, reason
    assert not (run_dir / "results.parquet").exists() or pd.read_parquet(
        run_dir / "results.parquet").empty


def start_run(matrix: Path, results: Path) -> subprocess.Popen:
    return subprocess.Popen(LAB_CMD + ["run", str(matrix), "--lab", LAB, "--results", str(results)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, proc: subprocess.Popen, what: str, timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{proc.stdout.read()}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {timeout_s:g} s")


def measured_rows(results: Path) -> int:
    files = list(results.glob("*/results.parquet"))
    return len(pd.read_parquet(files[0])) if files else 0


def test_a_full_disk_stops_the_run_and_keeps_what_was_measured(lab_up, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], check=True)
    proc = None
    try:
        proc = start_run(MATRICES / "short.yaml", disk)
        wait_for(lambda: measured_rows(disk) > 0, proc, "a first measured repetition")
        with open(disk / "filler", "wb") as f:          # the disk fills up mid-run
            with pytest.raises(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        subprocess.run(["umount", "-l", str(disk)], check=True)
    text = " ".join(output.split())
    assert proc.returncode == 1, output
    assert "Traceback" not in output
    assert "cannot be written (No space left on device): the run stopped" in text, text
    rescued = Path(text.split("what was measured is kept in ")[1].split()[0])
    try:
        manifest = json.loads((rescued / "manifest.json").read_text())
        assert manifest["status"] == "failed" and "No space left" in manifest["error"]
        assert len(pd.read_parquet(rescued / "results.parquet")) > 0
    finally:
        subprocess.run(["rm", "-rf", str(rescued)], check=True)
    assert servers_on_host("server") == []
