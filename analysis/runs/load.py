"""Read run folders (``results/<run_id>/``): one into (samples, manifest),
several into one sample table.

The folder's layout, status values and manifest schema are the runner's
model (runner/core/model.py, which keeps the history of what each version
changed); the manifest is validated against it here. Reading older runs:

- version 2 (current): read as is.
- version 1: migrated on reading, in memory (the folder is never edited):
  samples without ``variant`` get "default" (each scenario then ran one
  way), samples without ``threads`` get 1 (one thread per worker, the only
  setting before the threads axis). What else a reader must know of an old
  manifest (no ``protocol.scenarios``, one ``latency_model``, latencies
  before raw samples, hosts keyed by role) is read in one function,
  schema.read_schema, which the report and the figures use.
- any other version (a newer lab's, or a hand-edited file): refused with a
  message naming the file and the versions this code reads, rather than
  reported under assumptions that may be wrong.

Everything downstream trusts what this returns, so problems are reported
here, once, as a ``ValueError`` that names the path or column at fault,
instead of surfacing later as a KeyError deep inside pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from analysis.runs.declared import derive
from runner.core.model import (
    DEFAULT_VARIANT,
    MANIFEST_NAME,
    READABLE_SCHEMA_VERSIONS,
    SAMPLES_NAME,
    read_manifest,
)

# One measured thing: a cell under one variant of one scenario (e.g.
# concurrency "c=16"). Its repetitions are the observations.
KEYS = ["cell_id", "scenario", "variant"]
# What identifies one repetition; run_id too, since a frame may hold several runs.
REPETITION_KEYS = ["run_id", "repetition"]

# The manifest schemas this module understands; a newer manifest may mean
# fields moved, so it is refused rather than reported under wrong assumptions.
SUPPORTED_SCHEMA_VERSIONS = set(READABLE_SCHEMA_VERSIONS)
__all__ = ["DEFAULT_VARIANT", "load_run", "load_runs"]

# Columns the sample table must have (runner/core/model.py); extra columns
# are kept, so the runner can add some without breaking the analysis.
# ``threads`` and ``variant`` are filled in for runs that predate them (see
# _read_samples), so every frame this module returns has both.
REQUIRED_COLUMNS = (
    "run_id",
    "cell_id",
    "server",
    "interface",
    "workers",
    "python",
    "django",
    "asgiref",
    "view",
    "scenario",
    "variant",
    "repetition",
    "metric",
    "value",
    "unit",
)


def load_run(run_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    """Return (samples, manifest) for the run folder ``run_dir``.

    ``run_dir`` may be the folder itself or a symlink to it such as
    ``results/latest``; the symlink is resolved so that error messages
    (and the caller) see the real run folder.
    """
    given = Path(run_dir)
    folder = given.resolve()
    if not folder.is_dir():
        # Name what the user typed and, for a dangling symlink, its target.
        where = f"{given} -> {folder}" if given.is_symlink() else f"{given}"
        raise ValueError(f"run folder not found: {where}")

    manifest = _read_manifest(folder / MANIFEST_NAME)
    # Figures derived from several units' samples (a scenario report's derive hook).
    samples = derive(_read_samples(folder / SAMPLES_NAME))
    return samples, manifest


def load_runs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Return the samples of several run folders as one frame.

    Each row keeps the ``run_id`` it was measured in, so repetitions of one
    cell measured in two runs stay apart (see ``summary.per_repetition``).
    Every folder is read and checked by :func:`load_run`; an error names the
    folder (or the file in it) at fault. Columns only some runs have (an
    extra package pin, say) are NaN in the others' rows.
    """
    frames: list[pd.DataFrame] = []
    seen: dict[str, Path] = {}
    for given in paths:
        samples, manifest = load_run(given)
        folder = Path(given).resolve()
        run_id = manifest.get("run_id")
        if run_id is not None:
            others = sorted(set(samples["run_id"].astype(str)) - {str(run_id)})
            if others:
                raise ValueError(
                    f"{folder}: samples carry run_id(s) {', '.join(others)}"
                    f" but the manifest says {run_id!r}"
                )
            if run_id in seen:
                raise ValueError(f"run {run_id!r} given twice: {seen[run_id]} and {folder}")
            seen[run_id] = folder
        frames.append(samples)
    if not frames:
        raise ValueError("no run folder given")
    return pd.concat(frames, ignore_index=True, sort=False)


def _read_manifest(path: Path) -> dict:
    """The manifest as a dict, after the model has checked it (types of the
    fields readers rely on, a schema version this lab reads)."""
    return read_manifest(path).model_dump(mode="json", exclude_unset=True)


def _read_samples(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"samples missing: {path}")
    try:
        samples = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for bad files
        raise ValueError(f"cannot read samples {path}: {exc}") from exc

    if "threads" not in samples.columns:
        # Runs from before the threads axis: every server ran one thread per worker.
        samples = samples.assign(threads=1)
    if "variant" not in samples.columns:
        # Runs from before scenarios had variants: each scenario ran one way,
        # which the runner now labels "default" (runner/execute/results.py).
        samples = samples.assign(variant=DEFAULT_VARIANT)
    samples["variant"] = samples["variant"].fillna(DEFAULT_VARIANT).astype(str)
    missing = [c for c in REQUIRED_COLUMNS if c not in samples.columns]
    if missing:
        raise ValueError(f"{path} lacks required column(s): {', '.join(missing)}")

    # Pin the dtypes the analysis relies on: an all-null or empty column
    # read from parquet can come back as object, and ints are needed so
    # that "3 repetitions" and "1 worker" print as such.
    try:
        samples = samples.astype(
            {"workers": "int64", "threads": "int64", "repetition": "int64", "value": "float64"}
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: workers/threads/repetition/value not numeric: {exc}") from exc
    return samples
