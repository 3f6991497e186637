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
     2026-12-08, still 3 (a reader of a finished run changes nothing): the
      manifest is written from the run's start (status "running") and after
      every unit, and names its `controller` {host, pid, boot_id, started};
      a "running" manifest whose controller is gone is a run cut short
      (Manifest.cut_short). While running, timings.finished is absent.
      Every field is typed (the models below); read_manifest brings older
      manifests to this shape (_upgrade) and keeps their schema_version.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runner.core.controller import GONE, Controller, controller_state

try:
    from enum import StrEnum
except ImportError:          # Python 3.10
    from enum import Enum

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)

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

class RunStatus(StrEnum):
    """A run's status, as manifest.json says it. `running` is written when
    the run starts and after every unit: a folder that still says so after
    its controller is gone is a run cut short (Manifest.cut_short)."""

    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class CellStatus(StrEnum):
    """A cell's: ok, every unit measured; partial, some failed (or left
    unmeasured by a run cut short); failed, none measured; pending, none yet."""

    PENDING = "pending"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


RUN_RUNNING, RUN_COMPLETE, RUN_INTERRUPTED, RUN_FAILED = (
    RunStatus.RUNNING, RunStatus.COMPLETE, RunStatus.INTERRUPTED, RunStatus.FAILED)
RUN_STATUSES = tuple(RunStatus)
CELL_PENDING, CELL_OK, CELL_PARTIAL, CELL_FAILED = (
    CellStatus.PENDING, CellStatus.OK, CellStatus.PARTIAL, CellStatus.FAILED)
CELL_STATUSES = tuple(CellStatus)

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
    # without a schema bump (see the history above). The runner itself writes
    # only declared fields (Manifest.undeclared, checked by write_manifest).
    model_config = ConfigDict(extra="allow")


# JSON numbers as written: an int stays an int (warmup_s: 2, not 2.0).
Number = Union[int, float]


class Failure(_Record):
    """One unit of a cell that failed, with the reason and its raw folder."""

    scenario: str
    variant: str
    repetition: int
    reason: str
    raw: str = ""


class InstallRecord(_Record):
    """How the cell's environment was installed (the installer's report)."""

    status: Optional[str] = None
    seconds: Optional[Number] = None


class CellRecord(_Record):
    """A cell as the manifest lists it: coordinates, lock, status, and what
    the run measured of it."""

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
    python_exact: Optional[str] = None
    install: Optional[InstallRecord] = None
    aa_twin_of: Optional[str] = None
    server_description: Optional[str] = None
    scenarios: list[str] = Field(default_factory=list)
    status: CellStatus = CellStatus.PENDING
    reason: Optional[str] = None
    command: Optional[list[str]] = None
    observed_cpus: dict[str, str] = Field(default_factory=dict)   # role -> CPU list
    failures: list[Failure] = Field(default_factory=list)
    units_ok: int = 0
    units_planned: int = 0
    phases_left: int = 0           # phases of the cell not yet planned
    pair: Optional[str] = None     # the pair whose shard it was
    measured_on: list[str] = Field(default_factory=list)   # pairs that measured it

    # Package axes (e.g. djangorestframework) are cell columns too: text
    # fields beside the declared ones (CELL_COLUMNS), named by the matrix.
    extras_are_axes: ClassVar[bool] = True

    @property
    def is_aa_twin(self) -> bool:
        return is_aa_twin(self.model_dump())


class ExcludedCell(_Record):
    """A cell's coordinates before resolving (the matrix's CellSpec)."""

    python: str
    django: str
    asgiref: Optional[str] = None
    server: str
    workers: int
    view: str
    threads: int = 1
    extras: dict[str, str] = Field(default_factory=dict)


class Exclusion(_Record):
    cell: ExcludedCell
    reason: str


