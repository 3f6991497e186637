"""[user-ramp] seed 003: the Django tutorial's polls app on PostgreSQL behind
nginx, Locust users ramping up in steps with a 1-2 s wait.

The blog (seed 003, "A Guide to ASGI in Django 3.0 and its Performance")
opened a poll's form and voted, with n
users making about n requests a second, and reported the failure percentage
at 100, 200 ... 700 users, and so the largest user count served without
failures. Here Locust (host/locustfile.py) runs headless on the
client host against nginx on the server host (port NGINX_PORT), which proxies
to the cell's app server; the app reads and writes PostgreSQL on the db host
(the server host unless the lab has a `db` host). The playbooks run both
services (roles lab_postgres, lab_nginx); before the app server starts, this
scenario migrates the database and seeds the questions with the cell's own
venv, and before it measures it checks that nginx passes the polls page
through. Either service down fails this scenario alone, with its log's tail.

The ramp runs in one measured window on one server, as the seed's did: each
step's figures are samples named `<metric>@<users>` (failure_pct@300,
latency_p99@300 ...), plus `max_users_without_failures` for the run. The
protocol's duration_s does not apply: the window lasts steps x step_s.
"""
from __future__ import annotations

import contextlib
import json
import shlex
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator



from runner.lab.host_paths import HostPaths
from runner.lab.ssh import connect, run
from runner.scenarios.base import AptPackage, Scenario, StepFailed, Variant
from runner.scenarios.user_ramp import locust
from runner.session import traces
from runner.session.server import SERVER_ENV, env_prefix, probe_command
from runner.session.session import read_text_or_empty as _read

# Where the roles put things (playbooks/roles/lab_postgres, lab_nginx defaults);
# tests/test_user_ramp.py checks that these agree with the role defaults.
DB_PORT, DB_NAME, DB_USER = 5432, "polls", "polls"
NGINX_PORT = 8080
POSTGRES_DIR, NGINX_DIR = "postgres", "nginx"       # under a host's lab root
VIEW = "polls"
LOCUSTFILE = "locustfile.py"   # in host/, shipped to the client host
LOG_TAIL_LINES = 15
PREPARE_TIMEOUT_S = 90
LOCUST_PREFIX = "locust"
LOCUST_FILES = [f"{LOCUST_PREFIX}{s}" for s in (locust.STEP_SUFFIX, ".json", "_stats.csv",
                                                "_stats_history.csv", "_failures.csv",
                                                "_exceptions.csv")]
# Seconds of the window beyond the steps: Locust's start and stop.
WINDOW_SLACK_S = 60

# Migrate and seed in one interpreter: Django starts once, and both are no-ops
# on a database that is already there.
PREPARE = ("import sys, django; django.setup(); "
           "from django.core.management import call_command as c; "
           "c('migrate', verbosity=0, interactive=False); "
           "c('seed_polls', questions=int(sys.argv[1]), choices=int(sys.argv[2]), reset_votes=True)")
# CPU seconds of a service's whole process tree, read from its pid file: the
# main process, its live children, and the children it has already reaped
# (PostgreSQL forks a backend per connection).
CPU_SECONDS = r"""
import json, sys, time, psutil
out = {"t": time.time()}
for name, pidfile in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        p = psutil.Process(int(open(pidfile).readline()))
        t = p.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in p.children(recursive=True):
            try:
                ct = child.cpu_times(); total += ct.user + ct.system
            except psutil.Error:
                pass
        out[name] = total
    except (OSError, ValueError, psutil.Error):
        out[name] = None
print(json.dumps(out))
"""

Users = Annotated[int, Strict(), Field(ge=1, le=100_000)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: list[Users] = Field(
        default=[100, 200, 300, 400, 500, 600, 700], min_length=1,
        description="User counts, in increasing order; each is held for step_s seconds.")
    step_s: Annotated[int, Strict(), Field(ge=1, le=3600)] = Field(
        default=60, description="Seconds each user count is held.")
    spawn_rate: Annotated[float, Field(gt=0, le=10_000)] = Field(
        default=100.0, description="Users started per second when a step adds users.")
    wait_min_s: Annotated[float, Field(ge=0, le=600)] = Field(
        default=1.0, description="Shortest wait of a user after each request (the seed: 1 s).")
    wait_max_s: Annotated[float, Field(ge=0, le=600)] = Field(
        default=2.0, description="Longest wait of a user after each request (the seed: 2 s).")
    timeout_s: Annotated[float, Field(gt=0, le=600)] = Field(
        default=30.0, description="A request not answered within this many seconds fails.")
    conn_max_age_s: Annotated[int, Strict(), Field(ge=0, le=3600)] = Field(
        default=0, description="Django's CONN_MAX_AGE: 0 (Django's default, the seed's) opens a "
                               "database connection per request; Django advises against "
                               "more under ASGI.")
    questions: Annotated[int, Strict(), Field(ge=1, le=100_000)] = Field(
        default=10, description="Poll questions in the database (the index lists the latest 5).")
    choices: Annotated[int, Strict(), Field(ge=1, le=100)] = Field(
        default=3, description="Choices per question.")

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps):
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"user counts must increase from step to step, got {steps}")
        return steps

    @model_validator(mode="after")
    def _wait_order(self):
        if self.wait_min_s > self.wait_max_s:
            raise ValueError(f"wait_min_s ({self.wait_min_s:g}) is above wait_max_s ({self.wait_max_s:g})")
        return self


