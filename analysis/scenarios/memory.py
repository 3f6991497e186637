"""memory in the report: RSS and USS per worker and in total, a table per
cell and the figure of memory per worker."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.render import formatting as fmt
from analysis.scenarios.base import FigureSpec, ScenarioReport
from analysis.scenarios.facts import (Section, baseline_first, figure_title, ids, latency_model,
                                      new_figure, row_label)

_MB = lambda v: fmt.num(v, 1)  # noqa: E731
MEMORY_COLUMNS = [
    ("reps", "repetitions", lambda v: fmt.num(v, 0)),
    ("workers seen", "workers_seen", lambda v: fmt.num(v, 0 if fmt.is_whole(v) else 1)),
    ("worker RSS MB warm", "worker_rss_mb_after_warmup", _MB),
    ("worker RSS MB load", "worker_rss_mb_after_load", _MB),
    ("worker USS MB warm", "worker_uss_mb_after_warmup", _MB),
    ("worker USS MB load", "worker_uss_mb_after_load", _MB),
    ("total USS MB warm", "total_uss_mb_after_warmup", _MB),
    ("total USS MB load", "total_uss_mb_after_load", _MB),
]

MEMORY = {"worker_rss_mb_after_load": ("RSS", "tab:blue"),
          "worker_uss_mb_after_load": ("USS", "tab:green")}


def section(facts, scenario: str, rows: pd.DataFrame) -> Section:
    intro = (
        "Memory of the server's processes under closed-loop load, median over repetitions,"
        " in MB: `warm` is the first sample of the measured window (after warm-up), `load`"
        " its last. A worker is a process that used CPU during the load; `worker` figures are"
        " the mean over workers, `total USS` is the whole process tree's (arbiter and helpers"
        " included). USS is what a process alone holds (what its exit would free); RSS also"
        " counts pages shared with its parent after fork."
    )
    frame = baseline_first(rows.reindex(columns=[*rows.columns, *[
        c for _, c, _ in MEMORY_COLUMNS if c not in rows.columns]]), facts.baseline)
    table = fmt.display(frame, ids(facts, scenario), MEMORY_COLUMNS)
    return Section(scenario, intro, [(f"{scenario}: per cell", "", table)])


def figure(medians: pd.DataFrame, reps: pd.DataFrame, labels: dict,
           manifest: dict) -> Figure | None:
    """RSS and USS per worker after the load (scenario memory), per cell:
    bars at the median, a dot per repetition."""
    rows = medians[medians["scenario"] == "memory"]
    present = [m for m in MEMORY if m in rows.columns and rows[m].notna().any()]
    rows = rows[rows[present].notna().any(axis=1)] if present else rows.iloc[0:0]
    if rows.empty:
        return None
    keys = list(dict.fromkeys(zip(rows["cell_id"], rows["variant"])))
    fig = new_figure(1.4 + 0.5 * len(keys) * len(present))
    ax = fig.subplots()
    height = 0.8 / len(present)
    for j, metric in enumerate(present):
        name, color = MEMORY[metric]
        y = np.arange(len(keys)) + (j - (len(present) - 1) / 2) * height
        values = [rows.loc[(rows["cell_id"] == c) & (rows["variant"] == v), metric].iloc[0]
                  for c, v in keys]
        ax.barh(y, values, height=height * 0.9, color=color, alpha=0.6, label=f"{name} (median)")
        for yi, (c, v) in zip(y, keys):
            dots = reps[(reps["cell_id"] == c) & (reps["scenario"] == "memory")
                        & (reps["variant"] == v) & (reps["metric"] == metric)]["value"]
            ax.scatter(dots, [yi] * len(dots), color="black", s=10, zorder=3,
                       label="one repetition" if (j, yi) == (0, y[0]) else None)
    ax.set_yticks(range(len(keys)), [row_label(k, labels) for k in keys])
    ax.set_ylim(len(keys) - 0.5, -0.5)
    ax.set_xlabel("memory per worker after the load (MB; mean over workers)")
    ax.set_ylabel("cell [variant]")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(figure_title("Memory per worker (RSS counts pages shared after fork, USS does not)",
                        latency_model(manifest, "memory")), fontsize=10)
    return fig


REPORT = ScenarioReport(
    "memory", order=2, section=section, headline=("worker_uss_mb_after_load",),
    figure_metrics=tuple(MEMORY),
    figures=(FigureSpec(
        "fig-memory",
        "Scenario memory: resident (RSS) and unique (USS) memory per worker after the load,"
        " per cell; bars at the median over repetitions, a dot per repetition.",
        lambda f, reps, labels: figure(f.medians, reps, labels, f.manifest)),),
)
