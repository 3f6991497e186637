"""Locust users for the user-ramp scenario (seed 003), run headless on the client host.

Each simulated user is a browser voting in the Django tutorial's polls app:
GET /polls/ → GET one question's detail form (picked at random from the index)
→ POST the vote with the CSRF cookie and the form's token, following the
redirect to the results page; a wait of --lab-wait-min..--lab-wait-max seconds
(default 1-2 s, as the seed) after every request. So n users send about
n / 1.5 requests per second while the server keeps up; once it does not, a
slow answer delays only its own user's next request.

StepRamp (a LoadTestShape) holds each user count of --lab-steps for
--lab-step-s seconds. Then it drains: users send nothing more, and the test
ends once every request sent has been answered or failed (at most
--lab-timeout + DRAIN_SLACK_S seconds), so the last step's slow requests are
counted rather than cut off. Every request belongs to the step in which it
was sent (passed in its request context). At the end one row per step is
written to <--csv prefix>_steps.csv: requests sent, answered or failed,
failures by kind, and exact nearest-rank percentiles of every response time
(failed ones included, as Locust counts them). runner/scenarios/user_ramp/locust.py parses that
file and cross-checks its totals against Locust's own --json-file.

Runs on the tools venv's Locust (playbooks/roles/lab_client); it imports
nothing of the lab's own code, since only this file is copied to the hosts.
"""
from __future__ import annotations

import csv
import math
import random
import re
import time
from collections import Counter

from locust import LoadTestShape, events, task
from locust.contrib.fasthttp import FastHttpUser

STEP_COLUMNS = ["step", "users", "users_reached", "start_epoch", "end_epoch", "start_s", "duration_s",
                "sent", "requests", "unfinished", "failures", "failure_pct", "requests_per_s",
                "latency_p50", "latency_p90", "latency_p99", "latency_mean", "latency_max", "errors"]
DRAIN_SLACK_S = 5.0
QUESTION_LINK = re.compile(r'href="(/polls/(\d+)/)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CHOICE_INPUT = re.compile(r'name="choice" id="[^"]*" value="(\d+)"')


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    parser.add_argument("--lab-steps", default="100,200,300,400,500,600,700",
                        help="user counts, one step each, comma separated")
    parser.add_argument("--lab-step-s", type=float, default=60, help="seconds each step is held")
    parser.add_argument("--lab-spawn-rate", type=float, default=100, help="users started per second")
    parser.add_argument("--lab-wait-min", type=float, default=1.0)
    parser.add_argument("--lab-wait-max", type=float, default=2.0)
    parser.add_argument("--lab-timeout", type=float, default=30.0,
                        help="seconds before a connect or a response counts as failed")


class StepLog:
    """Per-step accounting: requests counted when sent and when they end."""

    def __init__(self):
        self.starts: list[float] = []      # wall-clock start of each step (time.time())
        self.users: list[int] = []
        self.reached: list[int] = []       # most users actually running during the step
        self.sent: list[int] = []
        self.times: list[list[float]] = []  # response times (ms) of the step's answered requests
        self.failures: list[Counter] = []
        self.end: float | None = None      # end of the last step (the drain follows)
        self.draining = False

    def begin(self, users: int, now: float) -> None:
        self.starts.append(now)
        self.users.append(users)
        self.reached.append(0)
        self.sent.append(0)
        self.times.append([])
        self.failures.append(Counter())

    def send(self) -> int | None:
        """Count a request about to be sent; its step, or None when no step runs."""
        if not self.starts or self.draining:
            return None
        self.sent[-1] += 1
        return len(self.starts) - 1

    def record(self, step: int | None, response_time: float, exception) -> None:
        if step is None:
            return
        self.times[step].append(float(response_time))
        if exception is not None:
            self.failures[step][failure_kind(exception)] += 1

    def in_flight(self) -> int:
        return sum(self.sent) - sum(len(t) for t in self.times)

    def rows(self) -> list[dict]:
        end = self.end or time.time()
        out = []
        for i, users in enumerate(self.users):
            stop = self.starts[i + 1] if i + 1 < len(self.starts) else end
            times = sorted(self.times[i])
            n, failed = len(times), sum(self.failures[i].values())
            duration = max(stop - self.starts[i], 1e-9)
            out.append({
                "step": i + 1, "users": users, "users_reached": self.reached[i],
                "start_epoch": round(self.starts[i], 3), "end_epoch": round(stop, 3),
                "start_s": round(self.starts[i] - self.starts[0], 3), "duration_s": round(duration, 3),
                "sent": self.sent[i], "requests": n, "unfinished": self.sent[i] - n, "failures": failed,
                "failure_pct": round(100.0 * failed / n, 4) if n else "",
                "requests_per_s": round(n / duration, 4),
                "latency_p50": percentile(times, 50), "latency_p90": percentile(times, 90),
                "latency_p99": percentile(times, 99),
                "latency_mean": round(sum(times) / n, 3) if n else "",
                "latency_max": round(times[-1], 3) if n else "",
                "errors": "|".join(f"{k}={v}" for k, v in self.failures[i].most_common()),
            })
        return out


