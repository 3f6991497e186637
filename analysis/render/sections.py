"""One report section per scenario in a run: its tables, as display frames.

single-client, concurrency and memory have tables made for what they
measure; any other scenario (io-mix, fixed-rate, user-ramp, ...) gets a
generic table of medians per cell, variant and metric, so a scenario this
module does not know is still shown rather than silently dropped. Every
section ends with its comparisons with the WSGI baseline, where it has any.

The builders read a run's ``Facts`` (analysis/scenarios/facts.py): ``medians``,
``ci``, ``compared``, ``unmatched``, ``saturated_reps``, ``baseline``,
``units`` and ``metric_order``; numbers become strings through formatting.py only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.render import formatting as fmt
from analysis.stats.bootstrap import CONFIDENCE, MIN_REPETITIONS
from analysis.stats.summary import CELL_COLUMNS, GROUP_COLUMNS, KEYS, variant_rank


@dataclass
class Section:
    scenario: str
    intro: str
    tables: list[tuple[str, str, pd.DataFrame]] = field(default_factory=list)  # title, caption


# (display title, source column, formatter) for the single-client medians.
MEDIAN_COLUMNS = [
    ("reps", "repetitions", lambda v: fmt.num(v, 0)),
    ("p50 ms", "latency_p50", lambda v: fmt.num(v, 3)),
    ("p50 95% CI", "latency_p50 ci", lambda v: fmt.interval(v, 3)),
    ("p50 CV %", "latency_p50 cv", lambda v: fmt.percent(v)),
    ("p90 ms", "latency_p90", lambda v: fmt.num(v, 3)),
    ("p99 ms", "latency_p99", lambda v: fmt.num(v, 3)),
    ("mean ms", "latency_mean", lambda v: fmt.num(v, 3)),
    ("req/s", "requests_per_s", lambda v: fmt.num(v, 0)),
    ("req/s 95% CI", "requests_per_s ci", lambda v: fmt.interval(v, 0)),
    ("req/s CV %", "requests_per_s cv", lambda v: fmt.percent(v)),
    ("server CPU %", "server_cpu_percent", lambda v: fmt.num(v, 1)),
    ("server RSS MB", "server_rss_mb", lambda v: fmt.num(v, 1)),
    ("server threads", "server_threads", lambda v: fmt.num(v, 0 if fmt.is_whole(v) else 1)),
    ("client CPU %", "client_cpu_percent", lambda v: fmt.num(v, 1)),
]
RATIO_COLUMNS = [
    ("p50 ratio", "p50_ratio", lambda v: fmt.num(v, 3)),
    ("p50 diff ms", "p50_diff_ms", lambda v: fmt.num(v, 3, signed=True)),
    ("p50 diff 95% CI", "p50_diff_ci", lambda v: fmt.interval(v, 3, signed=True)),
    ("p99 ratio", "p99_ratio", lambda v: fmt.num(v, 3)),
    ("mean ratio", "mean_ratio", lambda v: fmt.num(v, 3)),
    ("throughput ratio", "throughput_ratio", lambda v: fmt.num(v, 3)),
    ("throughput 95% CI", "throughput_ratio_ci", lambda v: fmt.interval(v, 3)),
    ("verdict", "verdict", lambda v: fmt.text(v)),
]
# Columns of the runner that a generic table leaves out: bookkeeping and the
# finer psutil figures (the saturation flag has its own warning).
GENERIC_HIDDEN = (
    "ready_after_s", "runner_overhead_s", "window_s", "server_threads", "server_processes",
    "server_ctx_voluntary", "server_ctx_involuntary", "server_fds", "server_connections",
    "client_sampler_cpu_percent", "server_sampler_cpu_percent", "client_cpu_share",
    "client_saturated", "littles_law_ratio", "client_cpu_peak_share",
    "client_cpu_other_share", "client_cpu_steal_share", "client_cpu_softirq_share",
    "client_run_delay_share", "server_cpu_other_share", "server_cpu_steal_share",
    "server_cpu_softirq_share", "window_disturbed", "window_attempts",
)
# psutil columns a generic table shows after the scenario's own metrics.
GENERIC_WINDOW = ("server_cpu_percent", "server_rss_mb", "server_uss_mb", "client_cpu_percent")
CI_TEXT = (f"`[..]` is the {CONFIDENCE * 100:g} % bootstrap interval of the median (none below"
           f" {MIN_REPETITIONS} repetitions)")


def cell_title(row) -> str:
    """A cell named in full, for a heading: `id` server (interface, 1w 1t; ...)."""
    return (f"`{row['cell_id']}` {row['server']} ({row['interface']}, {row['workers']}w"
            f" {row['threads']}t; Python {row['python']}, Django {row['django']},"
            f" asgiref {row['asgiref']}, view {row['view']})")


# --------------------------------------------------------------------------
# Known scenarios


def generic(facts, scenario: str, rows: pd.DataFrame) -> Section:
    """The section of a scenario without a module of its own: a table of
    the median of every metric it recorded, per cell and variant."""
    # The scenario's own metrics in the order it recorded them, then the
    # psutil columns worth a glance.
    recorded = [m for m in facts.metric_order if m in rows.columns and rows[m].notna().any()
                and m not in GENERIC_HIDDEN]
    window = [m for m in GENERIC_WINDOW if m in recorded]
    metrics = [m for m in recorded if m not in window] + window
    # A metric with one value in every row (a parameter such as n_slow, a
    # count of 0 errors) is said once, not repeated on every row.
    same = ([m for m in metrics if rows[m].notna().all() and rows[m].nunique() == 1]
            if len(rows) > 1 else [])
    metrics = [m for m in metrics if m not in same]
    constant = "; ".join(f"{m} = {fmt.general(rows[m].iloc[0])}{_unit(facts.units.get(m))}"
                         for m in same)
    intro = (
        "A scenario this report has no dedicated table for: the median over repetitions of"
        " each metric it recorded, per cell and variant."
        + (f" The same in every row: {constant}." if constant else "")
        + f" Left out here (they are in results.parquet): {', '.join(GENERIC_HIDDEN)}."
    )
    frame = baseline_first(rows, facts.baseline)
    frame = frame.assign(_variant=frame["variant"].map(variant_rank(frame["variant"])))
    long = frame.melt(id_vars=[*KEYS, *CELL_COLUMNS, "repetitions", "_variant"],
                      value_vars=metrics, var_name="metric", value_name="median")
    long = long.dropna(subset=["median"])
    # Cells in the baseline-first order, then variant, then the metrics as recorded.
    cell_order = {c: i for i, c in enumerate(dict.fromkeys(frame["cell_id"]))}
    metric_order = {m: i for i, m in enumerate(metrics)}
    long = long.assign(_cell=long["cell_id"].map(cell_order),
                       _metric=long["metric"].map(metric_order),
                       unit=long["metric"].map(lambda m: facts.units.get(m, "")))
    long = long.sort_values(["_cell", "_variant", "_metric"], kind="stable")
    columns = [*ids(facts, scenario, always_variant=True), "metric", "unit"]
    table = fmt.display(long, columns, [("reps", "repetitions", lambda v: fmt.num(v, 0)),
                                    ("median", "median", fmt.general)])
    return Section(scenario, intro, [(f"{scenario}: medians", "", table)])


# --------------------------------------------------------------------------
# Shared parts


def comparisons(facts, scenario: str) -> list[tuple[str, str, pd.DataFrame]]:
    """The scenario's rows of stats.compare and of stats.not_compared."""
    out = []
    ratios = facts.compared[facts.compared["scenario"] == scenario].copy()
    if not ratios.empty:
        ratios["p50_diff_ci"] = list(zip(ratios["p50_diff_low"], ratios["p50_diff_high"]))
        ratios["throughput_ratio_ci"] = list(
            zip(ratios["throughput_ratio_low"], ratios["throughput_ratio_high"]))
        ratios["baseline"] = [f"{s} ({w}w)" for s, w in
                              zip(ratios["baseline_server"], ratios["baseline_workers"])]
        columns = list(RATIO_COLUMNS)
        if ratios["saturated_client"].astype(bool).any():
            columns.append(("client saturated", "saturated_client",
                            lambda v: "yes" if v else ""))
        table = fmt.display(ratios, [*ids(facts, scenario), "baseline"], columns)
        caption = (
            "Each row divides a cell's median by that of the WSGI baseline cell with the same"
            " python, django, asgiref, view, scenario and variant: rows with interface `asgi`"
            " are the ASGI servers, rows with interface `wsgi` are the other WSGI servers"
            " against the same baseline. A latency ratio > 1 means slower than the baseline;"
            " a throughput ratio > 1 means more requests per second. The intervals resample"
            " the two cells' repetitions independently; the verdict follows the rule under"
            " \"Verdict\"."
        )
        out.append((f"{scenario}: compared with the WSGI baseline ({facts.baseline})",
                    caption, table))
    unmatched = facts.unmatched[facts.unmatched["scenario"] == scenario]
    if not unmatched.empty:
        out.append((f"{scenario}: not compared", "No usable baseline in their group:",
                    fmt.display(unmatched, [*ids(facts, scenario), "reason"], [])))
    return out


