"""What a scenario may use on the hosts: one Session per repetition, and
measured windows annotated with psutil on both hosts.

A scenario says which variants it runs (connection modes, concurrency levels,
rates...), and how to measure one of them against a server that the protocol
(runner/execute/repetition.py, with runner/session/server.py) has already started fresh, checked and warmed up. It
runs its load generator through `Session.measure_window`, which:

- starts the psutil sampler on the server host, watching the server's whole
  process tree (per process CPU, RSS, USS, threads, context switches, open
  fds, TCP connections);
- runs the load generator on the client host under its own sampler, which
  records the load's exact start and end (the measured window);
- stops the server sampler, fetches both traces into the run folder and cuts
  the server's trace to the window (runner/session/traces.py);
- fails the repetition if the server died during the window or the load
  generator exited non-zero.

Failures are `StepFailed(reason)`; the protocol records the reason, stops
the server and goes on with the next repetition.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from runner.catalog.views import VIEWS
from runner.core.errors import StepFailed
from runner.core.model import RAW_DIR, Variant
from runner.lab.host_paths import HostPaths
from runner.lab.ssh import run
from runner.session import health, traces

# Every 0.5 s (tree membership, USS, fds and connections every 1 s): the
# samplers share the measured CPUs, and fewer samples cost the window less.
SAMPLER_INTERVAL_S = 0.5
# The client is saturated when its load generator used this share of the cores
# it can use; the figures then describe the client as much as the server.
CLIENT_SATURATION_SHARE = 0.90
PORT = 8000


@dataclass
class Context:
    """What every repetition of a run shares: the run, the hosts and their connections."""

    run_id: str
    run_dir: Path
    server_host: object
    client_host: object
    server_conn: object
    client_conn: object
    warmup_s: float
    duration_s: float
    port: int = PORT
    # The lab's hosts of other roles the scenarios declare (`host_roles`), by
    # role, where the lab has them.
    role_hosts: dict = field(default_factory=dict)
    window_attempts: int = 3  # at most, for a window flagged disturbed (protocol.window_attempts)


@dataclass
class Window:
    stdout: str
    server: dict          # the server tree over the window (traces.window_summary)
    client: dict          # the load generator's sampler summary
    start: float          # epoch seconds: the load generator's start and end
    end: float
    server_samples: list  # the server trace's samples inside the window
    capacity_cores: float = 1.0
    health: dict = None   # runner/session/health.py's metrics of the window


def slug(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)


def set_aside(folder: Path) -> None:
    """A unit measured again (a resumed run) never overwrites the files of its
    earlier attempt: they move to <folder>.earlier<k>."""
    if not folder.exists():
        return
    k = 1
    while folder.with_name(f"{folder.name}.earlier{k}").exists():
        k += 1
    folder.rename(folder.with_name(f"{folder.name}.earlier{k}"))


class Session:
    """One fresh server of one cell, for one variant of one repetition."""

    def __init__(self, ctx, cell, scenario: str, variant: Variant, repetition: int):
        self.ctx, self.cell, self.variant, self.repetition = ctx, cell, variant, repetition
        self.pid: int | None = None
        self.view = VIEWS[cell.spec.view]
        self.last_window: Window | None = None
        unit = f"{scenario}/{slug(variant.label)}/rep{repetition}"
        self.server_paths = HostPaths.of(ctx.server_host)
        self.client_paths = HostPaths.of(ctx.client_host)
        self.server_dir = f"{self.server_paths.root}/runs/{ctx.run_id}/{cell.cell_id}/{unit}"
        self.client_dir = f"{self.client_paths.root}/runs/{ctx.run_id}/{cell.cell_id}/{unit}"
        self.local_dir = Path(ctx.run_dir) / RAW_DIR / cell.cell_id / unit
        self.relative_dir = f"{RAW_DIR}/{cell.cell_id}/{unit}"
        set_aside(self.local_dir)

    # -- where things are ------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://{self.ctx.server_host.traffic_address}:{self.ctx.port}{path}"

    @property
    def client_python(self) -> str:
        return self.client_paths.tools_python

    def client_tool(self, name: str) -> str:
        return self.client_paths.tool(name)

    @property
    def client_bin(self) -> str:
        """The tools venv's bin folder on the client host (k6, locust)."""
        return self.client_paths.tools_python.rsplit("/", 1)[0]

    # -- running things ----------------------------------------------------------
    def run_client(self, cmd: str, timeout: float):
        return run(self.ctx.client_conn, cmd, timeout=timeout, warn=True)

    def run_server(self, cmd: str, timeout: float):
        return run(self.ctx.server_conn, cmd, timeout=timeout, warn=True)

    def server_alive(self) -> bool:
        return self.run_server(f"kill -0 {self.pid}", 15).return_code == 0

    def fetch(self, conn, remote_dir: str, names: list[str]) -> None:
        self.local_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            try:
                conn.get(f"{remote_dir}/{name}", str(self.local_dir / name))
            except FileNotFoundError:
                pass  # a step that failed early writes fewer files; the reason is recorded

    def measure_window(self, tag: str, argv: list[str], timeout_s: float,
                       capacity_cores: float = 1.0) -> Window:
        """Run argv on the client host as the measured window (see module doc).
        `capacity_cores`: how many cores the load generator can use at most
        (wrk -t1: 1), against which its CPU is read for the saturation flag."""
        sampler = self._start_server_sampler(tag, timeout_s)
        cmd = (f"mkdir -p {self.client_dir} && cd {self.client_dir} && "
               f"{self.client_python} {self.client_tool('sampler.py')} exec "
               f"--interval {SAMPLER_INTERVAL_S} --out {self.client_dir}/{tag}-client.jsonl "
               f"--stdout {self.client_dir}/{tag}-out.txt -- {shlex.join(argv)}")
        try:
            res = self.run_client(cmd, timeout=timeout_s + 30)
        finally:
            self._stop_server_sampler(sampler)
        self.fetch(self.ctx.client_conn, self.client_dir, [f"{tag}-out.txt", f"{tag}-client.jsonl"])
        self.fetch(self.ctx.server_conn, self.server_dir, [f"{tag}-server-full.jsonl"])
        stdout = read_text_or_empty(self.local_dir / f"{tag}-out.txt")
        if not self.server_alive():
            raise StepFailed(f"server died during the measured window ({tag})")
        if res.return_code != 0:
            raise StepFailed(f"load generator exited {res.return_code} ({tag}): "
                             f"{' '.join(stdout.split())[-300:]}")
        try:
            client_samples, client = traces.read_trace(self.local_dir / f"{tag}-client.jsonl")
            client["peak_cpu_share"] = traces.peak_cpu_share(client_samples)
            samples, full = traces.read_trace(self.local_dir / f"{tag}-server-full.jsonl")
            start, end = client["child_start"], client["child_end"]
            server = traces.window_summary(samples, start, end)
            server["cpu_affinity"] = full.get("cpu_affinity", [])
            server["sampler_cpu_percent"] = full.get("sampler_cpu_percent")
        except (OSError, ValueError, KeyError) as exc:
            raise StepFailed(f"psutil traces unusable ({tag}): {exc}") from None
        inside = traces.cut(samples, start, end)
        # The trace kept next to the figures is the window's; -full has the rest.
        (self.local_dir / f"{tag}-server.jsonl").write_text(
            "".join(json.dumps(s) + "\n" for s in inside))
        self.last_window = Window(stdout=stdout, server=server, client=client, start=start,
                                  end=end, server_samples=inside, capacity_cores=capacity_cores,
                                  health=health.window_health(client, full))
        return self.last_window

    def _start_server_sampler(self, tag: str, timeout_s: float) -> int:
        sp = self.server_paths
        cmd = (f"mkdir -p {self.server_dir} && (setsid {sp.tools_python} {sp.tool('sampler.py')} "
               f"tree --pid {self.pid} --interval {SAMPLER_INTERVAL_S} --port {self.ctx.port} "
               f"--max-seconds {timeout_s + 60:g} --out {self.server_dir}/{tag}-server-full.jsonl "
               f"> {self.server_dir}/{tag}-sampler.log 2>&1 < /dev/null & echo $!)")
        pid = int(run(self.ctx.server_conn, cmd, timeout=15).stdout.split()[-1])
        # The sampler's first sample must precede the load's start.
        self.run_server(f"for i in $(seq 50); do [ -s {self.server_dir}/{tag}-server-full.jsonl ] "
                        f"&& break; sleep 0.02; done", 15)
        return pid

    def _stop_server_sampler(self, pid: int) -> None:
        self.run_server(f"kill -TERM {pid} 2>/dev/null; for i in $(seq 100); do "
                        f"kill -0 {pid} 2>/dev/null || break; sleep 0.05; done", 15)

    # -- standard figures --------------------------------------------------------
    def window_metrics(self, window: Window) -> dict:
        """The psutil columns every window reports, and the client saturation flag."""
        s, c = window.server, window.client
        metrics = {
            "server_cpu_percent": (s["cpu_percent"], "%"),
            "server_rss_mb": (s["rss_mean"] / traces.MB, "MB"),
            "server_threads": (s["threads_peak"], "count"),
            "server_processes": (s["processes"], "count"),
            "busiest_worker_cpu_share": (s["busiest_worker_cpu_share"], "ratio"),
            "server_ctx_voluntary": (s["ctx_voluntary"], "count"),
            "server_ctx_involuntary": (s["ctx_involuntary"], "count"),
            "client_cpu_percent": (c["cpu_percent"], "%"),
            "client_sampler_cpu_percent": (c["sampler_cpu_percent"], "%"),
            "server_sampler_cpu_percent": (s.get("sampler_cpu_percent") or 0.0, "%"),
            "window_s": (window.end - window.start, "s"),
            "server_sampler_max_gap_s": (s["max_gap_s"], "s"),
        }
        if "uss_mean" in s:
            metrics.update(server_uss_mb=(s["uss_mean"] / traces.MB, "MB"),
                           server_fds=(s["fds_peak"], "count"))
        if "connections_peak" in s:
            metrics["server_connections"] = (s["connections_peak"], "count")
        # Saturated: the load generator used nearly all the cores it can, over
        # the window or over any half second of it (a burst the mean hides).
        share = c["cpu_percent"] / (100.0 * window.capacity_cores)
        peak = c.get("peak_cpu_share", 0.0) / window.capacity_cores
        metrics["client_cpu_share"] = (share, "ratio")
        metrics["client_cpu_peak_share"] = (peak, "ratio")
        metrics["client_saturated"] = (float(max(share, peak) >= CLIENT_SATURATION_SHARE), "flag")
        metrics.update(window.health or {})
        return metrics


def read_text_or_empty(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
