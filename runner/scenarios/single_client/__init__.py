"""[single-client] one client, one request at a time (seed 000): wrk -c1 -t1,
with keep-alive, and with a new connection per request (`Connection: close`),
because connection reuse changes what is measured."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runner.scenarios.base import Scenario, Variant
from runner.scenarios.wrk_window import wrk_window
from runner.tools import wrk


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connection: list[Literal["keep-alive", "close"]] = Field(
        default=["keep-alive"], min_length=1,
        description="keep-alive: one connection reused; close: a new connection per request.")


class SingleClient(Scenario):
    name = "single-client"
    order = 10
    matrix_default = True
    calibration_variant = "keep-alive"
    Params = Params
    remeasure_disturbed = True
    latency_model = wrk.LATENCY_MODEL.format(connections=1, threads=1)

    def latency_models(self):
        # A reconnect per request leaves the connect out of wrk's latency.
        return {self.name: self.latency_model, f"{self.name} close": wrk.LATENCY_MODEL_CLOSE}

    def variants(self, params, prior):
        return [Variant(mode, {"connection": mode}) for mode in params.connection]

    def measure(self, session, params, variant):
        view = session.view
        return wrk_window(session, "measured", view.path, session.ctx.duration_s,
                          connections=1, close=variant.values["connection"] == "close")
