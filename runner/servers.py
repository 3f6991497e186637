"""The server configurations the lab can run, and their exact command lines.

This registry is the one place where server command lines live: the runner,
the tests and the docs all take the argv from `ServerConfig.command`, and the
runner records the exact argv of every server it starts in the run's
manifest, so a figure can always be traced back to the command that produced
it.

Every command:

- starts the server in the foreground (no daemonising: the runner owns the
  process and stops it with SIGTERM to its process group);
- binds only to the given `host:port` (an IP literal; wildcard addresses are
  refused), and opens no other listening socket;
- loads `labproject.wsgi:application` or `labproject.asgi:application` from
  `app_dir` (the lab_app folder);
- writes no access log: one log line per request is per-request I/O that
  would show up in the latency being measured.

How `app_dir` reaches the server (`ServerConfig.app_dir_via`): gunicorn
`--chdir` (chdir and sys.path), uvicorn `--app-dir` (sys.path), granian
`--working-dir` (sys.path). daphne has no such flag: it imports relative to
its working directory, so the caller must start it with cwd=app_dir. The
simplest rule for callers is to start every server with cwd=app_dir and the
environment from `clean_env`; the argv of the other servers does not depend
on the cwd.

Loop and parser choices are explicit where "auto" would depend on what else
happens to be installed in the venv: gunicorn-uvicorn lists uvloop and
httptools among its packages so UvicornWorker's "auto" resolves to the same
uvloop + httptools that the standalone uvicorn configuration names, and
granian-asgi names `--loop uvloop` (granian's "auto" prefers rloop, then
uvloop, then asyncio).

Starting and stopping (as tests/test_servers_loopback.py does it): start
with start_new_session=True, stop with SIGTERM to the process group, SIGKILL
after a bound. The first answer comes from the first worker that is up, so
with several workers "ready" must also wait for the rest (process count and
idle CPU): granian, with either interface, never exits if a SIGTERM arrives
while one of its workers is still booting (its main process waits forever
for that worker), and a measurement started then would time a booting
server. Django does not speak the ASGI lifespan protocol; uvicorn logs that
once at startup and granian-asgi warns once per worker, both harmless.

`DEFAULT_PINS` holds the versions the demo matrix uses; they were resolved
together with `uv pip compile` for CPython 3.12 and are exercised by
tests/test_servers_loopback.py.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

WSGI_TARGET = "labproject.wsgi:application"
ASGI_TARGET = "labproject.asgi:application"
INTERFACES = ("wsgi", "asgi")

# The pins the demo matrix uses (PyPI name, normalised -> exact version).
# Resolved together with `uv pip compile --python-version 3.12` using these
# exact `==` pins; Django 5.2.x is the LTS line, asgiref is the newest that
# Django allows (Django 5.2 requires asgiref>=3.8.1), and every server
# package is the newest release at the time of pinning.
DEFAULT_PINS: dict[str, str] = {
    "django": "5.2.19",
    "asgiref": "3.13.0",
    "djangorestframework": "3.18.3",
    "gunicorn": "27.0.1",
    "uvicorn": "0.54.0",
    "uvicorn-worker": "0.4.0",
    "uvloop": "0.23.0",
    "httptools": "0.9.0",
    "daphne": "4.2.3",
    "granian": "2.8.7",
}

# Environment variables that silently change what a server or Django does
# (gunicorn reads GUNICORN_CMD_ARGS, uvicorn UVICORN_* and WEB_CONCURRENCY,
# granian GRANIAN_*, daphne and asgiref ASGI_THREADS, the app's wsgi.py and
# asgi.py only *default* DJANGO_SETTINGS_MODULE). `clean_env` drops them so
# the argv alone says how a server runs; a caller that wants one of them
# (say ASGI_THREADS as a matrix axis) adds it back explicitly and records it.
_ENV_PREFIXES_DROPPED = ("GUNICORN_", "UVICORN_", "GRANIAN_")
_ENV_NAMES_DROPPED = (
    "ASGI_THREADS",
    "DJANGO_SETTINGS_MODULE",
    "FORWARDED_ALLOW_IPS",
    "NOTIFY_SOCKET",
    "PORT",
    "PYTHONASYNCIODEBUG",
    "PYTHONDEVMODE",
    "PYTHONPATH",
    "SENDFILE",
    "WEB_CONCURRENCY",
)


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of `env` without the variables that would override the argv."""
    return {
        k: v
        for k, v in env.items()
        if k not in _ENV_NAMES_DROPPED and not k.startswith(_ENV_PREFIXES_DROPPED)
    }


