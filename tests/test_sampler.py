"""The psutil sampler, run for real on local processes."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.session import health

pytestmark = [pytest.mark.integration, pytest.mark.serial]   # CPU shares of real processes

SAMPLER = Path(__file__).resolve().parent.parent / "runner" / "session" / "host" / "sampler.py"
BUSY = "import time\nt=time.time()\nwhile time.time()-t < 1.5: pass\n"
IDLE = "import time\ntime.sleep(1.5)\n"


def summary(path: Path) -> dict:
    lines = path.read_text().splitlines()
    assert len(lines) >= 3, "expected several samples and a summary"
    return json.loads(lines[-1])["summary"]


def test_exec_mode_measures_a_busy_child_as_busy(tmp_path):
    out, child_out = tmp_path / "trace.jsonl", tmp_path / "child.txt"
    code = subprocess.call([sys.executable, str(SAMPLER), "exec", "--interval", "0.1",
                            "--out", str(out), "--stdout", str(child_out), "--",
                            sys.executable, "-c", BUSY + "print('done')"], timeout=30)
    assert code == 0 and child_out.read_text().strip() == "done"
    s = summary(out)
    assert s["cpu_percent"] > 60, s   # a spinning loop on one core
    assert s["rss_peak"] > 1_000_000 and s["threads_peak"] >= 1
    assert s["returncode"] == 0


def test_exec_mode_passes_the_child_exit_code(tmp_path):
    code = subprocess.call([sys.executable, str(SAMPLER), "exec", "--out", str(tmp_path / "t"),
                            "--stdout", str(tmp_path / "o"), "--", sys.executable, "-c",
                            "raise SystemExit(7)"], timeout=30)
    assert code == 7


def test_tree_mode_follows_children_and_stops_on_sigterm(tmp_path):
    # A parent that forks two children: one spins, one sleeps.
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess,sys\n"
                               f"a=subprocess.Popen([sys.executable,'-c',{BUSY!r}])\n"
                               f"b=subprocess.Popen([sys.executable,'-c',{IDLE!r}])\n"
                               "a.wait(); b.wait()\n"])
    time.sleep(0.3)
    out = tmp_path / "tree.jsonl"
    sampler = subprocess.Popen([sys.executable, str(SAMPLER), "tree", "--pid", str(parent.pid),
                                "--interval", "0.1", "--out", str(out)])
    time.sleep(0.8)
    sampler.terminate()
    assert sampler.wait(timeout=10) == 0
    parent.wait(timeout=10)
    s = summary(out)
    assert s["processes"] == 3
    assert 40 < s["cpu_percent"] < 130, s   # one spinning child, the rest idle
    assert s["sampler_cpu_percent"] < 50


def test_tree_mode_counts_established_connections_to_the_server_port(tmp_path):
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    accepted = [listener.accept()[0] for _ in clients]
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(1)
    stray = socket.create_connection(other.getsockname())   # another port: not counted
    out = tmp_path / "tree.jsonl"
    idle = subprocess.Popen([sys.executable, "-c", IDLE])
    try:
        sampler = subprocess.Popen([sys.executable, str(SAMPLER), "tree", "--pid", str(idle.pid),
                                    "--interval", "0.1", "--port", str(port), "--out", str(out)])
        time.sleep(0.5)
        sampler.terminate()
        assert sampler.wait(timeout=10) == 0
    finally:
        idle.kill()
        for s in clients + accepted + [listener, other, stray]:
            s.close()
    rows = [json.loads(line) for line in out.read_text().splitlines()[:-1]]
    # Only the server side of each connection has local port `port`; the
    # count comes with every second sample (the sampler's detail rate).
    counted = [r["conns"] for r in rows if "conns" in r]
    assert counted and all(c == 3 for c in counted), counted
    assert len(counted) <= (len(rows) + 1) // 2


HOG = "import time\nt=time.time()\nwhile time.time()-t < 4: pass\n"


def run_pinned_exec(tmp_path, child_code, hog: bool):
    """The exec sampler and its child pinned to one CPU, with or without a
    second busy process pinned to the same CPU."""
    cpu = str(max(os.sched_getaffinity(0)))
    hog_proc = (subprocess.Popen(["taskset", "-c", cpu, sys.executable, "-c", HOG])
                if hog else None)
    try:
        out = tmp_path / f"trace-{hog}.jsonl"
        code = subprocess.call(["taskset", "-c", cpu, sys.executable, str(SAMPLER), "exec",
                                "--interval", "0.1", "--out", str(out),
                                "--stdout", str(tmp_path / "o"), "--",
                                sys.executable, "-c", child_code], timeout=30)
        assert code == 0
        return summary(out)
    finally:
        if hog_proc:
            hog_proc.kill()
            hog_proc.wait()


def test_a_load_generator_sharing_its_cpu_is_seen_waiting_and_the_window_flagged(tmp_path):
    s = run_pinned_exec(tmp_path, BUSY, hog=True)
    # Two spinning processes on one CPU: each waits about half the time.
    assert s["run_delay_s"] / s["wall_s"] > 0.3, s
    assert s["cpu_stat"]["cpus"] == [max(os.sched_getaffinity(0))]
    shares = health.cpu_shares(s)
    assert shares["other"] > 0.3, shares       # the hog is neither the tree nor the sampler
    metrics = health.window_health(s, {})
    assert metrics["window_disturbed"] == (1.0, "flag")
    assert metrics["client_run_delay_share"][0] > health.RUN_DELAY_MAX


def test_a_sleeping_load_generator_does_not_wait_for_its_cpu(tmp_path):
    s = run_pinned_exec(tmp_path, IDLE, hog=False)
    assert s["run_delay_s"] / s["wall_s"] < health.RUN_DELAY_MAX, s


def settle(*args, cpu=None):
    cmd = [sys.executable, str(SAMPLER), "settle", *args]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(out)


def test_settle_sees_a_busy_cpu_and_gives_up_at_its_timeout():
    cpu = max(os.sched_getaffinity(0))
    hog = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", HOG])
    try:
        start = time.monotonic()
        seen = settle("--max-busy", "0.5", "--every", "0.3", "--timeout", "1", cpu=cpu)
        waited = time.monotonic() - start
    finally:
        hog.kill()
        hog.wait()
    assert seen["settled"] is False and seen["cpus"] == [cpu]
    assert min(seen["busy"]) > 0.8, seen          # the hog held the CPU throughout
    assert 1.0 <= seen["after_s"] < 2.0 and waited < 5


def test_settle_returns_at_the_first_quiet_reading():
    seen = settle("--max-busy", "1.0", "--every", "0.2", "--timeout", "5")
    assert seen["settled"] is True and len(seen["busy"]) == 1 and seen["after_s"] < 1
