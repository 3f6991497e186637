"""Benchmark: how long does the analysis take on a big run folder?

Not a test (pytest does not collect it): a lab user runs it by hand,

    python -m tests.bench_analysis                 # 100,000 samples
    python -m tests.bench_analysis --samples 300000 --repetitions 5

It writes a synthetic run folder (realistic shape: the 18 metrics a real
run records, 6 servers, several pythons, djangos, views and scenarios) to a
temporary directory, then times load_run, load_runs and write_report on it,
as ``lab report`` would run them. The issue's target is <= 10 s for 100,000
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

from analysis.load import load_run, load_runs
from analysis.report import write_report

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
VIEWS = ["plaintext", "json", "orm", "drf", "template"]
SCENARIOS = ["single-client", "c8", "c64"]
METRICS = {  # metric: (unit, how to derive it from p50)
    "ready_after_s": ("s", lambda p50, r: 0.8 + 0.1 * r),
    "latency_p50": ("ms", lambda p50, r: p50 * r),
    "latency_p90": ("ms", lambda p50, r: 1.4 * p50 * r),
    "latency_p99": ("ms", lambda p50, r: 2.5 * p50 * r),
    "latency_mean": ("ms", lambda p50, r: 1.1 * p50 * r),
    "latency_max": ("ms", lambda p50, r: 20 * p50 * r),
    "requests_per_s": ("1/s", lambda p50, r: 1000 / (p50 * r)),
    "requests": ("1", lambda p50, r: 5000 / (p50 * r)),
    "errors": ("1", lambda p50, r: 0.0),
    "server_cpu_percent": ("%", lambda p50, r: 85 * r),
    "server_rss_mb": ("MB", lambda p50, r: 60 * r),
    "server_threads": ("1", lambda p50, r: 4.0),
    "server_processes": ("1", lambda p50, r: 2.0),
    "server_ctx_voluntary": ("1", lambda p50, r: 1000 * r),
    "server_ctx_involuntary": ("1", lambda p50, r: 50 * r),
    "server_sampler_cpu_percent": ("%", lambda p50, r: 1.0 * r),
    "client_cpu_percent": ("%", lambda p50, r: 10 * r),
    "runner_overhead_s": ("s", lambda p50, r: 0.3 * r),
}


def make_run(folder: Path, samples: int, repetitions: int, seed: int = 1) -> Path:
    """Write a run folder of exactly ``samples`` samples under ``folder``
    (the last cell may be cut short)."""
    rng = np.random.default_rng(seed)
    run_id = "20990101T000000Z-bench"
    grid = itertools.product(WORKERS, PYTHONS, DJANGOS, VIEWS, SCENARIOS, SERVERS)
    rows, cells = [], {}
    for workers, python, django, view, scenario, (server, interface, p50) in grid:
        if len(rows) >= samples:
            break
        cell_id = f"{server}-{workers}w-{python}-{django}-{view}"
        cells[cell_id] = {
            "cell_id": cell_id, "server": server, "interface": interface, "workers": workers,
            "threads": 1, "python": python, "django": django, "asgiref": "3.8.1",
            "view": view, "status": "ok", "reason": None,
        }
        for rep in range(1, repetitions + 1):
            noise = rng.lognormal(0.0, 0.05)
            for metric, (unit, value) in METRICS.items():
                rows.append({**cells[cell_id], "run_id": run_id, "scenario": scenario,
                             "repetition": rep, "metric": metric, "value": value(p50, noise),
                             "unit": unit})
    if len(rows) < samples:
        raise SystemExit(f"the grid holds only {len(rows)} samples; ask for fewer")
    frame = pd.DataFrame(rows[:samples]).drop(columns=["status", "reason"])
    run = folder / run_id
    run.mkdir(parents=True)
    frame.to_parquet(run / "results.parquet", index=False)
    manifest = {
        "schema_version": 1, "run_id": run_id, "status": "complete", "matrix_name": "bench",
        "baseline_server": "gunicorn-sync",
        "protocol": {"repetitions": repetitions, "warmup_s": 2.0, "duration_s": 5.0,
                     "seed": seed, "connections": 1, "threads": 1,
                     "latency_model": "synthetic"},
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
              f" {samples.groupby(['cell_id', 'scenario']).ngroups} cell-scenarios,"
              f" {args.repetitions} repetitions")
        timings = {}
        start = time.perf_counter()
        load_run(run)
        timings["load_run"] = time.perf_counter() - start
        start = time.perf_counter()
        load_runs([run])
        timings["load_runs"] = time.perf_counter() - start
        start = time.perf_counter()
        write_report(run)  # loads again, as `lab report` does
        timings["write_report (load + stats + render)"] = time.perf_counter() - start
        for name, seconds in timings.items():
            print(f"{name:40s} {seconds:6.2f} s")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
