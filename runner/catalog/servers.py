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
`--working-dir` (sys.path), uWSGI `--chdir` (chdir; uWSGI keeps "." on
sys.path). daphne and hypercorn have no such flag: daphne imports relative to
its working directory, and hypercorn puts the parent of the resolved
`Path(module)` (for "labproject.asgi", the cwd) on sys.path, also in every
spawned worker, so the caller must start them with cwd=app_dir. hypercorn's
`--root-path` is not that: it is the ASGI `root_path`, a URL prefix that
would change the paths Django sees. The simplest rule for callers is to
start every server with cwd=app_dir and the environment from `clean_env`;
the argv of the other servers does not depend on the cwd.

Threads (`ServerConfig.takes_threads`): only gunicorn-gthread and uWSGI take
a threads-per-worker setting ({threads}); every other configuration accepts
only threads=1, so a matrix cannot silently run the same command under two
thread counts.

Loop and parser choices are explicit where "auto" would depend on what else
happens to be installed in the venv: gunicorn-uvicorn lists uvloop and
httptools among its packages so UvicornWorker's "auto" resolves to the same
uvloop + httptools that the standalone uvicorn configuration names, and
granian-asgi names `--loop uvloop` (granian's "auto" prefers rloop, then
uvloop, then asyncio). uvicorn-h11 names `--http h11 --loop asyncio`, so it
runs the pure-Python stack even in a venv that has uvloop and httptools.

Starting and stopping (as tests/test_servers_loopback.py does it): start
with start_new_session=True, stop with SIGTERM to the process group, SIGKILL
after a bound. The first answer comes from the first worker that is up, so
with several workers "ready" must also wait for the rest (process count and
idle CPU): granian, with either interface, never exits if a SIGTERM arrives
while one of its workers is still booting (its main process waits forever
for that worker), and a measurement started then would time a booting
server. Django does not speak the ASGI lifespan protocol; uvicorn logs that
once at startup, granian-asgi and hypercorn warn once per worker, all
harmless. Process trees: hypercorn always runs a supervisor and `workers`
spawned workers (plus multiprocessing's resource tracker), even for
workers=1; uWSGI runs a master and `workers` forked workers; uvicorn with
workers=1 serves from its one process.

`DEFAULT_PINS` holds the versions the demo matrix uses; they were resolved
together with `uv pip compile` for CPython 3.12 and are exercised by
tests/test_servers_loopback.py.
"""
from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

WSGI_TARGET = "labproject.wsgi:application"
ASGI_TARGET = "labproject.asgi:application"
# The apps a server can load, by interface: the Django project, or the raw
# WSGI/ASGI apps with no framework at all (lab_app/rawapp), seed 001's baseline,
# or the Django project with no middleware (overhead attribution), or with
# DEBUG on (seed 000's "with/without DEBUG").
TARGETS = {"django": {"wsgi": WSGI_TARGET, "asgi": ASGI_TARGET},
           "django-bare": {"wsgi": "labproject.wsgi_bare:application",
                           "asgi": "labproject.asgi_bare:application"},
           "django-debug": {"wsgi": "labproject.wsgi_debug:application",
                            "asgi": "labproject.asgi_debug:application"},
           "raw": {"wsgi": "rawapp.wsgi:application", "asgi": "rawapp.asgi:application"}}
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
    "hypercorn": "0.18.0",
    # uWSGI ships only an sdist: it is compiled (gcc, the Python headers, about
    # 20-30 s on 2 cores) for each Python, and uv caches the built wheel.
    "uwsgi": "2.0.31",
}

# Environment variables that silently change what a server or Django does
# (gunicorn reads GUNICORN_CMD_ARGS, uvicorn UVICORN_* and WEB_CONCURRENCY,
# granian GRANIAN_*, uWSGI turns every UWSGI_<OPTION> into an option
# (UWSGI_PROCESSES=8 is --processes 8), daphne and asgiref ASGI_THREADS, the
# app's wsgi.py and asgi.py only *default* DJANGO_SETTINGS_MODULE). hypercorn
# reads no configuration from the environment (only from --config, which the
# argv never passes). `clean_env` drops them so the argv alone says how a
# server runs; a caller that wants one of them (say ASGI_THREADS as a matrix
# axis) adds it back explicitly and records it.
_ENV_PREFIXES_DROPPED = ("GUNICORN_", "UVICORN_", "GRANIAN_", "UWSGI_")
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
    brackets for IPv6) {workers} {threads} and {target} (the WSGI or ASGI
    application). `takes_threads` is True for the servers whose template
    places {threads}; the others run only with threads=1.
    """

    name: str
    interface: str
    packages: tuple[str, ...]
    description: str
    max_workers: int | None
    argv_template: tuple[str, ...]
    app_dir_via: str
    takes_threads: bool = False
    # Flags that exist only from a release on: (package, first version, flags).
    # They are appended when the cell's resolved version has them.
    flags_since: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def target(self) -> str:
        return TARGETS["django"][self.interface]

    @property
    def needs_cwd(self) -> bool:
        """True if the server finds the app only when started with cwd=app_dir."""
        return self.app_dir_via == "cwd"

    def command(self, app_dir: str, venv_bin: str, host: str, port: int,
                workers: int, threads: int = 1,
                versions: Mapping[str, str] | None = None, app: str = "django",
                target: str | None = None) -> list[str]:
        """The exact argv that starts this server in the foreground.

        `app_dir` and `venv_bin` are absolute POSIX paths on the host that
        will run the server (they need not exist here). `host` must be an IP
        address literal and not a wildcard. `threads` is the number of
        threads per worker, 1 unless `takes_threads`. `versions` are the
        cell's resolved package versions (None: assume the newest, as in
        DEFAULT_PINS); they decide `flags_since`. `app` picks the
        application (TARGETS: "django", "django-bare", "django-debug" or "raw"); `target`
        ("module:callable"), a user's own project's entry point, replaces it. See the module
        docstring for how `app_dir` reaches each server; start it with
        cwd=app_dir in any case.
        """
        validate_server(self.name, workers, threads)
        host = _check_host(host)
        port = _check_port(port)
        app_dir = _check_abs("app_dir", app_dir)
        venv_bin = _check_abs("venv_bin", venv_bin).rstrip("/") or "/"
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        values = {
            "venv_bin": venv_bin, "app_dir": app_dir, "host": host, "port": port,
            "bind": bind, "workers": workers, "threads": threads,
            "target": target or TARGETS[app][self.interface],
        }
        argv = [part.format(**values) for part in self.argv_template]
        for package, since, flags in self.flags_since:
            have = (versions or {}).get(package)
            if have is None or _release(have) >= _release(since):
                argv.extend(flags)
        return argv


def _release(version: str) -> tuple[int, ...]:
    """(24, 0, 1) from "24.0.1" or "24.0.1rc1": enough to order releases."""
    parts = []
    for piece in version.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


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
             "--bind", "{bind}", "--workers", "{workers}")
