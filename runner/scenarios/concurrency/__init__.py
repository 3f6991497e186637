"""[concurrency] closed-loop sweep over concurrency levels with wrk: latency
percentiles and throughput per level, socket errors and non-2xx counted.
Each level is its own variant, measured on its own fresh server."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from runner.scenarios.base import Scenario, Variant
from runner.scenarios.wrk_window import LATENCY_MODEL, wrk_window

Level = Annotated[int, Strict(), Field(ge=1, le=10000)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    levels: list[Level] = Field(default=[1, 4, 16, 64, 256], min_length=1,
                                description="Open connections (wrk -c) per level.")


class Concurrency(Scenario):
    name = "concurrency"
    order = 20
    Params = Params
    remeasure_disturbed = True
    latency_model = LATENCY_MODEL

    def variants(self, params, prior):
        return [Variant(f"c={n}", {"connections": n}) for n in sorted(set(params.levels))]

    def provides(self, samples):
        """The peak throughput for fixed-rate: the best level's median over
        repetitions, per cell."""
        rps = samples[samples.metric == "requests_per_s"]
        medians = rps.groupby(["cell_id", "variant"])["value"].median()
        return {cell: {"concurrency_peak_rps": float(peaks.max())}
                for cell, peaks in medians.groupby(level=0)}

    def measure(self, session, params, variant):
        return wrk_window(session, "measured", session.view.path, session.ctx.duration_s,
                          connections=variant.values["connections"])