def db_host(ctx):
    """The host PostgreSQL runs on: the lab's `db` host if it has one, else the
    server host (as site.yml decides); the run puts it in the context."""
    return ctx.role_hosts.get("db") or ctx.server_host


def service_paths(lab_root: str) -> dict[str, str]:
    root = lab_root.rstrip("/")
    pg, ng = f"{root}/{POSTGRES_DIR}", f"{root}/{NGINX_DIR}"
    return {"postgres_log": f"{pg}/postgres.log", "postgres_pid": f"{pg}/data/postmaster.pid",
            "postgres_error": f"{pg}/setup-error.txt", "nginx_log": f"{ng}/error.log",
            "nginx_pid": f"{ng}/nginx.pid", "nginx_error": f"{ng}/setup-error.txt"}


class UserRamp(Scenario):
    name = "user-ramp"
    order = 50
    Params = Params
    host_files = (LOCUSTFILE,)
    client_packages = (locust.PACKAGE,)
    services = ("postgres", "nginx")
    host_roles = ("db",)
    # The services' packages: `make setup` installs them on the controller;
    # their roles (lab_postgres, lab_nginx) only check the binaries.
    apt_packages = (AptPackage("postgresql-15", "db", playbook_installs=False),
                    AptPackage("nginx", "server", playbook_installs=False))
    latency_model = locust.LATENCY_MODEL.format(users="N", wait_min=1, wait_max=2)

    def exclusion(self, spec, params):
        if spec.view != VIEW:
            return f"user-ramp runs the polls app: view must be {VIEW!r}, not {spec.view!r}"
        return None

    def variants(self, params, prior):
        return [Variant("ramp", {"steps": list(params.steps)})]

    def server_env(self, ctx, params):
        return {"LAB_DB": "postgres", "LAB_DB_HOST": db_host(ctx).traffic_address,
                "LAB_DB_PORT": str(DB_PORT), "LAB_DB_NAME": DB_NAME, "LAB_DB_USER": DB_USER,
                "LAB_DB_CONN_MAX_AGE": str(params.conn_max_age_s)}

    # -- before the server starts: the database --------------------------------
    def before_start(self, session, params):
        env = {**SERVER_ENV, **self.server_env(session.ctx, params)}
        python = f"{session.server_paths.venv_bin(session.cell.env_id)}/python"
        cmd = (f"cd {session.server_paths.app} && {env_prefix(env)}"
               f" timeout -k 5 {PREPARE_TIMEOUT_S} {python} -c {shlex.quote(PREPARE)} "
               f"{params.questions} {params.choices} 2>&1")
        try:
            res = session.run_server(cmd, PREPARE_TIMEOUT_S + 30)
        except Exception as exc:   # an SSH failure or timeout must fail this unit only
            raise StepFailed(f"migrate and seed did not finish: {type(exc).__name__}"
                             + self._logs(session, "postgres")) from None
        if res.return_code == 124:
            raise StepFailed(f"migrate and seed took over {PREPARE_TIMEOUT_S} s (PostgreSQL at "
                             f"{env['LAB_DB_HOST']}:{DB_PORT} not answering?)"
                             + self._logs(session, "postgres"))
        if res.return_code != 0:
            out = res.stdout.strip().splitlines()
            last = out[-1] if out else f"exit {res.return_code}"
            if "No module named 'psycopg" in res.stdout or "Error loading psycopg" in res.stdout:
                raise StepFailed(f"the cell's venv has no psycopg: pin psycopg and psycopg-binary "
                                 f"in the matrix ({last})")
            raise StepFailed(f"cannot migrate and seed the polls database at "
                             f"{env['LAB_DB_HOST']}:{DB_PORT}: {last}"
                             + self._logs(session, "postgres"))

    # -- the measured window -----------------------------------------------------
    def measure(self, session, params, variant):
        base = f"http://{session.ctx.server_host.traffic_address}:{NGINX_PORT}"
        self._check_nginx(session, base)
        argv = locust.command(
            f"{session.client_bin}/locust", session.client_tool(LOCUSTFILE), base,
            f"{session.client_dir}/{LOCUST_PREFIX}", list(params.steps), params.step_s,
            params.spawn_rate, params.wait_min_s, params.wait_max_s, params.timeout_s)
        before = self._service_cpu(session)
        window = session.measure_window("measured", argv,
                                        timeout_s=window_bound_s(params))
        after = self._service_cpu(session)
        session.fetch(session.ctx.client_conn, session.client_dir, LOCUST_FILES)
        try:
            rows = locust.parse_steps(_read(session.local_dir / LOCUST_FILES[0]))
            locust.check_totals(rows, locust.parse_totals(_read(session.local_dir / LOCUST_FILES[1])))
        except locust.LocustOutputError as exc:
            raise StepFailed(f"Locust's output is unusable: {exc}") from None
        return {**locust.step_metrics(rows), **step_server_metrics(window, rows),
                **service_cpu_metrics(before, after), **session.window_metrics(window)}

    def _check_nginx(self, session, base: str) -> None:
        view = session.view
        res = session.run_client(probe_command(session.client_paths, f"{base}{view.path}", view, 10), 30)
        if res.return_code != 0:
            answer = " ".join(res.stdout.split())[-300:]
            raise StepFailed(f"nginx at {base} does not pass {view.path} through to the app "
                             f"server: {answer}" + self._logs(session, "nginx"))

    def _service_cpu(self, session) -> dict:
        """CPU seconds of PostgreSQL and nginx (None where they are not found)."""
        snap = {}
        db = db_host(session.ctx)
        placement = {"nginx": session.ctx.server_host, "postgres": db}
        hosts = [session.ctx.server_host] + ([db] if db != session.ctx.server_host else [])
        for host in hosts:
            paths = service_paths(host.lab_root)
            args = " ".join(f"{n} {shlex.quote(paths[n + '_pid'])}"
                            for n, h in placement.items() if h == host)
            tools_python = HostPaths.of(host).tools_python
            try:
                with host_conn(session, host) as conn:
                    res = run(conn, f"{tools_python} -c {shlex.quote(CPU_SECONDS)} {args}",
                              timeout=20, warn=True)
                snap.update(json.loads(res.stdout.strip().splitlines()[-1]))
            except Exception:   # a figure less, never a failed measurement
                pass
        return snap

    def _logs(self, session, service: str) -> str:
        """The tail of a service's log, after the reason its role recorded (if any)."""
        host = db_host(session.ctx) if service == "postgres" else session.ctx.server_host
        paths = service_paths(host.lab_root)
        try:
            with host_conn(session, host) as conn:
                res = run(conn, f"cat {paths[service + '_error']} 2>/dev/null; "
                                f"tail -n {LOG_TAIL_LINES} {paths[service + '_log']} 2>/dev/null",
                          timeout=15, warn=True)
        except Exception as exc:   # the reason being reported matters more than its log
            return f"; {service} on {host.name}: its log could not be read ({type(exc).__name__})"
        text = " | ".join(line.strip() for line in res.stdout.splitlines() if line.strip())
        return f"; {service} on {host.name}: {text[-1500:] or 'no log (never started?)'}"


