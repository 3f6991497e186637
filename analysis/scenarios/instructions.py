"""instructions in the report: instructions per request per cell (median
over repetitions, their spread, the split by process and thread), each
cell against its WSGI baseline, the releases at which the cost changes
along each version axis (analysis/stats/steps.py), and, where wall-clock
single-client ran on the same cells, both instruments side by side.

Per request (its `derive` hook, on loading a run): Instructions per request, from the instructions scenario's totals
(runner/scenarios/instructions/): in each repetition of a cell, the server
that served `requests` requests minus the one that served
`baseline_requests`, divided by the difference of the counts. Start-up,
shutdown and everything else both servers did alike cancel; what is left is
the cost of the extra requests (and of any idle work the server does per
second, such as a supervisor's heartbeat, for the longer time they took).

The derived rows join the samples as the scenario's variant "per request",
so medians, intervals, A/A controls and run comparisons treat them as any
other metric.

A version sweep's instructions per request, release by release:

    .venv/bin/python -m analysis.scenarios.instructions results/<run_id>

prints per server a (python, django) x asgiref table of thousands of
instructions per request (median over repetitions), and each ASGI server
over the WSGI baseline in the same layout (sweep_tables)."""
from __future__ import annotations

import sys

import pandas as pd
from packaging.version import Version

from analysis.render import formatting as fmt
from analysis.runs.load import load_run
from analysis.scenarios.base import ScenarioReport
from analysis.scenarios.facts import Section
from analysis.stats.steps import THRESHOLD, axis_changes
from analysis.stats.summary import CELL_COLUMNS

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


VALUE = per_request_name("instructions")
# Coordinates that are not version axes: what a change is looked for within.
NOT_VERSIONS = {"cell_id", "server", "interface", "workers", "threads", "view"}
# Time and instructions "disagree" when their ASGI/WSGI ratios differ by more.
DISAGREE = 0.10
WALL_CLOCK = ("single-client", "keep-alive", "latency_mean")

PART_COLUMNS = [(f"{label} /req", per_request_name(part), lambda v: fmt.num(v / 1e3, 1))
                for label, part in (("main process k", "instructions_main_process"),
                                    ("other processes k", "instructions_other_processes"),
                                    ("main threads k", "instructions_main_thread"),
                                    ("other threads k", "instructions_other_threads"))]


def pin_axes(manifest: dict) -> list[str]:
    """Packages the matrix pins to several versions: axes like django's."""
    pins = (manifest.get("matrix") or {}).get("pins") or {}
    return sorted(n for n, v in pins.items() if isinstance(v, list) and len(v) > 1)


def coordinates(manifest: dict) -> list[str]:
    return [*CELL_COLUMNS, *pin_axes(manifest)]


def per_cell(facts) -> pd.DataFrame:
    """One row per cell: coordinates (with the version of each pinned
    axis), the median of each per-request part, repetitions and the spread
    ((max - min) / median) of the total."""
    samples = facts.samples
    rows = samples[(samples["scenario"] == "instructions") & (samples["variant"] == PER_REQUEST)]
    if rows.empty:
        return pd.DataFrame()
    wide = (rows.groupby(["cell_id", *CELL_COLUMNS, "metric"])["value"].median()
            .unstack("metric").reset_index())
    packages = {c["cell_id"]: c.get("packages") or {} for c in facts.manifest.get("cells") or []}
    for name in pin_axes(facts.manifest):
        wide[name] = wide["cell_id"].map(lambda c: packages.get(c, {}).get(name))
    total = rows[rows["metric"] == VALUE].groupby("cell_id")["value"]
    # One repetition has no spread to show.
    spread = ((total.max() - total.min()) / total.median()).where(total.count() > 1)
    wide["repetitions"] = wide["cell_id"].map(total.count())
    wide["spread"] = wide["cell_id"].map(spread)
    # Parts a tool does not split (threads, with cachegrind) are left out.
    empty = [c for c in wide.columns if c.startswith("instructions") and wide[c].isna().all()]
    return wide.drop(columns=empty)


def with_baseline_ratio(cells: pd.DataFrame, baseline: str, group: list[str]) -> pd.DataFrame:
    """Each cell's instructions per request over its WSGI baseline's: the
    baseline server's first cell (not its A/A twin) with the same `group`
    coordinates (python, django, asgiref, view, pinned axes)."""
    base = (cells[cells["server"] == baseline].sort_values("cell_id")
            .drop_duplicates(group)[[*group, VALUE]].rename(columns={VALUE: "baseline_value"}))
    out = cells.merge(base, on=group, how="left")
    out["vs_baseline"] = out[VALUE] / out["baseline_value"]
    return out