class Protocol(_Record):
    """How every cell was measured. `scenarios` holds each scenario's
    settings as its own Params model dumped them (validated by that model,
    which this one cannot import)."""

    scenarios: Optional[dict[str, dict[str, Any]]] = None
    repetitions: Optional[int] = None
    warmup_s: Optional[Number] = None
    duration_s: Optional[Number] = None
    seed: Optional[int] = None
    aa_control: Optional[bool] = None
    window_attempts: Optional[int] = None
    design: Optional[str] = None            # BLOCKS_DESIGN, or absent (older runs)
    latency_models: dict[str, str] = Field(default_factory=dict)
    sampler_interval_s: Optional[Number] = None
    port: Optional[int] = None
    client_saturation_share: Optional[Number] = None
    littles_law_tolerance: Optional[Number] = None
    window_health: dict[str, Number] = Field(default_factory=dict)
    server_env: dict[str, str] = Field(default_factory=dict)
    # Version 1 only: one wrk set-up for the whole run.
    latency_model: Optional[str] = None
    connections: Optional[int] = None
    threads: Optional[int] = None


class PythonBuild(_Record):
    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come

    path: Optional[str] = None
    version: Optional[str] = None


class HostFacts(_Record):
    """What the playbook found on a host (facts/<host>.json)."""

    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come
    address: Optional[str] = None
    role: Optional[str] = None
    hostname: Optional[str] = None
    os: Optional[str] = None
    kernel: Optional[str] = None
    cpu_model: Optional[str] = None
    cpu_cores_machine: Optional[Union[int, str]] = None
    cpus_allowed: Optional[Union[str, int]] = None
    cpus_declared: Optional[Union[str, int]] = None
    governor: Optional[str] = None
    memory_mb: Optional[Number] = None
    python_builds: dict[str, Optional[PythonBuild]] = Field(default_factory=dict)
    wrk: Optional[str] = None


class HostRecord(_Record):
    role: Optional[str] = None
    address: Optional[str] = None
    cpus: Optional[Union[str, int]] = None
    facts: HostFacts = Field(default_factory=HostFacts)


class LabRecord(_Record):
    name: Optional[str] = None
    module: Optional[str] = None
    inventory: Optional[str] = None


class GitRecord(_Record):
    commit: Optional[str] = None
    dirty: Optional[bool] = None


class LoadGenerator(_Record):
    """A load generator on a client host (session/host/loadgens.py)."""

    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come
    path: Optional[str] = None
    sha256: Optional[str] = None
    version: Optional[str] = None
    origin: Optional[str] = None
    go_build: Optional[dict[str, str]] = None


class Tools(_Record):
    """The controller's tools, wrk's version and every client's load generators."""

    python: Optional[str] = None
    terraform: Optional[str] = None
    ansible: Optional[str] = None
    uv: Optional[str] = None
    wrk: Optional[str] = None
    load_generators: dict[str, dict[str, LoadGenerator]] = Field(default_factory=dict)


class ConfigureRecord(_Record):
    mode: str                       # skipped | project | playbook
    why: Optional[str] = None


class AnsibleRecap(_Record):
    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0


class Reproduces(_Record):
    """The archived run a `lab reproduce` run reproduces."""

    archive: str
    archive_sha256: Optional[str] = None
    run_id: str


class AppUrlRecord(_Record):
    name: str
    path: str
    status: int
    contains: str = ""


class AppRecord(_Record):
    """A user's own project (`lab run --app`) and its check per environment;
    a check is app_check.py's report (session/host/app_check.py)."""

    source: str
    digest: Optional[str] = None
    settings: Optional[str] = None
    wsgi: Optional[str] = None
    asgi: Optional[str] = None
    migrate: Optional[bool] = None
    fixtures: list[str] = Field(default_factory=list)
    requirements: Optional[str] = None
    urls: list[AppUrlRecord] = Field(default_factory=list)
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)


class Resumption(_Record):
    """One `lab run --resume` of this run."""

    at: Number
    previous_status: RunStatus
    previous_error: Optional[str] = None
    units_measured_before: int = 0
    failures_measured_again: list[Failure] = Field(default_factory=list)


class TunedSetting(_Record):
    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come

    value: Any = None
    tuned: Any = None
    ok: Optional[bool] = None
    changeable: Optional[bool] = None
    why: Optional[str] = None


class TunedMachine(_Record):
    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come

    hosts: list[str] = Field(default_factory=list)
    cpus: Optional[str] = None
    journal: Optional[bool] = None      # an apply is in force: its journal holds old values
    settings: dict[str, TunedSetting] = Field(default_factory=dict)


class Untuned(_Record):
    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come

    hosts: list[str] = Field(default_factory=list)
    can_apply: list[str] = Field(default_factory=list)
    cannot: list[str] = Field(default_factory=list)


