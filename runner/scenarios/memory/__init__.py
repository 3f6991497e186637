"""[memory] resident (RSS) and unique (USS) memory of every process of the
server, after warm-up (the window's first sample with USS: the sampler reads
it once a second) and after load (the last such sample),
under closed-loop wrk load at `connections`. A worker is a process that used
CPU during the load; the others (gunicorn's arbiter, hypercorn's supervisor,
multiprocessing's resource tracker) are reported apart. USS is what a process
alone holds: the memory its exit would free (seed 001 claims 100-150 MB per
Django worker; RSS counts pages shared with the master after fork)."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from runner.session import traces
from runner.scenarios.base import Scenario, StepFailed
from runner.scenarios.wrk_window import LATENCY_MODEL, wrk_window

BUSY_CPU_S = 0.02   # CPU seconds in the window that make a process a worker


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connections: Annotated[int, Strict(), Field(ge=1, le=10000)] = Field(
        default=16, description="wrk connections during the load.")


def memory_metrics(first: dict, last: dict) -> dict:
    before = {p["pid"]: p for p in traces.per_process(first)}
    after = {p["pid"]: p for p in traces.per_process(last)}
    workers = [pid for pid in after
               if pid in before and after[pid]["cpu_s"] - before[pid]["cpu_s"] >= BUSY_CPU_S]
    if not workers:
        raise StepFailed("no server process used CPU during the load: no worker to measure")
    others = [pid for pid in after if pid not in workers]
    out = {"workers_seen": (len(workers), "count"), "other_processes": (len(others), "count")}
    for when, snap in (("after_warmup", before), ("after_load", after)):
        present = [pid for pid in workers if pid in snap]
        for kind in ("rss", "uss"):
            values = [snap[pid][f"{kind}_mb"] for pid in present]
            out[f"worker_{kind}_mb_{when}"] = (sum(values) / len(values), "MB")
            out[f"total_{kind}_mb_{when}"] = (sum(p[f"{kind}_mb"] for p in snap.values()), "MB")
    return out


class Memory(Scenario):
    name = "memory"
    order = 30
    Params = Params
    latency_model = LATENCY_MODEL

    def measure(self, session, params, variant):
        metrics = wrk_window(session, "measured", session.view.path, session.ctx.duration_s,
                             connections=params.connections)
        # USS comes with the sampler's detailed samples (one a second).
        samples = [s for s in session.last_window.server_samples
                   if any("uss" in p for p in s["procs"])]
        if len(samples) < 2:
            raise StepFailed("fewer than two detailed memory samples in the window; "
                             "make protocol.duration_s at least 2 s")
        metrics.update(memory_metrics(samples[0], samples[-1]))
        return metrics
