"""`lab matrix show|schema` (no host is touched) and `lab install` (a
matrix's environments on the lab, without measuring)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from runner import REPO_ROOT, ui
from runner.cli.options import AppOpt, LabOpt, ReconfigureOpt


def show(matrix: Path, app_source: Optional[str] = AppOpt):
    """Print the cells of a matrix and the excluded ones with reasons (resolving
    pins with uv against the package index; no host is touched)."""
    import pandas as pd

    from runner.matrix.locks import resolve_matrix
    from runner.matrix.expand import load_matrix
    from runner.scenarios import SCENARIOS

    m = load_matrix(matrix, app_source)
    ui.info(f"{m.path}: {len(m.cells) + len(m.excluded)} combinations; "
            f"resolving {len(m.cells)} with uv and Django's metadata")
    cells, excluded = resolve_matrix(m, REPO_ROOT / ".lab" / "lock-cache")
    envs = len({c.env_id for c in cells})
    ui.table(f"{m.name}: {len(cells)} cells ({envs} environments) × "
             f"{m.protocol.repetitions} repetitions",
             pd.DataFrame([c.columns() for c in cells]))
    ui.exclusions(excluded)
    for name, params in m.scenarios.items():
        variants = SCENARIOS[name].variants(params, {})
        shown = ", ".join(v.label for v in variants) or SCENARIOS[name].variants_later
        ui.info(f"scenario {name}: {shown}; settings {params.model_dump()}")
    ui.info("each cell × scenario variant × repetition runs on a fresh server")


def schema():
    """Print the matrix file's JSON Schema (every field documented)."""
    import json

    from runner.matrix.schema import MatrixFile
    print(json.dumps(MatrixFile.model_json_schema(), indent=2))


def install_cmd(matrix: Path, lab: str = LabOpt, reconfigure: bool = ReconfigureOpt):
    """Resolve a matrix and install every cell's environment on the lab, without
    measuring: prints what was installed, left alone, failed or excluded."""
    from runner.execute.run import install, require_cells, resolve
    from runner.lab import lock as lab_lock
    from runner.lab.inventory import load_lab
    from runner.lab.targets import target_of
    from runner.matrix.expand import load_matrix

    m = load_matrix(matrix)
    the_lab = load_lab(lab)
    cells, exclusions = resolve(m, ui)
    require_cells(m, cells, exclusions)
    log = target_of(lab)[0].state_dir(lab) / "logs" / f"install-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
    start = time.monotonic()
    with lab_lock.hold(the_lab.vars["lab_state_dir"], lab, f"lab install {matrix}"):
        runnable, failed, _, _ = install(the_lab, m, cells, exclusions, log, ui, reconfigure)
    ui.info(f"{len(runnable) - len(failed)} cells ready on lab {lab!r} in "
            f"{time.monotonic() - start:.1f} s; {len(failed)} failed; "
            f"{len(exclusions)} excluded; ansible log: {log}")
    if failed:
        raise typer.Exit(1)
