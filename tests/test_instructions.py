"""The instructions instrument's parts: Valgrind's counts read per process
(a real cachegrind run of a Python that forks), the per-request figure
derived from two servers' totals, the client that sends exactly N requests
(against a real HTTP server), and the scenario's settings."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from analysis.scenarios.instructions import PER_REQUEST, with_per_request
from runner.scenarios.instructions import Params, count_metrics, parse_counts, valgrind_argv

REPO = Path(__file__).resolve().parent.parent
SEND = REPO / "runner/scenarios/instructions/host/send_requests.py"

# A Python that loops N times in the parent, then forks a child that loops
# as often: each process's count grows with N, and the child has its own file.
FORKING = ("import os, sys\n"
           "def work(n):\n"      # locals: module-level stores cost unevenly
           "    t = 0\n"
           "    for i in range(n): t = i * 2\n"
           "n = int(sys.argv[1])\n"
           "work(n)\n"
           "pid = os.fork()\n"
           "if pid == 0:\n"
           "    work(n)\n"
           "    os._exit(0)\n"
           "os.waitpid(pid, 0)\n")


def counted(tmp_path: Path, n: int) -> dict:
    out = tmp_path / f"n{n}"
    out.mkdir()
    argv = valgrind_argv("cachegrind", str(out))
    proc = subprocess.Popen([*argv, "/usr/bin/python3", "-S", "-c", FORKING, str(n)])
    assert proc.wait(timeout=120) == 0
    grep = subprocess.run(f"cd {out} && grep -H -m1 '^summary:' cachegrind.out.*", shell=True,
                          capture_output=True, text=True).stdout
    return count_metrics(parse_counts(grep, proc.pid), per_thread=False)


@pytest.mark.integration
@pytest.mark.needs("valgrind")
def test_valgrind_counts_each_process_and_the_difference_grows_with_the_work(tmp_path):
    small, large, larger = (counted(tmp_path, n) for n in (10_000, 110_000, 210_000))
    assert small["processes_counted"][0] == 2.0
    for m in (small, large, larger):
        assert m["instructions"][0] == m["instructions_main_process"][0] + \
            m["instructions_other_processes"][0]
    # The started process is the one that looped first: its count grows with n.
    grow = [m["instructions_main_process"][0] - small["instructions_main_process"][0]
            for m in (large, larger)]
    assert grow[0] > 100_000 * 10      # at least ten instructions a turn
    # 100,000 more turns cost the same again: the start-up cancels in the difference.
    assert grow[1] / grow[0] == pytest.approx(2.0, rel=0.01)


def test_counts_files_are_read_by_pid_and_thread():
    grep = ("callgrind.out.41-01:summary: 1000\ncallgrind.out.41-02:summary: 300\n"
            "callgrind.out.57-01:summary: 5000\ncallgrind.out.41:summary: \n"
            "valgrind.41.log:summary: 7\n")
    rows = parse_counts(grep, 41)
    assert sorted((r["pid"], r["thread"], r["main_process"]) for r in rows) == [
        (41, 1, True), (41, 2, True), (57, 1, False)]
    m = count_metrics(rows, per_thread=True)
    assert m["instructions"][0] == 6300
    assert m["instructions_main_process"][0] == 1300
    assert m["instructions_other_processes"][0] == 5000
    assert m["instructions_main_thread"][0] == 6000
    assert m["instructions_other_threads"][0] == 300
    assert m["threads_counted"][0] == 3 and m["processes_counted"][0] == 2


def test_no_counts_fails_the_unit_with_a_reason():
    from runner.core.errors import StepFailed
    with pytest.raises(StepFailed, match="no instruction counts"):
        count_metrics(parse_counts("", 41), per_thread=False)


def test_requests_must_exceed_the_baseline_count():
    with pytest.raises(ValueError, match=r"requests \(20\) must be more than baseline_requests \(20\)"):
        Params(requests=20, baseline_requests=20)
    assert Params().tool == "cachegrind"


def sample_rows(cell: str, rep: int, variant: str, served: float, parts: dict) -> list[dict]:
    base = {"run_id": "r", "cell_id": cell, "server": "uvicorn", "interface": "asgi",
            "workers": 1, "threads": 1, "python": "3.12", "django": "5.2", "asgiref": "3.13",
            "view": "drf", "scenario": "instructions", "variant": variant, "repetition": rep}
    rows = [{**base, "metric": "requests_served", "value": served, "unit": "count"}]
    rows += [{**base, "metric": m, "value": v, "unit": "instructions"} for m, v in parts.items()]
    return rows


def test_per_request_is_the_difference_over_the_extra_requests():
    rows = (sample_rows("a", 0, "n=20", 20, {"instructions": 1_000_000_000,
                                             "instructions_main_thread": 900_000_000})
            + sample_rows("a", 0, "n=220", 220, {"instructions": 1_400_000_000,
                                                 "instructions_main_thread": 1_200_000_000})
            # Repetition 1 lost its large server: no figure for it.
            + sample_rows("a", 1, "n=20", 20, {"instructions": 1_000_000_000}))
    out = with_per_request(pd.DataFrame(rows))
    derived = out[out["variant"] == PER_REQUEST].set_index("metric")
    assert derived.loc["instructions_per_request", "value"] == 2_000_000
    assert derived.loc["instructions_main_thread_per_request", "value"] == 1_500_000
    assert set(derived["repetition"]) == {0}
    assert set(derived["unit"]) == {"instructions"}
    # A run without the scenario is left as it is.
    other = pd.DataFrame(rows).assign(scenario="single-client")
    assert with_per_request(other).equals(other)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    close_every = 0
    served = 0

    def do_GET(self):
        type(self).served += 1
        body = b"ok" if self.path == "/good" else b"bad"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if self.close_every and type(self).served % self.close_every == 0:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    Handler.served = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def send(server, path: str, count: int) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(SEND), "--url",
                           f"http://127.0.0.1:{server.server_port}{path}", "--count", str(count),
                           "--expect-status", "200", "--expect-body-hex", b"ok".hex(),
                           "--pause-ms", "1"], capture_output=True, text=True, timeout=60)
    return proc.returncode, json.loads(proc.stdout.splitlines()[-1])


def test_the_client_sends_exactly_n_requests_and_reconnects_when_closed(http_server):
    Handler.close_every = 0
    code, out = send(http_server, "/good", 30)
    assert (code, out["ok"], out["reconnects"], Handler.served) == (0, 30, 0, 30)
    Handler.served, Handler.close_every = 0, 5
    code, out = send(http_server, "/good", 30)
    assert (code, out["ok"], Handler.served) == (0, 30, 30)
    assert out["reconnects"] == 5      # after answers 5, 10, 15, 20, 25


def test_the_client_stops_at_the_first_wrong_answer(http_server):
    Handler.close_every = 0
    code, out = send(http_server, "/bad", 30)
    assert code == 1 and out["ok"] == 0 and out["sent"] == 1
    assert "request 1: status 200, body b'bad'" in out["error"]


def test_side_by_side_says_where_time_and_instructions_disagree():
    from types import SimpleNamespace

    from analysis.scenarios.instructions import VALUE, side_by_side, with_baseline_ratio
    cells = pd.DataFrame([
        {"cell_id": "w", "server": "gunicorn-sync", "python": "3.12", "view": "drf", VALUE: 1.0e6},
        {"cell_id": "a", "server": "uvicorn", "python": "3.12", "view": "drf", VALUE: 4.0e6},
        {"cell_id": "b", "server": "daphne", "python": "3.12", "view": "drf", VALUE: 2.0e6}])
    cells = with_baseline_ratio(cells, "gunicorn-sync", ["python", "view"])
    assert cells.set_index("cell_id")["vs_baseline"].to_dict() == {"w": 1.0, "a": 4.0, "b": 2.0}
    medians = pd.DataFrame({"cell_id": ["w", "a", "b"], "scenario": "single-client",
                            "variant": "keep-alive", "latency_mean": [1.0, 4.2, 6.0]})
    both = side_by_side(SimpleNamespace(medians=medians, baseline="gunicorn-sync"), cells)
    agree = both.set_index("cell_id")["agree"].to_dict()
    # uvicorn: 4.2x the time for 4x the instructions; daphne: 6x the time for 2x the work.
    assert agree == {"w": "yes", "a": "yes", "b": "no: time costs more"}
    assert both.set_index("cell_id")["ns_per_instruction"]["w"] == pytest.approx(1.0)


def test_sweep_tables_lay_releases_out_in_version_order():
    from analysis.scenarios.instructions import per_request_name, sweep_tables
    rows = [{"server": server, "python": "3.12", "django": "5.2", "asgiref": asgiref,
             "variant": PER_REQUEST, "metric": per_request_name("instructions"),
             "value": value, "repetition": rep}
            for server, base in (("gunicorn-sync", 1.0e6), ("uvicorn", 4.0e6))
            for asgiref, step in (("3.11.1", 1.0), ("3.8.1", 1.0), ("3.13.0", 1.1))
            for rep, value in enumerate((base * step, base * step * 1.0002, base * step))]
    tables = sweep_tables(pd.DataFrame(rows), "gunicorn-sync")
    sync = tables["gunicorn-sync: thousand instructions per request"]
    assert list(sync.columns) == ["3.8.1", "3.11.1", "3.13.0"]
    assert sync.loc[("3.12", "5.2")].tolist() == [1000.0, 1000.0, 1100.0]
    assert tables["uvicorn / gunicorn-sync"].loc[("3.12", "5.2")].tolist() == [4.0, 4.0, 4.0]