class HostTuning(_Record):
    """The hosts' settings in force (`lab tune show`) and what is untuned."""

    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come
    machines: list[TunedMachine] = Field(default_factory=list)
    untuned: list[Untuned] = Field(default_factory=list)


class SettleReport(_Record):
    """A host's settle check before the first window (sampler.py settle)."""

    host_reported: ClassVar[bool] = True    # a host's own report: more fields may come
    settled: bool = False
    after_s: Optional[Number] = None
    cpus: list[int] = Field(default_factory=list)
    max_busy: Optional[Number] = None
    busy: list[Number] = Field(default_factory=list)
    error: Optional[str] = None


class PairRecord(_Record):
    """One pair of a lab of several: its hosts, its share of the cells, its
    hosts' facts and, if it failed, why and the cells it left."""

    server: str
    client: str
    cells: int = 0
    server_tcp: Optional[dict[str, Optional[str]]] = None
    settle: Optional[dict[str, SettleReport]] = None
    error: Optional[str] = None
    unfinished: Optional[list[str]] = None


class RepetitionTiming(_Record):
    """One unit: where it ran, its raw folder, its phases' [start, end]
    (epoch s) and its steps' durations (s)."""

    cell_id: str
    pair: str = ""
    scenario: Optional[str] = None
    variant: Optional[str] = None
    repetition: int
    raw: Optional[str] = None
    phases: dict[str, list[Number]] = Field(default_factory=dict)
    start: Optional[Number] = None
    ready_verify: Optional[Number] = None
    warmup: Optional[Number] = None
    measured: Optional[Number] = None
    stop: Optional[Number] = None
    wrapper: Optional[list[str]] = None


class Timings(_Record):
    started: Optional[Number] = None
    finished: Optional[Number] = None     # absent while the run is running
    repetitions: list[RepetitionTiming] = Field(default_factory=list)


