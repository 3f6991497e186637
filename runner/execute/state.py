"""A run's state: its manifest (runner/core/model.py) and its samples,
owned by one object that every stage of the run changes through its methods
and that writes them to the run folder.

The folder is readable at every instant, whatever stops the controller: the
manifest is written when the run starts (status `running`, the controller's
identity), after configuring (every cell, pending) and after every unit,
each time with the samples first, both atomically (runner/core/files.py). A
controller killed outright leaves a folder whose manifest says `running` and
names a process that is gone: `lab report` calls it cut short, `lab run
--resume` measures what it lacks (docs/protocol.md).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterable

from runner.core.controller import this_controller
from runner.core.model import (
    CellRecord,
    CellStatus,
    Failure,
    HostTuning,
    Manifest,
    PairRecord,
    RepetitionTiming,
    Resumption,
    RunStatus,
    SettleReport,
    Timings,
)
from runner.execute import manifest as manifest_file
from runner.execute.results import Samples

LEFT_UNMEASURED = "the run ended before all its units were measured"


def settle_unfinished_cells(cells: Iterable[CellRecord]) -> None:
    """A run cut short: a cell is ok only if it had no unit left to measure.
    One with units left is pending if none was measured, else partial, and
    says so; a later phase never reached counts as units left."""
    for cell in cells:
        if cell.status == CellStatus.FAILED and not cell.failures:
            continue                                   # failed to install: nothing to measure
        if cell.phases_left or cell.units_ok + len(cell.failures) < cell.units_planned:
            cell.status = (CellStatus.PARTIAL if cell.units_ok else
                           CellStatus.FAILED if cell.failures else CellStatus.PENDING)
            if cell.status != CellStatus.FAILED:
                cell.reason = cell.reason or LEFT_UNMEASURED


class RunState:
    """The manifest and samples of one run, and every change to them.

    Pairs of a lab measure in parallel threads: each method holds the
    state's lock, so a unit's outcome and a write never interleave."""

    def __init__(self, run_dir: Path, manifest: Manifest, samples: Samples):
        self.run_dir = Path(run_dir)
        self.manifest = manifest
        self.samples = samples
        self._lock = threading.RLock()
        self._hashes: dict = {}        # the folder's file hashes, by (size, mtime)

    # -- the run's start -------------------------------------------------------
    @classmethod
    def begin(cls, run_dir: Path, run_id: str, matrix_name: str, matrix: dict,
              reproduces: dict | None = None, started: float | None = None) -> "RunState":
        """A new run's state: `running`, this controller, nothing measured."""
        m = Manifest(run_id=run_id, status=RunStatus.RUNNING, matrix_name=matrix_name,
                     matrix=matrix, controller=this_controller(),
                     timings=Timings(started=started if started is not None else time.time()),
                     **({"reproduces": reproduces} if reproduces else {}))
        return cls(run_dir, m, Samples(run_id))

    def failed_before_measuring(self, error: str, excluded: list) -> None:
        """The folder says why it holds no measurement, rather than looking
        half-written or running."""
        with self._lock:
            m = self.manifest
            self.manifest = Manifest(
                run_id=m.run_id, status=RunStatus.FAILED, error=error, matrix_name=m.matrix_name,
                matrix=m.matrix, excluded=excluded, controller=m.controller,
                **({"reproduces": m.reproduces} if m.reproduces else {}))
            self._write_manifest(self.run_dir)

    def measuring(self, manifest: Manifest, samples: Samples | None = None) -> None:
        """Everything known before the first unit (hosts, tools, every cell):
        the state from now on, written at once."""
        with self._lock:
            manifest.status = RunStatus.RUNNING
            manifest.controller = this_controller()
            self.manifest = manifest
            if samples is not None:
                self.samples = samples
            self.save()

    @staticmethod
    def resumption(previous: Manifest, units_measured_before: int) -> list[Resumption]:
        """The resumptions list of a run resumed from `previous`."""
        return [*previous.resumptions, Resumption(
            at=time.time(), previous_status=previous.status, previous_error=previous.error,
            units_measured_before=units_measured_before,
            failures_measured_again=[f for c in previous.cells for f in c.failures])]

    # -- cells and pairs -------------------------------------------------------
    def cell(self, cell_id: str) -> CellRecord:
        return next(c for c in self.manifest.cells if c.cell_id == cell_id)

    @property
    def cells(self) -> list[CellRecord]:
        return self.manifest.cells

    def runnable(self) -> set[str]:
        return {c.cell_id for c in self.manifest.cells if c.status != CellStatus.FAILED}

    def assign_pairs(self, shards: dict) -> None:
        """Each cell's pair (shards: {pair name: [cells]})."""
        with self._lock:
            for name, cells in shards.items():
                for c in cells:
                    self.cell(c.cell_id).pair = name

    def set_pairs(self, pairs: dict[str, PairRecord]) -> None:
        with self._lock:
            self.manifest.pairs = pairs

    def record_host_facts(self, pair: str | None, facts: dict) -> None:
        """A pair's TCP settings and settle readings: top-level for a lab of
        one pair, under its `pairs` entry otherwise."""
        with self._lock:
            where = self.manifest.pairs[pair] if pair in self.manifest.pairs else self.manifest
            where.server_tcp = facts["server_tcp"]
            where.settle = {role: SettleReport.model_validate(seen)
                            for role, seen in facts["settle"].items()}

    def plan(self, cell_phases: dict[str, list[int]], phase: int, order: list) -> None:
        """Phase `phase` begins: each cell's later phases are still to plan;
        each unit of `order` is planned for its cell."""
        with self._lock:
            for cell_id, wanted in cell_phases.items():
                self.cell(cell_id).phases_left = sum(1 for k in wanted if k > phase)
            for unit in order:
                self.cell(unit.cell.cell_id).units_planned += 1

    # -- a unit's outcome ------------------------------------------------------
    def record_unit(self, unit, outcome, pair: str) -> str | None:
        """One unit measured (or failed): its samples, its timing, its cell's
        status. Returns the failure's description (None if it was measured)."""
        cell_id = unit.cell.cell_id
        with self._lock:
            cell = self.cell(cell_id)
            cell.command = list(outcome.argv)
            if outcome.observed_cpus:
                cell.observed_cpus = dict(outcome.observed_cpus)
            if pair and pair not in cell.measured_on:
                cell.measured_on = [*cell.measured_on, pair]   # a resumed cell may move pairs
            self.manifest.timings.repetitions.append(RepetitionTiming(
                cell_id=cell_id, pair=pair, scenario=unit.scenario, variant=unit.variant.label,
                repetition=unit.repetition, raw=outcome.raw_dir, phases=outcome.phases,
                **outcome.timings, **({"wrapper": outcome.wrapper} if outcome.wrapper else {})))
            failed = None
            if outcome.failure:
                where = f"{unit.scenario} {unit.variant.label} repetition {unit.repetition}"
                cell.failures.append(Failure(scenario=unit.scenario, variant=unit.variant.label,
                                             repetition=unit.repetition, reason=outcome.failure,
                                             raw=outcome.raw_dir))
                cell.reason = cell.reason or f"{where}: {outcome.failure}"
                failed = f"{where} failed: {outcome.failure}"
            else:
                self.samples.add(unit.cell.columns(), unit.scenario, unit.repetition,
                                 outcome.metrics, variant=unit.variant.label)
                cell.units_ok += 1
            # ok: every unit so far measured; partial: some failed; failed: none measured.
            cell.status = (CellStatus.OK if not cell.failures else
                           CellStatus.PARTIAL if cell.units_ok else CellStatus.FAILED)
            return failed

    def unfinished(self, cell_ids: Iterable[str]) -> list[str]:
        """The cells among `cell_ids` with units or phases left."""
        with self._lock:
            return sorted(i for i in cell_ids
                          if (c := self.cell(i)).units_ok < c.units_planned or c.phases_left)

    def pair_failed(self, name: str, error: str, unfinished: list[str]) -> None:
        with self._lock:
            self.manifest.pairs[name].error = error
            self.manifest.pairs[name].unfinished = unfinished

    # -- the run's end ---------------------------------------------------------
    def settle_measured_before(self) -> None:
        """Resuming: a cell measured before, with nothing left, is ok."""
        with self._lock:
            for c in self.manifest.cells:
                if c.status == CellStatus.PENDING and c.units_ok and not c.failures:
                    c.status = CellStatus.OK

    def settle_unfinished(self) -> None:
        with self._lock:
            settle_unfinished_cells(self.manifest.cells)

    def set_error(self, error: str) -> None:
        with self._lock:
            self.manifest.error = error

    def record_host_tuning(self, tuning: dict) -> None:
        with self._lock:
            self.manifest.host_tuning = HostTuning.model_validate(tuning)

    # -- writing ---------------------------------------------------------------
    def save_manifest(self) -> None:
        """The manifest alone (nothing measured yet)."""
        with self._lock:
            self._write_manifest(self.run_dir)

    def save(self) -> None:
        """The samples, then the manifest (still `running`), atomically."""
        with self._lock:
            self.samples.write(self.run_dir)
            self._write_manifest(self.run_dir)

    def finish(self, status: RunStatus, folder: Path | None = None,
               error: str | None = None) -> None:
        """The run's end: its status (and an error) written with everything
        measured, into the run folder or `folder` (a rescue)."""
        with self._lock:
            self.manifest.status = RunStatus(status)
            if error:
                self.manifest.error = error
            self.manifest.timings.finished = time.time()
            target = Path(folder) if folder is not None else self.run_dir
            self.samples.write(target)
            self._write_manifest(target)

    def _write_manifest(self, folder: Path) -> None:
        manifest_file.write_manifest(folder, self.manifest, strict=True,
                                     cache=self._hashes if folder == self.run_dir else None)
