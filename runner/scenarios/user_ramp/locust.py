"""Locust for the user-ramp scenario: the command line, and parsing of what it writes.

Locust runs headless on the client host with runner/scenarios/user_ramp/host/locustfile.py,
whose StepRamp shape holds each user count for step_s seconds. It writes:

- <prefix>_steps.csv   one row per user step (the locustfile's own, exact:
                       every response time kept, nearest-rank percentiles
                       with failed requests included as Locust does, each
                       request in the step it was sent in, the last step's
                       requests drained rather than cut off);
- <prefix>.json        Locust's final per-endpoint stats (--json-file), written
                       after the last request: its totals must equal the sum
                       of the steps, or the step file is not trusted;
- <prefix>_stats.csv, _stats_history.csv (--csv, --csv-full-history),
  _failures.csv, _exceptions.csv: Locust's own tables, kept for the record
  (the stats CSV is rewritten once a second, so its last second may be
  missing: not used for the cross-check).

Latency model: Locust users in a closed loop each (a request, then a random
wait); response time from Locust's send to the last byte, following the
vote's redirect inside one request. Users wait, so this is near an open load
while the server keeps up; once it does not, a slow answer delays its own
user's next request (coordinated omission within each user).
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

# Locust, headless, in the client's tools venv.
PACKAGE = "locust==2.47.0"
LATENCY_MODEL = ("Locust {users} users, each: request, then a {wait_min:g}-{wait_max:g} s wait; "
                 "response time from Locust's send to the last byte (the vote includes its "
                 "redirect); a slow answer delays only its own user's next request")
STEP_SUFFIX = "_steps.csv"
INT_FIELDS = ("step", "users", "users_reached", "sent", "requests", "unfinished", "failures")
FLOAT_FIELDS = ("start_epoch", "end_epoch", "start_s", "duration_s", "requests_per_s")
OPTIONAL_FLOATS = ("failure_pct", "latency_p50", "latency_p90", "latency_p99",
                   "latency_mean", "latency_max")
RUN_TIME_MARGIN_S = 30  # Locust's start and stop beyond the steps: a bound, never reached normally


class LocustOutputError(ValueError):
    pass


@dataclass(frozen=True)
class StepRow:
    step: int
    users: int                 # the step's target user count
    users_reached: int         # most users Locust had running during the step
    start_epoch: float         # the step's start and end, epoch seconds (client clock)
    end_epoch: float
    start_s: float             # from the first step's start
    duration_s: float
    sent: int                  # requests sent during the step ...
    requests: int              # ... of which answered or failed (Locust's count)
    unfinished: int            # ... and still open when the drain gave up
    failures: int
    failure_pct: float | None  # failures / requests; None when no request ended
    requests_per_s: float      # requests / duration_s
    latency_ms: dict           # p50, p90, p99, mean, max (None when no request)
    errors: dict               # failure kind -> count


def command(locust: str, locustfile: str, host_url: str, prefix: str, steps: list[int],
            step_s: float, spawn_rate: float, wait_min_s: float, wait_max_s: float,
            timeout_s: float) -> list[str]:
    """Locust's argv. The shape ends the test after the last step; Locust
    ignores --run-time when a shape is present, so `timeout` is the bound."""
    bound = math.ceil(len(steps) * step_s + drain_bound_s(timeout_s) + RUN_TIME_MARGIN_S)
    return ["timeout", "-k", "10", f"{bound}s",
            locust, "-f", locustfile, "--headless", "--host", host_url, "--stop-timeout", "0",
            "--csv", prefix, "--csv-full-history", "--json-file", prefix,
            "--loglevel", "WARNING", "--exit-code-on-error", "0",
            "--lab-steps", ",".join(str(n) for n in steps), "--lab-step-s", f"{step_s:g}",
            "--lab-spawn-rate", f"{spawn_rate:g}", "--lab-wait-min", f"{wait_min_s:g}",
            "--lab-wait-max", f"{wait_max_s:g}", "--lab-timeout", f"{timeout_s:g}"]


def drain_bound_s(timeout_s: float) -> float:
    """Longest drain after the last step (the locustfile's DRAIN_SLACK_S is 5 s)."""
    return timeout_s + 5.0


def _errors(text: str) -> dict:
    out = {}
    for part in filter(None, (text or "").split("|")):
        kind, _, count = part.rpartition("=")
        out[kind] = int(count)
    return out


def parse_steps(text: str) -> list[StepRow]:
    """Rows of <prefix>_steps.csv, in step order."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(INT_FIELDS + FLOAT_FIELDS + OPTIONAL_FLOATS) - set(reader.fieldnames or [])
    if missing:
        raise LocustOutputError(f"step file lacks columns {sorted(missing)}; header: {reader.fieldnames}")
    rows = []
    try:
        for raw in reader:
            opt = {k: (float(raw[k]) if raw[k] not in ("", None) else None) for k in OPTIONAL_FLOATS}
            rows.append(StepRow(
                **{k: int(raw[k]) for k in INT_FIELDS}, **{k: float(raw[k]) for k in FLOAT_FIELDS},
                failure_pct=opt["failure_pct"],
                latency_ms={k.removeprefix("latency_"): opt[k] for k in OPTIONAL_FLOATS[1:]},
                errors=_errors(raw.get("errors", ""))))
    except (TypeError, ValueError) as exc:
        raise LocustOutputError(f"malformed step row: {exc}") from None
    if not rows:
        raise LocustOutputError("step file has no rows: Locust ran no step")
    if [r.step for r in rows] != list(range(1, len(rows) + 1)):
        raise LocustOutputError(f"steps out of order: {[r.step for r in rows]}")
    return rows


def parse_totals(text: str) -> tuple[int, int]:
    """(requests, failures) over every endpoint of Locust's --json-file output."""
    try:
        entries = json.loads(text)
        return (sum(int(e["num_requests"]) for e in entries),
                sum(int(e["num_failures"]) for e in entries))
    except (ValueError, KeyError, TypeError) as exc:
        raise LocustOutputError(f"malformed Locust JSON stats: {exc}") from None


def check_totals(rows: list[StepRow], totals: tuple[int, int]) -> None:
    """The step file must account for every request Locust itself counted."""
    mine = (sum(r.requests for r in rows), sum(r.failures for r in rows))
    if mine != tuple(totals):
        raise LocustOutputError(f"steps add up to {mine[0]} requests / {mine[1]} failures, "
                                f"Locust counted {totals[0]} / {totals[1]}")


def max_users_without_failures(rows: list[StepRow]) -> int:
    """The user count of the last step before the first one with a failure, an
    unfinished request or no request at all: 0 when the first step already
    failed. Steps after a failing one do not count, as in the seed's table
    ("0 % up to 300 users")."""
    best = 0
    for row in rows:
        if row.requests == 0 or row.failures > 0 or row.unfinished > 0:
            break
        best = row.users
    return best


def step_metrics(rows: list[StepRow]) -> dict[str, tuple[float, str]]:
    """Per-step samples named metric@users, plus the run's summary metrics."""
    out: dict[str, tuple[float, str]] = {}
    for r in rows:
        at = f"@{r.users}"
        out[f"users_reached{at}"] = (float(r.users_reached), "count")
        out[f"sent{at}"] = (float(r.sent), "count")
        out[f"requests{at}"] = (float(r.requests), "count")
        out[f"unfinished{at}"] = (float(r.unfinished), "count")
        out[f"failures{at}"] = (float(r.failures), "count")
        out[f"requests_per_s{at}"] = (r.requests_per_s, "1/s")
        if r.failure_pct is not None:
            out[f"failure_pct{at}"] = (r.failure_pct, "%")
        for name in ("p50", "p90", "p99", "mean", "max"):
            if r.latency_ms[name] is not None:
                out[f"latency_{name}{at}"] = (r.latency_ms[name], "ms")
    out["max_users_without_failures"] = (float(max_users_without_failures(rows)), "count")
    total = sum(r.requests for r in rows)
    out["requests"] = (float(total), "count")
    out["errors"] = (float(sum(r.failures for r in rows)), "count")
    return out
