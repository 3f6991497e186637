"""Where along a version axis a cost changes: for each axis (python, django,
asgiref, a server's or another package's version), the cells that differ
only in that axis form a series ordered by release; ruptures' PELT (least
squares, a change allowed between any two releases) finds the releases at
which the series' level moves, and a change is named only when the levels
either side differ by at least the threshold.

The series are of per-cell medians scaled by the series' own median, so
one threshold (a fraction) holds for every series; the penalty is set so
that a step of exactly the threshold between two single releases is worth
a change point. Used for instructions per request, a deterministic count
whose repetitions agree to ~0.1 % (docs/instructions.md): a threshold well
above that names steps, never noise."""
from __future__ import annotations

import numpy as np
import pandas as pd
import ruptures
from packaging.version import InvalidVersion, Version

THRESHOLD = 0.005
# PELT's penalty per change point, in squared fractions: l2's gain from a
# step of d between two single points is d**2 / 2.
PENALTY_SHARE = 0.9
COLUMNS = ["axis", "before", "after", "change", "series", "cells_before", "cells_after"]


def release_key(value) -> tuple:
    try:
        return (0, Version(str(value)))
    except InvalidVersion:
        return (1, str(value))


def change_points(levels, threshold: float = THRESHOLD) -> list[int]:
    """Indices where a new level starts in `levels` (one value per release,
    in release order)."""
    x = np.asarray(levels, dtype=float)
    if len(x) < 2 or not np.all(np.isfinite(x)) or np.median(x) <= 0:
        return []
    x = x / np.median(x)
    breaks = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(x.reshape(-1, 1)).predict(
        pen=PENALTY_SHARE * threshold ** 2 / 2)
    starts = breaks[:-1]
    bounds = [0, *starts, len(x)]
    kept = []
    for k, start in enumerate(starts):
        before, after = x[bounds[k]:start].mean(), x[start:bounds[k + 2]].mean()
        if abs(after / before - 1) >= threshold:
            kept.append(start)
    return kept


def axis_changes(cells: pd.DataFrame, value: str, axes: list[str], coords: list[str],
                 threshold: float = THRESHOLD) -> pd.DataFrame:
    """One row per change found: the axis, the releases either side, the
    relative change of the level, the series (the other coordinates) and
    the cells on each side that support it. `cells`: one row per cell with
    `cell_id`, the `coords` columns and `value`."""
    rows = []
    for axis in axes:
        others = [c for c in coords if c != axis]
        for key, series in cells.dropna(subset=[value]).groupby(others, dropna=False, sort=True):
            levels = series.groupby(axis)[value].median()
            if len(levels) < 2:
                continue
            levels = levels.iloc[sorted(range(len(levels)),
                                        key=lambda i: release_key(levels.index[i]))]
            bounds = [0, *change_points(levels.to_numpy(), threshold), len(levels)]
            for k in range(1, len(bounds) - 1):
                before = levels.iloc[bounds[k - 1]:bounds[k]]
                after = levels.iloc[bounds[k]:bounds[k + 1]]
                on = lambda part: sorted(series.loc[series[axis].isin(part.index), "cell_id"])  # noqa: E731
                rows.append({
                    "axis": axis, "before": str(before.index[-1]), "after": str(after.index[0]),
                    "change": after.mean() / before.mean() - 1,
                    "series": ", ".join(f"{c}={v}" for c, v in
                                        zip(others, key if isinstance(key, tuple) else (key,))),
                    "cells_before": ", ".join(on(before)), "cells_after": ", ".join(on(after))})
    return pd.DataFrame(rows, columns=COLUMNS)
