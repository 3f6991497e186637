"""runner/tools/wrk.py: wrk's end-of-run correction undone exactly, the
count guard, and a real wrk against a loopback server that stalls on every
100th request, whose true latencies the test knows."""
from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from runner.tools import wrk
from tests.support.wrk import LUA, StallingServer

DATA = Path(__file__).parent / "data" / "wrk"


def json_line(histogram: dict, requests: int, duration_us: int = 1_000_000, timeout: int = 0,
              status: int = 0) -> str:
    pairs = ",".join(f"[{v},{c}]" for v, c in sorted(histogram.items()))
    return (f'LAB_JSON {{"requests":{requests},"duration_us":{duration_us},"bytes":1,'
            f'"errors":{{"connect":0,"read":0,"write":0,"status":{status},"timeout":{timeout}}},'
            f'"histogram_us":[{pairs}]}}\n')


def test_the_correction_on_a_case_worked_by_hand():
    # One 450 µs sample with a 100 µs interval gains copies at 350, 250 and
    # 150 µs (still above the interval); the 100 µs samples gain nothing.
    assert wrk.correct({100: 5, 450: 1}, 100) == {100: 5, 150: 1, 250: 1, 350: 1, 450: 1}
    assert wrk.uncorrect({100: 5, 150: 1, 250: 1, 350: 1, 450: 1}, 100) == {100: 5, 450: 1}


@pytest.mark.parametrize("seed", range(20))
def test_uncorrect_inverts_the_correction_exactly(seed):
    rng = random.Random(seed)
    base = rng.randint(50, 800)
    histogram: dict[int, int] = {}
    for _ in range(rng.randint(50, 3000)):
        value = base + int(rng.expovariate(1 / (base / 5)))
        if rng.random() < 0.02:   # a stall, far in the tail
            value += rng.randint(5 * base, 80 * base)
        histogram[value] = histogram.get(value, 0) + 1
    interval = rng.randint(base // 2, 2 * base)
    corrected = wrk.correct(histogram, interval)
    assert wrk.uncorrect(corrected, interval) == histogram
    assert sum(corrected.values()) >= sum(histogram.values())


def test_parse_reports_the_real_samples_and_what_wrk_had_added():
    real = {400: 97, 40_400: 3}                       # 100 requests in 1.212 s, one connection
    duration = sum(v * c for v, c in real.items())
    interval = wrk.correction_interval_us(duration, 100, 1)
    seen = wrk.correct(real, interval)
    result = wrk.parse(json_line(seen, 100, duration))
    assert result.samples == 100
    assert result.histogram_us == real          # the real samples, kept for pooled tails
    assert result.synthetic_samples == sum(seen.values()) - 100 > 0
    assert result.latency_ms["p50"] == 0.4 and result.latency_ms["max"] == 40.4
    assert result.latency_ms["mean"] == pytest.approx(duration / 100 / 1000)
    # One connection kept busy the whole time: throughput x mean latency is 1.
    assert result.requests_per_s * result.latency_ms["mean"] / 1000 == pytest.approx(1.0)
    # What wrk itself reports from the rewritten histogram is inflated.
    assert wrk.summary_ms(seen)["mean"] > 1.25 * result.latency_ms["mean"]


def test_the_count_guard_refuses_a_histogram_that_is_not_one_sample_per_request():
    with pytest.raises(wrk.WrkOutputError, match="99 real latency samples for 100 requests"):
        wrk.parse(json_line({400: 99}, 100))
    # A request over the timeout is counted as a timeout error, not a sample.
    assert wrk.parse(json_line({400: 99}, 100, timeout=1)).samples == 99
    assert wrk.parse(json_line({400: 99}, 100, timeout=1)).errors == 1


def test_percentiles_follow_wrks_rank_rule():
    histogram = {v: 1 for v in range(1, 101)}        # 1..100 µs, one each
    assert wrk.percentile(histogram, 50) == 51       # rank round(50 + 0.5) = 51
    assert wrk.percentile(histogram, 99) == 100
    assert wrk.percentile({7: 3}, 99.9) == 7


def test_a_window_without_a_request_says_so():
    with pytest.raises(wrk.WrkOutputError, match="completed no request"):
        wrk.parse(json_line({}, 0))


def test_output_without_a_histogram_is_refused():
    # The format before raw latencies: wrk's corrected percentiles only.
    text = (DATA / "http_server_c1_keepalive.txt").read_text()
    with pytest.raises(wrk.WrkOutputError, match="malformed .*histogram_us"):
        wrk.parse(text)
    with pytest.raises(wrk.WrkOutputError, match="found 0"):
        wrk.parse("unable to connect to 198.18.0.10:8000 Connection refused\n")


def test_command_is_single_client_by_default():
    argv = wrk.command("http://198.18.0.10:8000/drf/", 5, "/x/report.lua")
    assert argv[:4] == ["wrk", "-c1", "-t1", "-d5s"] and argv[-1].endswith("/drf/")


@pytest.mark.integration
@pytest.mark.needs("wrk")
@pytest.mark.serial   # planted stalls against real latencies
def test_real_wrk_against_a_server_with_rare_stalls_gives_its_true_latencies():
    server = StallingServer()
    try:
        out = subprocess.run(wrk.command(f"http://127.0.0.1:{server.port}/", 3, str(LUA)),
                             capture_output=True, text=True, timeout=60)
    finally:
        server.close()
    assert out.returncode == 0, out.stderr
    result = wrk.parse(out.stdout)          # the count guard holds on real output
    lat = result.latency_ms
    # wrk added synthetic samples for the stalls; they are gone.
    assert result.synthetic_samples > 0
    # The stalls are the real samples of 40 ms and more, about 1 in 100.
    assert abs(result.samples - server.served) <= 1
    real = wrk.uncorrect({int(v): int(c) for v, c in _histogram(out.stdout)},
                         wrk.correction_interval_us(int(result.duration_s * 1e6),
                                                    result.requests, 1))
    slow = sum(c for v, c in real.items() if v >= 40_000)
    assert abs(slow - server.stalled) <= 1
    # One connection, one request at a time: throughput x mean latency <= 1.
    assert result.requests_per_s * lat["mean"] / 1000 <= 1.01
    assert lat["p50"] < 5 and lat["max"] >= 40
    assert abs(wrk.reported_rps(out.stdout) - result.requests_per_s) <= 0.01 * result.requests_per_s


def _histogram(stdout: str) -> list:
    line = next(ln for ln in stdout.splitlines() if ln.startswith(wrk.JSON_PREFIX))
    return json.loads(line[len(wrk.JSON_PREFIX):])["histogram_us"]
