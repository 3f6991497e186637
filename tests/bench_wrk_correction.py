"""What wrk's end-of-run correction does to its figures, on a loopback server
that answers at once but holds every 100th request 40 ms (the server of
tests/test_wrk.py): wrk's own figures next to the real samples.

    .venv/bin/python -m tests.bench_wrk_correction [SECONDS]
"""
from __future__ import annotations

import json
import subprocess
import sys

from runner.tools import wrk
from tests.support.wrk import LUA, StallingServer


def main(seconds: int = 5) -> None:
    server = StallingServer()
    try:
        out = subprocess.run(wrk.command(f"http://127.0.0.1:{server.port}/", seconds, str(LUA)),
                             capture_output=True, text=True, timeout=seconds + 30, check=True)
    finally:
        server.close()
    real = wrk.parse(out.stdout)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith(wrk.JSON_PREFIX))
    seen = {int(v): int(c) for v, c in json.loads(line[len(wrk.JSON_PREFIX):])["histogram_us"]}
    print(f"{real.requests} requests ({server.stalled} held 40 ms), {real.samples} real samples, "
          f"{real.synthetic_samples} synthetic ones added by wrk")
    for name, lat in (("real samples", real.latency_ms), ("wrk's own", wrk.summary_ms(seen))):
        little = real.requests_per_s * lat["mean"] / 1000
        print(f"{name:>12}: p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms, p99 {lat['p99']:.3f} ms,"
              f" mean {lat['mean']:.3f} ms; req/s x mean = {little:.3f} (1 connection)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
