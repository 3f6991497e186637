"""io-mix in the report (seed 001): the generic table of medians, with
elapsed seconds as its headline; and the article's own table (Server, Mode,
# Slow, # Fast, Elapsed, Throughput) from a run's results, one row per cell
and mode, with the median over repetitions:
`python -m analysis.scenarios.io_mix RUN_DIR` prints it as markdown.

What the modes are, in the article's words: "sequential" is its "Sync" test
(one httpx.Client, slow requests first, then fast ones, one at a time),
"concurrent" its "Async" test (httpx.AsyncClient, asyncio.gather of all).
"""
from __future__ import annotations

import sys

import pandas as pd

from analysis.runs.load import load_run
from analysis.scenarios.base import ScenarioReport

SCENARIO = "io-mix"
MODES = ("sequential", "concurrent")
TABLE_COLUMNS = ["Server", "Mode", "# Slow", "# Fast", "Elapsed", "Throughput", "Reps"]

REPORT = ScenarioReport(SCENARIO, headline=("elapsed_s",))


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
        print("usage: python -m analysis.scenarios.io_mix RESULTS_DIR", file=sys.stderr)
        return 2
    df, _ = load_run(args[0])
    print(to_markdown(article_table(df)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
