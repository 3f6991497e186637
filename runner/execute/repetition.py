"""One repetition of one scenario variant on one cell, over SSH:

(scenario's before_start) → start a fresh server on the server host →
primer: wait until it answers and verify its response (probe on the client
host) → wait until all its workers are up → warm-up (wrk, not measured) →
the scenario's measured window(s) (runner/scenarios/, psutil on both hosts,
traces cut to the window) → stop the server and check no process of it is
left. Each phase's start and end (epoch seconds) are recorded.

Every step has a time bound. A failure becomes a reason string; it never
escapes as an exception, so the run goes on with the other cells.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from invoke.exceptions import CommandTimedOut, UnexpectedExit
from paramiko.ssh_exception import SSHException

from runner.core.cpus import cpu_list, parse_cpu_list
from runner.core.errors import StepFailed, one_line, storage_fault
from runner.core.model import Variant
from runner.matrix.locks import Cell
from runner.scenarios import SCENARIOS
from runner.session.server import (
    deferred_sigint,
    prove_identity,
    start_server,
    stop_server,
    wait_for_workers,
    wait_ready,
    warm_up,
)
from runner.session.session import Context, Session


@dataclass
class Outcome:
    metrics: dict = field(default_factory=dict)   # metric -> (value, unit)
    observed_cpus: dict = field(default_factory=dict)  # role -> CPUs its processes could use
    failure: str | None = None
    timings: dict = field(default_factory=dict)   # step -> seconds
    phases: dict = field(default_factory=dict)    # phase -> [start, end] epoch seconds
    argv: list = field(default_factory=list)
    wrapper: list = field(default_factory=list)   # the instrument's argv the server ran under
    raw_dir: str = ""
    ssh_lost: bool = False      # an SSH error: the run checks its hosts before going on


def check_cpus(ctx: Context, session: Session) -> dict:
    """A measurement outside the declared CPU sets is not the one asked for."""
    window = session.last_window
    observed = {"server": cpu_list(window.server.get("cpu_affinity")),
                "client": cpu_list(window.client.get("cpu_affinity"))}
    for role, host in (("server", ctx.server_host), ("client", ctx.client_host)):
        declared = cpu_list(parse_cpu_list(host.cpus))
        if observed[role] != declared:
            raise StepFailed(f"{role} processes could run on CPUs {observed[role]!r}, "
                             f"declared {declared!r}")
    return observed


DISCARDED_PREFIX = "disturbed"


def measure_until_quiet(session: Session, plugin, params, variant: Variant,
                        max_attempts: int) -> dict:
    """The scenario's measured window, measured again while window health
    flags it disturbed, `max_attempts` times at most in all; the last one
    counts (flagged if still disturbed). The files of an attempt set aside
    are renamed `disturbed<k>-...` in the raw folder, never overwritten."""
    attempts = 1
    metrics = plugin.measure(session, params, variant)
    while (plugin.remeasure_disturbed and attempts < max_attempts
           and metrics.get("window_disturbed", (0.0,))[0] == 1.0):
        for path in session.local_dir.glob("measured*"):
            path.rename(path.with_name(f"{DISCARDED_PREFIX}{attempts}-{path.name}"))
        attempts += 1
        metrics = plugin.measure(session, params, variant)
    if plugin.remeasure_disturbed:
        metrics["window_attempts"] = (float(attempts), "count")
    return metrics


# Fabric reports a command whose SSH session closed before it ended as exit -1.
DROPPED = "the SSH session closed before the command ended (exit -1)"


def session_dropped(exc: UnexpectedExit) -> bool:
    return exc.result.exited == -1


def after_stop(plugin, session: Session, params, variant: Variant) -> dict:
    """The scenario's metrics from what the stopped server left (StepFailed
    for output that is missing or unreadable)."""
    try:
        return plugin.after_stop(session, params, variant)
    except (ValueError, KeyError) as exc:
        raise StepFailed(f"after the server stopped: {type(exc).__name__}: {exc}") from None


def run_repetition(ctx: Context, cell: Cell, scenario: str, params, variant: Variant,
                   repetition: int) -> Outcome:
    outcome = Outcome()
    plugin = SCENARIOS[scenario]
    session = Session(ctx, cell, scenario, variant, repetition)
    outcome.raw_dir = session.relative_dir
    clock = time.monotonic()
    marks, phases = {}, {}

    def mark(step):
        nonlocal clock
        now = time.monotonic()
        marks[step] = round(now - clock, 4)
        clock = now

    @contextlib.contextmanager
    def phase(name):
        began = time.time()
        try:
            yield
        finally:
            phases[name] = [began, time.time()]

    try:
        with phase("prepare"):
            plugin.before_start(session, params)
        # Ctrl-C while the start is in flight would leave a server whose pid
        # nobody knows: hold it until the pid is kept, where `finally` stops it.
        outcome.wrapper = plugin.server_wrapper(session, params)
        with deferred_sigint():
            session.pid, outcome.argv = start_server(ctx, cell, session.server_dir,
                                                     plugin.server_env(ctx, params),
                                                     outcome.wrapper)
        mark("start")
        with phase("primer"):
            ready = wait_ready(ctx, cell, session.pid, plugin.instrument_ready_s)
            outcome.metrics["ready_after_s"] = (ready, "s")
            # The answer may have come from another process on the port.
            outcome.metrics.update(prove_identity(ctx, session.pid, "after readiness"))
            wait_for_workers(ctx, session.pid, cell.spec.workers)
        mark("ready_verify")
        if ctx.warmup_s > 0 and plugin.warmup:
            with phase("warmup"):
                warm_up(ctx, session)
        mark("warmup")
        with phase("measured"):
            outcome.metrics.update(measure_until_quiet(session, plugin, params, variant,
                                                       ctx.window_attempts))
        prove_identity(ctx, session.pid, "after the measured window")
        mark("measured")
        if session.last_window is not None:
            outcome.observed_cpus = check_cpus(ctx, session)
    except StepFailed as exc:
        outcome.failure = str(exc)
    except (ValueError, KeyError) as exc:  # includes wrk.WrkOutputError
        outcome.failure = f"{type(exc).__name__}: {exc}"
    except CommandTimedOut as exc:
        # A step over its bound (a hung load generator, say) fails this unit only.
        outcome.failure = f"a step timed out after {exc.timeout:g} s: {exc.result.command[:160]}"
    except (SSHException, OSError) as exc:
        if fault := storage_fault(exc, ctx.run_dir):
            raise fault from None
        outcome.failure = f"SSH failed during the repetition: {one_line(exc)}"
        outcome.ssh_lost = True
    except UnexpectedExit as exc:
        if not session_dropped(exc):
            raise
        outcome.failure = f"SSH failed during the repetition: {DROPPED}"
        outcome.ssh_lost = True
    finally:
        # Stopping and fetching go over SSH too: a lost host fails this unit
        # with a reason (the run then checks the host), never a traceback.
        try:
            if session.pid is not None:
                problem = stop_server(ctx, session.pid,
                                      leader_only=plugin.instrument_ready_s is not None)
                mark("stop")
                if problem and not outcome.failure:
                    outcome.failure = problem
            session.fetch(ctx.server_conn, session.server_dir, ["server.log"])
            session.fetch(ctx.client_conn, session.client_dir, ["warmup-wrk.txt"])
            if session.pid is not None and not outcome.failure:
                outcome.metrics.update(after_stop(plugin, session, params, variant))
        except StepFailed as exc:
            outcome.failure = str(exc)
        except (SSHException, OSError, CommandTimedOut) as exc:
            if fault := storage_fault(exc, ctx.run_dir):
                raise fault from None
            outcome.failure = outcome.failure or f"SSH failed stopping the server: {one_line(exc)}"
            outcome.ssh_lost = True
        except UnexpectedExit as exc:
            if not session_dropped(exc):
                raise
            outcome.failure = outcome.failure or f"SSH failed stopping the server: {DROPPED}"
            outcome.ssh_lost = True
    outcome.timings = marks
    outcome.phases = phases
    overhead = sum(v for k, v in marks.items() if k in ("start", "ready_verify", "stop"))
    outcome.metrics["runner_overhead_s"] = (overhead, "s")
    return outcome
