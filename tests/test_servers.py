"""Unit tests of the server and view registries (no network, no processes)."""
from __future__ import annotations

import json
import re

import pytest

from runner.catalog.servers import (
    ASGI_TARGET,
    DEFAULT_PINS,
    SERVERS,
    WSGI_TARGET,
    clean_env,
    validate_server,
)
from runner.catalog.views import JSON_VIEWS, VIEWS

HOST = "198.18.0.10"
PORT = 8123
APP_DIR = "/srv/lab/lab_app"
VENV_BIN = "/srv/lab/venvs/x/bin"
WILDCARDS = ("0.0.0.0", "::", "[::]", "*")


THREADED = sorted(n for n, s in SERVERS.items() if s.takes_threads)
UNTHREADED = sorted(n for n, s in SERVERS.items() if not s.takes_threads)


def argv(name: str, workers: int = 1, host: str = HOST, port: int = PORT,
         threads: int = 1) -> list[str]:
    return SERVERS[name].command(APP_DIR, VENV_BIN, host, port, workers, threads)


def workers_flag(name: str) -> str:
    """The option that precedes {workers} in a server's template."""
    template = SERVERS[name].argv_template
    return template[template.index("{workers}") - 1]


def test_registry_names_and_interfaces():
    assert set(SERVERS) == {"gunicorn-sync", "gunicorn-gthread", "gunicorn-uvicorn", "uvicorn",
                            "uvicorn-h11", "hypercorn-asyncio", "hypercorn-uvloop", "daphne",
                            "granian-wsgi", "granian-asgi", "uwsgi"}
    for name, s in SERVERS.items():
        assert s.name == name
        assert s.interface in ("wsgi", "asgi")
        assert s.description and "\n" not in s.description
        assert "{" not in s.description, name
        assert s.packages and all(p == p.lower() and "_" not in p for p in s.packages)
        assert all(p in DEFAULT_PINS for p in s.packages), name
        # {threads} is in the template exactly when the server takes threads.
        assert s.argv_template.count("{threads}") == (1 if s.takes_threads else 0), name
        assert s.argv_template.count("{workers}") == (0 if s.max_workers == 1 else 1), name
    assert THREADED == ["gunicorn-gthread", "uwsgi"]


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_argv_binds_only_to_the_given_host_and_port(name):
    cmd = argv(name)
    text = " ".join(cmd)
    for wildcard in WILDCARDS:
        assert wildcard not in cmd
    assert "0.0.0.0" not in text
    # Every IP-looking token is the host, every host:port is ours.
    assert set(re.findall(r"\d+\.\d+\.\d+\.\d+", text)) == {HOST}
    assert HOST in cmd or f"{HOST}:{PORT}" in cmd
    assert str(PORT) in cmd or f"{HOST}:{PORT}" in cmd
    # Exactly one bind: the host and the port each appear once.
    assert text.count(HOST) == 1
    assert sum(part.count(str(PORT)) for part in cmd) == 1


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_argv_shape(name):
    s = SERVERS[name]
    cmd = argv(name)
    assert cmd[0].startswith(VENV_BIN + "/")
    target = WSGI_TARGET if s.interface == "wsgi" else ASGI_TARGET
    assert s.target == target
    assert cmd.count(target) == 1
    other = ASGI_TARGET if s.interface == "wsgi" else WSGI_TARGET
    assert other not in cmd
    assert not any("access-log" in p and not p.startswith("--no-") for p in cmd)
    assert "--access-logfile" not in cmd
    assert "--reload" not in cmd and "--daemon" not in cmd and "-D" not in cmd
    assert "--root-path" not in cmd
    if s.needs_cwd:
        assert s.app_dir_via == "cwd"
    else:
        i = cmd.index(s.app_dir_via)
        assert cmd[i + 1] == APP_DIR