@contextlib.contextmanager
def host_conn(session, host):
    """The session's connection to the server host, or a new one to another host."""
    if host == session.ctx.server_host:
        yield session.ctx.server_conn
        return
    conn = connect(host)
    try:
        yield conn
    finally:
        conn.close()


def step_server_metrics(window, rows) -> dict:
    """The app server's CPU and connections during each step, from the psutil
    trace (PostgreSQL and nginx are measured over the whole window only)."""
    out = {}
    for r in rows:
        try:
            s = traces.window_summary(window.server_samples, r.start_epoch, r.end_epoch)
        except traces.TraceError:
            continue   # a step shorter than two samples
        out[f"server_cpu_percent@{r.users}"] = (s["cpu_percent"], "%")
        if "connections_peak" in s:
            out[f"server_connections@{r.users}"] = (s["connections_peak"], "count")
    return out


def window_bound_s(params: Params) -> float:
    """The steps, the drain after them, and Locust's start and stop."""
    return len(params.steps) * params.step_s + locust.drain_bound_s(params.timeout_s) + WINDOW_SLACK_S


def service_cpu_metrics(before: dict, after: dict) -> dict:
    """% of one core each service used between the two snapshots."""
    out = {}
    span = (after.get("t") or 0) - (before.get("t") or 0)
    for name in ("postgres", "nginx"):
        a, b = before.get(name), after.get(name)
        if span > 0 and a is not None and b is not None:
            out[f"{name}_cpu_percent"] = (100.0 * (b - a) / span, "%")
    return out
