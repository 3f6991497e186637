"""[instructions] CPU instructions the server executes per request, counted
by Valgrind: a second instrument, deterministic where wall-clock time is
not (a shared or noisy machine). Each repetition starts the server twice,
the same way as for wall-clock runs but under Valgrind (every process it
forks or spawns included), and sends it exactly `baseline_requests`, then
(a fresh server) exactly `requests` requests, one at a time from the client
host over the lab's network, each after a pause (`pause_ms`) in which the
server goes idle; the report divides the difference of the two
totals by the difference of the counts, so start-up and shutdown cancel
(analysis/scenarios/instructions.py). `cachegrind` counts per process; `callgrind`
also per thread (an ASGI server's event loop apart from the threads that
run sync code). Per-process randomness is fixed: PYTHONHASHSEED=0 (the
protocol's), address-space randomisation off (setarch -R), and every
server reads bytecode compiled beforehand, so no start-up compiles."""
from __future__ import annotations

import json
import re
import shlex
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from runner.catalog import user_app
from runner.scenarios.base import AptPackage, Scenario, StepFailed, Variant

Count = Annotated[int, Strict(), Field(ge=1, le=100_000)]
# Where compiled bytecode goes on the server host (PYTHONPYCACHEPREFIX),
# shared by every venv: the source paths differ, the stdlib's do not.
PYCACHE_DIR = "pycache"
# The stdlib's own tests and GUI are never imported by a server.
NOT_COMPILED = r"/(test|tests|idlelib|tkinter|turtledemo|lib2to3)/"
OUT_FILE = re.compile(r"(?P<tool>cachegrind|callgrind)\.out\.(?P<pid>\d+)(-(?P<tid>\d+))?$")
# Under Valgrind Django starts 20-50x slower than natively.
READY_TIMEOUT_S = 240.0
SECONDS_PER_REQUEST = 0.5   # a bound beyond the pauses, not an estimate: ~0.05 s is usual


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: Count = Field(default=200, description="Requests the measured server serves.")
    baseline_requests: Count = Field(
        default=20, description="Requests the baseline server serves; its total is subtracted.")
    pause_ms: Annotated[float, Field(ge=0, le=1000)] = Field(
        default=20.0, description="The client's pause before each request: every request then "
                                  "meets a server that has gone idle, so how far the server got "
                                  "before the next connection came is not part of the count.")
    tool: Literal["cachegrind", "callgrind"] = Field(
        default="cachegrind",
        description="cachegrind: per process; callgrind (about 2x slower): per thread too.")

    @model_validator(mode="after")
    def _more_than_baseline(self):
        if self.requests <= self.baseline_requests:
            raise ValueError(f"requests ({self.requests}) must be more than "
                             f"baseline_requests ({self.baseline_requests})")
        return self


def valgrind_argv(tool: str, out_dir: str) -> list[str]:
    """The wrapper: no ASLR, Valgrind following every child, one counts
    file per process (callgrind: per thread) and a log per process."""
    per_tool = (["--cache-sim=no", "--branch-sim=no"] if tool == "cachegrind"
                else ["--separate-threads=yes", "--dump-instr=no"])
    return ["setarch", "-R", "valgrind", f"--tool={tool}", "--trace-children=yes", *per_tool,
            f"--{tool}-out-file={out_dir}/{tool}.out.%p", f"--log-file={out_dir}/valgrind.%p.log"]


def parse_counts(grep_output: str, main_pid: int) -> list[dict]:
    """[{pid, thread, main_process, instructions}] from `grep -H '^summary:'`
    over the counts files (`<file>:summary: <Ir>`)."""
    rows = []
    for line in grep_output.splitlines():
        path, _, rest = line.partition(":summary:")
        found = OUT_FILE.search(path.strip())
        if not found or not rest.strip():
            continue
        pid = int(found["pid"])
        rows.append({"pid": pid, "thread": int(found["tid"] or 0),
                     "main_process": pid == main_pid, "instructions": int(rest.split()[0])})
    return rows


def count_metrics(rows: list[dict], per_thread: bool) -> dict:
    """The unit's totals: all, the started process vs the others, and with
    callgrind each process's main thread vs its other threads."""
    if not rows:
        raise StepFailed("Valgrind wrote no instruction counts (see valgrind.*.log)")
    total = lambda keep: float(sum(r["instructions"] for r in rows if keep(r)))  # noqa: E731
    out = {"instructions": (total(lambda r: True), "instructions"),
           "instructions_main_process": (total(lambda r: r["main_process"]), "instructions"),
           "instructions_other_processes": (total(lambda r: not r["main_process"]),
                                            "instructions"),
           "processes_counted": (float(len({r["pid"] for r in rows})), "count")}
    if per_thread:
        out["instructions_main_thread"] = (total(lambda r: r["thread"] == 1), "instructions")
        out["instructions_other_threads"] = (total(lambda r: r["thread"] > 1), "instructions")
        out["threads_counted"] = (float(len(rows)), "count")
    return out


