"""runner/scenarios/user_ramp/host/locustfile.py under the Locust the client host runs (the
version pinned in playbooks/roles/lab_client), in a venv built with uv:

- its pieces (step accounting, the ramp shape, percentiles, failure labels),
  driven directly in that venv;
- the whole file, run headless by Locust against a stub of the polls app on
  127.0.0.1 that checks what a browser must send (the CSRF cookie and the
  form's token, a valid choice) and counts the redirects followed.

Traffic goes only to 127.0.0.1; every Locust run is bounded by `timeout`.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner.scenarios.user_ramp import locust

pytestmark = [pytest.mark.integration, pytest.mark.network]

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "runner" / "scenarios" / "user_ramp" / "host" / "locustfile.py"
INSTALL_TIMEOUT_S = 300


def locust_pin() -> str:
    return locust.PACKAGE


@pytest.fixture(scope="session")
def locust_bin(tmp_path_factory) -> Path:
    """A venv holding the client host's Locust (from uv's cache when it can)."""
    uv = Path(sys.executable).parent / "uv"
    venv = tmp_path_factory.mktemp("locust") / "venv"
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, timeout=INSTALL_TIMEOUT_S)
    install = [str(uv), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
               locust_pin()]
    if subprocess.run([*install, "--offline"], capture_output=True,
                      timeout=INSTALL_TIMEOUT_S).returncode != 0:
        subprocess.run(install, check=True, timeout=INSTALL_TIMEOUT_S)
    return venv / "bin"


PIECES = r'''
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("locustfile", sys.argv[1])
lf = importlib.util.module_from_spec(spec); spec.loader.exec_module(lf)
from locust.contrib.fasthttp import LocustBadStatusCode

# Nearest-rank percentiles: the smallest value with p % at or below it.
ten = [float(v) for v in range(1, 11)]
assert (lf.percentile(ten, 50), lf.percentile(ten, 90), lf.percentile(ten, 99)) == (5.0, 9.0, 10.0)
assert lf.percentile([7.0], 99) == 7.0 and lf.percentile([], 50) == ""

# Failure labels.
assert lf.failure_kind(LocustBadStatusCode("http://198.18.0.10:8080/polls/1/vote/", code=502)) == "HTTP 502"
assert lf.failure_kind(TimeoutError("timed out")) == "timeout"
assert lf.failure_kind(ConnectionRefusedError(111, "refused")) == "ConnectionRefusedError"
assert lf.failure_kind(lf.CheckFailed("index lists no question")) == "check: index lists no question"

# The shape: steps of 2 then 4 users for 3 s each, then a drain while
# anything is in flight (at most the timeout + DRAIN_SLACK_S), then stop.
class Opts:
    lab_steps, lab_step_s, lab_spawn_rate, lab_timeout = "2,4", 3.0, 5.0, 1.0
class Env:
    parsed_options = Opts()
class Runner:
    environment, user_count = Env(), 0
shape = lf.StepRamp(); shape.runner = Runner()
clock = {"t": 0.0}
shape.get_run_time = lambda: clock["t"]
log = lf.STEPS
assert shape.tick() == (2, 5.0) and log.users == [2] and log.send() == 0
Runner.user_count = 2; clock["t"] = 3.5
assert shape.tick() == (4, 5.0) and log.users == [2, 4] and log.reached == [2, 0]
first = log.send(); second = log.send()
assert (first, second) == (1, 1) and log.sent == [1, 2]
log.record(0, 12.0, None)
log.record(1, 30.0, LocustBadStatusCode("http://x/polls/", code=500))
Runner.user_count = 4; clock["t"] = 6.2
assert shape.tick() == (4, 5.0), "drains while a request is in flight"
assert log.draining and log.send() is None, "nothing is sent while draining"
assert log.reached == [2, 4] and log.in_flight() == 1
log.record(1, 900.0, None)
assert shape.tick() is None, "stops once nothing is in flight"
rows = log.rows()
assert [(r["sent"], r["requests"], r["unfinished"], r["failures"]) for r in rows] == [(1, 1, 0, 0), (2, 2, 0, 1)]
assert rows[1]["errors"] == "HTTP 500=1" and rows[1]["failure_pct"] == 50.0
assert rows[1]["latency_max"] == 900.0 and rows[0]["start_s"] == 0.0

# A request that never ends: the drain gives up after timeout + slack, and
# the row says how many were left open.
log2 = lf.StepLog(); lf.STEPS = log2
shape2 = lf.StepRamp(); shape2.runner = Runner(); clock["t"] = 0.0
shape2.get_run_time = lambda: clock["t"]
shape2.tick(); log2.send(); clock["t"] = 6.5
assert shape2.tick() == (4, 5.0)
assert log2.users == [2, 4], "a step a late tick skipped still has its row"
log2.end = time.time() - (Opts.lab_timeout + lf.DRAIN_SLACK_S + 0.1)
assert shape2.tick() is None
assert log2.rows()[0]["unfinished"] == 1 and log2.rows()[0]["failure_pct"] == ""
print("ok")
'''


def test_pieces_of_the_locustfile(locust_bin):
    done = subprocess.run([str(locust_bin / "python"), "-c", PIECES, str(LOCUSTFILE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


class PollsStub(BaseHTTPRequestHandler):
    """Just enough of the polls app: two questions, a form with a CSRF token
    that must come back both as the cookie and in the form, a redirect."""

    mode = "ok"
    votes: list = []
    results = 0
    lock = threading.Lock()
    TOKEN = "tok" * 10

    def log_message(self, *args):
        pass

    def _send(self, status, body="", headers=()):
        data = body.encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/polls/":
            return self._send(200, '<h1 id="polls-index">Polls</h1><ul>'
                                   '<li><a href="/polls/1/">Q1</a></li><li><a href="/polls/2/">Q2</a></li></ul>')
        if m := re.fullmatch(r"/polls/(\d+)/", self.path):
            qid = int(m.group(1))
            token = "" if self.mode == "no_token" else (
                f'<input type="hidden" name="csrfmiddlewaretoken" value="{self.TOKEN}">')
            choices = "".join(f'<input type="radio" name="choice" id="choice{k}" value="{qid * 10 + k}">'
                              for k in (1, 2, 3))
            return self._send(200, f'<form action="/polls/{qid}/vote/" method="post">{token}{choices}</form>',
                              [("Set-Cookie", f"csrftoken={self.TOKEN}; Path=/; SameSite=Lax")])
        if m := re.fullmatch(r"/polls/(\d+)/results/", self.path):
            with self.lock:
                PollsStub.results += 1
            return self._send(200, '<h1 id="polls-results">Q</h1>')
        return self._send(404, "not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        m = re.fullmatch(r"/polls/(\d+)/vote/", self.path)
        if not m:
            return self._send(404, "not found")
        if self.mode == "vote_502":
            return self._send(502, "bad gateway")
        qid = int(m.group(1))
        cookie_ok = f"csrftoken={self.TOKEN}" in (self.headers.get("Cookie") or "")
        token_ok = form.get("csrfmiddlewaretoken") == [self.TOKEN]
        choice = int((form.get("choice") or ["0"])[0])
        if not (cookie_ok and token_ok and qid * 10 < choice <= qid * 10 + 3):
            return self._send(403, "CSRF verification failed")
        with self.lock:
            PollsStub.votes.append((qid, choice))
        return self._send(302, "", [("Location", f"/polls/{qid}/results/")])


@pytest.fixture
def stub():
    PollsStub.votes, PollsStub.results, PollsStub.mode = [], 0, "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), PollsStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run_locust(locust_bin, server, tmp_path, steps=(1, 3), step_s=2):
    prefix = tmp_path / "locust"
    argv = locust.command(str(locust_bin / "locust"), str(LOCUSTFILE),
                          f"http://127.0.0.1:{server.server_address[1]}", str(prefix),
                          list(steps), step_s, 20, 0.05, 0.1, 5)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = locust.parse_steps(Path(f"{prefix}{locust.STEP_SUFFIX}").read_text())
    locust.check_totals(rows, locust.parse_totals(Path(f"{prefix}.json").read_text()))
    return rows


def test_users_vote_with_the_csrf_cookie_and_token_and_follow_the_redirect(locust_bin, stub, tmp_path):
    rows = run_locust(locust_bin, stub, tmp_path)
    assert [r.users for r in rows] == [1, 3] and [r.users_reached for r in rows] == [1, 3]
    assert all(r.failures == 0 and r.unfinished == 0 and r.requests > 5 for r in rows)
    assert locust.max_users_without_failures(rows) == 3
    # Every vote the stub accepted was followed to its results page (the
    # redirect is part of the vote request), and votes were spread over
    # both questions the index lists.
    assert len(PollsStub.votes) >= 3 and PollsStub.results == len(PollsStub.votes)
    assert {q for q, _ in PollsStub.votes} == {1, 2}
    # Three users send about three times what one sends.
    assert rows[1].requests_per_s > 2 * rows[0].requests_per_s


def test_a_failing_vote_counts_as_a_failure_of_its_step(locust_bin, stub, tmp_path):
    PollsStub.mode = "vote_502"
    rows = run_locust(locust_bin, stub, tmp_path)
    assert all(set(r.errors) == {"HTTP 502"} and r.failures > 0 for r in rows)
    # The index and form pages still answer: about a third of requests fail.
    assert all(20 < r.failure_pct < 50 for r in rows), [r.failure_pct for r in rows]
    assert locust.max_users_without_failures(rows) == 0


def test_a_form_without_csrf_token_is_a_failed_check(locust_bin, stub, tmp_path):
    PollsStub.mode = "no_token"
    rows = run_locust(locust_bin, stub, tmp_path, steps=(2,))
    assert set(rows[0].errors) == {"check: detail page lacks the csrf token or a choice"}
    assert PollsStub.votes == []
