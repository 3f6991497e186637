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
from pathlib import Path

from runner import REPO_ROOT
from runner.errors import LabError
from runner.inventory import Lab
from runner.locks import Cell

PLAYBOOK = REPO_ROOT / "playbooks" / "site.yml"
TASK_LINE = re.compile(r"^TASK \[(.*)\]")
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")


def environments(cells: list[Cell], lock_dir: Path) -> list[dict]:
    """One environment per distinct lock; the lock file is what gets synced."""
    envs = {}
    for cell in cells:
        lock = lock_dir / f"{cell.env_id}.txt"
        if not lock.exists():
            lock.write_text(cell.lock_text)
        envs[cell.env_id] = {"env_id": cell.env_id, "python": cell.spec.python, "lock": str(lock)}
    return sorted(envs.values(), key=lambda e: e["env_id"])


def run_playbook(lab: Lab, envs: list[dict], log_path: Path, progress=lambda task: None) -> dict:
    """Run site.yml; return the play recap per host. Raises LabError on failure."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    extra = log_path.parent / "ansible-extra-vars.json"
    extra.write_text(json.dumps({"lab_envs": envs}, indent=2))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_CONFIG": str(REPO_ROOT / "playbooks" / "ansible.cfg"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    cmd = ["ansible-playbook", "-i", str(lab.path), str(PLAYBOOK), "-e", f"@{extra}"]
    recap = {}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=REPO_ROOT)
        for line in proc.stdout:
            log.write(line)
            if m := TASK_LINE.match(line):
                progress(m.group(1))
            if m := RECAP_LINE.match(line):
                recap[m.group(1)] = {k: int(v) for k, v in zip(
                    ("ok", "changed", "unreachable", "failed"), m.groups()[1:])}
        code = proc.wait()
    if code != 0:
        raise LabError(f"ansible-playbook failed (exit {code}): {failure_summary(log_path)} "
                       f"(full log: {log_path})")
    return recap


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


def host_facts(lab: Lab) -> dict:
    facts_dir = Path(lab.vars["lab_state_dir"]) / "facts"
    return {name: json.loads((facts_dir / f"{name}.json").read_text())
            for name in lab.hosts if (facts_dir / f"{name}.json").exists()}
