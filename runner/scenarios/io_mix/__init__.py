"""[io-mix] seed 001's benchmark: n_slow slow + n_fast fast requests, sequential and concurrent.

The article (seed 001, "Understanding WSGI vs ASGI: Performance and
Concurrency") sends 3 requests to /slow (which sleeps
5 s: time.sleep in sync code, asyncio.sleep in async code) and 15 to /fast
with httpx, first one at a time ("Sync"), then all at once ("Async"), and
reports the elapsed seconds and requests/s. Here host/iomix_client.py
does exactly that on the client host; each mode is a variant, measured on its
own fresh server inside a psutil-annotated window. The cell's view says
which app and endpoints: `raw` (lab_app/rawapp, no framework) or Django's
`io-sync` / `io-async` views (lab_app/bench/io_views.py); a view without a
slow path cannot run this scenario.

The window lasts as long as the workload does (about n_slow x slow_s when
the slow requests are served one after another, about slow_s when they
overlap); the protocol's duration_s does not apply. The client's overall
timeout is derived from the parameters (TIMEOUT_*); a repetition where any
request failed (error, non-2xx, wrong body) fails with the counts, since its
elapsed time would not describe the workload the article timed.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from runner.catalog.views import VIEWS
from runner.scenarios.base import Scenario, StepFailed, Variant
from runner.scenarios.io_mix import result as iomix

CLIENT = "iomix_client.py"   # in host/, shipped to the client host
MAX_SLOW_S = 60.0   # the apps refuse longer sleeps with 400
# The client's overall bound: every slow request served one after another,
# with this factor and slack on top (fast requests, connection setup, a busy host).
TIMEOUT_FACTOR = 2.0
TIMEOUT_SLACK_S = 30.0


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slow_s: Annotated[float, Strict(), Field(gt=0, le=MAX_SLOW_S)] = Field(
        default=5.0, description="Seconds each slow request sleeps on the server (?s=).")
    n_slow: Annotated[int, Strict(), Field(ge=0, le=1000)] = Field(
        default=3, description="Slow requests per measurement (sent first).")
    n_fast: Annotated[int, Strict(), Field(ge=1, le=1000)] = Field(
        default=15, description="Fast requests per measurement.")
    modes: list[Literal["sequential", "concurrent"]] = Field(
        default=["sequential", "concurrent"], min_length=1,
        description="sequential: one httpx.Client, one request at a time; "
                    "concurrent: httpx.AsyncClient and asyncio.gather of all.")

    @field_validator("modes")
    @classmethod
    def _unique(cls, modes):
        if len(set(modes)) != len(modes):
            raise ValueError(f"each mode at most once, got {modes}")
        return modes


def client_timeout_s(params: Params) -> float:
    return params.n_slow * params.slow_s * TIMEOUT_FACTOR + TIMEOUT_SLACK_S


def client_argv(session, params: Params, mode: str) -> list[str]:
    view = session.view
    return [session.client_python, session.client_tool(CLIENT),
            "--base", session.url(""), "--fast-path", view.path, "--slow-path", view.slow_path,
            "--slow-s", repr(params.slow_s), "--n-slow", str(params.n_slow),
            "--n-fast", str(params.n_fast), "--mode", mode,
            "--timeout", f"{client_timeout_s(params):g}"]


def failure_reason(result: iomix.IoMixResult) -> str | None:
    if result.failed == 0:
        return None
    errors = f"errors {result.errors}" + (f" {result.error_types}" if result.error_types else "")
    return (f"{result.failed} of {result.requests} requests failed ({result.mode}): "
            f"{errors}, non-2xx {result.non_2xx}, wrong body {result.wrong_body}")


class IoMix(Scenario):
    name = "io-mix"
    order = 40
    Params = Params
    host_files = (CLIENT,)
    client_packages = ("httpx==0.28.1",)   # the seed article's client
    latency_model = ("httpx (seed 001's client): a fixed set of n_slow + n_fast requests, one "
                     "at a time (sequential) or all at once (concurrent, httpx's default pool "
                     "limits); elapsed = first send to last answer, requests/s = requests / "
                     "elapsed; per-request seconds from each request's own start")

    def exclusion(self, spec, params):
        view = VIEWS.get(spec.view)
        if view is None or not getattr(view, "slow_path", None):
            with_slow = sorted(n for n, v in VIEWS.items() if getattr(v, "slow_path", None))
            return (f"view {spec.view!r} has no slow endpoint; io-mix runs on "
                    f"{', '.join(with_slow) or 'views with a slow_path'}")
        return None

    def variants(self, params, prior):
        return [Variant(mode, {"mode": mode}) for mode in params.modes]

    def measure(self, session, params, variant):
        timeout = client_timeout_s(params)
        window = session.measure_window("measured", client_argv(session, params, variant.values["mode"]),
                                        timeout_s=timeout + 15)
        try:
            result = iomix.parse(window.stdout)
        except iomix.IoMixOutputError as exc:
            raise StepFailed(str(exc)) from None
        reason = failure_reason(result)
        if reason:
            raise StepFailed(reason)
        return {**iomix.metrics(result), **session.window_metrics(window)}