def side_by_side(facts, cells: pd.DataFrame) -> pd.DataFrame:
    """Cells measured by both instruments: wall-clock time per request
    (single-client keep-alive, mean) beside instructions per request, and
    each one's ratio to the baseline cell's."""
    scenario, variant, metric = WALL_CLOCK
    med = facts.medians
    timed = med[(med["scenario"] == scenario) & (med["variant"] == variant)]
    if timed.empty or metric not in timed.columns:
        return pd.DataFrame()
    both = cells.merge(timed[["cell_id", metric]], on="cell_id")
    if both.empty:
        return both
    both["ns_per_instruction"] = both[metric] * 1e6 / both[VALUE]
    # The baseline cell's time: the baseline server's row with the same baseline value.
    timed_base = (both[both["server"] == facts.baseline].drop_duplicates("baseline_value")
                  .set_index("baseline_value")[metric])
    both["time_vs_baseline"] = both[metric] / both["baseline_value"].map(timed_base)
    both["agree"] = [
        "n/a" if fmt.is_missing(t) or fmt.is_missing(i) else
        ("yes" if abs(t / i - 1) <= DISAGREE else
         ("no: time costs more" if t > i else "no: time costs less"))
        for t, i in zip(both["time_vs_baseline"], both["vs_baseline"])]
    return both


def section(facts, scenario: str, rows: pd.DataFrame) -> Section:
    intro = (
        "Instructions the server's processes executed per request, counted by Valgrind"
        f" ({_tools(facts)}): per repetition, the total of a fresh server that served the"
        " larger count minus that of one that served the smaller count, over the difference"
        " of the counts, so start-up and shutdown cancel. One request at a time on one"
        " keep-alive connection; PYTHONHASHSEED=0, no address-space randomisation. `spread`"
        " is (max - min) / median over repetitions. A count of instructions is not time:"
        " waiting (thread wake-ups, Nagle, delayed ACKs) costs time but few instructions."
    )
    cells = per_cell(facts)
    if cells.empty:
        return Section(scenario, intro + " No repetition has both counts.", [])
    coords = coordinates(facts.manifest)
    cells = with_baseline_ratio(cells, facts.baseline, [c for c in coords if c not in NOT_VERSIONS
                                                        or c == "view"])
    ids = ["cell_id", *coords]
    columns = [("reps", "repetitions", lambda v: fmt.num(v, 0)),
               ("instructions /req", VALUE, lambda v: fmt.num(v, 0)),
               ("spread %", "spread", lambda v: fmt.num(v * 100, 3)),
               ("vs baseline", "vs_baseline", lambda v: fmt.num(v, 4)),
               *[c for c in PART_COLUMNS if c[1] in cells.columns]]
    tables = [(f"{scenario}: instructions per request", "", fmt.display(cells, ids, columns))]
    axes = [c for c in coords if c not in NOT_VERSIONS and cells[c].nunique() > 1]
    if axes:
        changes = axis_changes(cells, VALUE, axes, coords)
        caption = (f"Releases at which instructions per request change by {THRESHOLD:.1%} or"
                   " more along each version axis, among cells that differ only in that axis"
                   " (ruptures' PELT over the release-ordered medians; analysis/stats/steps.py)."
                   f" Axes looked along: {', '.join(axes)}.")
        table = (fmt.display(changes, ["axis", "before", "after"],
                             [("change %", "change", lambda v: fmt.num(v * 100, 2, signed=True)),
                              ("series", "series", fmt.text),
                              ("cells before", "cells_before", fmt.text),
                              ("cells after", "cells_after", fmt.text)])
                 if not changes.empty else pd.DataFrame({"no change": ["none found"]}))
        tables.append((f"{scenario}: changes along the version axes", caption, table))
    both = side_by_side(facts, cells)
    if not both.empty:
        caption = ("Cells the run measured with both instruments: single-client keep-alive mean"
                   " latency (wall clock, one request at a time) beside instructions per"
                   " request, and each cell over its WSGI baseline by each instrument. `agree`"
                   f" is no when the two ratios differ by more than {DISAGREE:.0%}: time spent"
                   " waiting rather than computing.")
        tables.append((f"{scenario}: wall clock and instructions side by side", caption,
                       fmt.display(both, ids, [
                           ("mean ms", WALL_CLOCK[2], lambda v: fmt.num(v, 3)),
                           ("instructions /req", VALUE, lambda v: fmt.num(v, 0)),
                           ("ns per instruction", "ns_per_instruction",
                            lambda v: fmt.num(v, 3)),
                           ("time vs baseline", "time_vs_baseline", lambda v: fmt.num(v, 3)),
                           ("instructions vs baseline", "vs_baseline", lambda v: fmt.num(v, 3)),
                           ("agree", "agree", fmt.text)])))
    return Section(scenario, intro, tables)


def _tools(facts) -> str:
    params = ((facts.manifest.get("protocol") or {}).get("scenarios") or {}).get(
        "instructions") or {}
    return params.get("tool", "cachegrind") if isinstance(params, dict) else "cachegrind"


REPORT = ScenarioReport("instructions", order=8, section=section,
                        headline=(VALUE,), derive=with_per_request)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m analysis.scenarios.instructions results/<run_id>", file=sys.stderr)
        return 2
    samples, manifest = load_run(argv[0])
    pd.set_option("display.width", 160)
    for title, table in sweep_tables(samples, manifest["baseline_server"]).items():
        print(f"{title}\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

