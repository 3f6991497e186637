"""The run folder's model: what the runner writes and the analysis reads.

results/<run_id>/ holds
  manifest.json     the provenance of the run (the `Manifest` below)
  results.parquet   long samples, one row per metric of one repetition
                    (SAMPLE_COLUMNS, plus a column per package axis)
  matrix.yaml       the matrix as given;  locks/<cell_id>.txt  each cell's lock
  raw/<cell>/<scenario>/<variant>/rep<k>/   what the tools printed
  logs/             Ansible's log

This module is the one place those names, the status values, the metric
units and the manifest's schema history live. It imports no Fabric, Ansible
or Terraform, so the analysis can read runs without them.

SCHEMA_VERSION history (bump it, and say what changed, whenever a reader
would have to treat the file differently):
  1 - 2026-11-22: first version: matrix, protocol, hosts and facts, cells with
      argv/packages/status, tool versions, timings, sha256 of every file.
  2 - 2026-11-22: scenarios: protocol.scenarios (settings per scenario) and
      protocol.latency_models replace protocol.scenario/connections/threads/
      latency_model; cells[].status may be "partial", with cells[].failures
      (scenario, variant, repetition, reason, raw folder) and cells[].scenarios;
      timings.repetitions[] carry scenario, variant, raw folder and the
      phases' epoch start/end; raw/ is raw/<cell>/<scenario>/<variant>/rep<k>/.
      results.parquet gained the `variant` column (version-1 runs read as
      variant "default").
     2026-11-23, still 2 (no reader has to change): an optional top-level
      `reproduces` {archive: path of the archive, archive_sha256, run_id: the
      archived run's id} in a run made by `lab reproduce`, whose cells come
      from that archive's locks; its `matrix_file` is then
      "<archive>:<run_id>/matrix.yaml".
  3 - 2026-12-03: wrk latencies are raw: one sample per completed request,
      wrk's end-of-run coordinated-omission correction undone (its synthetic
      samples were in every wrk figure of versions 1 and 2: means inflated,
      tails far too high); new metrics latency_samples, wrk_synthetic_samples.
      Readers flag older runs' wrk latencies (RAW_LATENCY_SINCE).
      protocol.design = "randomized complete blocks" (BLOCKS_DESIGN): repetition
      k of every cell ran in block k, so the analysis pairs cells by block.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 3
# Version 1 is migrated in memory on reading (read_manifest); a newer or
# unknown version is refused rather than read under wrong assumptions.
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
# From this version on, wrk's latencies are raw samples (see the history).
RAW_LATENCY_SINCE = 3
# protocol.design of a run measured in randomized complete blocks (repetition
# k of every cell is block k); older runs have no `design`.
BLOCKS_DESIGN = "randomized complete blocks"

MANIFEST_NAME = "manifest.json"
SAMPLES_NAME = "results.parquet"
MATRIX_NAME = "matrix.yaml"
# lab calibrate (runner/execute/calibrate.py, analysis/questions/calibration.py): what
# was planted, and what the lab found.
CALIBRATION_PLAN_NAME = "calibration-plan.yaml"
CALIBRATION_NAME = "calibration.json"
LOCKS_DIR = "locks"
RAW_DIR = "raw"
# A wrk window's real latency samples, {"µs": count}, in its raw folder: the
# report pools them per cell for tails (analysis/stats/tails.py).
LATENCY_HISTOGRAM_SUFFIX = "-latency-us.json"

# A run's status, as manifest.json says it.
RUN_RUNNING, RUN_COMPLETE, RUN_INTERRUPTED, RUN_FAILED = "running", "complete", "interrupted", "failed"
RUN_STATUSES = (RUN_RUNNING, RUN_COMPLETE, RUN_INTERRUPTED, RUN_FAILED)
# A cell's: ok, every unit measured; partial, some failed; failed, none measured.
CELL_PENDING, CELL_OK, CELL_PARTIAL, CELL_FAILED = "pending", "ok", "partial", "failed"
CELL_STATUSES = (CELL_PENDING, CELL_OK, CELL_PARTIAL, CELL_FAILED)

# The label of a scenario's only variant, and of every sample of a run
# written before variants existed.
DEFAULT_VARIANT = "default"
# The coordinates that describe a cell in the sample table.
CELL_COLUMNS = ["server", "interface", "workers", "threads", "python", "django", "asgiref", "view"]
SAMPLE_COLUMNS = ["run_id", "cell_id", *CELL_COLUMNS, "scenario", "variant", "repetition",
                  "metric", "value", "unit"]
# An A/A twin is a baseline cell run again under this id suffix; the manifest
# names its original in `aa_twin_of`, which is what readers go by.
AA_SUFFIX = "-aa"

# The unit of every metric the runner's shared code writes; a scenario's own
# metrics carry their unit beside the value. Samples.add refuses a known
# metric with another unit, so a figure never changes unit between runs.
METRIC_UNITS = {
    "latency_p50": "ms", "latency_p90": "ms", "latency_p99": "ms", "latency_p99_9": "ms",
    "latency_mean": "ms", "latency_max": "ms",
    "requests_per_s": "1/s", "requests": "count", "errors": "count", "socket_errors": "count",
    "non_2xx": "count", "connections": "count", "latency_samples": "count",
    "wrk_synthetic_samples": "count",
    "server_cpu_percent": "%", "server_rss_mb": "MB", "server_uss_mb": "MB",
    "server_threads": "count", "server_processes": "count", "server_fds": "count",
    "server_connections": "count", "server_ctx_voluntary": "count",
    "server_ctx_involuntary": "count", "client_cpu_percent": "%",
    "client_sampler_cpu_percent": "%", "server_sampler_cpu_percent": "%",
    "client_cpu_share": "ratio", "client_cpu_peak_share": "ratio", "client_saturated": "flag",
    "littles_law_ratio": "ratio",
    # Window health (runner/session/health.py): shares of the host's CPUs
    # over the window, the load generator's run-queue wait, and the flag.
    "client_cpu_other_share": "ratio", "client_cpu_steal_share": "ratio",
    "client_cpu_softirq_share": "ratio", "client_run_delay_share": "ratio",
    "server_cpu_other_share": "ratio", "server_cpu_steal_share": "ratio",
    "server_cpu_softirq_share": "ratio", "window_disturbed": "flag",
    "window_attempts": "count",
    "window_s": "s", "server_sampler_max_gap_s": "s", "ready_after_s": "s",
    "runner_overhead_s": "s",
}


@dataclass(frozen=True)
class Variant:
    """One way of loading a cell, e.g. "c=16": measured on its own fresh
    server; its label is the samples' `variant` column."""

    label: str
    values: dict = field(default_factory=dict)


