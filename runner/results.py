"""The run folder: created new for every run, never overwritten.

results/<run_id>/ holds manifest.json, results.parquet (long samples),
raw/ (wrk output), traces/ (psutil samples), logs/ (server logs) and locks/.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import pandas as pd

SAMPLE_COLUMNS = ["run_id", "cell_id", "server", "interface", "workers", "threads", "python",
                  "django", "asgiref", "view", "scenario", "variant", "repetition", "metric", "value",
                  "unit"]


def new_run_dir(results_root: Path, matrix_name: str) -> tuple[str, Path]:
    results_root.mkdir(parents=True, exist_ok=True)
    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{matrix_name}-{secrets.token_hex(2)}"
    run_dir = results_root / run_id
    run_dir.mkdir()  # fails if it exists: a run never overwrites another
    return run_id, run_dir


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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

    def add(self, cell_columns: dict, scenario: str, repetition: int,
            metrics: dict[str, tuple[float, str]], variant: str = "default") -> None:
        for metric, (value, unit) in metrics.items():
            self.rows.append({"run_id": self.run_id, **cell_columns, "scenario": scenario,
                              "variant": variant, "repetition": repetition, "metric": metric,
                              "value": float(value), "unit": unit})

    def frame(self) -> pd.DataFrame:
        # Package axes (e.g. djangorestframework) are cell columns too: they
        # come after the fixed ones, before the scenario.
        extra = sorted({k for row in self.rows for k in row} - set(SAMPLE_COLUMNS))
        at = SAMPLE_COLUMNS.index("scenario")
        columns = SAMPLE_COLUMNS[:at] + extra + SAMPLE_COLUMNS[at:]
        df = pd.DataFrame(self.rows, columns=columns)
        return df.astype({"workers": "int64", "threads": "int64", "repetition": "int64",
                          "value": "float64"})

    def write(self, run_dir: Path) -> Path:
        path = run_dir / "results.parquet"
        tmp = run_dir / ".results.parquet.tmp"
        self.frame().to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path
