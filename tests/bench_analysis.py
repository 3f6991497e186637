"""Benchmark: how long does the analysis take on a big run folder?

Not a test (pytest does not collect it): a lab user runs it by hand,

    python -m tests.bench_analysis                 # 100,000 samples
    python -m tests.bench_analysis --samples 300000 --repetitions 5

It writes a synthetic run folder in the runner's current shape (scenarios
with variants: single-client keep-alive/close, concurrency c=1/16/64,
memory, and io-mix, which the report only knows generically; the metrics
each records, window psutil columns and the client saturation flag
included; 6 servers, several pythons, djangos and views) to a temporary
directory, then times load_run, load_runs, write_report (report.md) and
write_reports (report.md and report.html with its plots) on it, as
``lab report`` would run them. The issue's target is <= 10 s for 100,000
samples.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.runs.load import load_run, load_runs
from analysis.report.html import write_reports
from analysis.report.markdown import write_report

SERVERS = [  # (server, interface, typical p50 ms)
    ("gunicorn-sync", "wsgi", 0.5),
    ("granian-wsgi", "wsgi", 0.55),
    ("uvicorn", "asgi", 2.4),
    ("daphne", "asgi", 2.9),
    ("granian-asgi", "asgi", 2.2),
    ("gunicorn-uvicorn", "asgi", 2.1),
]
WORKERS = [1, 2]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DJANGOS = ["4.2.20", "5.1.8", "5.2.19"]
VIEWS = ["drf", "sync", "async", "raw", "polls"]
# scenario: {variant: connections}
SCENARIOS = {
    "single-client": {"keep-alive": 1, "close": 1},
    "concurrency": {"c=1": 1, "c=16": 16, "c=64": 64},
    "memory": {"default": 16},
    "io-mix": {"sequential": 1, "concurrent": 18},
}
WINDOW = {  # the psutil columns of every measured window: (unit, value from p50, noise)
    "server_cpu_percent": ("%", lambda p50, r: 85 * r),
    "server_rss_mb": ("MB", lambda p50, r: 60 * r),
    "server_threads": ("count", lambda p50, r: 4.0),
    "server_processes": ("count", lambda p50, r: 2.0),
    "server_ctx_voluntary": ("count", lambda p50, r: 1000 * r),
    "server_ctx_involuntary": ("count", lambda p50, r: 50 * r),
    "client_cpu_percent": ("%", lambda p50, r: 10 * r),
    "client_sampler_cpu_percent": ("%", lambda p50, r: 0.8 * r),
    "server_sampler_cpu_percent": ("%", lambda p50, r: 1.0 * r),
    "window_s": ("s", lambda p50, r: 5.0),
    "server_uss_mb": ("MB", lambda p50, r: 40 * r),
    "server_fds": ("count", lambda p50, r: 20.0),
    "server_connections": ("count", lambda p50, r: 2.0),
    "client_cpu_share": ("ratio", lambda p50, r: 0.1 * r),
}
MEMORY = {f"{who}_{kind}_mb_{when}": ("MB", lambda p50, r: 50 * r)
          for who in ("worker", "total") for kind in ("rss", "uss")
          for when in ("after_warmup", "after_load")}
IOMIX = {m: ("s", lambda p50, r: 3.0 * r) for m in ("elapsed_s", "slow_p50", "fast_p50",
                                                      "fast_max")}
IOMIX.update({m: ("count", lambda p50, r: 18.0) for m in ("requests", "ok", "n_fast")})
IOMIX.update({m: ("count", lambda p50, r: 0.0) for m in ("errors", "non_2xx", "wrong_body")})
IOMIX.update(n_slow=("count", lambda p50, r: 3.0), slow_s=("s", lambda p50, r: 1.0),
             requests_per_s=("1/s", lambda p50, r: 6.0 / r))


def wrk_metrics(p50: float, noise: float, connections: int, close: bool) -> dict:
    p50 *= noise * (1 + connections / 8)
    mean = 1.1 * p50
    rps = 1000 * connections / mean
    out = {
        "latency_p50": ("ms", p50), "latency_p90": ("ms", 1.4 * p50),
        "latency_p99": ("ms", 2.5 * p50), "latency_mean": ("ms", mean),
        "latency_max": ("ms", 20 * p50), "requests_per_s": ("1/s", rps),
        "requests": ("count", 5 * rps), "errors": ("count", 0.0),
        "socket_errors": ("count", 0.0), "non_2xx": ("count", 0.0),
        "connections": ("count", float(connections)),
    }
    if not close:
        out["littles_law_ratio"] = ("ratio", 1.0)
    return out


def window_metrics(p50: float, noise: float, saturated: bool) -> dict:
    out = {metric: (unit, value(p50, noise)) for metric, (unit, value) in WINDOW.items()}
    out["client_saturated"] = ("flag", float(saturated))
    return out


def make_run(folder: Path, samples: int, repetitions: int, seed: int = 1) -> Path:
    """Write a run folder of exactly ``samples`` samples under ``folder``
    (the last cell may be cut short)."""
    rng = np.random.default_rng(seed)
    run_id = "20990101T000000Z-bench"
    grid = itertools.product(WORKERS, PYTHONS, DJANGOS, VIEWS, SERVERS)
    rows, cells = [], {}
    for workers, python, django, view, (server, interface, p50) in grid:
        if len(rows) >= samples:
            break
        cell_id = f"{server}-{workers}w-{python}-{django}-{view}"
        cells[cell_id] = {
            "cell_id": cell_id, "server": server, "interface": interface, "workers": workers,
            "threads": 1, "python": python, "django": django, "asgiref": "3.8.1",
            "view": view, "status": "ok", "reason": None, "failures": [],
        }
        for scenario, variants in SCENARIOS.items():
            for variant, connections in variants.items():
                for rep in range(repetitions):
                    noise = rng.lognormal(0.0, 0.05)
                    # the busiest level of the slowest server saturates its client now and then
                    saturated = server == "daphne" and connections == 64 and rep == 0
                    if scenario == "io-mix":
                        metrics = {m: (u, f(p50, noise)) for m, (u, f) in IOMIX.items()}
                    else:
                        metrics = wrk_metrics(p50, noise, connections, variant == "close")
                    if scenario == "memory":
                        metrics.update({m: (u, f(p50, noise)) for m, (u, f) in MEMORY.items()})
                    metrics.update(window_metrics(p50, noise, saturated))
                    metrics.update(ready_after_s=("s", 0.8 + 0.1 * noise),
                                   runner_overhead_s=("s", 0.3 * noise))
                    rows += [{**cells[cell_id], "run_id": run_id, "scenario": scenario,
                              "variant": variant, "repetition": rep, "metric": metric,
                              "value": value, "unit": unit}
                             for metric, (unit, value) in metrics.items()]
    if len(rows) < samples:
        raise SystemExit(f"the grid holds only {len(rows)} samples; ask for fewer")
    frame = pd.DataFrame(rows[:samples]).drop(columns=["status", "reason", "failures"])
    run = folder / run_id
    run.mkdir(parents=True)
    frame.to_parquet(run / "results.parquet", index=False)
    manifest = {
        "schema_version": 2, "run_id": run_id, "status": "complete", "matrix_name": "bench",
        "baseline_server": "gunicorn-sync",
        "protocol": {"scenarios": {"single-client": {"connection": ["keep-alive", "close"]},
                                   "concurrency": {"levels": [1, 16, 64]},
                                   "memory": {"connections": 16},
                                   "io-mix": {"modes": ["sequential", "concurrent"]}},
                     "repetitions": repetitions, "warmup_s": 2.0, "duration_s": 5.0,
                     "seed": seed, "latency_models": {name: "synthetic" for name in SCENARIOS}},
        "hosts": {}, "cells": list(cells.values()),
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    try:
        run = make_run(tmp, args.samples, args.repetitions)
        samples, manifest = load_run(run)
        print(f"{len(samples)} samples, {len(manifest['cells'])} cells,"
              f" {samples.groupby(['cell_id', 'scenario', 'variant']).ngroups}"
              " cell-scenario-variants,"
              f" {args.repetitions} repetitions")
        timings = {}
        start = time.perf_counter()
        load_run(run)
        timings["load_run"] = time.perf_counter() - start
        start = time.perf_counter()
        load_runs([run])
        timings["load_runs"] = time.perf_counter() - start
        start = time.perf_counter()
        write_report(run)  # loads again
        timings["write_report (load + stats + report.md)"] = time.perf_counter() - start
        start = time.perf_counter()
        write_reports(run)  # what `lab report` does
        timings["write_reports (load + stats + report.md + report.html with plots)"] = \
            time.perf_counter() - start
        for name, seconds in timings.items():
            print(f"{name:70s} {seconds:6.2f} s")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
