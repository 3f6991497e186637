"""wrk: the command line for a measured window, and parsing of its output.

wrk (4.x) records one latency per completed request, from the actual send,
in a 1 µs histogram. At the end of a run it rewrites that histogram:
`stats_correct` (its src/stats.c) adds, for every sample at least twice the
mean interval between requests on a connection, copies at latency -
interval, - 2·interval, ... (a coordinated-omission "correction" for a
closed loop that never had a schedule). Its printed figures and the Lua
done() hook see only the rewritten histogram. report.lua prints that whole
histogram; `uncorrect` removes the synthetic samples exactly, and `parse`
checks that what is left holds one sample per completed request, so every
figure here comes from real samples (LATENCY_MODEL).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

LATENCY_MODEL = ("wrk closed loop, {connections} connection(s), {threads} thread(s), keep-alive: "
                 "latency measured from the actual send of each request, one sample per "
                 "completed request (wrk's end-of-run coordinated-omission correction undone)")
# With `Connection: close` wrk reconnects after every response; it starts a
# request's clock when it begins writing on the new connection, so the TCP
# connect is outside the latency but inside the throughput.
LATENCY_MODEL_CLOSE = ("wrk closed loop, 1 connection, a new connection per request "
                       "(Connection: close): latency from the first byte written on the fresh "
                       "connection, one sample per completed request (connect time excluded; "
                       "throughput includes it)")
JSON_PREFIX = "LAB_JSON "
RPS_LINE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.M)
PERCENTILES = (50, 75, 90, 99, 99.9)


class WrkOutputError(ValueError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: int
    error_counts: dict
    latency_ms: dict          # min, max, mean, stdev, p50, p75, p90, p99, p99.9 of the real samples
    samples: int              # real samples: requests completed within the timeout
    synthetic_samples: int    # what wrk's correction had added (removed here)
    histogram_us: dict = None  # the real samples: {latency µs: count}

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def command(url: str, duration_s: float, lua_path: str, connections: int = 1,
            threads: int = 1, timeout_s: float = 5.0, headers=()) -> list[str]:
    extra = [arg for h in headers for arg in ("-H", h)]
    return ["wrk", f"-c{connections}", f"-t{threads}", f"-d{duration_s:g}s",
            f"--timeout={timeout_s:g}s", "--latency", *extra, "-s", lua_path, url]


def correction_interval_us(duration_us: int, requests: int, connections: int) -> int | None:
    """The interval wrk corrects with (integer arithmetic, as its C does), or
    None when it does not correct (fewer requests than connections)."""
    per_connection = requests // connections
    return duration_us // per_connection if per_connection > 0 else None


def correct(histogram: dict[int, int], interval: int) -> dict[int, int]:
    """wrk's stats_correct, for tests: buckets are visited upwards from
    2·interval, and each adds its count to every bucket value - k·interval
    still above the interval."""
    data = dict(histogram)
    for n in range(2 * interval, max(histogram, default=0) + 1):
        count, m = data.get(n, 0), n - interval
        while count and m > interval:
            data[m] = data.get(m, 0) + count
            m -= interval
    return data


def uncorrect(histogram: dict[int, int], interval: int | None) -> dict[int, int]:
    """The histogram before stats_correct. A bucket n visited by it still held
    its own count then (it only adds to lower buckets), so for m > interval
    seen[m] = real[m] + real[m + interval] + real[m + 2·interval] + ...,
    and hence real[m] = seen[m] - seen[m + interval]; buckets at or below the
    interval are untouched."""
    if not interval:
        return dict(histogram)
    real: dict[int, int] = {}
    for m, count in histogram.items():
        if m > interval:
            count -= histogram.get(m + interval, 0)
        if count < 0:
            raise WrkOutputError(f"wrk's histogram is not a corrected one at {m} µs "
                                 f"(interval {interval} µs)")
        if count:
            real[m] = count
    return real


def percentile(histogram: dict[int, int], p: float) -> int:
    """wrk's own rank rule (stats_percentile): the smallest value whose
    cumulative count reaches round(p/100 · count + 0.5)."""
    total_count = sum(histogram.values())
    rank = math.floor(p / 100.0 * total_count + 0.5 + 0.5)   # C round() of a positive number
    total = 0
    for value in sorted(histogram):
        total += histogram[value]
        if total >= rank:
            return value
    return max(histogram)


def summary_ms(histogram: dict[int, int]) -> dict[str, float]:
    count = sum(histogram.values())
    mean = sum(v * c for v, c in histogram.items()) / count
    var = (sum(c * (v - mean) ** 2 for v, c in histogram.items()) / (count - 1)
           if count > 1 else 0.0)
    out = {"min": min(histogram), "max": max(histogram), "mean": mean, "stdev": math.sqrt(var)}
    out.update({f"p{p:g}": percentile(histogram, p) for p in PERCENTILES})
    return {k: v / 1000.0 for k, v in out.items()}


def parse(output: str, connections: int = 1) -> WrkResult:
    """Parse wrk's stdout (report.lua's JSON line) for a run with
    `connections` connections: the real samples, checked to number exactly
    the requests wrk completed within its timeout."""
    lines = [ln for ln in output.splitlines() if ln.startswith(JSON_PREFIX)]
    if len(lines) != 1:
        raise WrkOutputError(f"expected one {JSON_PREFIX.strip()} line from the Lua done() hook, "
                             f"found {len(lines)}; wrk said: {output.strip()[-300:]!r}")
    try:
        data = json.loads(lines[0][len(JSON_PREFIX):])
        errors = {k: int(v) for k, v in data["errors"].items()}
        requests, duration_us = int(data["requests"]), int(data["duration_us"])
        seen = {int(v): int(c) for v, c in data["histogram_us"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise WrkOutputError(f"malformed {JSON_PREFIX.strip()} line: {exc}") from None
    if requests == 0 and not seen:
        raise WrkOutputError("wrk completed no request in the window (no latency recorded)")
    real = uncorrect(seen, correction_interval_us(duration_us, requests, connections))
    samples = sum(real.values())
    # wrk records a latency for every completed request, except one over its
    # timeout, which it counts as a timeout error instead.
    if samples != requests - errors["timeout"]:
        raise WrkOutputError(f"{samples} real latency samples for {requests} requests completed "
                             f"({errors['timeout']} over the timeout): the histogram does not "
                             f"count one sample per request")
    if not real:
        raise WrkOutputError("wrk recorded no latency")
    return WrkResult(requests=requests, duration_s=duration_us / 1e6,
                     errors=sum(errors.values()), error_counts=errors,
                     latency_ms=summary_ms(real), samples=samples,
                     synthetic_samples=sum(seen.values()) - samples, histogram_us=real)


def reported_rps(output: str) -> float | None:
    """wrk's own Requests/sec line, used to cross-check the JSON numbers."""
    m = RPS_LINE.search(output)
    return float(m.group(1)) if m else None
