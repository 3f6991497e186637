"""io-mix apps and client for real on 127.0.0.1: the shape of seed 001's table.

The raw WSGI/ASGI apps (lab_app/rawapp) and the Django io views run under
gunicorn sync (1 and 4 workers) and uvicorn (1 process), started exactly as
runner/catalog/servers.py says, in the venv and with the helpers of
tests/test_servers_loopback.py. runner/scenarios/io_mix/host/iomix_client.py runs against
them from its own venv (httpx 0.28.1 on /usr/bin/python3, like the client
host's tools venv). With SLOW_S instead of the article's 5 s, the article's
SHAPE must hold, not its numbers:

- sequential: about N_SLOW x SLOW_S, on every server;
- concurrent, where the slow requests queue (one sync worker, even for an
  async Django view, which async_to_sync runs to completion in the worker):
  about N_SLOW x SLOW_S too;
- concurrent, where they overlap (4 workers; uvicorn with the async app, and
  with a sync Django view too, since Django's ASGIHandler runs each request's
  sync code in a thread of its own): about SLOW_S, below 2 x SLOW_S.

The first tests call the raw apps in-process: bodies, 400 and 404.
Traffic goes only to 127.0.0.1; every loop is bounded in time and count.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from runner.scenarios.io_mix import result as iomix
from runner.catalog.servers import SERVERS, clean_env
from runner.catalog.views import VIEWS
from runner.scenarios import SCENARIOS
from tests.support.loopback import (APP_DIR, INSTALL_TIMEOUT_S, LOOPBACK, REPO, free_port, get, log_tail,
                                    session_pids, stop, uv_path, wait_ready)

CLIENT = REPO / "runner" / "scenarios" / "io_mix" / "host" / "iomix_client.py"
CLIENT_PYTHON = "/usr/bin/python3"  # what the client host's tools venv is built from
(HTTPX,) = SCENARIOS["io-mix"].client_packages
SLOW_S, N_SLOW, N_FAST = 0.5, 3, 15
CLIENT_TIMEOUT_S = 20.0

sys.path.insert(0, str(APP_DIR))
import rawapp  # noqa: E402  (lab_app is not a package; the servers import it the same way)
from rawapp import asgi as raw_asgi  # noqa: E402
from rawapp import wsgi as raw_wsgi  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.network, pytest.mark.serial]   # elapsed times


def _call_wsgi(path: str, query: str = ""):
    seen = {}

    def start_response(status, headers):
        seen.update(status=status, headers=dict(headers))

    body = b"".join(raw_wsgi.application({"PATH_INFO": path, "QUERY_STRING": query},
                                         start_response))
    return seen["status"], seen["headers"]["Content-Type"], body


def _call_asgi(path: str, query: str = ""):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query.encode()}
    asyncio.run(raw_asgi.application(scope, receive, send))
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], headers[b"content-type"].decode(), sent[1]["body"]


@pytest.mark.parametrize("call", [_call_wsgi, _call_asgi], ids=["wsgi", "asgi"])
def test_raw_apps_answer_like_the_article(call):
    status, ctype, body = call("/fast")
    assert (str(status).split()[0], ctype, body) == ("200", "text/plain", b"fast")
    status, _, body = call("/slow", "s=0.01")
    assert (str(status).split()[0], body) == ("200", b"slow")
    for query in ("s=61", "s=-1", "s=nan", "s=inf", "s=x", "s=1&s=2"):
        status, _, body = call("/slow", query)
        assert str(status).split()[0] == "400", query
        assert b"from 0 to 60" in body
    status, _, _ = call("/nope")
    assert str(status).split()[0] == "404"


def test_sleep_parser_defaults_to_the_articles_five_seconds():
    assert rawapp.sleep_seconds("") == 5.0
    assert rawapp.sleep_seconds("other=1") == 5.0
    assert rawapp.sleep_seconds("s=0.25") == 0.25
    assert rawapp.sleep_seconds("s=60") == 60.0
    assert rawapp.sleep_seconds("s=60.001") is None


def test_raw_apps_import_no_django():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import rawapp.wsgi, rawapp.asgi; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))")
    out = subprocess.run([sys.executable, "-c", code, str(APP_DIR)], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture(scope="session")
def client_python(tmp_path_factory) -> str:
    """A venv with the client's one dependency, as the tools venv has it."""
    venv = tmp_path_factory.mktemp("iomix-client") / "venv"
    uv = uv_path()
    subprocess.run([uv, "venv", "--quiet", "--python", CLIENT_PYTHON, str(venv)], check=True,
                   timeout=INSTALL_TIMEOUT_S)
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), HTTPX]
    if subprocess.run([*install, "--offline"], capture_output=True,
                      timeout=INSTALL_TIMEOUT_S).returncode != 0:
        subprocess.run(install, check=True, timeout=INSTALL_TIMEOUT_S)
    return str(venv / "bin" / "python")


