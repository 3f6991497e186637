"""Writing the run folder (its layout: runner/core/model.py): created new
for every run, never overwritten; samples flushed after every unit."""
from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

import pandas as pd

from runner.core.files import write_atomic
from runner.core.model import DEFAULT_VARIANT, METRIC_UNITS, SAMPLE_COLUMNS, SAMPLES_NAME


def new_run_dir(results_root: Path, matrix_name: str) -> tuple[str, Path]:
    results_root.mkdir(parents=True, exist_ok=True)
    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{matrix_name}-{secrets.token_hex(2)}"
    run_dir = results_root / run_id
    run_dir.mkdir()  # fails if it exists: a run never overwrites another
    return run_id, run_dir


def point_latest(results_root: Path, run_dir: Path) -> None:
    """Make results/latest a symlink to run_dir, replacing the old link atomically."""
    tmp = results_root / f".latest.{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, results_root / "latest")


class Samples:
    """Accumulates long-form samples; flushed to results.parquet after every
    repetition so an interrupted run keeps everything measured so far."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.rows: list[dict] = []
        self._lock = threading.RLock()    # pairs of a lab measure in parallel threads

    def add(self, cell_columns: dict, scenario: str, repetition: int,
            metrics: dict[str, tuple[float, str]], variant: str = DEFAULT_VARIANT) -> None:
        for metric, (_, unit) in metrics.items():   # all checked before any is added
            if METRIC_UNITS.get(metric, unit) != unit:
                raise ValueError(f"metric {metric} in {unit!r}; the model says {METRIC_UNITS[metric]!r}")
        with self._lock:
            for metric, (value, unit) in metrics.items():
                self.rows.append({"run_id": self.run_id, **cell_columns, "scenario": scenario,
                                  "variant": variant, "repetition": repetition, "metric": metric,
                                  "value": float(value), "unit": unit})

    def frame(self) -> pd.DataFrame:
        # Package axes (e.g. djangorestframework) are cell columns too: they
        # come after the fixed ones, before the scenario.
        with self._lock:
            rows = list(self.rows)
        extra = sorted({k for row in rows for k in row} - set(SAMPLE_COLUMNS))
        at = SAMPLE_COLUMNS.index("scenario")
        columns = SAMPLE_COLUMNS[:at] + extra + SAMPLE_COLUMNS[at:]
        df = pd.DataFrame(rows, columns=columns)
        return df.astype({"workers": "int64", "threads": "int64", "repetition": "int64",
                          "value": "float64"})

    def write(self, run_dir: Path) -> Path:
        with self._lock:
            return write_atomic(run_dir / SAMPLES_NAME, self.frame().to_parquet(index=False))
