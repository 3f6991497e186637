"""Benchmark: does k6 keep its schedule at the rates the lab uses?

Not a test (pytest does not collect it): run it by hand,

    .venv/bin/python -m tests.bench_fixed_rate                  # 50..5000 req/s, 10 s each
    .venv/bin/python -m tests.bench_fixed_rate --rates 200 1000 --duration 5
    .venv/bin/python -m tests.bench_fixed_rate --gogc 100 --vus 300   # Go's default GC; more VUs

For each rate it runs runner/scenarios/fixed_rate/host/fixed_rate.js (k6 v1.1.0, through
runner/scenarios/fixed_rate/k6.py's command line) against a raw ASGI app (no framework) served by
uvicorn (httptools, uvloop) on 127.0.0.1, k6 pinned to CPU 0 and the server
to CPU 1 with taskset, and prints achieved rate vs target, dropped requests,
the schedule lag (actual start - intended start) and both latency models.

The helpers (k6_binary, start_server) are tests/support/k6.py's, shared with tests/test_k6.py.
Traffic goes only to 127.0.0.1; every run is bounded in time.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from runner.scenarios.fixed_rate import k6

from tests.support.k6 import (SERVER_PINS, PYTHON, RATES, RAW_ASGI, install, k6_binary, free_port, start_server, stop, run_k6)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", type=int, nargs="+", default=RATES)
    ap.add_argument("--duration", type=int, default=10, help="seconds per rate")
    ap.add_argument("--vus", type=int, default=k6.DEFAULT_VUS, help="most requests in flight")
    ap.add_argument("--gogc", type=int, default=k6.GOGC,
                    help=f"Go's GOGC for k6 (default {k6.GOGC}; Go's own default is 100)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fixed-rate-") as tmp:
        work = Path(tmp)
        k6_bin = k6_binary(work)
        server_bin = install(work / "srv", SERVER_PINS,
                             str(PYTHON) if PYTHON.exists() else None)
        (work / "rawapp_k6.py").write_text(RAW_ASGI)
        port = free_port()
        server = start_server([str(server_bin / "uvicorn"), "rawapp_k6:app", "--host",
                               "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http",
                               "httptools", "--no-access-log", "--log-level", "warning"],
                              port, cpu=1, cwd=work)
        version = subprocess.run([k6_bin, "version"], capture_output=True, text=True).stdout
        print(f"{version.strip()}; uvicorn raw ASGI app on 127.0.0.1 pinned to CPU 1, "
              f"k6 on CPU 0 (GOGC={args.gogc}); {args.duration} s per rate; latency in ms; "
              f"load average before: {_load()}\n")
        print("| target req/s | achieved req/s | achieved/target | dropped | errors | VUs "
              "| lag p50 | lag p99 | lag p99.9 | lag max | intended p50 | intended p99 "
              "| send p50 | send p99 | k6 CPU % | k6 RSS MB |")
        print("|---:" * 16 + "|")
        try:
            for rate in args.rates:
                r, cpu_pct, rss_mb = run_k6(k6_bin, f"http://127.0.0.1:{port}/", rate,
                                            args.duration, vus=args.vus, cpu=0, gogc=args.gogc)
                lag, lat, send = r.schedule_lag_ms, r.latency_ms, r.send_latency_ms
                print(f"| {rate} | {r.achieved_rate:.1f} | {r.achieved_rate / rate:.4f} "
                      f"| {r.dropped} | {r.errors} | {r.vus} | {lag['p50']:.3f} "
                      f"| {lag['p99']:.3f} | {lag['p99.9']:.3f} | {lag['max']:.3f} "
                      f"| {lat['p50']:.3f} | {lat['p99']:.3f} | {send['p50']:.3f} "
                      f"| {send['p99']:.3f} | {cpu_pct:.1f} | {rss_mb:.0f} |",
                      flush=True)
        finally:
            stop(server)
        # Other work on the machine competes with k6 and the server for their CPUs.
        print(f"\nload average after: {_load()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
