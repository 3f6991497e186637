"""The run stage: matrix → locks → configure (Ansible) → measure every
cell × scenario × variant × repetition, each on a fresh server, in
randomized complete blocks (seed recorded) → results folder.

Scenarios that need another's results (fixed-rate needs the peak throughput
that `concurrency` measured on the same cell) run in a second phase, in
blocks of its own."""
from __future__ import annotations

import contextlib
import dataclasses
import random
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from invoke.exceptions import CommandTimedOut
from paramiko.ssh_exception import SSHException
from pydantic import BaseModel

from runner import REPO_ROOT
from runner.catalog.servers import SERVERS
from runner.catalog.user_app import is_app_view
from runner.core.errors import HostUnreachable, LabError, StorageFault, one_line, storage_fault
from runner.core.files import sha256_file
from runner.core.controller import ALIVE
from runner.core.model import (
    AA_SUFFIX,
    BLOCKS_DESIGN,
    CELL_FAILED,
    CELL_PENDING,
    LOCKS_DIR,
    MANIFEST_NAME,
    MATRIX_NAME,
    RUN_COMPLETE,
    RUN_FAILED,
    RUN_INTERRUPTED,
    RUN_RUNNING,
    SAMPLES_NAME,
    CellRecord,
    ConfigureRecord,
    HostRecord,
    LabRecord,
    Manifest,
    PairRecord,
    Protocol,
    Timings,
    Tools,
    Variant,
    read_manifest,
)
from runner.execute import manifest
from runner.execute.pairs import shard
from runner.execute.repetition import run_repetition
from runner.execute.results import Samples, new_run_dir, point_latest
from runner.execute.state import RunState
from runner.lab import configure
from runner.lab import lock as lab_lock
from runner.lab import tune
from runner.lab.inventory import Pair, load_lab
from runner.lab.ssh import connect
from runner.lab.ssh import run as ssh_run
from runner.matrix.expand import Exclusion, load_matrix
from runner.matrix.locks import Cell, cell_from_lock, environments, locks_of_run, resolve_matrix
from runner.scenarios import SCENARIOS, host_roles, playbook_vars
from runner.scenarios.wrk_window import LITTLES_LAW_TOLERANCE
from runner.session import health
from runner.session.settle import MAX_BUSY, settle_hosts
from runner.session.lease import Lease
from runner.session.server import SERVER_ENV, reap_stale_servers
from runner.session.netfacts import read_net_facts
from runner.session.user_app import check_project
from runner.session.session import CLIENT_SATURATION_SHARE, PORT, SAMPLER_INTERVAL_S, Context


@dataclass(frozen=True)
class Unit:
    """One measured repetition: a cell, a scenario, one of its variants."""

    cell: Cell
    scenario: str
    params: BaseModel
    variant: Variant
    repetition: int

    def key(self) -> tuple:
        return (self.cell.cell_id, self.scenario, self.variant.label, self.repetition)


def earlier_samples(run_dir: Path) -> list[dict]:
    path = run_dir / SAMPLES_NAME
    return pd.read_parquet(path).to_dict("records") if path.exists() else []


def measured_units(samples: Samples) -> set[tuple]:
    """The (cell_id, scenario, variant, repetition) keys that have samples."""
    return {tuple(r[k] for k in ("cell_id", "scenario", "variant", "repetition"))
            for r in samples.rows}


def phases(matrix) -> list[list[str]]:
    """Scenario names in phases: those that need others' results come later."""
    first = [n for n in matrix.scenarios if not SCENARIOS[n].after]
    later = [n for n in matrix.scenarios if SCENARIOS[n].after]
    return [p for p in (first, later) if p]


def units(matrix, cells, names: list[str], prior: dict, seed: int) -> list[Unit]:
    """The phase's units in randomized complete blocks: repetition k is block
    k, which measures every cell, scenario and variant once, in its own
    shuffled order (the run's seed, one stream per phase). A drift of the
    machine through the run then moves every cell alike, block by block,
    instead of turning into differences between cells."""
    rng = random.Random(f"{seed}/{','.join(names)}")
    out = []
    for rep in range(matrix.protocol.repetitions):
        block = [Unit(cell, name, params, variant, rep)
                 for cell in cells
                 for name, params in matrix.scenarios_for(cell.spec).items() if name in names
                 for variant in SCENARIOS[name].variants(params, prior.get(cell.cell_id, {}))]
        rng.shuffle(block)
        out += block
    return out