def percentile(sorted_ms: list[float], p: float):
    """Nearest-rank percentile (the smallest value with p % at or below it)."""
    if not sorted_ms:
        return ""
    return round(sorted_ms[max(math.ceil(p / 100.0 * len(sorted_ms)) - 1, 0)], 3)


class CheckFailed(Exception):
    """A page answered 2xx but is not what a working app returns."""


def failure_kind(exception) -> str:
    """A short, stable label: 'HTTP 502', 'timeout', 'ConnectionRefusedError', 'check: ...'."""
    text, name = str(exception), type(exception).__name__
    if isinstance(exception, CheckFailed):
        return f"check: {text}"[:60]
    status = re.search(r"\bcode=([1-5]\d\d)\b", text)   # LocustBadStatusCode: "URL ...: code=502"
    if status:
        return f"HTTP {status.group(1)}"
    if "timed out" in text.lower() or "timeout" in name.lower():
        return "timeout"
    return name


STEPS = StepLog()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, exception=None,
                context=None, **kwargs):
    STEPS.record((context or {}).get("lab_step"), response_time, exception)


@events.init.add_listener
def _set_timeouts(environment, **kwargs):
    # FastHttpUser builds its client from these class attributes when a user
    # starts: set them before any user does.
    timeout = environment.parsed_options.lab_timeout
    PollsVoter.connection_timeout = PollsVoter.network_timeout = timeout


@events.test_stop.add_listener
def _write_steps(environment, **kwargs):
    STEPS.end = STEPS.end or time.time()
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    with open(f"{prefix}_steps.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=STEP_COLUMNS)
        writer.writeheader()
        writer.writerows(STEPS.rows())


class StepRamp(LoadTestShape):
    """Hold each user count for step_s seconds, then drain, then stop (None)."""

    def tick(self):
        opts = self.runner.environment.parsed_options
        steps = [int(s) for s in str(opts.lab_steps).split(",") if s.strip()]
        run_time = self.get_run_time()
        i = int(run_time // opts.lab_step_s)
        if STEPS.users:
            STEPS.reached[-1] = max(STEPS.reached[-1], self.get_current_user_count())
        if i < len(steps):
            while len(STEPS.users) <= i:   # (a late tick would skip a step: keep its row)
                STEPS.begin(steps[len(STEPS.users)], time.time())
            return steps[i], opts.lab_spawn_rate
        while len(STEPS.users) < len(steps):
            STEPS.begin(steps[len(STEPS.users)], time.time())
        if not STEPS.draining:
            STEPS.draining, STEPS.end = True, time.time()
        drained = STEPS.in_flight() <= 0
        if drained or time.time() - STEPS.end > opts.lab_timeout + DRAIN_SLACK_S:
            return None
        return steps[-1], opts.lab_spawn_rate


class PollsVoter(FastHttpUser):
    """One browser: index → detail form → vote (POST + redirect), a wait after each."""

    def wait_time(self):
        opts = self.environment.parsed_options
        return random.uniform(opts.lab_wait_min, opts.lab_wait_max)

    def _request(self, method: str, path: str, name: str, **kwargs):
        """The request in a context manager, or None while draining (nothing is sent)."""
        step = STEPS.send()
        if step is None:
            return None
        return self.client.request(method, path, name=name, catch_response=True,
                                   context={"lab_step": step}, **kwargs)

    @task
    def vote_in_a_poll(self):
        links = token = choices = None
        call = self._request("GET", "/polls/", "/polls/")
        if call is None:
            return
        with call as r:
            links = QUESTION_LINK.findall(r.text or "") if r.status_code == 200 else []
            if r.status_code == 200 and not links:
                r.failure(CheckFailed("index lists no question"))
        if not links:
            return
        path, qid = random.choice(links)
        self.wait()
        call = self._request("GET", path, "/polls/[id]/")
        if call is None:
            return
        with call as r:
            body = (r.text or "") if r.status_code == 200 else ""
            token, choices = CSRF_INPUT.search(body), CHOICE_INPUT.findall(body)
            if r.status_code == 200 and not (token and choices):
                r.failure(CheckFailed("detail page lacks the csrf token or a choice"))
        if not (token and choices):
            return
        self.wait()
        call = self._request("POST", f"/polls/{qid}/vote/", "/polls/[id]/vote/",
                             data={"csrfmiddlewaretoken": token.group(1),
                                   "choice": random.choice(choices)})
        if call is None:
            return
        with call as r:
            if r.status_code == 200 and 'id="polls-results"' not in (r.text or ""):
                r.failure(CheckFailed("vote did not end on the results page"))
