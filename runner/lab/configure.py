"""The configure stage: ansible-playbook playbooks/site.yml over real SSH.

The runner hands Ansible the environments to build (one per distinct lock);
Ansible installs them on the server host, the load generator and the lab's
tools on every host, and writes each host's facts to <state>/facts/<host>.json
on the controller, which the manifest then records.

The fast path: a playbook run with nothing to do still costs 30-65 s (every
task is a round trip over SSH). `configure` skips it when all of these hold:
  - the controller's inputs are unchanged since the last successful run
    (the same inventory, extra vars apart from the environments, and the
    same playbooks/, runner/ and lab_app/ files: `fingerprint`);
  - every host still holds that run's stamp (site.yml's last play), every
    service the stamp names still runs, and no service recorded a setup error;
  - every environment asked for is complete on the server host
    (install_envs.py --if-complete, which then reports as a full run would);
  - a user's project asked for (`lab_user_app`) is on the server host with
    the same digest (the playbook writes it there beside the files).
When all of these hold but the project is new or changed, only the
playbook's `user_app` tasks run (`--tags user_app`, mode "project"): the
stamps stay valid, since nothing else on the hosts changed.
Anything else, or `reconfigure=True`, runs the whole playbook.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from runner import REPO_ROOT
from runner.core.errors import LabError, one_line
from runner.lab import ssh
from runner.lab.host_paths import HostPaths
from runner.lab.inventory import Host, Lab
from runner.lab.ssh import connect

PLAYBOOK = REPO_ROOT / "playbooks" / "site.yml"
# What the hosts get from the controller: a change here means a full run.
FINGERPRINTED = ("playbooks", "runner", "lab_app")
RECORD = "configured.json"        # under lab_state_dir: the last full run's fingerprint and token
STAMP = ".lab-configured"         # under each host's lab_root (site.yml's last play)
APP_DIGEST = ".lab-app-digest"    # in the user's project on the server host (lab_server role)
PROJECT_ONLY = "the project under test (--app) is new or changed"
NOT_COMPLETE = 3                  # install_envs.py --if-complete: an environment is not complete
INSTALL_TASK = "Build each environment exactly from its lock"
TASK_LINE = re.compile(r"^TASK \[(.*)\]")
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def python_provider(lab: Lab, host: str) -> str:
    path = Path(lab.vars["lab_state_dir"]) / "facts" / f"pythons-{host}.json"
    return json.loads(path.read_text()).get("provider", "?") if path.exists() else "?"


def install_report(lab: Lab) -> dict:
    """{env_id: {status, seconds, python_exact, freeze, error}} from the last
    configure run, as the server host's installer reported it."""
    server = lab.first("server").name
    path = Path(lab.vars["lab_state_dir"]) / "facts" / f"envs-{server}.json"
    if not path.exists():
        raise LabError(f"{path} is missing: the playbook did not report its installs")
    return json.loads(path.read_text())["envs"]


def configure(lab: Lab, extra_vars: dict, log_path: Path, progress=lambda task: None,
              reconfigure: bool = False) -> dict:
    """Bring the hosts to `extra_vars`: the fast path if it holds, else the
    playbook. Returns {"mode": "skipped" | "project" | "playbook", "why": the
    reason the playbook ran (None if skipped), "recap": the play recap per
    host ({} if skipped)}."""
    fingerprint = inputs_fingerprint(lab, extra_vars)
    why = "asked (--reconfigure)" if reconfigure else fast_path(lab, extra_vars, fingerprint)
    if why is None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("configure skipped: inputs, stamps, services and environments "
                            f"unchanged since the last playbook run (fingerprint {fingerprint})\n")
        return {"mode": "skipped", "why": None, "recap": {}}
    if why == PROJECT_ONLY:
        progress(f"playbook, the project's tasks only: {why}")
        recap = run_playbook(lab, extra_vars, log_path, progress, tags=("user_app",))
        return {"mode": "project", "why": why, "recap": recap}
    progress(f"playbook: {why}")
    record = Path(lab.vars["lab_state_dir"]) / RECORD
    record.unlink(missing_ok=True)       # a failed run leaves no record to trust
    token = secrets.token_hex(16)
    recap = run_playbook(lab, {**extra_vars, "lab_configure_token": token}, log_path, progress)
    record.write_text(json.dumps({"fingerprint": fingerprint, "token": token,
                                  "at": time.time()}) + "\n")
    return {"mode": "playbook", "why": why, "recap": recap}


