"""Closed-loop load with wrk, as a measured window: the figures every wrk
scenario reports (latency percentiles, throughput, errors, psutil columns,
the client saturation flag with Little's law). Shared by the wrk scenarios
(single-client, concurrency, memory); not a scenario itself."""
from __future__ import annotations

import json

from runner.core.cpus import parse_cpu_list
from runner.core.files import write_atomic
from runner.core.model import LATENCY_HISTOGRAM_SUFFIX
from runner.core.errors import StepFailed
from runner.session.session import Session
from runner.tools import wrk

# Closed loop: throughput x mean latency is at most the connections (Little's
# law); a client's own time between requests, or a reconnect per request
# (a server that closes connections), only lowers it. Above 1 + this, the
# samples cannot be one per request, and the window fails.
LITTLES_LAW_TOLERANCE = 0.01
# A stall: a request at least this many times the window's median and at
# least STALL_FLOOR_MS above it (a delayed ACK's 40 ms, a GC pause, a worker
# that missed its turn in accept stand out this way in a closed loop).
STALL_FACTOR = 10.0
STALL_FLOOR_MS = 1.0
# The latency model of a wrk scenario whose connections vary.
LATENCY_MODEL = wrk.LATENCY_MODEL.format(connections="N", threads="T")


def client_cpus(session: Session) -> int:
    return max(1, len(parse_cpu_list(session.ctx.client_host.cpus)))


def wrk_window(session: Session, tag: str, path: str, seconds: float, connections: int = 1,
               close: bool = False) -> dict:
    """One wrk window; `close` sends `Connection: close`, so every request
    opens a new connection (wrk reconnects after each response)."""
    threads = min(connections, client_cpus(session))
    argv = wrk.command(session.url(path), seconds, session.client_tool("report.lua"),
                       connections=connections, threads=threads,
                       headers=["Connection: close"] if close else ())
    window = session.measure_window(tag, argv, timeout_s=seconds + 15, capacity_cores=threads)
    try:
        result = wrk.parse(window.stdout, connections)
    except wrk.WrkOutputError as exc:
        raise StepFailed(str(exc)) from None
    if result.requests == 0:
        raise StepFailed(f"wrk completed no request in the measured window ({tag})")
    # The window's real samples, for tails pooled over windows (analysis/stats/tails.py).
    write_atomic(session.local_dir / f"{tag}{LATENCY_HISTOGRAM_SUFFIX}",
                 json.dumps({str(k): v for k, v in sorted(result.histogram_us.items())}))
    lat = result.latency_ms
    metrics = {
        "latency_p50": (lat["p50"], "ms"), "latency_p90": (lat["p90"], "ms"),
        "latency_p99": (lat["p99"], "ms"), "latency_mean": (lat["mean"], "ms"),
        "latency_max": (lat["max"], "ms"),
        "requests_per_s": (result.requests_per_s, "1/s"), "requests": (result.requests, "count"),
        # One real sample per request; what wrk's correction had added is dropped.
        "latency_samples": (result.samples, "count"),
        "wrk_synthetic_samples": (result.synthetic_samples, "count"),
        "stalls": (float(stalls(result.histogram_us, lat["p50"])), "count"),
        "errors": (result.errors, "count"),
        "socket_errors": (sum(v for k, v in result.error_counts.items() if k != "status"), "count"),
        "non_2xx": (result.error_counts.get("status", 0), "count"),
        "connections": (connections, "count"),
        **session.window_metrics(window),
    }
    if not close:
        # With a reconnect per request wrk's latency leaves out the connect,
        # so throughput x latency falls short of the connection count by design.
        metrics.update(littles_law(metrics, connections))
    return metrics


def stalls(histogram_us: dict, p50_ms: float) -> int:
    """Real samples at or above STALL_FACTOR x the median, and at least
    STALL_FLOOR_MS above it."""
    bound_us = max(STALL_FACTOR * p50_ms, p50_ms + STALL_FLOOR_MS) * 1000
    return sum(n for us, n in histogram_us.items() if us >= bound_us)


def littles_law(metrics: dict, connections: int) -> dict:
    """Closed loop: requests in flight = throughput x mean latency, at most
    the connections. Returns the ratio; a window where it is impossibly above
    1 fails. Below 1 is no sign of saturation (the client's CPU says that)."""
    rps = metrics["requests_per_s"][0]
    mean_s = metrics["latency_mean"][0] / 1000.0
    ratio = rps * mean_s / connections if connections else 0.0
    if ratio > 1.0 + LITTLES_LAW_TOLERANCE:
        raise StepFailed(f"throughput x mean latency is {ratio:.3f} of the {connections} "
                         f"connection(s), above 1 + {LITTLES_LAW_TOLERANCE:g}: the latencies "
                         f"cannot be one sample per request")
    return {"littles_law_ratio": (ratio, "ratio")}