def ids(facts, scenario: str, always_variant: bool = False) -> list[str]:
    """Cell columns, and the variant when the scenario has more than one."""
    variants = facts.medians.loc[facts.medians["scenario"] == scenario, "variant"]
    show = always_variant or variants.nunique() > 1
    return [*CELL_COLUMNS, *(["variant"] if show else [])]


def with_ci(facts, rows: pd.DataFrame, metrics) -> pd.DataFrame:
    """``rows`` plus, per metric, "<metric> ci" (low, high) and "<metric> cv"
    from ``facts.ci``: {(cell_id, scenario, variant, metric): (low, high, cv)}."""
    out = rows.copy()
    keys = list(zip(*(rows[c] for c in KEYS)))
    none = (None, None, None)
    for metric in metrics:
        found = [facts.ci.get((*k, metric), none) for k in keys]
        out[f"{metric} ci"] = [(low, high) for low, high, _ in found]
        out[f"{metric} cv"] = [cv for *_, cv in found]
    return out


def _unit(unit) -> str:
    """" ms" after a number; nothing for plain counts."""
    return "" if unit in (None, "", "1", "count", "flag") else f" {unit}"


def saturated_count(facts, row: dict) -> str:
    """"2 of 5": how many repetitions of ``row``'s cell, scenario and variant
    had a saturated client ("no" for none)."""
    hot = facts.saturated_reps.get((row["cell_id"], row["scenario"], row["variant"]), 0)
    return f"{hot} of {int(row['repetitions'])}" if hot else "no"


def baseline_first(frame: pd.DataFrame, baseline: str, by_variant: bool = True) -> pd.DataFrame:
    """Within each group (variants in their natural order) the baseline
    first: the other rows are read against it. A stable sort keeps
    summary.py's order otherwise."""
    if frame.empty:
        return frame
    frame = frame.assign(_other=frame["server"] != baseline,
                         _rank=frame["variant"].map(variant_rank(frame["variant"])))
    group = [("_rank" if c == "variant" else c) for c in GROUP_COLUMNS
             if by_variant or c != "variant"]
    return frame.sort_values([*group, "_other"], kind="stable").drop(columns=["_other", "_rank"])