def inputs_fingerprint(lab: Lab, extra_vars: dict) -> str:
    """sha256 over what the playbook takes from the controller, apart from
    the environments (checked on the host instead)."""
    h = hashlib.sha256()
    rest = {k: v for k, v in extra_vars.items() if k not in ("lab_envs", "lab_user_app")}
    h.update(json.dumps(rest, sort_keys=True).encode())
    h.update(Path(lab.path).read_bytes())
    for top in FINGERPRINTED:
        for path in sorted((REPO_ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                h.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


# On a host: the stamp's token, then stop at the first service it names
# that no longer runs, or at a service's recorded setup error.
STAMP_CHECK = """cd {root} && test -f {stamp} || {{ echo "no stamp"; exit 0; }}
{{ read -r token; echo "token $token"
   while read -r f; do
     kill -0 "$(head -n 1 "$f" 2>/dev/null)" 2>/dev/null || {{ echo "stopped $f"; exit 0; }}
   done; }} < {stamp}
err=$(find . -maxdepth 3 -name setup-error.txt | head -n 1)
if [ -n "$err" ]; then echo "setup-error $err"; fi"""


def fast_path(lab: Lab, extra_vars: dict, fingerprint: str) -> str | None:
    """None if the playbook may be skipped (and the install report is
    written), PROJECT_ONLY if only the user's project must be shipped, else
    why the whole playbook must run."""
    record_path = Path(lab.vars["lab_state_dir"]) / RECORD
    if not record_path.exists():
        return "no successful playbook run on record for this lab"
    record = json.loads(record_path.read_text())
    if record.get("fingerprint") != fingerprint:
        return "the inventory, the scenarios' files, the playbooks or the lab app changed"
    project_only = False
    for host in lab.hosts.values():
        try:
            conn = connect(host)
            try:
                out = ssh.run(conn, STAMP_CHECK.format(root=HostPaths.of(host).root, stamp=STAMP),
                              timeout=30).stdout.split("\n")
                if not out or out[0] != f"token {record['token']}":
                    return f"{host.name}: not stamped by the last playbook run"
                if len(out) > 1 and out[1].strip():
                    return f"{host.name}: {out[1].strip()}"
                if host.role == "server":     # every pair's server holds every environment
                    why = complete_envs(lab, host, conn, extra_vars.get("lab_envs", []))
                    if why:
                        return why
                    project_only |= user_app_missing(host, conn, extra_vars.get("lab_user_app"))
            finally:
                conn.close()
        except Exception as exc:           # the playbook will say what is wrong, in its terms
            return f"{host.name}: cannot check it ({one_line(exc)})"
    return PROJECT_ONLY if project_only else None


def user_app_missing(server: Host, conn, app: dict | None) -> bool:
    """True if a user's project is asked for and the server host lacks it
    as it is now (its digest differs)."""
    if not app:
        return False
    folder = HostPaths.of(server).user_app
    have = ssh.run(conn, f"cat {folder}/{APP_DIGEST} 2>/dev/null || true", timeout=30).stdout.strip()
    return have != app["digest"]


def complete_envs(lab: Lab, server: Host, conn, envs: list) -> str | None:
    """Ask a server host's installer (over `conn`) whether every environment
    is complete; if so, and it is the lab's first server, write its report
    where the playbook would have (install_report)."""
    paths = HostPaths.of(server)
    remote = f"{paths.envs}/fast-path-envs.json"
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(envs, f)
        f.flush()
        conn.put(f.name, remote)
    result = ssh.run(conn, f"{paths.tools_python} {paths.tool('install_envs.py')} --if-complete "
                           f"{paths.envs} {remote}", timeout=300, warn=True)
    if result.exited == NOT_COMPLETE:
        return f"an environment asked for is missing or incomplete on {server.name}"
    if result.exited != 0:
        return f"the installer's check exited {result.exited}: {result.stderr.strip()[-300:]}"
    if server != lab.first("server"):
        return None
    facts_dir = Path(lab.vars["lab_state_dir"]) / "facts"
    for old in facts_dir.glob("envs-*.json"):
        old.unlink()
    (facts_dir / f"envs-{server.name}.json").write_text(
        json.dumps(json.loads(result.stdout), indent=4) + "\n")
    return None


def run_playbook(lab: Lab, extra_vars: dict, log_path: Path, progress=lambda task: None,
                 tags: tuple[str, ...] = ()) -> dict:
    """Run site.yml with `extra_vars` (lab_envs: the environments to build;
    what the scenarios ship, runner.scenarios.playbook_vars), or only its
    tasks tagged `tags`; return the play recap per host. Raises LabError on
    failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    extra = log_path.parent / "ansible-extra-vars.json"
    extra.write_text(json.dumps(extra_vars, indent=2))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_CONFIG": str(REPO_ROOT / "playbooks" / "ansible.cfg"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    cmd = ["ansible-playbook", "-i", str(lab.path), str(PLAYBOOK), "-e", f"@{extra}"]
    if lab.left_out:
        cmd += ["--limit", ",".join(sorted(lab.hosts))]
    if tags:
        cmd += ["--tags", ",".join(tags)]
    else:
        # A report left by an earlier run must not pass for this one's (a
        # tagged run installs nothing: the fast path's report stands).
        for old in (Path(lab.vars["lab_state_dir"]) / "facts").glob("envs-*.json"):
            old.unlink()
    recap = {}
    watcher = InstallWatcher(lab, progress)
    with open(log_path, "w") as log, watcher:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=REPO_ROOT)
        for line in proc.stdout:
            log.write(line)
            if m := TASK_LINE.match(line):
                progress(m.group(1))
                watcher.task = m.group(1)
            if m := RECAP_LINE.match(line):
                recap[m.group(1)] = {k: int(v) for k, v in zip(
                    ("ok", "changed", "unreachable", "failed"), m.groups()[1:])}
        code = proc.wait()
    if code != 0:
        raise LabError(f"ansible-playbook failed (exit {code}): {failure_summary(log_path)} "
                       f"(full log: {log_path})")
    return recap


class InstallWatcher:
    """While the long install task runs, show how many environments are done
    (the installer's progress file on the server host, read over SSH)."""

    INTERVAL_S = 2.0

    def __init__(self, lab: Lab, progress):
        self.host, self.progress, self.task = lab.first("server"), progress, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self):
        path = f"{self.host.lab_root.rstrip('/')}/envs/install-progress.txt"
        conn = None
        while not self._stop.wait(self.INTERVAL_S):
            if INSTALL_TASK not in self.task:
                continue
            try:
                conn = conn or connect(self.host)
                out = conn.run(f"tail -n 1 {path} 2>/dev/null", hide=True, warn=True,
                               timeout=10, in_stream=False).stdout.split()
            except Exception:      # progress is a nicety: never fail the run for it
                conn = None
                continue
            if out:
                self.progress(f"{self.task}: {out[0]} environments done")
        if conn:
            conn.close()


FAILED_LINE = re.compile(r'^(?:fatal|failed): \[([^\]]*)\].*?"msg": "((?:[^"\\]|\\.)*)"')


def failure_summary(log_path: Path) -> str:
    """The failed hosts and Ansible's own messages, not a page of JSON."""
    found = []
    for line in log_path.read_text().splitlines():
        if m := FAILED_LINE.match(line):
            item = f"{m.group(1)}: {m.group(2)}"
            if item not in found:
                found.append(item)
    return "; ".join(found[:3]) or "see the log"


def load_generators(lab: Lab) -> dict:
    """{client host: {tool: path, sha256, version, origin[, go_build]}} as
    the client role recorded them (session/host/loadgens.py)."""
    facts_dir = Path(lab.vars["lab_state_dir"]) / "facts"
    return {name: json.loads((facts_dir / f"loadgens-{name}.json").read_text())
            for name in lab.hosts if (facts_dir / f"loadgens-{name}.json").exists()}


def host_facts(lab: Lab) -> dict:
    facts_dir = Path(lab.vars["lab_state_dir"]) / "facts"
    return {name: json.loads((facts_dir / f"{name}.json").read_text())
            for name in lab.hosts if (facts_dir / f"{name}.json").exists()}
