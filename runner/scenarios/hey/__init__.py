"""[hey] closed-loop load with hey, the client seed 004 measured with: its own
summary figures (hey's percentiles and average, requests per second) for
each number of workers, on a fresh server each.

hey (Debian's package) is the seed's tool, not the lab's instrument: its
figures come with its own rules (client.py: successful requests
only, its percentile rank, 0.1 ms resolution), so the lab can set what hey
says beside what wrk says on the same cells (seed 004's two clients)."""
from __future__ import annotations

from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, Strict

from runner.scenarios.base import AptPackage, Scenario, StepFailed, Variant
from runner.scenarios.hey import client as hey
from runner.scenarios.wrk_window import client_cpus

Workers = Annotated[int, Strict(), Field(ge=1, le=5000)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connections: list[Workers] = Field(
        default=[50], min_length=1,
        description="hey -c: workers sending at once (hey's default: 50); one variant each.")
    requests: Optional[Annotated[int, Strict(), Field(ge=1, le=10_000_000)]] = Field(
        default=None, description="hey -n: requests in all (hey's default is 200); default: "
                                  "none, run for the protocol's duration_s (hey -z).")
    timeout_s: Annotated[int, Strict(), Field(ge=1, le=60)] = Field(
        default=20, description="hey -t: per-request timeout in seconds (hey's default: 20).")


class Hey(Scenario):
    name = "hey"
    order = 70
    Params = Params
    # hey prints no version of its own: its package says which it is.
    apt_packages = (AptPackage("hey", "client", executable="hey",
                               version=("dpkg-query", "-W", "-f", "hey ${Version}", "hey")),)
    remeasure_disturbed = True
    latency_model = hey.LATENCY_MODEL.format(connections="N")

    def variants(self, params, prior):
        return [Variant(f"c={n}", {"connections": n}) for n in sorted(set(params.connections))]

    def measure(self, session, params, variant):
        connections = variant.values["connections"]
        if params.requests is not None and params.requests < connections:
            raise StepFailed(f"hey needs at least as many requests ({params.requests}) as "
                             f"workers ({connections})")
        seconds = None if params.requests is not None else session.ctx.duration_s
        argv = hey.command(session.url(session.view.path), connections, seconds=seconds,
                           requests=params.requests, timeout_s=params.timeout_s)
        # hey's Go runtime uses every CPU of the client's set.
        window = session.measure_window(
            "measured", argv, timeout_s=(seconds or 600) + params.timeout_s + 15,
            capacity_cores=client_cpus(session))
        try:
            result = hey.parse(window.stdout)
        except hey.HeyOutputError as exc:
            raise StepFailed(str(exc)) from None
        missing = [p for p in (50, 90, 99) if p not in result.percentiles_s]
        if not result.responses or missing:
            raise StepFailed(f"hey gave no {missing or 'response'} figure; errors: "
                             f"{result.errors}")
        ms = {p: s * 1000 for p, s in result.percentiles_s.items()}
        return {
            "latency_p50": (ms[50], "ms"),
            "latency_p90": (ms[90], "ms"),
            "latency_p99": (ms[99], "ms"),
            "latency_mean": (result.average_s * 1000, "ms"),
            "latency_max": (result.slowest_s * 1000, "ms"),
            "requests_per_s": (result.requests_per_s, "1/s"),
            "requests": (result.responses + result.error_count, "count"),
            "errors": (result.error_count, "count"),
            "non_2xx": (result.non_2xx, "count"),
            "connections": (connections, "count"),
            **session.window_metrics(window),
        }
