"""user-ramp in the report: the generic table of per-step medians, and the
figure of failed requests against users (seed 003's table)."""
from __future__ import annotations

import re

import pandas as pd
from matplotlib.figure import Figure

from analysis.scenarios.base import FigureSpec, ScenarioReport
from analysis.scenarios.facts import figure_title, latency_model, new_figure, row_label

FAILURE = re.compile(r"failure_pct@(\d+)$")


def figure(medians: pd.DataFrame, reps: pd.DataFrame, labels: dict,
                     manifest: dict) -> Figure | None:
    """Failed requests in % at each step of users (scenario user-ramp,
    metrics failure_pct@<users>), one line per cell, a dot per repetition."""
    rows = medians[medians["scenario"] == "user-ramp"]
    steps = sorted((int(FAILURE.match(c).group(1)), c) for c in rows.columns
                   if FAILURE.match(c) and rows[c].notna().any())
    if rows.empty or not steps:
        return None
    fig = new_figure(4.4)
    ax = fig.subplots()
    top = 0.0
    for k, r in enumerate(rows.to_dict("records")):
        points = [(u, r[c]) for u, c in steps if pd.notna(r[c])]
        label = row_label((r["cell_id"], r["variant"]), labels)
        ax.plot(*zip(*points), marker="o", color=f"C{k}", label=label)
        for u, c in steps:
            dots = reps[(reps["cell_id"] == r["cell_id"]) & (reps["scenario"] == "user-ramp")
                        & (reps["variant"] == r["variant"]) & (reps["metric"] == c)]["value"]
            ax.scatter([u] * len(dots), dots, color=f"C{k}", s=12, alpha=0.5)
            top = max([top, *dots])
        top = max([top, *(v for _, v in points)])
    users = [u for u, _ in steps]
    ax.set_xticks(users, [str(u) for u in users])
    ax.set_ylim(-1, max(10.0, top * 1.1))
    ax.set_xlabel("concurrent users (Locust)")
    ax.set_ylabel("failed requests (% of requests in the step)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    ax.set_title(figure_title("Failures vs users (line: median over repetitions; dots: repetitions)",
                        latency_model(manifest, "user-ramp")), fontsize=10)
    return fig


REPORT = ScenarioReport(
    "user-ramp", headline=("max_users_without_failures",), figure_metrics=(FAILURE,),
    figures=(FigureSpec(
        "fig-user-ramp",
        "Scenario user-ramp: failed requests in % at each step of concurrent users, per cell.",
        lambda f, reps, labels: figure(f.medians, reps, labels, f.manifest)),),
)
