"""Integration test: really run every server configuration on 127.0.0.1.

One venv is built with uv from `DEFAULT_PINS` (session-scoped, in pytest's
tmp dir). uv first tries --offline, from its cache alone: uWSGI ships only an
sdist, and a normal install revalidates it and, when the index answers
"modified", compiles it again (about 25 s on 2 cores); from the cache the
venv takes about a second. Only if the cache lacks something does it install
from the index. Then, for each server
configuration, with workers=1 and, where the server allows it, workers=2
(and for the servers that take a threads setting also workers=2 with
threads=2):

- start the exact argv from runner/catalog/servers.py on 127.0.0.1 and a free port,
  in its own session (start_new_session=True), cwd=lab_app, clean env;
- wait until it answers (at most STARTUP_S);
- check that every listening socket of its processes is 127.0.0.1:port;
- GET every view in runner/catalog/views.py and compare status and body byte for byte;
- SIGTERM its process group, SIGKILL after STOP_GRACE_S, and check that no
  process of the session remains.

Traffic goes only to 127.0.0.1, and every loop is bounded in time and count.
"""
from __future__ import annotations

import http.client
import os
import subprocess

import pytest

from runner.catalog.servers import SERVERS, clean_env
from runner.catalog.views import JSON_VIEWS, VIEWS
from tests.support.loopback import (APP_DIR, LOOPBACK, REQUEST_TIMEOUT_S, STOP_GRACE_S, free_port, get,
                                    listening, log_tail, session_pids, start, stop, wait_ready)

pytestmark = [pytest.mark.integration, pytest.mark.network]

CASES = [(name, 1, 1) for name in SERVERS] + [
    (name, 2, 1) for name, s in SERVERS.items() if s.max_workers is None or s.max_workers >= 2
] + [(name, 2, 2) for name, s in SERVERS.items() if s.takes_threads]
CASE_IDS = [f"{n}-w{w}" + (f"-t{t}" if t != 1 else "") for n, w, t in CASES]


def test_no_view_touches_the_database(venv_bin):
    """Every view answers through Django's test clients without a DB connection attempt."""
    script = r"""
import asyncio, json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "labproject.settings"
import django
from django.db.backends.base.base import BaseDatabaseWrapper
attempts = []
original = BaseDatabaseWrapper.ensure_connection
def recording(self):
    attempts.append(self.alias)
    return original(self)
BaseDatabaseWrapper.ensure_connection = recording
django.setup()
from django.test import AsyncClient, Client
paths = json.loads(sys.argv[1])
out = {}
client = Client()
for p in paths:
    r = client.get(p)
    out["sync " + p] = [r.status_code, r.content.decode()]
async def main():
    client = AsyncClient()
    for p in paths:
        r = await client.get(p)
        out["async " + p] = [r.status_code, r.content.decode()]
asyncio.run(main())
print(json.dumps({"responses": out, "attempts": attempts}))
"""
    import json

    # The JSON views, the static page, and one of each sized family.
    checked = [*map(VIEWS.get, JSON_VIEWS), VIEWS["static"], VIEWS["spin-300"],
               VIEWS["spin-async-300"], VIEWS["sleep-sync-5"], VIEWS["sleep-async-5"]]
    paths = [v.path for v in checked]
    done = subprocess.run([str(venv_bin / "python"), "-c", script, json.dumps(paths)],
                          cwd=APP_DIR, env=clean_env(os.environ), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    for v in checked:
        for mode in ("sync", "async"):
            status, body = result["responses"][f"{mode} {v.path}"]
            assert status == v.expected_status, (v.name, body[:300])
            if v.match == "contains":
                assert v.expected_body in body.encode(), v.name
            else:
                assert body.encode() == v.expected_body, v.name


@pytest.mark.parametrize("name,workers,threads", CASES, ids=CASE_IDS)
def test_server_serves_every_view_on_loopback(venv_bin, tmp_path, name, workers, threads):
    server = SERVERS[name]
    port = free_port()
    argv = server.command(str(APP_DIR), str(venv_bin), LOOPBACK, port, workers, threads)
    log = tmp_path / "server.log"
    proc = start(argv, log)
    try:
        # With several workers: a supervisor plus at least `workers` workers.
        wait_ready(proc, port, log, min_procs=workers + 1 if workers > 1 else 1)
        pids = session_pids(proc.pid)
        # Only the one TCP listener asked for: no wildcard, no second port,
        # no unix control socket.
        assert listening(pids) == {("tcp", LOOPBACK, port)}, log_tail(log)

        for view in map(VIEWS.get, JSON_VIEWS):
            status, ctype, body = get(port, view.path)
            assert status == view.expected_status, (view.name, body[:300])
            assert body == view.expected_body, view.name
            assert ctype.split(";")[0].strip() == view.expected_content_type, view.name
    finally:
        killed = stop(proc)
        left = session_pids(proc.pid)
        assert not left, f"processes of {name} still running after SIGKILL: {left}"
        assert proc.poll() is not None

    assert not killed, f"{name} needed SIGKILL: not gone {STOP_GRACE_S} s after SIGTERM:\n{log_tail(log)}"

    text = log.read_text(errors="replace")
    for view in map(VIEWS.get, JSON_VIEWS):
        assert f"GET {view.path}" not in text, f"{name} wrote an access log line:\n{text}"


def _frame_options(port: int, path: str) -> tuple[bytes, str | None]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.read(), resp.getheader("X-Frame-Options")
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["gunicorn-sync", "uvicorn"])
def test_bare_app_serves_the_views_without_middleware(venv_bin, tmp_path, name):
    """The "django-bare" app answers the sync and async views with the same
    bytes, and without what the middleware adds (XFrameOptionsMiddleware's
    header), while the full app on the same server has it."""
    bare = [VIEWS["sync-bare"], VIEWS["async-bare"]]
    found = {}
    for app in ("django-bare", "django"):
        port = free_port()
        argv = SERVERS[name].command(str(APP_DIR), str(venv_bin), LOOPBACK, port, 1, 1, app=app)
        log = tmp_path / f"{app}.log"
        proc = start(argv, log)
        try:
            wait_ready(proc, port, log)
            found[app] = [_frame_options(port, v.path) for v in bare]
        finally:
            stop(proc)
    for view, (body, header) in zip(bare, found["django-bare"]):
        assert body == view.expected_body, view.name
        assert header is None, f"{view.name}: middleware ran under the bare app"
    assert all(header == "DENY" for _, header in found["django"])


def test_debug_app_serves_the_drf_view_with_debug_on(venv_bin, tmp_path):
    """The "django-debug" app answers drf-debug with the seed's exact bytes,
    and it is DEBUG that differs: its 404 is Django's technical page, the
    usual app's the plain one."""
    view = VIEWS["drf-debug"]
    pages = {}
    for app in ("django-debug", "django"):
        port = free_port()
        argv = SERVERS["gunicorn-sync"].command(str(APP_DIR), str(venv_bin), LOOPBACK, port, 1,
                                                app=app)
        log = tmp_path / f"{app}.log"
        proc = start(argv, log)
        try:
            wait_ready(proc, port, log)
            status, _, body = get(port, view.path)
            assert (status, body) == (200, view.expected_body), app
            pages[app] = get(port, "/no-such-page/")
        finally:
            stop(proc)
    assert pages["django-debug"][0] == pages["django"][0] == 404
    assert b"Using the URLconf defined in" in pages["django-debug"][2]
    assert b"Using the URLconf defined in" not in pages["django"][2]
