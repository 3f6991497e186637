"""Closed-loop load with wrk, as a measured window: the figures every wrk
scenario reports (latency percentiles, throughput, errors, psutil columns,
the client saturation flag with Little's law)."""
from __future__ import annotations

from runner import wrk
from runner.scenarios.base import Session, StepFailed, littles_law


def client_cpus(session: Session) -> int:
    from runner.protocol import parse_cpu_list
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
