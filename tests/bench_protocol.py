"""Benchmarks of the run protocol itself, on a lab that is up (issue 4):

  .venv/bin/python -m tests.bench_protocol [--lab local] [--reps 5] [--seconds 3]

1. The sampler's cost: its own CPU on the server host (percent of one core)
   while it watches a server under single-client load.
2. The observer effect: single-client p50 of a measured window (both
   samplers, the window's bookkeeping) vs plain wrk on the same fresh uvicorn
   server (DRF view), in blocks of one window each, order alternating; the
   paired log ratio's mean and 95 % t-interval (analysis/stats/paired.py).
3. The load generator's capacity against the server's peak: wrk at 64
   connections against the raw WSGI and ASGI apps (no Django) on one worker;
   capacity = requests/s divided by wrk's share of its cores.
4. The A/A noise floor: the coefficient of variation of single-client p50
   over `reps` repetitions under the protocol (a fresh pinned server per
   repetition, A/A twins interleaved, `lab run`), side by side with the same
   figure for plain back-to-back wrk runs against one unpinned server on
   loopback in the root namespace.

Prints one table; each figure names its CPU sets and repetitions.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.stats import paired

from runner import REPO_ROOT

from runner.session import server as protocol

from runner.tools import wrk
from runner.lab.inventory import load_lab
from runner.matrix.locks import resolve_matrix
from runner.matrix.expand import load_matrix
from runner.core.model import Variant
from runner.session.session import SAMPLER_INTERVAL_S, Context, Session
from runner.scenarios.wrk_window import wrk_window
from runner.catalog.servers import SERVERS
from runner.lab.ssh import connect

MATRIX = REPO_ROOT / "matrices" / "bench-protocol.yaml"


def cv(values) -> float:
    values = list(values)
    return statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else float("nan")


def lab_run(lab: str, reps: int, seconds: int) -> Path:
    """`lab run` of the single-client A/A matrix with the asked repetitions."""
    text = MATRIX.read_text().replace("repetitions: 5", f"repetitions: {reps}")
    text = text.replace("duration_s: 3", f"duration_s: {seconds}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench-protocol.yaml"
        path.write_text(text)
        results = REPO_ROOT / "results"
        subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "lab"), "run", str(path), "--lab", lab],
                       check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    return (results / "latest").resolve()


def fresh_session(ctx, cell, label: str) -> Session:
    session = Session(ctx, cell, "bench", Variant(label), 0)
    session.pid, _ = protocol.start_server(ctx, cell, session.server_dir)
    protocol.wait_ready(ctx, cell)
    protocol.wait_for_workers(ctx, session.pid, cell.spec.workers)
    protocol.warm_up(ctx, session)
    return session


def sampler_on_off(ctx, cell, pairs: int, seconds: int) -> dict:
    """Alternate windows with and without the server sampler on one server."""
    session = fresh_session(ctx, cell, "sampler-on-off")
    on, off, cost = [], [], []
    try:
        for i in range(pairs):
            for with_sampler in ((True, False) if i % 2 == 0 else (False, True)):
                if with_sampler:
                    m = wrk_window(session, f"on{i}", session.view.path, seconds)
                    on.append(m["latency_p50"][0])
                    cost.append(m["server_sampler_cpu_percent"][0])
                else:
                    argv = wrk.command(session.url(session.view.path), seconds,
                                       session.client_tool("report.lua"))
                    out = session.run_client(shlex.join(argv), seconds + 30).stdout
                    off.append(wrk.parse(out).latency_ms["p50"])
    finally:
        protocol.stop_server(ctx, session.pid)
    return {"on": on, "off": off, "sampler_cpu": cost}


def capacity(ctx, cell, seconds: int) -> dict:
    session = fresh_session(ctx, cell, "capacity")
    try:
        m = wrk_window(session, "peak", session.view.path, seconds, connections=64)
    finally:
        protocol.stop_server(ctx, session.pid)
    share = m["client_cpu_share"][0]
    return {"peak_rps": m["requests_per_s"][0], "client_share": share,
            "capacity_rps": m["requests_per_s"][0] / share if share > 0 else float("inf")}


def plain_back_to_back(cell, lab, reps: int, seconds: int) -> list[float]:
    """One server on 127.0.0.1 in the root namespace, no pinning, wrk run
    `reps` times back to back against it: how people often benchmark."""
    server_host = lab.by_role("server")
    venv_bin = f"{server_host.lab_root.rstrip('/')}/envs/{cell.env_id}/venv/bin"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app_dir = REPO_ROOT / "lab_app"
    argv = SERVERS[cell.spec.server].command(str(app_dir), venv_bin, "127.0.0.1", port,
                                             cell.spec.workers)
    env = {"PATH": "/usr/bin:/bin", **protocol.SERVER_ENV}
    proc = subprocess.Popen(argv, cwd=app_dir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    lua = str(REPO_ROOT / "runner" / "tools" / "report.lua")
    url = f"http://127.0.0.1:{port}/drf/"
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run(wrk.command(url, 1, lua), capture_output=True, timeout=30)  # warm-up
        return [wrk.parse(subprocess.run(wrk.command(url, seconds, lua), capture_output=True,
                                         text=True, timeout=seconds + 30).stdout).latency_ms["p50"]
                for _ in range(reps)]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="local")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--only-sampler", action="store_true",
                        help="only the sampler on/off comparison (cells already installed)")
    args = parser.parse_args(argv)

    lab = load_lab(args.lab)
    server, client = lab.by_role("server"), lab.by_role("client")
    run_dir = None if args.only_sampler else lab_run(args.lab, args.reps, args.seconds)
    matrix = load_matrix(MATRIX)
    cells, _ = resolve_matrix(matrix, REPO_ROOT / ".lab" / "lock-cache")
    by = {(c.spec.server, c.spec.view): c for c in cells}
    ctx = Context(run_id=f"bench-{int(time.time())}", run_dir=Path(tempfile.mkdtemp()),
                           server_host=server, client_host=client, server_conn=connect(server),
                           client_conn=connect(client), warmup_s=1, duration_s=args.seconds)

    # uvicorn keeps its connection alive; gunicorn's sync worker closes each
    # one, which makes its single-client windows bimodal (see README).
    on_off = sampler_on_off(ctx, by[("uvicorn", "drf")], args.reps, args.seconds)
    on, off = statistics.median(on_off["on"]), statistics.median(on_off["off"])
    effect = paired.pair_test(np.log(np.array(on_off["on"]) / np.array(on_off["off"])))
    observer = (f"{(effect['ratio'] - 1) * 100:+.2f} % [{(effect['ratio_low'] - 1) * 100:+.2f},"
                f" {(effect['ratio_high'] - 1) * 100:+.2f}]")
    if args.only_sampler:
        print(f"uvicorn drf, server CPU {server.cpus}, client CPU {client.cpus}: sampler "
              f"{statistics.median(on_off['sampler_cpu']):.2f} % of a core; observer effect on "
              f"p50 {observer} (paired, 95 % interval; medians {on:.3f} vs {off:.3f} ms), "
              f"{args.reps} blocks of one window each way")
        print(json.dumps(on_off))
        return
    df = pd.read_parquet(run_dir / "results.parquet")
    p50 = df[(df.metric == "latency_p50")].groupby("cell_id")["value"]
    protocol_cv = {cell: cv(v) for cell, v in p50}
    flagged = df[(df.metric == "client_saturated") & (df.value > 0)].groupby("cell_id").size()
    caps = {f"{srv} {view}": capacity(ctx, by[(srv, view)], args.seconds)
            for srv in ("gunicorn-sync", "uvicorn") for view in ("raw", "drf")}
    plain = plain_back_to_back(by[("gunicorn-sync", "drf")], lab, args.reps, args.seconds)

    cpus = f"server CPU {server.cpus}, client CPU {client.cpus}"
    rows = [
        ("sampler CPU (server host, % of one core)", f"{statistics.median(on_off['sampler_cpu']):.2f} %",
         "<= 1 %", f"median of {len(on_off['sampler_cpu'])} windows, interval {SAMPLER_INTERVAL_S} s"),
        ("observer effect on single-client p50 (paired)", observer,
         "<= 1 %", f"{len(on_off['on'])} blocks of one window each way on one server"),
    ]
    for srv, c in caps.items():
        rows.append((f"wrk capacity vs {srv} peak",
                     f"{c['capacity_rps'] / c['peak_rps']:.1f}x (peak {c['peak_rps']:.0f}/s, "
                     f"wrk at {c['client_share'] * 100:.0f} % of its core)", ">= 5x", "wrk -c64 -t1"))
    for cell_id, value in sorted(protocol_cv.items()):
        server_view = df[df.cell_id == cell_id][["server", "view"]].iloc[0]
        rows.append((f"A/A CV of p50, protocol ({cell_id} {server_view.server} {server_view.view})",
                     f"{value * 100:.2f} %", "<= 3 %",
                     f"{args.reps} fresh pinned servers, interleaved, {int(flagged.get(cell_id, 0))} "
                     f"window(s) flagged saturated, run {run_dir.name}"))
    rows.append(("CV of p50, plain back-to-back wrk", f"{cv(plain) * 100:.2f} %", "(reference)",
                 f"{args.reps} runs, one unpinned server on 127.0.0.1"))
    width = max(len(r[0]) for r in rows)
    print(f"protocol benchmark ({cpus}; {args.seconds} s windows; single-client = wrk -c1 -t1 "
          f"keep-alive, latency from the actual send)")
    for name, value, target, basis in rows:
        print(f"  {name:<{width}}  {value:<44} target {target:<11} [{basis}]")
    print(json.dumps({"sampler": on_off, "capacity": caps, "protocol_cv": protocol_cv,
                      "plain_p50": plain}, default=float))


if __name__ == "__main__":
    main()