class Manifest(_Record):
    """manifest.json, every field the runner writes typed. What stays
    free-form is what the lab does not define: the matrix file as given
    (`matrix`), a scenario's settings (`protocol.scenarios`, each validated
    by its scenario's Params), a user project's check reports."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    status: RunStatus
    matrix_name: Optional[str] = None
    baseline_server: Optional[str] = None
    error: Optional[str] = None
    protocol: Protocol = Field(default_factory=Protocol)
    hosts: dict[str, HostRecord] = Field(default_factory=dict)
    cells: list[CellRecord] = Field(default_factory=list)
    excluded: list[Exclusion] = Field(default_factory=list)
    timings: Timings = Field(default_factory=Timings)
    reproduces: Optional[Reproduces] = None
    files: dict[str, str] = Field(default_factory=dict)
    controller: Optional[Controller] = None
    matrix_file: Optional[str] = None
    matrix: dict[str, Any] = Field(default_factory=dict)
    matrix_sha256: Optional[str] = None
    lab: Optional[LabRecord] = None
    cpu_sets: dict[str, Union[str, int]] = Field(default_factory=dict)
    pairs_left_out: dict[str, str] = Field(default_factory=dict)
    lab_git: Optional[GitRecord] = None
    tools: Optional[Tools] = None
    configure: Optional[ConfigureRecord] = None
    ansible_recap: dict[str, AnsibleRecap] = Field(default_factory=dict)
    app: Optional[AppRecord] = None
    resumptions: list[Resumption] = Field(default_factory=list)
    host_tuning: Optional[HostTuning] = None
    pairs: dict[str, PairRecord] = Field(default_factory=dict)
    # A lab of one pair: its hosts' facts, top-level (several: under pairs).
    server_tcp: Optional[dict[str, Optional[str]]] = None
    settle: Optional[dict[str, SettleReport]] = None

    def to_json(self) -> str:
        # Only what was given (and the version): defaults are the reader's business.
        body = {"schema_version": self.schema_version,
                **self.model_dump(mode="json", exclude_unset=True)}
        return json.dumps(body, indent=2, sort_keys=False, default=str) + "\n"

    def as_dict(self) -> dict:
        """The manifest as its JSON data (what the analysis reads)."""
        return json.loads(self.to_json())

    def undeclared(self) -> list[str]:
        """Paths of fields no model declares ("cells[0].colour"): a reader
        keeps them, the runner never writes one. A host's own reports (its
        facts, settle readings, tuning, load generators) may carry more
        fields than declared: those are not counted."""
        return _undeclared(self, "")

    @property
    def controller_state(self) -> str:
        """alive, gone or unknown (runner/core/controller.py)."""
        return controller_state(self.controller)

    @property
    def cut_short(self) -> bool:
        """The run says `running` but its controller is gone: killed, or its
        machine stopped. `lab run --resume` finishes it."""
        return self.status == RunStatus.RUNNING and self.controller_state == GONE


def cut_short_notice(manifest: "Manifest | dict") -> Optional[str]:
    """A sentence for a run cut short (its manifest says `running`, its
    controller is gone), or None: the console and the report say the same."""
    data = manifest.as_dict() if isinstance(manifest, Manifest) else manifest
    if data.get("status") != RunStatus.RUNNING.value:
        return None
    if controller_state(data.get("controller")) != GONE:
        return None
    c = data["controller"]
    return (f"This run was cut short: its manifest still says running, but its controller "
            f"(pid {c.get('pid')} on {c.get('host')}) is gone. The figures cover only the units "
            f"measured before; `lab run --resume {data.get('run_id')}` measures the rest.")


def _undeclared(value: Any, where: str) -> list[str]:
    if isinstance(value, BaseModel):
        extra = {} if getattr(type(value), "host_reported", False) else {
            k: v for k, v in (value.model_extra or {}).items()
            if not (getattr(type(value), "extras_are_axes", False) and isinstance(v, str))}
        found = [f"{where}{'.' if where else ''}{k}" for k in extra]
        for name in type(value).model_fields:
            found += _undeclared(getattr(value, name), f"{where}{'.' if where else ''}{name}")
        return found
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _undeclared(v, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _undeclared(v, f"{where}.{k}")]
    return []


def _epoch(text: Any) -> Optional[float]:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _upgrade(data: dict) -> dict:
    """Older manifests brought to this model's shape, in memory (the file is
    never edited). `schema_version` stays the one the run was written in:
    readers judge its measurements by it (RAW_LATENCY_SINCE).

    - every version: a cell with the A/A suffix and no `aa_twin_of` (runs
      before that field) names its original;
    - version 1: hosts keyed by role without a `role` get it; the top-level
      `started_at`/`finished_at` (ISO text) become `timings.started/finished`.
      Version 1's single wrk set-up (`protocol.latency_model`, `connections`,
      `threads`) stays as it is, in the Protocol's version-1 fields."""
    data = dict(data)
    cells = data.get("cells")
    if isinstance(cells, list):
        data["cells"] = [{**c, "aa_twin_of": c["cell_id"].removesuffix(AA_SUFFIX)}
                         if isinstance(c, dict) and "aa_twin_of" not in c
                         and str(c.get("cell_id", "")).endswith(AA_SUFFIX) else c
                         for c in cells]
    if data.get("schema_version") == 1:
        hosts = data.get("hosts")
        if isinstance(hosts, dict):
            data["hosts"] = {name: {**h, "role": name}
                             if isinstance(h, dict) and "role" not in h
                             and name in ("server", "client", "db") else h
                             for name, h in hosts.items()}
        if "timings" not in data and ("started_at" in data or "finished_at" in data):
            data["timings"] = {k: v for k, v in (("started", _epoch(data.get("started_at"))),
                                                 ("finished", _epoch(data.get("finished_at"))))
                               if v is not None}
    return data


def parse_manifest(data: Any, where: str = MANIFEST_NAME) -> Manifest:
    """A manifest from its JSON data; raises ValueError naming `where` and
    the field at fault. Older versions are brought to this model (_upgrade)."""
    if not isinstance(data, dict):
        raise ValueError(f"manifest is not a JSON object: {where}")
    version = data.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ValueError(f"unsupported manifest schema_version {version!r} in {where} "
                         f"(this lab reads {list(READABLE_SCHEMA_VERSIONS)})")
    try:
        return Manifest.model_validate(_upgrade(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{where}: {field}: {first['msg']}") from None


def read_manifest(path: Path) -> Manifest:
    """The run folder's manifest.json, validated and brought to this model;
    raises ValueError naming the file (missing, not JSON, a field at fault,
    a version this lab does not read)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest missing: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"manifest is not valid JSON: {path}: {exc}") from exc
    return parse_manifest(data, str(path))