@dataclass(frozen=True)
class ServerConfig:
    """One server configuration.

    `argv_template` is the command with placeholders, filled in by
    `command`: {venv_bin} {app_dir} {host} {port} {bind} (host:port, with
    brackets for IPv6) {workers} and {target} (the WSGI or ASGI application).
    """

    name: str
    interface: str
    packages: tuple[str, ...]
    description: str
    max_workers: int | None
    argv_template: tuple[str, ...]
    app_dir_via: str

    @property
    def target(self) -> str:
        return WSGI_TARGET if self.interface == "wsgi" else ASGI_TARGET

    @property
    def needs_cwd(self) -> bool:
        """True if the server finds the app only when started with cwd=app_dir."""
        return self.app_dir_via == "cwd"

    def command(self, app_dir: str, venv_bin: str, host: str, port: int,
                workers: int) -> list[str]:
        """The exact argv that starts this server in the foreground.

        `app_dir` and `venv_bin` are absolute POSIX paths on the host that
        will run the server (they need not exist here). `host` must be an IP
        address literal and not a wildcard. See the module docstring for how
        `app_dir` reaches each server; start it with cwd=app_dir in any case.
        """
        validate_server(self.name, workers)
        host = _check_host(host)
        port = _check_port(port)
        app_dir = _check_abs("app_dir", app_dir)
        venv_bin = _check_abs("venv_bin", venv_bin).rstrip("/") or "/"
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        values = {
            "venv_bin": venv_bin, "app_dir": app_dir, "host": host, "port": port,
            "bind": bind, "workers": workers, "target": self.target,
        }
        return [part.format(**values) for part in self.argv_template]


def _check_host(host: str) -> str:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be an IP address literal, got {host!r}") from None
    if addr.is_unspecified:
        raise ValueError(f"host {host!r} is a wildcard address: servers bind only to "
                         "one lab (or loopback) address")
    return str(addr)


def _check_port(port: int) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port must be a whole number from 1 to 65535, got {port!r}")
    return port


def _check_abs(what: str, path: str) -> str:
    if not isinstance(path, str) or not PurePosixPath(path).is_absolute():
        raise ValueError(f"{what} must be an absolute POSIX path, got {path!r}")
    return path


# --no-control-socket: since gunicorn 24 the arbiter also listens on a unix
# control socket, by default $XDG_RUNTIME_DIR/gunicorn.ctl or
# $HOME/.gunicorn/gunicorn.ctl: a second listener, a write into the user's
# home, and one path shared by every gunicorn on the host.
_GUNICORN = ("{venv_bin}/gunicorn", "{target}", "--chdir", "{app_dir}",
             "--bind", "{bind}", "--workers", "{workers}", "--no-control-socket")
_GRANIAN = ("{venv_bin}/granian", "--host", "{host}", "--port", "{port}",
            "--workers", "{workers}", "--working-dir", "{app_dir}", "--no-access-log")

SERVERS: dict[str, ServerConfig] = {
    s.name: s
    for s in (
        ServerConfig(
            name="gunicorn-sync",
            interface="wsgi",
            packages=("gunicorn",),
            description="gunicorn, sync worker class (one request at a time per process), WSGI",
            max_workers=None,
            # gunicorn writes no access log unless --access-logfile is given.
            argv_template=_GUNICORN + ("--worker-class", "sync"),
            app_dir_via="--chdir",
        ),
        ServerConfig(
            name="gunicorn-uvicorn",
            interface="asgi",
            packages=("gunicorn", "uvicorn-worker", "uvicorn", "uvloop", "httptools"),
            description="gunicorn with uvicorn_worker.UvicornWorker (the seed's ASGI setup), ASGI",
            max_workers=None,
            # UvicornWorker routes uvicorn.access to gunicorn's access log,
            # which has no handler without --access-logfile: nothing written.
            argv_template=_GUNICORN + ("--worker-class", "uvicorn_worker.UvicornWorker"),
            app_dir_via="--chdir",
        ),
        ServerConfig(
            name="uvicorn",
            interface="asgi",
            packages=("uvicorn", "uvloop", "httptools"),
            description="standalone uvicorn with uvloop and httptools, ASGI",
            max_workers=None,
            argv_template=("{venv_bin}/uvicorn", "{target}", "--app-dir", "{app_dir}",
                           "--host", "{host}", "--port", "{port}", "--workers", "{workers}",
                           "--loop", "uvloop", "--http", "httptools", "--no-access-log"),
            app_dir_via="--app-dir",
        ),
        ServerConfig(
            name="daphne",
            interface="asgi",
            packages=("daphne",),
            description="daphne (Twisted), one process, ASGI",
            max_workers=1,
            # -v 0: daphne's access log goes to stdout at verbosity >= 1.
            # No --workers flag exists; {workers} is validated to be 1.
            argv_template=("{venv_bin}/daphne", "--bind", "{host}", "--port", "{port}",
                           "--verbosity", "0", "{target}"),
            app_dir_via="cwd",
        ),
        ServerConfig(
            name="granian-wsgi",
            interface="wsgi",
            packages=("granian",),
            description="granian (Rust HTTP stack), WSGI interface",
            max_workers=None,
            argv_template=_GRANIAN + ("--interface", "wsgi", "{target}"),
            app_dir_via="--working-dir",
        ),
        ServerConfig(
            name="granian-asgi",
            interface="asgi",
            packages=("granian", "uvloop"),
            description="granian (Rust HTTP stack), ASGI interface, uvloop",
            max_workers=None,
            argv_template=_GRANIAN + ("--interface", "asgi", "--loop", "uvloop", "{target}"),
            app_dir_via="--working-dir",
        ),
    )
}


def validate_server(name: str, workers: int) -> None:
    """Raise ValueError unless `name` is a known server that can run `workers`."""
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; known servers: {', '.join(sorted(SERVERS))}")
    server = SERVERS[name]
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers for server {name!r} must be a whole number >= 1, got {workers!r}")
    if server.max_workers is not None and workers > server.max_workers:
        raise ValueError(f"server {name!r} allows at most {server.max_workers} worker(s) "
                         f"(workers from 1 to {server.max_workers}), got {workers!r}")
