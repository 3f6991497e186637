from pathlib import Path

import pytest

from runner.tools import wrk

DATA = Path(__file__).parent / "data" / "wrk"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.txt")))
def test_parses_saved_real_outputs_and_agrees_with_wrk_text(name):
    text = (DATA / name).read_text()
    result = wrk.parse(text)
    assert result.requests > 0 and result.duration_s > 0
    # The JSON numbers must agree with wrk's own rounded Requests/sec line.
    assert result.requests_per_s == pytest.approx(wrk.reported_rps(text), rel=0.01)
    lat = result.latency_ms
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


def test_known_values_of_the_loopback_sample():
    result = wrk.parse((DATA / "http_server_c1_keepalive.txt").read_text())
    assert result.requests == 3759
    assert result.latency_ms["p50"] == pytest.approx(0.473)
    assert result.latency_ms["p99"] == pytest.approx(0.729)
    assert result.errors == 0


def test_missing_or_broken_json_line_is_an_error():
    with pytest.raises(wrk.WrkOutputError, match="found 0"):
        wrk.parse("unable to connect to 198.18.0.10:8000 Connection refused\n")
    with pytest.raises(wrk.WrkOutputError, match="malformed"):
        wrk.parse('LAB_JSON {"requests": 3}\n')


def test_status_errors_are_counted():
    text = ('LAB_JSON {"requests":10,"duration_us":1000000,"bytes":1,"errors":{"connect":0,'
            '"read":1,"write":0,"status":4,"timeout":2},"latency_us":{"min":1,"max":9,'
            '"mean":2,"stdev":1,"p50":2,"p75":2,"p90":3,"p99":9,"p99.9":9}}\n')
    assert wrk.parse(text).errors == 7


def test_command_is_single_client_by_default():
    argv = wrk.command("http://198.18.0.10:8000/drf/", 5, "/x/report.lua")
    assert argv[:4] == ["wrk", "-c1", "-t1", "-d5s"] and argv[-1].endswith("/drf/")