def is_aa_twin(cell: dict) -> bool:
    """A manifest cell that is the A/A twin of another (runs before the
    `aa_twin_of` field are recognised by their id)."""
    return bool(cell.get("aa_twin_of")) or str(cell.get("cell_id", "")).endswith(AA_SUFFIX)


class _Record(BaseModel):
    # Readers keep fields they do not know: a newer runner may add some
    # without a schema bump (see the history above).
    model_config = ConfigDict(extra="allow")


class Failure(_Record):
    """One unit of a cell that failed, with the reason and its raw folder."""

    scenario: str
    variant: str
    repetition: int
    reason: str
    raw: str = ""


class CellRecord(_Record):
    """A cell as the manifest lists it: coordinates, lock, status."""

    cell_id: str
    server: str
    interface: str
    workers: int
    threads: int = 1
    python: str
    django: str
    asgiref: Optional[str] = None
    view: str
    env_id: Optional[str] = None
    lock: Optional[str] = None
    packages: dict[str, str] = Field(default_factory=dict)
    aa_twin_of: Optional[str] = None
    scenarios: list[str] = Field(default_factory=list)
    status: str = CELL_PENDING
    reason: Optional[str] = None
    failures: list[Failure] = Field(default_factory=list)
    units_ok: int = 0

    @property
    def is_aa_twin(self) -> bool:
        return is_aa_twin(self.model_dump())


class Manifest(_Record):
    """manifest.json. Only what readers rely on is typed; host facts, tool
    versions and the like stay free-form dictionaries."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    status: str
    matrix_name: Optional[str] = None
    baseline_server: Optional[str] = None
    error: Optional[str] = None
    protocol: dict[str, Any] = Field(default_factory=dict)
    hosts: dict[str, Any] = Field(default_factory=dict)
    cells: list[CellRecord] = Field(default_factory=list)
    excluded: list[dict[str, Any]] = Field(default_factory=list)
    timings: dict[str, Any] = Field(default_factory=dict)
    reproduces: Optional[dict[str, Any]] = None
    files: dict[str, str] = Field(default_factory=dict)

    def to_json(self) -> str:
        # Only what was given (and the version): defaults are the reader's business.
        body = {"schema_version": self.schema_version,
                **self.model_dump(mode="json", exclude_unset=True)}
        return json.dumps(body, indent=2, sort_keys=False, default=str) + "\n"


def parse_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    """A manifest from its JSON data; raises ValueError naming `where` and
    the field at fault. Version 1 is read as version 2 (in memory)."""
    if not isinstance(data, dict):
        raise ValueError(f"manifest is not a JSON object: {where}")
    version = data.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ValueError(f"unsupported manifest schema_version {version!r} in {where} "
                         f"(this lab reads {list(READABLE_SCHEMA_VERSIONS)})")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {field}: {first['msg']}") from None


def read_manifest(path: Path) -> Manifest:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest missing: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"manifest is not valid JSON: {path}: {exc}") from exc
    return parse_manifest(data, str(path))
