"""Instructions per request, from the instructions scenario's totals
(runner/scenarios/instructions/): in each repetition of a cell, the server
that served `requests` requests minus the one that served
`baseline_requests`, divided by the difference of the counts. Start-up,
shutdown and everything else both servers did alike cancel; what is left is
the cost of the extra requests (and of any idle work the server does per
second, such as a supervisor's heartbeat, for the longer time they took).

The derived rows join the samples as the scenario's variant "per request",
so medians, intervals, A/A controls and run comparisons treat them as any
other metric."""
from __future__ import annotations

import pandas as pd
from packaging.version import Version

SCENARIO = "instructions"
PER_REQUEST = "per request"
COUNT = "requests_served"
# Totals that have a per-request figure (the split ones only with callgrind).
PARTS = ("instructions", "instructions_main_process", "instructions_other_processes",
         "instructions_main_thread", "instructions_other_threads")
UNIT = "instructions"


def per_request_name(part: str) -> str:
    return f"{part}_per_request"


def with_per_request(samples: pd.DataFrame) -> pd.DataFrame:
    """`samples` plus the per-request rows of every repetition that has
    both servers' totals (none for runs without the scenario)."""
    rows = samples[samples["scenario"] == SCENARIO]
    if rows.empty:
        return samples
    derived = []
    for _, rep in rows.groupby(["run_id", "cell_id", "repetition"], sort=False):
        counts = rep[rep["metric"] == COUNT].set_index("variant")["value"]
        if len(counts) != 2 or counts.nunique() != 2:
            continue   # one of the two servers failed: no difference to take
        small, large = counts.idxmin(), counts.idxmax()
        extra = counts[large] - counts[small]
        for part in PARTS:
            values = rep[rep["metric"] == part].set_index("variant")["value"]
            if small not in values or large not in values:
                continue
            row = rep[(rep["metric"] == part) & (rep["variant"] == large)].iloc[0].copy()
            row["variant"] = PER_REQUEST
            row["metric"] = per_request_name(part)
            row["value"] = (values[large] - values[small]) / extra
            row["unit"] = UNIT
            derived.append(row)
    if not derived:
        return samples
    return pd.concat([samples, pd.DataFrame(derived)], ignore_index=True)


def sweep_tables(samples: pd.DataFrame, baseline: str) -> dict[str, pd.DataFrame]:
    """Thousands of instructions per request laid out release by release:
    per server a (python, django) x asgiref table, and each other server
    over the baseline server in the same layout."""
    rows = samples[(samples["variant"] == PER_REQUEST)
                   & (samples["metric"] == per_request_name("instructions"))]
    medians = rows.groupby(["server", "python", "django", "asgiref"])["value"].median() / 1e3
    out = {}
    for server in medians.index.get_level_values("server").unique():
        table = medians[server].unstack("asgiref")
        table = table[sorted(table.columns, key=Version)]
        out[f"{server}: thousand instructions per request"] = table.round(0)
        if server != baseline and baseline in medians.index.get_level_values("server"):
            ratio = table / medians[baseline].unstack("asgiref")
            out[f"{server} / {baseline}"] = ratio[table.columns].round(2)
    return out