@pytest.mark.parametrize("bad", [["--slow-s", "61"], ["--slow-s", "nan"],
                                 ["--n-slow", "0", "--n-fast", "0"], ["--n-fast", "-1"],
                                 ["--timeout", "0"], ["--fast-path", "fast"], ["--mode", "both"]])
def test_client_refuses_bad_arguments(client_python, bad):
    argv = [client_python, str(CLIENT), "--base", f"http://{LOOPBACK}:9", "--fast-path", "/fast",
            "--slow-path", "/slow", "--mode", "sequential", "--timeout", "1", *bad]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stdout == "", (bad, done.stdout)


def _run_client(python: str, port: int, view, mode: str, extra=()) -> iomix.IoMixResult:
    argv = [python, str(CLIENT), "--base", f"http://{LOOPBACK}:{port}", "--fast-path", view.path,
            "--slow-path", view.slow_path, "--slow-s", str(SLOW_S), "--n-slow", str(N_SLOW),
            "--n-fast", str(N_FAST), "--mode", mode, "--timeout", str(CLIENT_TIMEOUT_S), *extra]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S + 15)
    assert done.returncode == 0, done.stderr
    return iomix.parse(done.stdout)


# (server, workers, view, whether concurrent slow requests overlap)
CASES = [
    ("gunicorn-sync", 1, "raw", False),
    ("gunicorn-sync", 4, "raw", True),
    ("uvicorn", 1, "raw", True),
    ("gunicorn-sync", 1, "io-async", False),
    ("gunicorn-sync", 4, "io-sync", True),
    ("uvicorn", 1, "io-async", True),
    ("uvicorn", 1, "io-sync", True),
]


@pytest.mark.parametrize("name,workers,view_name,overlap", CASES,
                         ids=[f"{n}-w{w}-{v}" for n, w, v, _ in CASES])
def test_io_mix_has_the_articles_shape(venv_bin, client_python, tmp_path, name, workers,
                                       view_name, overlap):
    view = VIEWS[view_name]
    port = free_port()
    argv = SERVERS[name].command(str(APP_DIR), str(venv_bin), LOOPBACK, port, workers,
                                 app=view.app)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=APP_DIR, env=clean_env(os.environ),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_ready(proc, port, log, min_procs=workers + 1 if workers > 1 else 1, path=view.path)
        assert get(port, f"{view.slow_path}?s=61")[0] == 400
        sequential = _run_client(client_python, port, view, "sequential")
        concurrent = _run_client(client_python, port, view, "concurrent")
    finally:
        stop(proc)
        assert not session_pids(proc.pid), f"{name} left processes behind"

    for result in (sequential, concurrent):
        assert (result.requests, result.ok, result.failed) == (N_SLOW + N_FAST, N_SLOW + N_FAST, 0), \
            log_tail(log)
        assert result.pool_limits["max_connections"] == 100  # httpx's default, as the article had
    serial_s = N_SLOW * SLOW_S
    # Fast requests and connection setup cost well under a second on loopback.
    assert serial_s <= sequential.elapsed_s < serial_s + 1.0, sequential.elapsed_s
    assert min(sequential.seconds("slow")) >= SLOW_S
    if overlap:
        assert SLOW_S <= concurrent.elapsed_s < 2 * SLOW_S, concurrent.elapsed_s
    else:
        assert serial_s <= concurrent.elapsed_s < serial_s + 1.0, concurrent.elapsed_s