def prior_results(samples: Samples) -> dict:
    """{cell_id: facts later phases use}: what each scenario measured so far
    `provides` (concurrency: its peak throughput, for fixed-rate)."""
    df = samples.frame()
    prior: dict[str, dict] = {}
    for name, rows in df.groupby("scenario"):
        for cell_id, facts in SCENARIOS[name].provides(rows).items():
            prior.setdefault(cell_id, {}).update(facts)
    return prior


def split_by_install(cells, exclusions, installs: dict, server: str, provider: str):
    """Cells whose host lacks their Python become exclusions; the rest run,
    and those whose install failed are marked failed with the installer's error."""
    runnable, failed = [], {}
    for cell in cells:
        report = installs.get(cell.env_id) or {"status": "failed", "error": "not reported"}
        if report["status"] == "no-python":
            exclusions.append(Exclusion(cell.spec, f"Python {cell.spec.python} is not available "
                                                   f"on host {server} (provider {provider})"))
            continue
        runnable.append(cell)
        if report["status"] == "failed":
            failed[cell.cell_id] = f"install failed: {report['error']}"
    return runnable, failed


def _report_installs(ui, installs: dict) -> None:
    counts: dict[str, int] = {}
    for report in installs.values():
        counts[report["status"]] = counts.get(report["status"], 0) + 1
    slowest = max((r["seconds"] for r in installs.values()), default=0)
    ui.info("environments: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            + f" (slowest {slowest:.1f} s)")
    for env_id, report in sorted(installs.items()):
        if report["status"] == "failed":
            ui.warn(f"environment {env_id} failed to install: {report['error']}")


def _excluded(exclusions) -> list[dict]:
    return [{"cell": {**vars(x.spec), "extras": dict(x.spec.extras)}, "reason": x.reason}
            for x in exclusions]


def _frozen(report: dict | None) -> dict:
    return dict(line.split("==", 1) for line in (report or {}).get("freeze", []))


def resolve(matrix, ui) -> tuple[list, list]:
    """Cells to run and exclusions with reasons."""
    with ui.phase(f"resolve {len(matrix.cells)} cells (uv pip compile, Django metadata)"):
        cells, exclusions = resolve_matrix(matrix, REPO_ROOT / ".lab" / "lock-cache")
    ui.info(f"{len(cells)} cells to run, {len(exclusions)} excluded (see `lab matrix show`)")
    return cells, exclusions


# Why a cell of the matrix is left out when the locks are given (lab reproduce).
NOT_ARCHIVED = "not in the archived run"


def cells_from_locks(matrix, locks: dict, ui) -> tuple[list, list]:
    """Cells made from given locks instead of resolving ({CellSpec: lock
    text}, as `lab reproduce` reads them from an archive): the same spec and
    lock give the same cell_id (locks.cell_from_lock). A spec with no lock is
    excluded with the reason NOT_ARCHIVED; the matrix's own exclusions stay."""
    cells, exclusions = [], list(matrix.excluded)
    for spec in matrix.cells:
        if spec in locks:
            cells.append(cell_from_lock(spec, locks[spec]))
        else:
            exclusions.append(Exclusion(spec, NOT_ARCHIVED))
    ui.info(f"{len(cells)} cells from the given locks (nothing resolved), "
            f"{len(exclusions)} excluded")
    return cells, exclusions


def with_aa_twins(cells: list, baseline_server: str) -> list:
    """Each baseline cell once more under its own id: same lock, same venv,
    same coordinates, so any difference the two show is the lab's noise."""
    twins = [dataclasses.replace(c, cell_id=c.cell_id + AA_SUFFIX)
             for c in cells if c.spec.server == baseline_server]
    return cells + twins


def require_cells(matrix, cells, exclusions) -> None:
    if not cells:
        raise LabError(f"{matrix.path}: no cell resolved; nothing to run "
                       f"(first reason: {exclusions[0].reason})")


def install(lab, matrix, cells, exclusions: list, log_path: Path, ui, reconfigure: bool = False):
    """Ansible over SSH: every cell's environment on the server host, tools and
    facts everywhere (or the fast path, configure.configure). Returns
    (runnable cells, {cell_id: why it failed}, install report, what configure
    did); appends the cells whose Python the host lacks to `exclusions`."""
    server = lab.first("server")
    with ui.phase("configure (ansible-playbook site.yml)") as step:
        app = ({"lab_user_app": {"src": matrix.app.local_dir, "digest": matrix.app.digest}}
               if matrix.app else {})
        done = configure.configure(
            lab, {"lab_envs": environments(cells), **playbook_vars(matrix.scenarios), **app},
            log_path, step,
            reconfigure=reconfigure)
    ui.info({"skipped": "configure: playbook skipped, nothing changed since its last run "
                        "(--reconfigure runs it)",
             "project": f"configure: only the project was shipped ({done['why']})"}.get(
        done["mode"], f"configure: playbook ran ({done['why']})"))
    installs = configure.install_report(lab)
    before = len(exclusions)
    cells, failed = split_by_install(cells, exclusions, installs, server.name,
                                     configure.python_provider(lab, server.name))
    _report_installs(ui, installs)
    for reason in dict.fromkeys(x.reason for x in exclusions[before:]):
        ui.warn(f"excluded: {reason}")
    if not cells:
        raise LabError(f"no cell of {matrix.path} can run on lab {lab.name!r}: "
                       f"{exclusions[-1].reason}")
    return cells, failed, installs, done


def check_app(lab, app, cells, install_failed: dict, ui) -> dict:
    """The user's project in each environment its cells use, checked on the
    server host before anything is measured (session/user_app.py)."""
    env_ids = sorted({c.env_id for c in cells
                      if is_app_view(c.spec.view) and c.cell_id not in install_failed})
    with ui.phase(f"check {app.source} in {len(env_ids)} environment(s): settings, "
                  f"migrate, URLs"):
        # Every pair's server runs the project: check it on each, keep the first's answers.
        return [check_project(p.server, app, env_ids) for p in lab.pairs()][0]


def run_matrix(matrix_path: str | Path, lab_name: str = "local",
               results_root: Path = REPO_ROOT / "results", ui=None,
               locks: dict | None = None, reproduces: dict | None = None,
               reconfigure: bool = False, app_source: str | None = None) -> Path:
    """Run a matrix; return its new run folder.

    `locks` ({CellSpec: lock text}) replaces resolving: the cells are made
    from those locks (cells_from_locks), as `lab reproduce` does with an
    archived run's. `reproduces` ({archive, archive_sha256, run_id}) is
    recorded as the manifest's `reproduces` key (runner/core/model.py).
    `reconfigure` runs the whole playbook even where the fast path holds.
    The lab's run lock is held throughout (runner/lab/lock.py): a second run
    on the same lab is refused before it writes anything."""
    matrix = load_matrix(matrix_path, app_source)     # errors before anything starts
    lab = load_lab(lab_name)
    with lab_lock.hold(lab.vars["lab_state_dir"], lab.name, f"lab run {matrix.path}"):
        return _run_matrix(matrix, lab, results_root, ui, locks, reproduces, reconfigure)


RESUMABLE = (RUN_INTERRUPTED, RUN_FAILED, RUN_RUNNING)
# How a run that never got its cells' locks ended, by its status.
_ENDED = {RUN_FAILED: "failed", RUN_INTERRUPTED: "was interrupted", RUN_RUNNING: "was cut short"}


def resume_run(run_dir: Path, lab_name: str = "local", ui=None, reconfigure: bool = False) -> Path:
    """Finish an interrupted, failed or cut-short run in its own folder: the
    same matrix file, locks and seed; only the units with no sample yet are
    measured (a failed unit is measured again, its raw folder kept aside);
    the manifest's `resumptions` records each resumption. A run whose
    controller still runs is refused."""
    run_dir = Path(run_dir)
    try:
        old = read_manifest(run_dir / MANIFEST_NAME)
    except ValueError as exc:
        raise LabError(f"{run_dir}: cannot resume, no readable {MANIFEST_NAME} ({exc})") from None
    if old.status == RUN_COMPLETE:
        raise LabError(f"{run_dir.name} is complete: nothing to resume")
    if old.status not in RESUMABLE:
        raise LabError(f"{run_dir.name}: status {old.status.value!r} cannot be resumed")
    if old.status == RUN_RUNNING and old.controller_state == ALIVE:
        raise LabError(f"{run_dir.name} is still running (pid {old.controller.pid} on "
                       f"{old.controller.host}): wait for it, or stop it, then resume")
    app = old.app
    matrix = load_matrix(run_dir / MATRIX_NAME, app.source if app else None)
    if app and matrix.app.digest != app.digest:
        raise LabError(f"{run_dir.name}: the project {app.source} changed since the run "
                       f"began ({app.digest} then, {matrix.app.digest} now)")
    locks = locks_of_run(matrix, old.as_dict(), run_dir, ui)
    if not locks:
        raise LabError(f"{run_dir.name} {_ENDED[old.status]} before its cells had locks "
                       f"({old.error or 'no cells'}): start a new run instead")
    lab = load_lab(lab_name)
    reproduces = old.reproduces.model_dump(exclude_unset=True) if old.reproduces else None
    with lab_lock.hold(lab.vars["lab_state_dir"], lab.name, f"lab run --resume {run_dir.name}"):
        return _run_matrix(matrix, lab, run_dir.parent, ui, locks, reproduces,
                           reconfigure, resume=(run_dir, old))


def answering_pairs(lab, ui) -> tuple:
    """In a lab of several pairs, leave out each pair with a host that does not
    answer SSH, and say so: the run goes on with the others (a resumed run
    measures a lost pair's cells on the pairs that answer). Returns (the lab
    without those pairs, {pair: why})."""
    pairs = lab.pairs()
    if len(pairs) < 2:
        return lab, {}
    dead = {}
    for pair in pairs:
        for host in (pair.server, pair.client):
            try:
                with connect(host, timeout=5) as conn:
                    ssh_run(conn, "true", timeout=10)
            except (SSHException, OSError, CommandTimedOut) as exc:
                dead[pair.name] = f"host {host.name} ({host.address}) does not answer SSH ({one_line(exc, 120)})"
                break
    if len(dead) == len(pairs):
        raise LabError(f"no pair of lab {lab.name!r} answers: " +
                       "; ".join(f"pair {n}: {why}" for n, why in sorted(dead.items())))
    for name, why in sorted(dead.items()):
        ui.warn(f"pair {name} left out of this run: {why}; its cells go to the other pairs")
    gone = [h.name for p in pairs if p.name in dead for h in (p.server, p.client)]
    return (lab.without(gone) if gone else lab), dead


def cell_records(matrix, cells, installs: dict, install_failed: dict,
                 earlier: dict[str, CellRecord], measured: set) -> list[CellRecord]:
    """The manifest's cells before the first unit: coordinates, lock, the
    installed packages; pending, or failed with the installer's error.
    Resuming, a cell measured before keeps its command, CPUs and pairs, and
    counts its units with samples."""
    records = []
    for c in cells:
        report = installs.get(c.env_id) or {}
        before = earlier.get(c.cell_id)
        records.append(CellRecord(
            **c.columns(), env_id=c.env_id, lock=f"{LOCKS_DIR}/{c.cell_id}.txt",
            packages=_frozen(installs.get(c.env_id)) or dict(c.packages),
            python_exact=report.get("python_exact"),
            install={k: report.get(k) for k in ("status", "seconds")},
            aa_twin_of=(c.cell_id.removesuffix(AA_SUFFIX) if c.cell_id.endswith(AA_SUFFIX)
                        else None),
            server_description=SERVERS[c.spec.server].description,
            scenarios=list(matrix.scenarios_for(c.spec)),
            status=CELL_FAILED if c.cell_id in install_failed else CELL_PENDING,
            reason=install_failed.get(c.cell_id),
            command=before.command if before else None,
            observed_cpus=dict(before.observed_cpus) if before else {},
            failures=[], units_ok=sum(1 for u in measured if u[0] == c.cell_id) if before else 0,
            units_planned=0,
            **({"measured_on": list(before.measured_on)} if before else {})))
    return records


def run_manifest(matrix, lab, run_id: str, reproduces: dict | None, left_out: dict,
                 facts: dict, configured: dict, exclusions: list, cells: list[CellRecord],
                 started: float, app_checks: dict | None,
                 previous: Manifest | None = None, measured_before: int = 0) -> Manifest:
    """The manifest of a run about to measure: what it measures and how, on
    which hosts with which tools; every cell pending (or failed to install)."""
    client_host = lab.first("client")     # its tools are every client's (one playbook)
    optional = {}
    if left_out:
        optional["pairs_left_out"] = left_out
    if reproduces:
        optional["reproduces"] = reproduces
    if matrix.app:
        optional["app"] = {**matrix.app.record(), "checks": app_checks or {}}
    if previous is not None:
        optional["resumptions"] = RunState.resumption(previous, measured_before)
    return Manifest(
        run_id=run_id, status=RUN_RUNNING, matrix_name=matrix.name,
        # Reproducing, the matrix file is a temporary copy: name where it came from.
        matrix_file=(f"{reproduces['archive']}:{reproduces['run_id']}/matrix.yaml"
                     if reproduces else str(matrix.path)),
        matrix=matrix.raw, matrix_sha256=sha256_file(matrix.path),
        baseline_server=matrix.baseline_server,
        protocol=Protocol(
            scenarios={n: p.model_dump() for n, p in matrix.scenarios.items()},
            repetitions=matrix.protocol.repetitions, warmup_s=matrix.protocol.warmup_s,
            duration_s=matrix.protocol.duration_s, seed=matrix.protocol.seed,
            aa_control=matrix.protocol.aa_control,
            window_attempts=matrix.protocol.window_attempts, design=BLOCKS_DESIGN,
            latency_models=latency_models(matrix), sampler_interval_s=SAMPLER_INTERVAL_S,
            port=PORT, client_saturation_share=CLIENT_SATURATION_SHARE,
            littles_law_tolerance=LITTLES_LAW_TOLERANCE, window_health=health.THRESHOLDS,
            server_env=SERVER_ENV),
        lab=LabRecord(name=lab.name, module=lab.vars.get("lab_module"), inventory=str(lab.path)),
        hosts={h.name: HostRecord(role=h.role, address=h.address, cpus=h.cpus,
                                  facts=facts.get(h.name, {})) for h in lab.hosts.values()},
        cpu_sets={h.role: h.cpus for h in lab.hosts.values()},
        lab_git=manifest.lab_git_commit(),
        tools=Tools(**manifest.controller_tools(),
                    wrk=facts.get(client_host.name, {}).get("wrk"),
                    load_generators=configure.load_generators(lab)),
        configure=ConfigureRecord(mode=configured["mode"], why=configured["why"]),
        ansible_recap=configured["recap"],
        excluded=_excluded(exclusions),
        cells=cells,
        timings=Timings(started=started,
                        repetitions=list(previous.timings.repetitions) if previous else []),
        **optional)


def _run_matrix(matrix, lab, results_root, ui, locks, reproduces, reconfigure,
                resume: tuple[Path, Manifest] | None = None) -> Path:
    lab, left_out = answering_pairs(lab, ui)
    if resume:
        # The folder keeps what it had until the run is ready to measure:
        # a resumption that stops before then leaves it resumable as it was.
        run_dir, old = resume
        run_id = run_dir.name
        ui.info(f"resuming run {run_id} ({old.status.value}) in {run_dir}")
        started = old.timings.started or time.time()
        state = RunState(run_dir, old, Samples(run_id))
        for temp in run_dir.glob(".*.tmp"):      # writes a killed controller left half done
            temp.unlink(missing_ok=True)
    else:
        run_id, run_dir = new_run_dir(Path(results_root), matrix.name)
        ui.info(f"run {run_id} → {run_dir}")
        started = time.time()
        shutil.copyfile(matrix.path, run_dir / MATRIX_NAME)      # the matrix as given
        # From here on the folder says `running` and who runs it.
        state = RunState.begin(run_dir, run_id, matrix.name, matrix.raw, reproduces, started)
        write_or_fault(lambda _: state.save_manifest(), run_dir)
    exclusions = []
    app_checks = None
    try:
        if locks is None:
            cells, exclusions = resolve(matrix, ui)
        else:
            cells, exclusions = cells_from_locks(matrix, locks, ui)
        require_cells(matrix, cells, exclusions)
        if matrix.protocol.aa_control:
            cells = with_aa_twins(cells, matrix.baseline_server)
        lock_dir = run_dir / LOCKS_DIR
        lock_dir.mkdir(exist_ok=bool(resume))
        for cell in cells:
            if not (lock_dir / f"{cell.cell_id}.txt").exists():
                (lock_dir / f"{cell.cell_id}.txt").write_text(cell.lock_text)
        cells, install_failed, installs, configured = install(
            lab, matrix, cells, exclusions, run_dir / "logs" / "ansible.log", ui, reconfigure)
        if matrix.app:
            app_checks = check_app(lab, matrix.app, cells, install_failed, ui)
    except (LabError, KeyboardInterrupt) as exc:
        if not resume:     # a resumed run's folder keeps what it had; the error is printed
            state.failed_before_measuring(str(exc) or "interrupted", _excluded(exclusions))
        raise
    facts = configure.host_facts(lab)

    samples = Samples(run_id)
    measured, earlier = set(), {}
    if resume:
        samples.rows = earlier_samples(run_dir)
        measured = measured_units(samples)
        earlier = {c.cell_id: c for c in old.cells}
    records = cell_records(matrix, cells, installs, install_failed, earlier, measured)
    planned = run_manifest(matrix, lab, run_id, reproduces, left_out, facts, configured,
                           exclusions, records, started, app_checks,
                           previous=old if resume else None, measured_before=len(measured))
    write_or_fault(lambda _: state.measuring(planned, samples), run_dir)

    status = RUN_INTERRUPTED
    try:
        pairs = lab.pairs()
        runnable_ids = state.runnable()
        shards = shard([c for c in cells if c.cell_id in runnable_ids], pairs)
        state.assign_pairs(shards)
        try:
            state.record_host_tuning(tune.for_manifest(tune.show(lab)))
        except (SSHException, OSError, CommandTimedOut) as exc:
            raise LabError(f"reading the hosts' settings failed: {one_line(exc)}") from None
        job = PairJob(matrix=matrix, run_id=run_id, run_dir=run_dir, state=state,
                      measured=measured,
                      role_hosts={h.role: h for h in lab.hosts.values()
                                  if h.role in host_roles(matrix.scenarios)}, ui=ui)
        if len(pairs) == 1:
            measure_pair(job, pairs[0], shards[pairs[0].name], ui.progress)
        else:
            state.set_pairs({p.name: PairRecord(server=p.server.name, client=p.client.name,
                                                cells=len(shards[p.name])) for p in pairs})
            measure_in_parallel(job, pairs, shards)
        state.settle_measured_before()      # resuming: cells measured before, all done
        status = RUN_COMPLETE
    except LabError as exc:      # a host lost, the run folder unwritable: stop, keep the rest
        status = RUN_FAILED
        state.set_error(str(exc))
        raise
    finally:
        # Runs on Ctrl-C too: what was measured is kept, the status says so.
        if status != RUN_COMPLETE:
            state.settle_unfinished()
        save_or_rescue(state.finish, status, run_dir, Path(lab.vars["lab_state_dir"]))
        with contextlib.suppress(OSError):        # a convenience link, never worth a failure
            point_latest(Path(results_root), run_dir)
    return run_dir


@dataclass
class PairJob:
    """What every pair's measuring shares: the run, its state (samples and
    manifest, thread-safe; each cell belongs to one pair)."""
    matrix: object
    run_id: str
    run_dir: Path
    state: RunState
    measured: set
    role_hosts: dict
    ui: object
    stop: threading.Event = field(default_factory=threading.Event)


def measure_pair(job: PairJob, pair: Pair, cells: list, progress) -> None:
    """Measure `cells` on one pair in randomized complete blocks (`units`),
    phase by phase, holding the controller's lease on the server host
    (session/lease.py) throughout. The pair's host facts (TCP settings,
    settling) go into the run state as soon as they are known."""
    matrix, ui, state = job.matrix, job.ui, job.state
    ctx = Context(run_id=job.run_id, run_dir=job.run_dir, server_host=pair.server,
                  client_host=pair.client, server_conn=connect(pair.server),
                  client_conn=connect(pair.client), warmup_s=matrix.protocol.warmup_s,
                  duration_s=matrix.protocol.duration_s,
                  window_attempts=matrix.protocol.window_attempts, role_hosts=job.role_hosts)
    try:
        stale = reap_stale_servers(ctx)
        facts = {"server_tcp": read_net_facts(ctx.server_conn), "settle": settle_hosts(ctx)}
    except (SSHException, OSError, CommandTimedOut) as exc:
        check_hosts(ctx, ui)          # names the host that is down
        raise LabError(f"preparing the hosts failed: {one_line(exc)}") from None
    state.record_host_facts(pair.name, facts)
    if stale:
        ui.warn(f"stopped servers left on {pair.server.name} by an earlier run: {stale}")
    for role, seen in facts["settle"].items():
        if not seen.get("settled"):
            ui.warn(f"{role} host did not settle: CPUs busy {seen.get('busy', ['?'])[-1]}"
                    f" after {seen.get('after_s', '?')} s (limit {MAX_BUSY:.0%}; "
                    f"{seen.get('error', 'recorded in the manifest')})")
    run_phases = phases(matrix)
    # Each cell's phases not yet planned: a run cut short before one has units left.
    cell_phases = {c.cell_id: [i for i, names in enumerate(run_phases)
                               if set(names) & set(matrix.scenarios_for(c.spec))]
                   for c in cells}
    state.plan(cell_phases, -1, [])
    with Lease(pair.server):
        for i, names in enumerate(run_phases):
            # The run's seed and the pair's name: one stream of block orders per pair.
            seed = f"{matrix.protocol.seed}/{pair.name}" if pair.name else matrix.protocol.seed
            order = units(matrix, cells, names, prior_results(state.samples), seed)
            state.plan(cell_phases, i, order)
            with progress(f"measuring {', '.join(names)}", len(order)) as advance:
                for unit in order:
                    if job.stop.is_set():
                        raise KeyboardInterrupt      # another pair's Ctrl-C: stop between units
                    if unit.key() in job.measured:       # resuming: measured before
                        advance(f"{unit.cell.spec.label()} {unit.scenario} measured before")
                        continue
                    if measure_unit(ctx, unit, state, ui).ssh_lost:
                        check_hosts(ctx, ui)
                    write_or_fault(lambda _: state.save(), job.run_dir)
                    advance(f"{unit.cell.spec.label()} {unit.scenario} {unit.variant.label} "
                            f"rep {unit.repetition}")


def measure_in_parallel(job: PairJob, pairs: list[Pair], shards: dict) -> None:
    """Every pair measures its own cells at the same time, in its own thread.
    A pair that fails stops alone; the others finish. Then the run fails
    naming each failed pair and its unfinished cells (`lab run --resume`
    measures them, on whichever pair the lab has then)."""
    def lines(pair):
        @contextlib.contextmanager
        def progress(title, total):        # one line per unit: no live display per thread
            done = [0]

            def advance(detail):
                done[0] += 1
                job.ui.info(f"pair {pair.name}: {title} [{done[0]}/{total}] {detail}")
            yield advance
        return progress

    errors = {}
    with ThreadPoolExecutor(max_workers=len(pairs), thread_name_prefix="pair") as pool:
        futures = {pool.submit(measure_pair, job, p, shards[p.name], lines(p)): p
                   for p in pairs if shards[p.name]}
        try:
            for future in as_completed(futures):
                try:
                    future.result()
                except LabError as exc:
                    errors[futures[future].name] = str(exc)
                except (SSHException, OSError, CommandTimedOut) as exc:
                    errors[futures[future].name] = one_line(exc, 300)
        except KeyboardInterrupt:
            job.stop.set()       # each pair stops after the unit it is measuring
            raise
    unfinished = {}
    for name, error in errors.items():
        unfinished[name] = job.state.unfinished(c.cell_id for c in shards[name])
        job.state.pair_failed(name, error, unfinished[name])
    if errors:
        raise LabError("; ".join(f"pair {n}: {e} (unfinished cells: "
                                 f"{', '.join(unfinished[n]) or 'none'})"
                                 for n, e in sorted(errors.items()))
                       + "; the other pairs finished, `lab run --resume RUN_ID` measures the rest")


def write_or_fault(write, run_dir: Path) -> None:
    try:
        write(run_dir)
    except OSError as exc:
        raise (storage_fault(exc, run_dir) or exc) from None


def save_or_rescue(save, status: str, run_dir: Path, state_dir: Path) -> None:
    """Write the manifest and samples into the run folder; if that folder
    cannot be written, into <state_dir>/rescued/<run_id> (or the system's
    temporary folder), and raise a LabError saying where."""
    try:
        save(status, run_dir)
        return
    except OSError as exc:
        failure = f"{run_dir} cannot be written ({exc.strerror or exc})"
    for base in (state_dir / "rescued", Path(tempfile.gettempdir()) / "djlab-rescued"):
        try:
            rescue = base / run_dir.name
            rescue.mkdir(parents=True, exist_ok=True)
            save(RUN_FAILED, rescue, error=failure)
        except OSError:
            continue
        raise StorageFault(f"{failure}: the run stopped; what was measured is kept in {rescue} "
                           "(manifest.json says failed and why)")
    raise StorageFault(f"{failure}, and no other folder could take the manifest")


def check_hosts(ctx, ui, tries: int = 3, wait_s: float = 5.0) -> None:
    """After an SSH error: go on if every host answers again within a few
    tries, else stop the run (HostUnreachable) naming the host."""
    for host, conn in ((ctx.server_host, ctx.server_conn), (ctx.client_host, ctx.client_conn)):
        for attempt in range(tries):
            try:
                conn.close()
                ssh_run(conn, "true", timeout=15)
                break
            except (SSHException, OSError, CommandTimedOut) as exc:
                last = one_line(exc, 200)
                if attempt + 1 < tries:
                    time.sleep(wait_s)
        else:
            raise HostUnreachable(
                f"host {host.name} ({host.address}) is unreachable over SSH after {tries} tries "
                f"({last}); the run stopped and what was measured is kept. Bring the lab back "
                "(`lab up`); a server left on it is stopped by its watchdog once the "
                "controller's lease lapses (or by the next run on this lab)")
        ui.info(f"{host.name} answers over SSH again; the run goes on")


def measure_unit(ctx, unit: Unit, state: RunState, ui):
    """Measure one unit; a failure is recorded for the cell and the run goes
    on. Returns the unit's Outcome."""
    outcome = run_repetition(ctx, unit.cell, unit.scenario, unit.params, unit.variant,
                             unit.repetition)
    failed = state.record_unit(unit, outcome, getattr(ctx.server_host, "pair", ""))
    if failed:
        ui.warn(f"{unit.cell.spec.label()} {failed} (logs in {outcome.raw_dir}/)")
    return outcome


def latency_models(matrix) -> dict:
    """{label: latency model} of every scenario the matrix runs."""
    return {label: model for name in matrix.scenarios
            for label, model in SCENARIOS[name].latency_models().items()}
