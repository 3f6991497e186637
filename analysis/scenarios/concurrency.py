"""concurrency in the report: a table of levels per cell, and the figure
of throughput and p99 against the number of connections."""
from __future__ import annotations

import math
import re

import pandas as pd
from matplotlib.figure import Figure

from analysis.render import formatting as fmt
from analysis.scenarios.base import FigureSpec, ScenarioReport
from analysis.scenarios.facts import (CI_TEXT, Section, baseline_first, cell_title, error_bars,
                                      figure_title, latency_model, new_figure, plain_log,
                                      saturated_count, with_ci)
from analysis.stats.summary import variant_rank

LEVEL = re.compile(r"c=(\d+)$")


def section(facts, scenario: str, rows: pd.DataFrame) -> Section:
    intro = (
        "Closed-loop load at each concurrency level (wrk connections), each level on its own"
        f" fresh server. One table per cell: medians over repetitions; {CI_TEXT}. `errors`"
        " is the median count of failed requests (socket errors and non-2xx) per repetition;"
        " `saturated` counts the repetitions whose load generator was saturated."
    )
    section = Section(scenario, intro)
    frame = with_ci(facts, rows, ("latency_p50", "latency_p99", "requests_per_s"))
    frame = frame.assign(saturated=[saturated_count(facts, r) for r in frame.to_dict("records")])
    frame = frame.assign(_level=frame["variant"].map(variant_rank(frame["variant"])))
    cells = baseline_first(frame.drop_duplicates("cell_id"), facts.baseline, by_variant=False)
    by_cell = dict(tuple(frame.sort_values("_level", kind="stable").groupby("cell_id", sort=False)))
    for cell in cells.to_dict("records"):
        section.tables.append((f"{scenario}: {cell_title(cell)}", "",
                               _level_table(by_cell[cell["cell_id"]])))
    return section


def _level_table(levels: pd.DataFrame) -> pd.DataFrame:
    def shown(metric: str, decimals: int) -> list[str]:
        return [f"{fmt.num(v, decimals)} {fmt.interval(b, decimals, missing='')}".strip()
                for v, b in zip(levels[metric], levels[f"{metric} ci"])]

    return pd.DataFrame({
        "level": [fmt.text(v) for v in levels["variant"]],
        "reps": [fmt.num(v, 0) for v in levels["repetitions"]],
        "p50 ms": shown("latency_p50", 3),
        "p99 ms": shown("latency_p99", 3),
        "req/s": shown("requests_per_s", 0),
        "errors": [fmt.num(v, 0 if fmt.is_whole(v) else 1) for v in levels["errors"]],
        "server CPU %": [fmt.num(v, 1) for v in levels["server_cpu_percent"]],
        "saturated": list(levels["saturated"]),
    }, dtype=object)


def figure(medians: pd.DataFrame, ci: dict, labels: dict, manifest: dict) -> Figure | None:
    """Throughput and p99 against the number of connections (scenario
    concurrency, variants c=N), one line per cell, 95 % intervals as bars."""
    rows = medians[(medians["scenario"] == "concurrency")
                   & medians["variant"].astype(str).str.match(LEVEL)]
    rows = rows[rows[["requests_per_s", "latency_p99"]].notna().any(axis=1)]
    if rows.empty:
        return None
    rows = rows.assign(level=rows["variant"].str.extract(LEVEL, expand=False).astype(int))
    fig = new_figure(4.6)
    axes = fig.subplots(1, 2)
    panels = [("requests_per_s", "throughput (requests/s)", "linear"),
              ("latency_p99", "p99 latency (ms, log scale)", "log")]
    for ax, (metric, ylabel, scale) in zip(axes, panels):
        for cell_id, cell in rows.sort_values("level").groupby("cell_id", sort=False):
            low, high = zip(*(ci.get((cell_id, "concurrency", v, metric), (math.nan,) * 3)[:2]
                              for v in cell["variant"]))
            ax.errorbar(cell["level"], cell[metric], yerr=error_bars(cell[metric], low, high),
                        marker="o", capsize=3, label=labels.get(cell_id, cell_id))
        ax.set_xscale("log", base=2)
        ax.set_yscale(scale)
        if scale == "log":
            plain_log(ax.yaxis)
        levels = sorted(rows["level"].unique())
        ax.set_xticks(levels, [str(v) for v in levels])
        ax.set_xlabel("concurrent connections (wrk -c, log scale)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylim(bottom=0)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(figure_title("Throughput and p99 latency vs concurrency (median, 95 % interval)",
                        latency_model(manifest, "concurrency")), fontsize=10)
    return fig


REPORT = ScenarioReport(
    "concurrency", order=1, section=section, one_client_variants=("c=1",),
    figures=(FigureSpec(
        "fig-concurrency",
        "Scenario concurrency: throughput and p99 latency at each number of connections, one"
        " line per cell; median over repetitions, bars are the 95 % bootstrap interval of the"
        " median (none below 3 repetitions).",
        lambda f, reps, labels: figure(f.medians, f.ci, labels, f.manifest)),),
)