def test_exact_argv_examples():
    b = VENV_BIN
    assert argv("gunicorn-sync") == [
        f"{b}/gunicorn", WSGI_TARGET, "--chdir", APP_DIR, "--bind", f"{HOST}:{PORT}",
        "--workers", "1", "--worker-class", "sync", "--no-control-socket"]
    assert argv("gunicorn-uvicorn")[-3:-1] == ["--worker-class", "uvicorn_worker.UvicornWorker"]
    assert "uvicorn.workers.UvicornWorker" not in argv("gunicorn-uvicorn")
    u = argv("uvicorn")
    assert u[u.index("--loop") + 1] == "uvloop" and u[u.index("--http") + 1] == "httptools"
    assert "--no-access-log" in u
    assert argv("daphne") == [f"{b}/daphne", "--bind", HOST, "--port", str(PORT),
                              "--verbosity", "0", ASGI_TARGET]
    for name, iface in (("granian-wsgi", "wsgi"), ("granian-asgi", "asgi")):
        g = argv(name)
        assert g[g.index("--interface") + 1] == iface
        assert "--no-access-log" in g


@pytest.mark.parametrize("gunicorn, has_flag", [("23.0.0", False), ("24.0.0", True),
                                                ("27.0.1", True), (None, True)])
def test_gunicorn_flags_follow_the_resolved_version(gunicorn, has_flag):
    """gunicorn 23 refuses --no-control-socket (it has no control socket)."""
    versions = {"gunicorn": gunicorn} if gunicorn else None
    for name in ("gunicorn-sync", "gunicorn-gthread", "gunicorn-uvicorn"):
        cmd = SERVERS[name].command(APP_DIR, VENV_BIN, HOST, PORT, 1, versions=versions)
        assert ("--no-control-socket" in cmd) is has_flag


def test_exact_argv_new_servers():
    b = VENV_BIN
    assert argv("gunicorn-gthread", workers=2, threads=4) == [
        f"{b}/gunicorn", WSGI_TARGET, "--chdir", APP_DIR, "--bind", f"{HOST}:{PORT}",
        "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--no-control-socket"]
    assert argv("uvicorn-h11", workers=2) == [
        f"{b}/uvicorn", ASGI_TARGET, "--app-dir", APP_DIR, "--host", HOST, "--port", str(PORT),
        "--workers", "2", "--loop", "asyncio", "--http", "h11", "--no-access-log"]
    for loop in ("asyncio", "uvloop"):
        assert argv(f"hypercorn-{loop}", workers=3) == [
            f"{b}/hypercorn", "--bind", f"{HOST}:{PORT}", "--workers", "3",
            "--worker-class", loop, ASGI_TARGET]
    assert argv("uwsgi", workers=2, threads=3) == [
        f"{b}/uwsgi", "--http-socket", f"{HOST}:{PORT}", "--module", WSGI_TARGET,
        "--chdir", APP_DIR, "--master", "--processes", "2", "--threads", "3",
        "--die-on-term", "--need-app", "--strict", "--disable-logging"]


def test_uvicorn_standalone_configurations_differ_only_in_loop_and_parser():
    fast, h11 = argv("uvicorn"), argv("uvicorn-h11")
    assert fast[fast.index("--loop") + 1] == "uvloop"
    assert fast[fast.index("--http") + 1] == "httptools"
    assert h11[h11.index("--loop") + 1] == "asyncio"
    assert h11[h11.index("--http") + 1] == "h11"
    assert sorted(set(fast) ^ set(h11)) == ["asyncio", "h11", "httptools", "uvloop"]
    assert SERVERS["uvicorn-h11"].packages == ("uvicorn",)


def test_hypercorn_needs_cwd_and_its_event_loop():
    for name in ("hypercorn-asyncio", "hypercorn-uvloop"):
        s = SERVERS[name]
        assert s.needs_cwd and APP_DIR not in argv(name)
    assert "uvloop" in SERVERS["hypercorn-uvloop"].packages
    assert "uvloop" not in SERVERS["hypercorn-asyncio"].packages