# gunicorn 23 and older refuse the flag (and have no control socket).
_GUNICORN_SINCE = (("gunicorn", "24", ("--no-control-socket",)),)
_GRANIAN = ("{venv_bin}/granian", "--host", "{host}", "--port", "{port}",
            "--workers", "{workers}", "--working-dir", "{app_dir}", "--no-access-log")
# hypercorn writes an access log only with --access-logfile (Config.accesslog
# is None by default); its error log goes to stderr. No --root-path: that is
# the ASGI root_path (a URL prefix), not where the module is found.
_HYPERCORN = ("{venv_bin}/hypercorn", "--bind", "{bind}", "--workers", "{workers}")
# --http-socket: every worker speaks HTTP itself on the one listening socket.
# --http would start uWSGI's HTTP router, an extra process that proxies each
# request to the workers over the uwsgi protocol: one more hop (and a second
# internal socket) inside the measured latency.
# --die-on-term: uWSGI 2.0 answers SIGTERM with a "brutal reload" (the master
# respawns the workers) unless told to exit.
# --need-app: exit if labproject cannot be imported instead of serving 500s.
# --strict: an unknown option (a typo here, or from a matrix) is an error.
# --disable-logging: no per-request log line (uWSGI logs every request by
# default); startup messages still go to stderr.
# --threads {threads} always, no --enable-threads: 1 is uWSGI's default (one
# request at a time per worker), so the argv states the value in every case;
# passing --threads at all turns Python thread support on (the option carries
# UWSGI_OPT_THREADS), and uWSGI 2.0.31 enables it by default anyway (its
# --enable-threads is a stub), so threads the app starts (asgiref's, for the
# async view under WSGI) run with any thread count.
# No --lazy-apps: the master imports the app once and forks the workers, as
# uWSGI does by default (gunicorn, without --preload, imports in each worker).
_UVICORN = ("{venv_bin}/uvicorn", "{target}", "--app-dir", "{app_dir}", "--host", "{host}",
            "--port", "{port}", "--workers", "{workers}")
