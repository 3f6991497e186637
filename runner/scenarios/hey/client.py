"""hey: the command line for a measured window, and parsing of its summary.

What hey 0.1.4 (Debian's package; rakyll/hey, requester/) computes, read
from its source:
- `-c` workers share one http.Client (keep-alive, at most c idle
  connections); each sends its requests back to back (`-z`: until the
  duration is over, then finishes the request in flight).
- A request's time runs from before the request is built to after its body
  is read and closed (makeRequest: `s := now()` ... `io.Copy`, `t := now()`).
- Only requests without a transport error are latency samples (runReporter:
  errors go to the error distribution); Requests/sec counts both, over the
  whole run (finalize: numRes / total).
- Average is the mean of the samples; the percentiles take the sorted sample
  at the first index i with floor(100·i/n) >= p, i.e. i = ceil(p·n/100)
  (report.latencies), so its "50%" of an even n is the upper median; one
  the rule never reaches (p99 of fewer than 100 samples) prints as "0%".
- Every figure is printed with "%4.4f" seconds: a resolution of 0.1 ms.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

LATENCY_MODEL = ("hey closed loop (hey 0.1.4), {connections} worker(s) sharing keep-alive "
                 "connections: latency from before each request to its body read, successful "
                 "requests only, hey's own percentiles (the sorted sample at index ceil(p·n/100)) "
                 "at 0.1 ms resolution")
SUMMARY = {"total_s": "Total", "slowest_s": "Slowest", "fastest_s": "Fastest",
           "average_s": "Average", "requests_per_s": "Requests/sec"}
PERCENTILE_LINE = re.compile(r"^\s*(\d+)% in ([0-9.]+) secs$", re.M)
STATUS_LINE = re.compile(r"^\s*\[(\d{3})\]\s+(\d+) responses$", re.M)
ERROR_LINE = re.compile(r"^\s*\[(\d+)\]\s+(.+)$", re.M)


class HeyOutputError(ValueError):
    pass


@dataclass(frozen=True)
class HeyResult:
    total_s: float
    slowest_s: float
    fastest_s: float
    average_s: float
    requests_per_s: float
    percentiles_s: dict[int, float] = field(default_factory=dict)
    status_codes: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def responses(self) -> int:
        return sum(self.status_codes.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.status_codes.items() if not 200 <= code < 300)


def command(url: str, connections: int, seconds: int | None = None, requests: int | None = None,
            timeout_s: int = 20) -> list[str]:
    """hey's argv: for `seconds` (-z) or `requests` (-n) in all, on c workers."""
    if (seconds is None) == (requests is None):
        raise ValueError("give either seconds or requests")
    if requests is not None and requests < connections:
        raise ValueError(f"hey needs at least as many requests ({requests}) as workers "
                         f"({connections})")
    size = ["-z", f"{seconds}s"] if seconds is not None else ["-n", str(requests)]
    return ["hey", "-c", str(connections), *size, "-t", str(timeout_s), url]


def _summary_value(text: str, label: str) -> float:
    found = re.search(rf"^\s*{re.escape(label)}:\s+([0-9.]+)", text, re.M)
    if not found:
        raise HeyOutputError(f"hey's summary has no {label!r} line: {' '.join(text.split())[:200]}")
    return float(found[1])


def parse(text: str) -> HeyResult:
    """hey's default (summary) output. Raises HeyOutputError."""
    values = {key: _summary_value(text, label) for key, label in SUMMARY.items()}
    # A percentile hey's rank rule never reached (p99 of fewer than 100
    # samples) is printed as "0% in 0.0000 secs": not a figure.
    percentiles = {int(p): float(s) for p, s in PERCENTILE_LINE.findall(text) if int(p) > 0}
    status_part, _, error_part = text.partition("Error distribution:")
    status = {int(code): int(n) for code, n in STATUS_LINE.findall(status_part)}
    errors = {msg.strip(): int(n) for n, msg in ERROR_LINE.findall(error_part)}
    if not status and not errors:
        raise HeyOutputError("hey's output has neither a status code nor an error distribution")
    return HeyResult(**values, percentiles_s=percentiles, status_codes=status, errors=errors)
