"""The run stage: matrix → locks → configure (Ansible) → measure every
cell × repetition in a shuffled order (seed recorded) → results folder."""
from __future__ import annotations

import dataclasses
import hashlib
import random
import shutil
import time
from pathlib import Path

from runner import REPO_ROOT, configure, manifest, protocol
from runner.errors import LabError
from runner.inventory import load_lab
from runner.locks import resolve_matrix
from runner.matrix import Exclusion, load_matrix
from runner.results import Samples, new_run_dir, point_latest
from runner.servers import SERVERS
from runner.ssh import connect
from runner.wrk import LATENCY_MODEL


def schedule(cells, repetitions: int, seed: int) -> list[tuple]:
    """Every (cell, repetition) once, shuffled so that drift favours no cell."""
    order = [(cell, rep) for rep in range(repetitions) for cell in cells]
    random.Random(seed).shuffle(order)
    return order


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


AA_SUFFIX = "-aa"


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


def install(lab, matrix, cells, exclusions: list, log_path: Path, ui):
    """Ansible over SSH: every cell's environment on the server host, tools and
    facts everywhere. Returns (runnable cells, {cell_id: why it failed},
    install report, play recap); appends the cells whose Python the host
    lacks to `exclusions`."""
    server = lab.by_role("server")
    with ui.phase("configure (ansible-playbook site.yml)") as step:
        recap = configure.run_playbook(lab, configure.environments(cells), log_path, step)
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
    return cells, failed, installs, recap


def run_matrix(matrix_path: str | Path, lab_name: str = "local",
               results_root: Path = REPO_ROOT / "results", ui=None) -> Path:
    matrix = load_matrix(matrix_path)          # errors before anything starts
    lab = load_lab(lab_name)
    server_host, client_host = lab.by_role("server"), lab.by_role("client")
    run_id, run_dir = new_run_dir(Path(results_root), matrix.name)
    ui.info(f"run {run_id} → {run_dir}")
    started = time.time()
    shutil.copyfile(matrix.path, run_dir / "matrix.yaml")      # the matrix as given
    exclusions = []

    def failed_before_measuring(error: str):
        # The folder says why it holds no measurement, rather than looking half-written.
        manifest.write_manifest(run_dir, {"run_id": run_id, "status": "failed", "error": error,
                                          "matrix_name": matrix.name, "matrix": matrix.raw,
                                          "excluded": _excluded(exclusions)})

    try:
        cells, exclusions = resolve(matrix, ui)
        require_cells(matrix, cells, exclusions)
        if matrix.protocol.aa_control:
            cells = with_aa_twins(cells, matrix.baseline_server)
        lock_dir = run_dir / "locks"
        lock_dir.mkdir()
        for cell in cells:
            (lock_dir / f"{cell.cell_id}.txt").write_text(cell.lock_text)
        cells, install_failed, installs, recap = install(
            lab, matrix, cells, exclusions, run_dir / "logs" / "ansible.log", ui)
    except (LabError, KeyboardInterrupt) as exc:
        failed_before_measuring(str(exc) or "interrupted")
        raise
    facts = configure.host_facts(lab)

    samples = Samples(run_id)
    cell_state = {c.cell_id: {"status": "failed" if c.cell_id in install_failed else "pending",
                              "reason": install_failed.get(c.cell_id), "command": None,
                              "observed_cpus": {}} for c in cells}
    base = {
        "run_id": run_id, "status": "running", "matrix_name": matrix.name,
        "matrix_file": str(matrix.path), "matrix": matrix.raw,
        "matrix_sha256": hashlib.sha256(matrix.path.read_bytes()).hexdigest(),
        "baseline_server": matrix.baseline_server,
        "protocol": {"scenario": protocol.SCENARIO, "repetitions": matrix.protocol.repetitions,
                     "warmup_s": matrix.protocol.warmup_s, "duration_s": matrix.protocol.duration_s,
                     "seed": matrix.protocol.seed, "aa_control": matrix.protocol.aa_control,
                     "connections": 1, "threads": 1,
                     "latency_model": LATENCY_MODEL.format(connections=1, threads=1),
                     "sampler_interval_s": protocol.SAMPLER_INTERVAL_S, "port": protocol.PORT,
                     "server_env": protocol.SERVER_ENV},
        "lab": {"name": lab.name, "module": lab.vars.get("lab_module"), "inventory": str(lab.path)},
        "hosts": {h.name: {"role": h.role, "address": h.address, "cpus": h.cpus,
                           "facts": facts.get(h.name, {})} for h in lab.hosts.values()},
        "cpu_sets": {h.role: h.cpus for h in lab.hosts.values()},
        "lab_git": manifest.lab_git_commit(),
        "tools": {**manifest.controller_tools(), "wrk": facts.get(client_host.name, {}).get("wrk")},
        "ansible_recap": recap,
        "excluded": _excluded(exclusions),
    }

    def cells_entry():
        return [{**c.columns(), "env_id": c.env_id, "lock": f"locks/{c.cell_id}.txt",
                 "packages": _frozen(installs.get(c.env_id)) or dict(c.packages),
                 "python_exact": installs.get(c.env_id, {}).get("python_exact"),
                 "install": {k: installs.get(c.env_id, {}).get(k) for k in ("status", "seconds")},
                 "aa_twin_of": (c.cell_id.removesuffix(AA_SUFFIX)
                                if c.cell_id.endswith(AA_SUFFIX) else None),
                 "server_description": SERVERS[c.spec.server].description,
                 **cell_state[c.cell_id]} for c in cells]

    rep_timings = []

    def save(status: str):
        samples.write(run_dir)
        manifest.write_manifest(run_dir, {**base, "status": status, "cells": cells_entry(),
                                          "timings": {"started": started, "finished": time.time(),
                                                      "repetitions": rep_timings}})

    order = schedule(cells, matrix.protocol.repetitions, matrix.protocol.seed)
    status = "interrupted"
    try:
        ctx = protocol.Context(run_id=run_id, run_dir=run_dir, server_host=server_host,
                               client_host=client_host, server_conn=connect(server_host),
                               client_conn=connect(client_host),
                               warmup_s=matrix.protocol.warmup_s,
                               duration_s=matrix.protocol.duration_s)
        if stale := protocol.reap_stale_servers(ctx):
            ui.warn(f"stopped servers left on {server_host.name} by an earlier run: {stale}")
        with ui.progress("measuring", total=len(order)) as advance:
            for cell, rep in order:
                state = cell_state[cell.cell_id]
                if state["status"] == "failed":
                    advance(f"skip {cell.spec.label()} rep {rep} (cell failed)")
                    continue
                outcome = protocol.run_repetition(ctx, cell, rep)
                state["command"] = outcome.argv
                if outcome.observed_cpus:
                    state["observed_cpus"] = outcome.observed_cpus
                rep_timings.append({"cell_id": cell.cell_id, "repetition": rep, **outcome.timings})
                if outcome.failure:
                    state.update(status="failed", reason=f"repetition {rep}: {outcome.failure}")
                    ui.warn(f"{cell.spec.label()} failed: {outcome.failure} "
                            f"(logs in raw/{cell.cell_id}/rep{rep}/)")
                else:
                    samples.add(cell.columns(), protocol.SCENARIO, rep, outcome.metrics)
                    if state["status"] == "pending":
                        state["status"] = "ok"
                samples.write(run_dir)
                advance(f"{cell.spec.label()} rep {rep}")
        status = "complete"
    finally:
        # Runs on Ctrl-C too: what was measured is kept, the status says so.
        save(status)
        point_latest(Path(results_root), run_dir)
    return run_dir