_UWSGI = ("{venv_bin}/uwsgi", "--http-socket", "{bind}", "--module", "{target}",
          "--chdir", "{app_dir}", "--master", "--processes", "{workers}",
          "--threads", "{threads}", "--die-on-term", "--need-app", "--strict",
          "--disable-logging")

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
            flags_since=_GUNICORN_SINCE,
            app_dir_via="--chdir",
        ),
        ServerConfig(
            name="gunicorn-gthread",
            interface="wsgi",
            packages=("gunicorn",),
            description="gunicorn, gthread worker class (a pool of `threads` threads "
                        "per worker process), WSGI",
            max_workers=None,
            argv_template=_GUNICORN + ("--worker-class", "gthread", "--threads", "{threads}"),
            flags_since=_GUNICORN_SINCE,
            app_dir_via="--chdir",
            takes_threads=True,
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
            flags_since=_GUNICORN_SINCE,
            app_dir_via="--chdir",
        ),
        ServerConfig(
            name="uvicorn",
            interface="asgi",
            packages=("uvicorn", "uvloop", "httptools"),
            description="standalone uvicorn with uvloop and httptools, ASGI",
            max_workers=None,
            argv_template=_UVICORN + ("--loop", "uvloop", "--http", "httptools", "--no-access-log"),
            app_dir_via="--app-dir",
        ),
        ServerConfig(
            name="uvicorn-h11",
            interface="asgi",
            packages=("uvicorn",),
            description="standalone uvicorn with the pure-Python h11 parser and asyncio loop, ASGI",
            max_workers=None,
            argv_template=_UVICORN + ("--loop", "asyncio", "--http", "h11", "--no-access-log"),
            app_dir_via="--app-dir",
        ),
        ServerConfig(
            name="hypercorn-asyncio",
            interface="asgi",
            packages=("hypercorn",),
            description="hypercorn, asyncio worker class (a supervisor and `workers` "
                        "spawned worker processes), ASGI",
            max_workers=None,
            argv_template=_HYPERCORN + ("--worker-class", "asyncio", "{target}"),
            app_dir_via="cwd",
        ),
        ServerConfig(
            name="hypercorn-uvloop",
            interface="asgi",
            packages=("hypercorn", "uvloop"),
            description="hypercorn, uvloop worker class (a supervisor and `workers` "
                        "spawned worker processes), ASGI",
            max_workers=None,
            argv_template=_HYPERCORN + ("--worker-class", "uvloop", "{target}"),
            app_dir_via="cwd",
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
        ServerConfig(
            name="uwsgi",
            interface="wsgi",
            packages=("uwsgi",),
            description="uWSGI, a master and `workers` forked workers of `threads` threads "
                        "each that speak HTTP natively (--http-socket: no router process "
                        "and no extra hop, as --http would add), WSGI",
            max_workers=None,
            argv_template=_UWSGI,
            app_dir_via="--chdir",
            takes_threads=True,
        ),
    )
}


def validate_server(name: str, workers: int, threads: int = 1) -> None:
    """Raise ValueError unless `name` is a known server that can run `workers`
    worker processes of `threads` threads each."""
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}; known servers: {', '.join(sorted(SERVERS))}")
    server = SERVERS[name]
    if not _is_whole(workers) or workers < 1:
        raise ValueError(f"workers for server {name!r} must be a whole number >= 1, got {workers!r}")
    if server.max_workers is not None and workers > server.max_workers:
        raise ValueError(f"server {name!r} allows at most {server.max_workers} worker(s) "
                         f"(workers from 1 to {server.max_workers}), got {workers!r}")
    if not _is_whole(threads) or threads < 1:
        raise ValueError(f"threads for server {name!r} must be a whole number >= 1, got {threads!r}")
    if threads != 1 and not server.takes_threads:
        threaded = ", ".join(sorted(n for n, s in SERVERS.items() if s.takes_threads))
        raise ValueError(f"server {name!r} takes no threads setting (threads must be 1; "
                         f"servers that take one: {threaded}), got {threads!r}")


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
