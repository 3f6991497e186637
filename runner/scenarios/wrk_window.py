"""Closed-loop load with wrk, as a measured window: the figures every wrk
scenario reports (latency percentiles, throughput, errors, psutil columns,
the client saturation flag with Little's law). Shared by the wrk scenarios
(single-client, concurrency, memory); not a scenario itself."""
from __future__ import annotations

from runner.core.cpus import parse_cpu_list
from runner.core.errors import StepFailed
from runner.session.session import Session
from runner.tools import wrk

# Closed loop: throughput x mean latency should equal the connections kept
# busy (Little's law); further off than this, the client was not keeping its
# connections busy (or the server refused them), and the window is flagged.
LITTLES_LAW_TOLERANCE = 0.20
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
        result = wrk.parse(window.stdout)
    except wrk.WrkOutputError as exc:
        raise StepFailed(str(exc)) from None
    if result.requests == 0:
        raise StepFailed(f"wrk completed no request in the measured window ({tag})")
    lat = result.latency_ms
    metrics = {
        "latency_p50": (lat["p50"], "ms"), "latency_p90": (lat["p90"], "ms"),
        "latency_p99": (lat["p99"], "ms"), "latency_mean": (lat["mean"], "ms"),
        "latency_max": (lat["max"], "ms"),
        "requests_per_s": (result.requests_per_s, "1/s"), "requests": (result.requests, "count"),
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


def littles_law(metrics: dict, connections: int) -> dict:
    """Closed loop: in-flight requests = throughput x mean latency should equal
    the connections; the ratio, and the saturation flag raised when it is off."""
    rps = metrics["requests_per_s"][0]
    mean_s = metrics["latency_mean"][0] / 1000.0
    ratio = rps * mean_s / connections if connections else 0.0
    out = {"littles_law_ratio": (ratio, "ratio")}
    if abs(ratio - 1.0) > LITTLES_LAW_TOLERANCE:
        out["client_saturated"] = (1.0, "flag")
    return out
