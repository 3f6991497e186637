"""The instructions instrument against its targets (docs/instructions.md),
from a run of matrices/instructions-check.yaml:

  lab run matrices/instructions-check.yaml
  .venv/bin/python -m tests.bench_instructions results/latest

1. Repeatability: per cell, instructions per request in each repetition
   and their spread, (max - min) / median (target: <= 0.1 %).
2. A planted cost: view loop-<n> runs a fixed Python loop n times; against
   loop-0 on the same server, its extra instructions as a share of a request,
   and whether the lab's change-point detector (analysis/stats/steps.py), given
   the two cells' medians as a series, names the step (target: 1 % found).
3. A/A: each twin against its cell through the same detector (target:
   nothing found).
4. Cost: wall seconds to measure one repetition of a cell (both servers:
   start, ready, the requests, stop), per server (target: < 30 s).
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pandas as pd

from analysis.scenarios.instructions import PER_REQUEST
from analysis.runs.load import load_run
from analysis.stats.steps import THRESHOLD, change_points
from runner.core.model import AA_SUFFIX
from runner.catalog.views import SIZED_NAME

VALUE = "instructions_per_request"
STEPS = ("start", "ready_verify", "warmup", "measured", "stop")


def per_rep(samples: pd.DataFrame) -> pd.DataFrame:
    rows = samples[(samples["variant"] == PER_REQUEST) & (samples["metric"] == VALUE)]
    return rows[["cell_id", "server", "view", "repetition", "value"]]


def repeatability(reps: pd.DataFrame) -> list[str]:
    out = ["## 1. Repeatability (instructions per request, each repetition)"]
    for cell, rows in reps.groupby("cell_id"):
        values = rows.sort_values("repetition")["value"].tolist()
        spread = (max(values) - min(values)) / statistics.median(values)
        out.append(f"{cell:16} {rows['server'].iloc[0]:14} {rows['view'].iloc[0]:8} "
                   f"{', '.join(f'{v:,.0f}' for v in values)}  spread {spread:.3%}")
    return out


def planted(medians: pd.DataFrame) -> list[str]:
    out = [f"## 2. Planted cost (detector threshold {THRESHOLD:.1%})"]
    plain = medians[~medians["cell_id"].str.endswith(AA_SUFFIX)]
    for server, rows in plain.groupby("server"):
        sizes = {int(SIZED_NAME.fullmatch(v)[2]): m for v, m in zip(rows["view"], rows["value"])
                 if SIZED_NAME.fullmatch(v) and SIZED_NAME.fullmatch(v)[1] == "loop"}
        base = sizes.get(0)
        for size in sorted(s for s in sizes if s):
            share = sizes[size] / base - 1
            found = change_points([base, sizes[size]]) == [1]
            out.append(f"{server:14} loop-{size} vs loop-0: {sizes[size] - base:+,.0f} "
                       f"instructions, {share:+.3%} of a request; detected: {found}")
    return out


def aa(medians: pd.DataFrame) -> list[str]:
    out = ["## 3. A/A twins"]
    by_id = dict(zip(medians["cell_id"], medians["value"]))
    for cell, value in by_id.items():
        if cell.endswith(AA_SUFFIX) and cell[:-len(AA_SUFFIX)] in by_id:
            twin = by_id[cell[:-len(AA_SUFFIX)]]
            found = change_points([twin, value])
            out.append(f"{cell:16} vs its cell: {value / twin - 1:+.3%}; detected: {bool(found)}")
    return out


def cost(manifest: dict) -> list[str]:
    out = ["## 4. Cost of one repetition of a cell (both servers), seconds"]
    units = pd.DataFrame(manifest["timings"]["repetitions"])
    units["seconds"] = units[[s for s in STEPS if s in units]].fillna(0).sum(axis=1)
    servers = {c["cell_id"]: c["server"] for c in manifest["cells"]}
    per_cell = units.groupby(["cell_id", "repetition"])["seconds"].sum().reset_index()
    per_cell["server"] = per_cell["cell_id"].map(servers)
    for server, rows in per_cell.groupby("server"):
        out.append(f"{server:14} median {rows['seconds'].median():.1f}, "
                   f"max {rows['seconds'].max():.1f} ({len(rows)} cell repetitions)")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    samples, manifest = load_run(argv[0])
    reps = per_rep(samples)
    medians = reps.groupby(["cell_id", "server", "view"])["value"].median().reset_index()
    print(f"run {manifest['run_id']} ({Path(argv[0]).resolve().name}), "
          f"settings {json.dumps(manifest['matrix'].get('scenarios'))}")
    for part in (repeatability(reps), planted(medians), aa(medians), cost(manifest)):
        print("\n".join(part) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
