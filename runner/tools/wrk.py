"""wrk: the command line for a measured window, and parsing of its output.

Latency model (every figure says it): closed loop, one connection, keep-alive;
wrk times each request from its actual send, so queueing before the send is
not counted (no coordinated-omission correction). With one client that is the
seed's question exactly: the cost of one request at a time.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

LATENCY_MODEL = ("wrk closed loop, {connections} connection(s), {threads} thread(s), keep-alive: "
                 "latency measured from the actual send of each request "
                 "(no coordinated-omission correction)")
# With `Connection: close` wrk reconnects after every response; it starts a
# request's clock when it begins writing on the new connection, so the TCP
# connect is outside the latency but inside the throughput.
LATENCY_MODEL_CLOSE = ("wrk closed loop, 1 connection, a new connection per request "
                       "(Connection: close): latency from the first byte written on the fresh "
                       "connection (connect time excluded; throughput includes it)")
JSON_PREFIX = "LAB_JSON "
RPS_LINE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.M)


class WrkOutputError(ValueError):
    pass


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: int
    error_counts: dict
    latency_ms: dict  # min, max, mean, stdev, p50, p75, p90, p99, p99.9

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def command(url: str, duration_s: float, lua_path: str, connections: int = 1,
            threads: int = 1, timeout_s: float = 5.0, headers=()) -> list[str]:
    extra = [arg for h in headers for arg in ("-H", h)]
    return ["wrk", f"-c{connections}", f"-t{threads}", f"-d{duration_s:g}s",
            f"--timeout={timeout_s:g}s", "--latency", *extra, "-s", lua_path, url]


def parse(output: str) -> WrkResult:
    """Parse wrk's stdout; the numbers come from the Lua done() JSON line."""
    lines = [ln for ln in output.splitlines() if ln.startswith(JSON_PREFIX)]
    if len(lines) != 1:
        raise WrkOutputError(f"expected one {JSON_PREFIX.strip()} line from the Lua done() hook, "
                             f"found {len(lines)}; wrk said: {output.strip()[-300:]!r}")
    try:
        data = json.loads(lines[0][len(JSON_PREFIX):])
        errors = {k: int(v) for k, v in data["errors"].items()}
        latency = {k: float(v) / 1000.0 for k, v in data["latency_us"].items()}
        return WrkResult(requests=int(data["requests"]),
                         duration_s=int(data["duration_us"]) / 1e6,
                         errors=sum(errors.values()), error_counts=errors, latency_ms=latency)
    except (ValueError, KeyError, TypeError) as exc:
        raise WrkOutputError(f"malformed {JSON_PREFIX.strip()} line: {exc}") from None


def reported_rps(output: str) -> float | None:
    """wrk's own Requests/sec line, used to cross-check the JSON numbers."""
    m = RPS_LINE.search(output)
    return float(m.group(1)) if m else None
