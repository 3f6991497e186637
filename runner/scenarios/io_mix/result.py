"""io-mix (seed 001): parsing host/iomix_client.py's output.

The client prints one JSON line (see its docstring). `parse` checks it and
`metrics` turns it into the samples the scenario records (the article's
table from a run: analysis/scenarios/io_mix.py). Elapsed is the client's wall time from the first request to the last
answer; throughput is requests / elapsed, as the article computes it.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

TOOL = "iomix_client"
FORMAT = 1
MODES = ("sequential", "concurrent")


class IoMixOutputError(ValueError):
    pass


@dataclass(frozen=True)
class IoMixResult:
    mode: str
    slow_s: float
    n_slow: int
    n_fast: int
    elapsed_s: float
    requests: int
    ok: int
    non_2xx: int
    wrong_body: int
    errors: int
    error_types: dict
    per_request: list
    pool_limits: dict
    httpx: str

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx with the expected body."""
        return self.requests - self.ok

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def seconds(self, kind: str) -> list[float]:
        """Durations of the answered requests of one kind ("slow" or "fast")."""
        return [r["seconds"] for r in self.per_request
                if r["kind"] == kind and r["status"] is not None]


def parse(output: str) -> IoMixResult:
    """The one JSON line of iomix_client.py's stdout."""
    lines = [ln for ln in output.splitlines() if ln.startswith("{")]
    if len(lines) != 1:
        raise IoMixOutputError(f"expected one JSON line from {TOOL}, found {len(lines)}; "
                               f"it said: {output.strip()[-300:]!r}")
    try:
        data = json.loads(lines[0])
        if data.get("tool") != TOOL or data.get("format") != FORMAT:
            raise IoMixOutputError(f"not {TOOL} format {FORMAT} output: tool={data.get('tool')!r}, "
                                   f"format={data.get('format')!r}")
        result = IoMixResult(
            mode=data["mode"], slow_s=float(data["slow_s"]), n_slow=int(data["n_slow"]),
            n_fast=int(data["n_fast"]), elapsed_s=float(data["elapsed_s"]),
            requests=int(data["requests"]), ok=int(data["ok"]), non_2xx=int(data["non_2xx"]),
            wrong_body=int(data["wrong_body"]), errors=int(data["errors"]),
            error_types={str(k): int(v) for k, v in data["error_types"].items()},
            per_request=list(data["per_request"]), pool_limits=dict(data["pool_limits"]),
            httpx=str(data["httpx"]))
    except IoMixOutputError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IoMixOutputError(f"malformed {TOOL} line: {exc!r}") from None
    _check_consistent(result)
    return result


def _check_consistent(r: IoMixResult) -> None:
    """The counts must add up, or the line was not written by the client we know."""
    if r.mode not in MODES:
        raise IoMixOutputError(f"unknown mode {r.mode!r}; known: {', '.join(MODES)}")
    if r.requests != r.n_slow + r.n_fast or len(r.per_request) != r.requests:
        raise IoMixOutputError(f"{r.requests} requests, {len(r.per_request)} outcomes listed, "
                               f"but {r.n_slow} slow + {r.n_fast} fast were asked for")
    if r.ok + r.non_2xx + r.wrong_body + r.errors != r.requests:
        raise IoMixOutputError(f"ok {r.ok} + non_2xx {r.non_2xx} + wrong_body {r.wrong_body} + "
                               f"errors {r.errors} != requests {r.requests}")
    if sum(r.error_types.values()) != r.errors:
        raise IoMixOutputError(f"error types {r.error_types} do not add up to {r.errors}")


def metrics(result: IoMixResult) -> dict[str, tuple[float, str]]:
    """The samples of one measured run; a median of no requests is NaN."""
    slow, fast = result.seconds("slow"), result.seconds("fast")
    nan = float("nan")
    return {
        "elapsed_s": (result.elapsed_s, "s"),
        "requests_per_s": (result.requests_per_s, "1/s"),
        "requests": (result.requests, "count"),
        "n_slow": (result.n_slow, "count"),
        "n_fast": (result.n_fast, "count"),
        "slow_s": (result.slow_s, "s"),
        "ok": (result.ok, "count"),
        "errors": (result.errors, "count"),
        "non_2xx": (result.non_2xx, "count"),
        "wrong_body": (result.wrong_body, "count"),
        "slow_p50": (statistics.median(slow) if slow else nan, "s"),
        "fast_p50": (statistics.median(fast) if fast else nan, "s"),
        "fast_max": (max(fast) if fast else nan, "s"),
    }