def test_uwsgi_speaks_http_in_its_workers_and_exits_on_sigterm():
    u = argv("uwsgi")
    assert "--http-socket" in u and "--http" not in u  # no router process
    assert "--socket" not in u and "--stats" not in u  # no second listener
    for flag in ("--master", "--die-on-term", "--need-app", "--strict", "--disable-logging"):
        assert u.count(flag) == 1, flag
    assert "--daemonize" not in u and "--logto" not in u


@pytest.mark.parametrize("name", sorted(n for n, s in SERVERS.items() if s.max_workers is None))
@pytest.mark.parametrize("workers", [1, 2, 7])
def test_workers_passed_through(name, workers):
    flag = workers_flag(name)
    assert flag == ("--processes" if name == "uwsgi" else "--workers")
    cmd = argv(name, workers=workers)
    i = cmd.index(flag)
    assert cmd[i + 1] == str(workers)
    assert cmd.count(flag) == 1


@pytest.mark.parametrize("name", THREADED)
@pytest.mark.parametrize("threads", [1, 2, 16])
def test_threads_passed_through(name, threads):
    cmd = argv(name, workers=3, threads=threads)
    i = cmd.index("--threads")
    assert cmd[i + 1] == str(threads)
    assert cmd.count("--threads") == 1
    assert cmd[cmd.index(workers_flag(name)) + 1] == "3"


@pytest.mark.parametrize("name", UNTHREADED)
def test_unthreaded_servers_have_no_threads_option(name):
    cmd = argv(name)
    assert "--threads" not in cmd and "--enable-threads" not in cmd
    assert cmd == SERVERS[name].command(APP_DIR, VENV_BIN, HOST, PORT, 1)


def test_daphne_is_single_process():
    assert SERVERS["daphne"].max_workers == 1
    assert "--workers" not in argv("daphne")
    with pytest.raises(ValueError, match=r"daphne.*at most 1.*got 2"):
        argv("daphne", workers=2)


def test_ipv6_host_is_bracketed_where_needed():
    for name in ("gunicorn-sync", "gunicorn-gthread", "hypercorn-asyncio", "uwsgi"):
        assert "[::1]:8000" in SERVERS[name].command(APP_DIR, VENV_BIN, "::1", 8000, 1), name
    u = SERVERS["uvicorn"].command(APP_DIR, VENV_BIN, "::1", 8000, 1)
    assert u[u.index("--host") + 1] == "::1"


def test_validate_server_unknown_name_lists_known():
    with pytest.raises(ValueError) as exc:
        validate_server("gunicorn-eventlet", 1)
    msg = str(exc.value)
    assert "'gunicorn-eventlet'" in msg
    for name in SERVERS:
        assert name in msg


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True, None])
def test_validate_server_bad_workers_named(workers):
    with pytest.raises(ValueError) as exc:
        validate_server("uvicorn", workers)
    assert repr(workers) in str(exc.value)
    assert ">= 1" in str(exc.value)


@pytest.mark.parametrize("threads", [0, -1, 1.5, 2.0, "2", True, None])
@pytest.mark.parametrize("name", ["uwsgi", "gunicorn-sync"])
def test_validate_server_bad_threads_named(name, threads):
    with pytest.raises(ValueError) as exc:
        validate_server(name, 1, threads)
    msg = str(exc.value)
    assert msg == f"threads for server {name!r} must be a whole number >= 1, got {threads!r}"


@pytest.mark.parametrize("name", UNTHREADED)
def test_validate_server_threads_only_where_taken(name):
    validate_server(name, 1, 1)
    with pytest.raises(ValueError) as exc:
        validate_server(name, 1, 2)
    msg = str(exc.value)
    assert msg.startswith(f"server {name!r} takes no threads setting")
    assert "gunicorn-gthread, uwsgi" in msg and msg.endswith("got 2")
    with pytest.raises(ValueError, match="takes no threads setting"):
        argv(name, threads=4)


def test_validate_server_worker_errors_come_first():
    with pytest.raises(ValueError, match=r"workers for server 'uwsgi'.*got 0"):
        validate_server("uwsgi", 0, 0)
    with pytest.raises(ValueError, match=r"daphne.*at most 1"):
        validate_server("daphne", 2, 2)
    with pytest.raises(ValueError, match="unknown server"):
        validate_server("uwsgi-http", 1, 2)


