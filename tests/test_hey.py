"""hey (seed 004's client): its argv, and its summary parsed as hey computes
it (runner/scenarios/hey/client.py), checked against real hey runs whose answer is
known: a server that answers after a fixed sleep, and a port where nothing
listens."""
import http.server
import shutil
import socket
import subprocess
import threading
import time

import pytest

from runner.scenarios.hey import client as hey

HEY = shutil.which("hey")
SLEEP_S = 0.02


def test_the_argv_runs_for_a_duration_or_a_count():
    assert hey.command("http://198.18.1.10:8000/", 50, seconds=5) == [
        "hey", "-c", "50", "-z", "5s", "-t", "20", "http://198.18.1.10:8000/"]
    assert hey.command("http://h/", 4, requests=200, timeout_s=3)[1:7] == [
        "-c", "4", "-n", "200", "-t", "3"]
    with pytest.raises(ValueError, match="at least as many requests"):
        hey.command("http://h/", 50, requests=10)
    with pytest.raises(ValueError, match="either seconds or requests"):
        hey.command("http://h/", 50)


class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # and hey's delayed ACK hold the body ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self):
        time.sleep(SLEEP_S if self.path == "/" else 0)
        status = 200 if self.path == "/" else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_hey(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout


@pytest.mark.integration
@pytest.mark.needs("hey")
@pytest.mark.serial   # a fixed sleep against measured times
def test_a_fixed_sleep_shows_in_hey_s_figures(slow_server):
    out = run_hey(hey.command(slow_server + "/", 4, requests=200, timeout_s=5))
    result = hey.parse(out)
    assert result.status_codes == {200: 200} and result.errors == {}
    assert result.responses == 200 and result.non_2xx == 0
    # Every request sleeps 20 ms: no figure can be lower, and on loopback
    # none of the middle ones is far above it.
    assert SLEEP_S <= result.fastest_s <= result.percentiles_s[50] <= result.slowest_s
    assert SLEEP_S <= result.average_s < SLEEP_S + 0.015
    assert set(result.percentiles_s) == {10, 25, 50, 75, 90, 95, 99}
    # Four workers, each 20 ms per request: at most 200 requests a second.
    assert 80 < result.requests_per_s <= 200 * 1.02
    # 0.1 ms resolution: hey prints seconds with four decimals.
    assert all(round(v, 4) == v for v in result.percentiles_s.values())


@pytest.mark.integration
@pytest.mark.needs("hey")
@pytest.mark.serial   # a fixed sleep against measured times
def test_non_2xx_answers_are_counted_apart(slow_server):
    result = hey.parse(run_hey(hey.command(slow_server + "/missing", 1, requests=5, timeout_s=5)))
    assert result.status_codes == {404: 5} and result.non_2xx == 5
    # Five samples: hey's rank rule never reaches p99 (it prints "0% in 0.0000").
    assert 99 not in result.percentiles_s and 0 not in result.percentiles_s


@pytest.mark.integration
@pytest.mark.needs("hey")
@pytest.mark.serial   # a fixed sleep against measured times
def test_transport_errors_are_not_latency_samples():
    with socket.socket() as s:             # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run_hey(hey.command(f"http://127.0.0.1:{port}/", 1, requests=3, timeout_s=2))
    # No successful request: hey's average is NaN and it has no percentiles.
    with pytest.raises(hey.HeyOutputError):
        hey.parse(out)
    assert "connection refused" in out


def test_the_summary_is_read_as_printed():
    out = """
Summary:
  Total:	2.0031 secs
  Slowest:	0.0420 secs
  Fastest:	0.0012 secs
  Average:	0.0050 secs
  Requests/sec:	1234.5678

  Total data:	100 bytes
  Size/request:	2 bytes

Latency distribution:
  10% in 0.0020 secs
  50% in 0.0040 secs
  99% in 0.0300 secs

Status code distribution:
  [200]	2470 responses
  [503]	2 responses

Error distribution:
  [1]	Get "http://198.18.1.10:8000/": EOF
"""
    r = hey.parse(out)
    assert (r.total_s, r.slowest_s, r.fastest_s, r.average_s, r.requests_per_s) == (
        2.0031, 0.042, 0.0012, 0.005, 1234.5678)
    assert r.percentiles_s == {10: 0.002, 50: 0.004, 99: 0.03}
    assert r.status_codes == {200: 2470, 503: 2} and r.non_2xx == 2
    assert r.errors == {'Get "http://198.18.1.10:8000/": EOF': 1} and r.error_count == 1
    with pytest.raises(hey.HeyOutputError, match="no 'Requests/sec' line"):
        hey.parse(out.replace("Requests/sec", "Rps"))
