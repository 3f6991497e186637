"""A user's own project checked on the server host before the first
measurement (`lab run --app`): in each environment its cells use, its
settings import, migrations and fixtures load, and every URL the matrix
names answers as expected (session/host/app_check.py). A failure stops the
run before anything is measured, with one line saying what failed."""
from __future__ import annotations

import json
import shlex

from invoke.exceptions import CommandTimedOut
from paramiko.ssh_exception import SSHException

from runner.catalog.user_app import UserApp
from runner.core.errors import LabError, one_line
from runner.lab.host_paths import HostPaths
from runner.lab.ssh import connect, run
from runner.session.server import PORT, env_prefix, server_env

CHECK_TIMEOUT_S = 300       # migrations of a large project take a while


def check_command(paths: HostPaths, app: UserApp, env_id: str, host_header: str) -> str:
    env = env_prefix(server_env(app))
    args = [f"{paths.venv_bin(env_id)}/python", paths.tool("app_check.py"), "--host", host_header]
    if app.migrate:
        args.append("--migrate")
    if app.fixtures:
        args += ["--fixtures", *app.fixtures]
    for url in app.urls:
        args += ["--url", json.dumps([url.path, url.status, url.contains])]
    return f"cd {shlex.quote(paths.user_app)} && {env} {shlex.join(args)}"


def failure(app: UserApp, result: dict, host_header: str) -> str | None:
    """One line on what app_check found wrong; None if nothing."""
    if result.get("ok"):
        return None
    step = result.get("step")
    if step == "settings":
        return f"app.settings {app.settings!r} does not import: {result.get('error')}"
    if step in ("migrate", "loaddata"):
        return f"app: {step} failed: {result.get('error')}"
    wrong = []
    for url, seen in zip(app.urls, result.get("urls") or []):
        if seen.get("ok"):
            continue
        if seen.get("status") is None:
            wrong.append(f"app:{url.name} ({url.path}) raised {seen.get('error')}")
        elif seen.get("status") != url.status:
            hint = (f" (is {host_header.rsplit(':', 1)[0]} in ALLOWED_HOSTS?)"
                    if seen.get("status") == 400 else
                    f" (it raised {seen['error']})" if seen.get("error") else "")
            wrong.append(f"app:{url.name} ({url.path}) answered {seen.get('status')}, "
                         f"expected {url.status}{hint}")
        else:
            wrong.append(f"app:{url.name} ({url.path}) answered without {url.contains!r}")
    return "; ".join(wrong) or f"app check failed: {result}"


def check_project(server_host, app: UserApp, env_ids: list[str]) -> dict:
    """{env_id: app_check's result} for every environment; raises LabError
    on the first that fails."""
    paths = HostPaths.of(server_host)
    host_header = f"{server_host.traffic_address}:{PORT}"
    found = {}
    conn = connect(server_host)      # Fabric connects on the first command
    try:
        for env_id in env_ids:
            try:
                res = run(conn, check_command(paths, app, env_id, host_header),
                          timeout=CHECK_TIMEOUT_S, warn=True)
            except (SSHException, OSError, CommandTimedOut) as exc:
                raise LabError(f"{app.source}: the check on {server_host.name} failed "
                               f"({one_line(exc)}); nothing was measured") from None
            lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
            result = json.loads(lines[-1]) if lines else {
                "ok": False, "step": "settings",
                "error": " ".join((res.stderr or res.stdout).split())[-300:] or f"exit {res.exited}"}
            if problem := failure(app, result, host_header):
                raise LabError(f"{app.source}: {problem}; nothing was measured")
            found[env_id] = result
    finally:
        conn.close()
    return found
