"""Window health in the report: which measured windows the runner flagged
as disturbed (`window_disturbed`, runner/session/health.py) and why, read
back from the figures it recorded and the thresholds in the manifest
(protocol.window_health)."""
from __future__ import annotations

import pandas as pd

from analysis.runs.load import KEYS, REPETITION_KEYS
from runner.core.model import CELL_COLUMNS

FIGURES = {  # metric: (threshold key, what it means)
    "client_cpu_other_share": ("other_max", "other load on the client's CPUs"),
    "server_cpu_other_share": ("other_max", "other load on the server's CPUs"),
    "client_cpu_steal_share": ("steal_max", "steal on the client's CPUs"),
    "server_cpu_steal_share": ("steal_max", "steal on the server's CPUs"),
    "client_run_delay_share": ("run_delay_max", "load generator waiting for its CPU"),
}


def disturbed_windows(samples: pd.DataFrame, thresholds: dict) -> pd.DataFrame:
    """One row per flagged window: its keys, repetition and `reasons` (text)."""
    wanted = ["window_disturbed", *FIGURES]
    rows = samples[samples["metric"].isin(wanted)]
    if rows.empty:
        return pd.DataFrame(columns=[*KEYS, *REPETITION_KEYS, "reasons", *CELL_COLUMNS])
    wide = rows.pivot_table(index=[*KEYS, *REPETITION_KEYS], columns="metric", values="value",
                            aggfunc="first").reindex(columns=wanted)
    flagged = wide[wide["window_disturbed"] == 1].reset_index()
    flagged["reasons"] = [
        "; ".join(f"{what} {row[m]:.1%} > {thresholds[key]:.0%}"
                  for m, (key, what) in FIGURES.items()
                  if key in thresholds and pd.notna(row[m]) and row[m] > thresholds[key])
        for row in flagged.to_dict("records")]
    cells = samples[["cell_id", *CELL_COLUMNS]].drop_duplicates("cell_id")
    return flagged[[*KEYS, *REPETITION_KEYS, "reasons"]].merge(cells, on="cell_id", how="left")


def health_check(samples: pd.DataFrame, manifest: dict, where) -> str:
    """The report's line on window health; `where(row)` names a cell."""
    thresholds = (manifest.get("protocol") or {}).get("window_health")
    if not thresholds:
        return "Window health: not recorded (this run predates it)."
    limits = (f"other load > {thresholds['other_max']:.0%} or steal > "
              f"{thresholds['steal_max']:.0%} of a host's CPUs, or the load generator waiting"
              f" for its CPU > {thresholds['run_delay_max']:.0%} of the window")
    attempts = samples.loc[samples["metric"] == "window_attempts", "value"]
    again = (f" {int((attempts > 1).sum())} of {len(attempts)} windows were measured again"
             f" after a disturbed attempt (at most {int(attempts.max())} attempts seen; the"
             " attempts set aside are kept in raw/ as disturbed<k>-*)."
             if (attempts > 1).any() else "")
    bad = disturbed_windows(samples, thresholds)
    if bad.empty:
        return f"Window health: no measured window was disturbed ({limits}).{again}"
    listed = "; ".join(f"{where(row)} repetition {row['repetition']}: {row['reasons']}"
                       for row in bad.to_dict("records"))
    return (f"**Disturbed windows** ({len(bad)}; {limits}): {listed}. Their figures are kept"
            f" and counted; read them with this in mind.{again}")