class Instructions(Scenario):
    name = "instructions"
    order = 80
    # The instrument, on the server hosts.
    apt_packages = (AptPackage("valgrind", "server", executable="valgrind",
                               version=("valgrind", "--version")),)
    Params = Params
    warmup = False                  # the baseline server's requests are the warm-up
    instrument_ready_s = READY_TIMEOUT_S
    host_files = ("send_requests.py",)
    latency_model = ("none: counts the instructions the server's processes execute per request "
                     "(Valgrind), one request at a time on one keep-alive connection; no time")

    def variants(self, params, prior):
        return [Variant(f"n={n}", {"requests": n})
                for n in (params.baseline_requests, params.requests)]

    def server_env(self, ctx, params):
        return {"PYTHONPYCACHEPREFIX": f"{ctx.server_host.lab_root.rstrip('/')}/{PYCACHE_DIR}"}

    def server_wrapper(self, session, params):
        return valgrind_argv(params.tool, session.server_dir)

    def before_start(self, session, params):
        """Compile bytecode into the pycache folder: the venv's and the
        stdlib's once per venv (a stamp in the venv: a rebuilt venv compiles
        again), the app's every time (a few files; it is shipped anew when
        it changes)."""
        paths = session.server_paths
        venv_bin = paths.venv_bin(session.cell.env_id)
        project = user_app.project_of(session.cell.spec.view)
        app_dir = paths.user_app if project else paths.app
        stamp = f"{venv_bin}/../.lab-pycache"
        script = ("import compileall, os, re, sys; "
                  "dirs = sys.argv[2:] + (sys.path[1:] if sys.argv[1] == 'all' else []); "
                  f"[compileall.compile_dir(p, quiet=1, workers=0, rx=re.compile({NOT_COMPILED!r})) "
                  "for p in dirs if os.path.isdir(p)]")
        env = f"env -i PATH=/usr/bin:/bin PYTHONPYCACHEPREFIX={paths.root}/{PYCACHE_DIR}"
        compile_ = f"{env} {venv_bin}/python -c {shlex.quote(script)}"
        res = session.run_server(
            f"if test -e {stamp}; then {compile_} app {app_dir}; "
            f"else {compile_} all {app_dir} && touch {stamp}; fi "
            f"> {paths.root}/{PYCACHE_DIR}.log 2>&1", timeout=900)
        if res.return_code != 0:
            raise StepFailed(f"compiling bytecode into {paths.root}/{PYCACHE_DIR} failed "
                             f"(exit {res.return_code}; see {paths.root}/{PYCACHE_DIR}.log)")

    def measure(self, session, params, variant):
        count = variant.values["requests"]
        view = session.view
        cmd = (f"{session.client_python} {session.client_tool('send_requests.py')} "
               f"--url {shlex.quote(session.url(view.path))} --count {count} "
               f"--expect-status {view.expected_status} "
               f"--expect-body-hex {shlex.quote(view.expected_body.hex())} --match {view.match} "
               f"--pause-ms {params.pause_ms:g}")
        res = session.run_client(
            cmd, timeout=count * (SECONDS_PER_REQUEST + params.pause_ms / 1000) + 60)
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        data = json.loads(lines[-1]) if lines else {}
        if res.return_code != 0 or data.get("ok") != count:
            raise StepFailed(f"the client got {data.get('ok', 0)} of {count} expected answers: "
                             f"{data.get('error') or res.stderr.strip()[-300:]}")
        return {"requests_served": (float(count), "count"),
                "send_s": (float(data["seconds"]), "s"),
                "reconnects": (float(data["reconnects"]), "count")}

    def after_stop(self, session, params, variant):
        """Every process has exited, so Valgrind has written its counts."""
        folder = session.server_dir
        res = session.run_server(f"cd {folder} && grep -H -m1 '^summary:' {params.tool}.out.*",
                                 timeout=60)
        rows = parse_counts(res.stdout, session.pid)
        session.local_dir.mkdir(parents=True, exist_ok=True)
        (session.local_dir / "instructions.json").write_text(json.dumps(rows, indent=1))
        logs = session.run_server(f"cd {folder} && ls valgrind.*.log", timeout=30).stdout.split()
        session.fetch(session.ctx.server_conn, folder, logs)
        return count_metrics(rows, per_thread=params.tool == "callgrind")
