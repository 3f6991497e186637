"""The configure stage: ansible-playbook playbooks/site.yml over real SSH.

The runner hands Ansible the environments to build (one per distinct lock);
Ansible installs them on the server host, the load generator and the lab's
tools on every host, and writes each host's facts to <state>/facts/<host>.json
on the controller, which the manifest then records.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from runner import REPO_ROOT
from runner.core.errors import LabError
from runner.lab.inventory import Lab
from runner.lab.ssh import connect

PLAYBOOK = REPO_ROOT / "playbooks" / "site.yml"
INSTALL_TASK = "Build each environment exactly from its lock"
TASK_LINE = re.compile(r"^TASK \[(.*)\]")
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def python_provider(lab: Lab, host: str) -> str:
    path = Path(lab.vars["lab_state_dir"]) / "facts" / f"pythons-{host}.json"
    return json.loads(path.read_text()).get("provider", "?") if path.exists() else "?"


def install_report(lab: Lab) -> dict:
    """{env_id: {status, seconds, python_exact, freeze, error}} from the last
    configure run, as the server host's installer reported it."""
    server = lab.by_role("server").name
    path = Path(lab.vars["lab_state_dir"]) / "facts" / f"envs-{server}.json"
    if not path.exists():
        raise LabError(f"{path} is missing: the playbook did not report its installs")
    return json.loads(path.read_text())["envs"]


def run_playbook(lab: Lab, extra_vars: dict, log_path: Path, progress=lambda task: None) -> dict:
    """Run site.yml with `extra_vars` (lab_envs: the environments to build;
    what the scenarios ship, runner.scenarios.playbook_vars); return the play
    recap per host. Raises LabError on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    extra = log_path.parent / "ansible-extra-vars.json"
    extra.write_text(json.dumps(extra_vars, indent=2))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_CONFIG": str(REPO_ROOT / "playbooks" / "ansible.cfg"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    cmd = ["ansible-playbook", "-i", str(lab.path), str(PLAYBOOK), "-e", f"@{extra}"]
    # A report left by an earlier run must not pass for this one's.
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
        self.host, self.progress, self.task = lab.by_role("server"), progress, ""
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