def test_validate_server_accepts_good_input():
    for name, s in SERVERS.items():
        validate_server(name, 1)
        validate_server(name, 1, 1)
        if s.max_workers is None:
            validate_server(name, 2)
        if s.takes_threads:
            validate_server(name, 2, 8)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "localhost", "", "198.18.0.10:80"])
def test_command_rejects_bad_host(host):
    with pytest.raises(ValueError) as exc:
        argv("uvicorn", host=host)
    assert repr(host) in str(exc.value)


@pytest.mark.parametrize("port", [0, 65536, "8000", True])
def test_command_rejects_bad_port(port):
    with pytest.raises(ValueError) as exc:
        argv("granian-wsgi", port=port)
    assert repr(port) in str(exc.value)


def test_command_rejects_relative_paths():
    with pytest.raises(ValueError, match="app_dir"):
        SERVERS["uvicorn"].command("lab_app", VENV_BIN, HOST, PORT, 1)
    with pytest.raises(ValueError, match="venv_bin"):
        SERVERS["uvicorn"].command(APP_DIR, ".venv/bin", HOST, PORT, 1)


def test_clean_env_drops_overrides():
    env = {"PATH": "/usr/bin", "GUNICORN_CMD_ARGS": "--bind 0.0.0.0:80", "WEB_CONCURRENCY": "8",
           "GRANIAN_HOST": "0.0.0.0", "UVICORN_HOST": "0.0.0.0", "LAB_DJANGO_DEBUG": "1",
           "DJANGO_SETTINGS_MODULE": "other.settings", "PYTHONPATH": "/x",
           "UWSGI_HTTP_SOCKET": "0.0.0.0:80", "UWSGI_PROCESSES": "8"}
    assert clean_env(env) == {"PATH": "/usr/bin", "LAB_DJANGO_DEBUG": "1"}


def test_default_pins_are_exact():
    for name, version in DEFAULT_PINS.items():
        assert name == name.lower()
        assert re.fullmatch(r"\d+(\.\d+)+", version), (name, version)
    assert DEFAULT_PINS["django"].startswith("5.2.")
    for needed in ("django", "asgiref", "djangorestframework"):
        assert needed in DEFAULT_PINS


def test_views_registry():
    assert set(JSON_VIEWS) == {"drf", "sync", "async"}
    for name in JSON_VIEWS:
        v = VIEWS[name]
        assert v.name == name
        assert v.path == f"/{name}/"
        assert v.expected_status == 200
        assert isinstance(v.expected_body, bytes)
        assert json.loads(v.expected_body) == {"message": "Test Message"}
        assert v.description
    # DRF's JSONRenderer is compact; JsonResponse puts a space after the colon.
    assert VIEWS["drf"].expected_body == b'{"message":"Test Message"}'
    assert VIEWS["sync"].expected_body == b'{"message": "Test Message"}'
    assert VIEWS["async"].expected_body == VIEWS["sync"].expected_body
    # io-mix views: a fast path the probe checks, a slow path that sleeps.
    for name in ("raw", "io-sync", "io-async"):
        assert VIEWS[name].slow_path and VIEWS[name].expected_body == b"fast"
    assert VIEWS["raw"].app == "raw" and VIEWS["polls"].match == "contains"


def test_raw_app_target_has_no_django():
    argv = SERVERS["uvicorn"].command("/app", "/venv/bin", "127.0.0.1", 8000, 1, app="raw")
    assert "rawapp.asgi:application" in argv and not any("labproject" in a for a in argv)
    argv = SERVERS["gunicorn-sync"].command("/app", "/venv/bin", "127.0.0.1", 8000, 1, app="raw")
    assert "rawapp.wsgi:application" in argv


def test_registries_are_frozen():
    with pytest.raises(AttributeError):
        SERVERS["uvicorn"].max_workers = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        VIEWS["drf"].expected_body = b""  # type: ignore[misc]
