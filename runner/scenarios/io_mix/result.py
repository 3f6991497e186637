"""io-mix (seed 001): parsing runner/remote/iomix_client.py's output, and the
article's table from a run's results.

The client prints one JSON line (see its docstring). `parse` checks it and
`metrics` turns it into the samples the scenario records; `article_table`
rebuilds the article's table (Server, Mode, # Slow, # Fast, Elapsed,
Throughput) from results.parquet, one row per cell and mode, with the median
over repetitions; `python -m runner.scenarios.io_mix.result RUN_DIR` prints it as markdown.

What the modes are, in the article's words: "sequential" is its "Sync" test
(one httpx.Client, slow requests first, then fast ones, one at a time),
"concurrent" its "Async" test (httpx.AsyncClient, asyncio.gather of all).
Elapsed is the client's wall time from the first request to the last
answer; throughput is requests / elapsed, as the article computes it.
"""
from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SCENARIO = "io-mix"
TOOL = "iomix_client"
FORMAT = 1
MODES = ("sequential", "concurrent")
TABLE_COLUMNS = ["Server", "Mode", "# Slow", "# Fast", "Elapsed", "Throughput", "Reps"]


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


def _server_label(row) -> str:
    return f"{row['server']} {int(row['workers'])}w ({str(row['interface']).upper()}, {row['view']})"


def article_table(df: pd.DataFrame) -> pd.DataFrame:
    """The article's table from a results DataFrame: one row per cell and mode.

    Values are medians over repetitions; Reps says how many there were. Rows
    are ordered by server label, then sequential before concurrent.
    """
    io = df[(df["scenario"] == SCENARIO)
            & df["metric"].isin(["elapsed_s", "requests_per_s", "n_slow", "n_fast"])]
    if io.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    keys = ["cell_id", "server", "interface", "workers", "view", "variant"]
    wide = io.pivot_table(index=keys + ["repetition"], columns="metric", values="value",
                          aggfunc="first").reset_index()
    grouped = wide.groupby(keys, dropna=False)
    medians = grouped[["elapsed_s", "requests_per_s", "n_slow", "n_fast"]].median()
    medians["reps"] = grouped["repetition"].nunique()
    medians = medians.reset_index()
    rows = []
    for _, row in medians.iterrows():
        rows.append({"Server": _server_label(row), "Mode": row["variant"],
                     "# Slow": int(row["n_slow"]), "# Fast": int(row["n_fast"]),
                     "Elapsed": f"{row['elapsed_s']:.2f}s",
                     "Throughput": f"{row['requests_per_s']:.2f} req/s", "Reps": int(row["reps"]),
                     "_mode_order": MODES.index(row["variant"]) if row["variant"] in MODES else 9})
    table = pd.DataFrame(rows).sort_values(["Server", "_mode_order"], kind="stable")
    return table[TABLE_COLUMNS].reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub table, numbers right-aligned (pandas' to_markdown needs tabulate)."""
    right = {"# Slow", "# Fast", "Elapsed", "Throughput", "Reps"}
    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---:" if c in right else "---" for c in table.columns) + "|"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in table.columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m runner.scenarios.io_mix.result RESULTS_DIR", file=sys.stderr)
        return 2
    df = pd.read_parquet(Path(args[0]) / "results.parquet")
    print(to_markdown(article_table(df)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
