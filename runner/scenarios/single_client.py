"""[single-client] one client, one request at a time (seed 000): wrk -c1 -t1,
with keep-alive, and with a new connection per request (`Connection: close`),
because connection reuse changes what is measured."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from runner import wrk
from runner.scenarios.base import Scenario, Variant
from runner.scenarios.wrk_load import wrk_window


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connection: list[Literal["keep-alive", "close"]] = Field(
        default=["keep-alive"], min_length=1,
        description="keep-alive: one connection reused; close: a new connection per request.")


class SingleClient(Scenario):
    name = "single-client"
    Params = Params
    # The keep-alive variant's; run.latency_models adds "single-client close".
    latency_model = wrk.LATENCY_MODEL.format(connections=1, threads=1)

    def variants(self, params, prior):
        return [Variant(mode, {"connection": mode}) for mode in params.connection]

    def measure(self, session, params, variant):
        view = session.view
        return wrk_window(session, "measured", view.path, session.ctx.duration_s,
                          connections=1, close=variant.values["connection"] == "close")
