"""Client saturation: which measured windows had a load generator that
could not keep up, so that their figures may describe the client rather
than the server.

The runner flags a window (metric ``client_saturated`` = 1) when its load
generator used >= 90 % of the cores it may use, over the window or over any
half second of it (``client_cpu_peak_share``; runner/session/session.py).
Runs from before that flag are read by client CPU alone; runs of schema
version 2 and older also flagged windows whose throughput x mean latency
strayed from the connection count (Little's law), which wrk's synthetic
latency samples and servers that close connections made cry wolf.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.runs.load import KEYS, REPETITION_KEYS
from runner.core.model import CELL_COLUMNS

# Windows without the runner's flag: above this % of one core (wrk ran one
# thread) the load generator is likely measuring itself.
CLIENT_CPU_SATURATED = 90.0
SATURATION_METRICS = ("client_saturated", "client_cpu_share", "client_cpu_percent",
                      "client_cpu_peak_share", "littles_law_ratio")
_SATURATION_COLUMNS = [*KEYS, *CELL_COLUMNS, "repetitions", "saturated", "cpu_share",
                       "littles_law"]


def client_saturation(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell_id, scenario, variant) with at least one measured
    window whose client was saturated: the cell columns, ``repetitions``
    (windows measured), ``saturated`` (labels of the saturated windows:
    the repetition, or run_id/repetition when ``samples`` holds several
    runs), and those windows' ``cpu_share`` (the load generator's CPU over
    the cores it may use) and ``littles_law`` ratio (NaN where not recorded).

    A window counts as saturated when the runner flagged it
    (``client_saturated`` = 1) or, for runs from before that flag, when its
    client CPU was above :data:`CLIENT_CPU_SATURATED` % of one core.
    """
    subset = samples.loc[samples["metric"].isin(SATURATION_METRICS),
                         [*KEYS, *REPETITION_KEYS, "metric", "value"]]
    if subset.empty:
        return pd.DataFrame(columns=_SATURATION_COLUMNS)
    window = [*KEYS, *REPETITION_KEYS]
    wide = (subset.groupby([*window, "metric"], dropna=False, sort=False)["value"].median()
            .unstack("metric").reindex(columns=list(SATURATION_METRICS)))
    flag, cpu = wide["client_saturated"], wide["client_cpu_percent"]
    hot = wide[(flag == 1) | (flag.isna() & (cpu > CLIENT_CPU_SATURATED))].reset_index()
    if hot.empty:
        return pd.DataFrame(columns=_SATURATION_COLUMNS)
    counts = wide.groupby(level=KEYS, dropna=False, sort=False).size().rename("repetitions")
    hot["cpu_share"] = hot["client_cpu_share"].fillna(hot["client_cpu_percent"] / 100.0)
    # A burst the window's mean hides: the highest half-second share.
    hot["cpu_share"] = hot[["cpu_share", "client_cpu_peak_share"]].max(axis=1)
    several_runs = samples["run_id"].nunique() > 1
    hot["label"] = [f"{run}/{rep}" if several_runs else str(rep)
                    for run, rep in zip(hot["run_id"], hot["repetition"])]
    hot = hot.sort_values(REPETITION_KEYS, kind="stable")
    out = hot.groupby(KEYS, dropna=False, sort=False).agg(
        saturated=("label", list), cpu_share=("cpu_share", list),
        littles_law=("littles_law_ratio", list)).join(counts).reset_index()
    cells = samples[["cell_id", *CELL_COLUMNS]].drop_duplicates("cell_id")
    return out.merge(cells, on="cell_id", how="left")[_SATURATION_COLUMNS]


def saturation_text(row) -> str:
    """E.g. "client saturated in repetition 1 of 3 (client CPU share 0.97;
    Little's law ratio 0.62)"."""
    reps = row["saturated"]
    shares = ", ".join("n/a" if math.isnan(v) else f"{v:.2f}" for v in row["cpu_share"])
    ratios = [v for v in row["littles_law"] if not math.isnan(v)]
    little = ("; Little's law ratio " + ", ".join(f"{v:.2f}" for v in row["littles_law"])
              if ratios else "")
    return (f"client saturated in repetition{'s' if len(reps) > 1 else ''} {', '.join(reps)}"
            f" of {row['repetitions']} (client CPU share {shares}{little})")
