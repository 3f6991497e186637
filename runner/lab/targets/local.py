"""The `local` target: the lab as network namespaces on this machine.

Terraform (infra/local) builds the hosts: a namespace each, a veth on the
lab's bridge, its own sshd, a cpuset cgroup. Its one output `lab_hosts`
becomes inventory/<lab>/hosts.yml (runner/lab/inventory.py), which Ansible
and the runner both read. Each lab keeps its Terraform state in its own state
folder, .lab/<lab>/terraform.tfstate (`-state=`), so labs never share state
and nothing generated lands in git.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

from python_terraform import IsFlagged

from runner import REPO_ROOT
from runner.core.errors import LabError
from runner.lab.inventory import inventory_path, render_inventory, write_inventory
from runner.lab.targets import terraform
from runner.lab.targets.base import Target

MODULE = "local"  # infra/<MODULE>: the Terraform root module this file drives
LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")  # same rule as variables.tf
CPUSET_ROOT = Path("/sys/fs/cgroup/cpuset")
MIN_TERRAFORM = (1, 5)
DEFAULT_SUBNET = "198.18.0.0/24"

# Inventory vars of this target, for every host. The local lab's hosts share
# this machine's file system, so they use its preinstalled CPython builds
# (/root/.pyenv/versions); real machines would say e.g. "uv". Ansible's
# interpreter discovery would pick a pyenv shim that fails, so pin the system one.
TARGET_VARS = {"lab_python_provider": "preinstalled",
               "ansible_python_interpreter": "/usr/bin/python3"}
VAR_COMMENTS = {
    "ansible_python_interpreter": "root's shell puts pyenv shims first on PATH: pin Ansible's own Python",
    "lab_python_provider": "the local lab uses the builds under /root/.pyenv/versions",
}

Log = Callable[[str], None]


# --- names and paths -----------------------------------------------------------

def _check_name(lab_name: str) -> None:
    if not LAB_NAME_RE.match(lab_name or ""):
        raise LabError(f"bad lab name {lab_name!r}: use 1-8 characters, a-z then a-z/0-9 "
                       "(kernel interface names are limited to 15 characters)")


def state_dir(lab_name: str, repo_root: Path = REPO_ROOT) -> Path:
    """The lab's private folder (keys, sshd configs, Terraform state); git ignores .lab/."""
    return Path(repo_root).resolve() / ".lab" / lab_name


def _state_file(lab_name: str, repo_root: Path) -> Path:
    return state_dir(lab_name, repo_root) / terraform.STATE_FILE


def _terraform(lab_name: str, repo_root: Path, variables: dict):
    return terraform.terraform(MODULE, _state_file(lab_name, repo_root), variables)


# --- preflight and defaults ------------------------------------------------------

def preflight() -> None:
    """Fail early, in one line, on what the local lab cannot do without."""
    if os.geteuid() != 0:
        raise LabError("must run as root (the local lab creates network namespaces)")
    terraform.require_terraform(MIN_TERRAFORM)


def default_hosts(cpu_count: int | None = None) -> dict[str, dict[str, str]]:
    """Server pinned to the last core, client (load generator) to core 0: on a
    2-core box they never share a core. On 1 core both must share core 0."""
    cpus = cpu_count or os.cpu_count() or 1
    return {
        "server": {"role": "server", "cpus": str(cpus - 1)},
        "client": {"role": "client", "cpus": "0"},
    }


# --- drift: things removed behind Terraform's back ---------------------------------

def _answers_ssh(address: str, timeout: float = 2.0) -> bool:
    """Does an sshd greet us on address:22? (Lab addresses only, 198.18.0.0/15.)"""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def host_problems(lab_name: str, lab_hosts: dict) -> dict[str | None, str]:
    """{host name, or None for the whole lab: what is broken} of an up lab's
    recorded hosts; empty when every host is healthy."""
    if not lab_hosts:
        return {}
    if not Path(f"/sys/class/net/djl-{lab_name}").exists():
        return {None: f"bridge djl-{lab_name} is gone"}
    problems = {}
    for name, h in sorted(lab_hosts.items()):
        # `ip netns del` only drops the name: sshd keeps the namespace alive and
        # still answers, but the scripts can no longer reach what runs inside.
        if not Path(f"/run/netns/djlab-{lab_name}-{name}").exists():
            problems[name] = f"namespace djlab-{lab_name}-{name} is gone"
        elif not _answers_ssh(h["address"]):
            problems[name] = f"nothing answers on {h['address']}:22"
    return problems


def _drift_replacements(lab_name: str, lab_hosts: dict, log: Log) -> list[str]:
    """Terraform only knows what it recorded; if a namespace, link or sshd was
    removed by hand, plain `apply` would report "no changes" on a broken lab.
    Probe the recorded hosts and ask Terraform to rebuild what is broken."""
    problems = host_problems(lab_name, lab_hosts)
    if None in problems:
        log(f"lab {lab_name}: {problems[None]} (removed outside Terraform): rebuilding the lab")
        return ["terraform_data.lab"]  # hosts and known_hosts follow (they depend on its id)
    for name, problem in problems.items():
        log(f"lab {lab_name}: host {name}: {problem} (changed outside Terraform): recreating it")
    return [f'terraform_data.host["{name}"]' for name in problems]


def recorded_hosts(lab_name: str, repo_root: Path = REPO_ROOT) -> dict:
    """The hosts the lab's Terraform state recorded ({} when it is not up)."""
    _, outputs = terraform.state_resources(_state_file(lab_name, repo_root))
    return (outputs.get("lab_hosts") or {}).get("value") or {}


# --- up / down / leftovers ---------------------------------------------------------

def lab_up(lab_name: str = "local", subnet: str = DEFAULT_SUBNET,
           hosts: dict | None = None, repo_root: Path = REPO_ROOT, log: Log = print) -> Path:
    """Build (or confirm) the lab and write its inventory; returns the inventory path.

    On an up lab this is a fast no-op: Terraform sees no changes. Hosts broken
    behind Terraform's back (namespace, link or sshd gone) are recreated with
    `apply -replace`, and the log says so."""
    _check_name(lab_name)
    preflight()
    started = time.monotonic()
    sdir = state_dir(lab_name, repo_root)
    sdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    hosts = hosts or default_hosts()
    tf = _terraform(lab_name, repo_root, {
        "lab_name": lab_name, "subnet": subnet, "state_dir": str(sdir), "hosts": hosts})

    # The module needs no provider, so init downloads nothing (works offline).
    terraform.check("init", tf.cmd("init", input=False, no_color=IsFlagged))
    recorded = terraform.outputs(tf).get("lab_hosts", {}).get("value") or {}
    replace = _drift_replacements(lab_name, recorded, log)

    log(f"lab {lab_name}: terraform apply ({len(hosts)} hosts, subnet {subnet})")
    out = terraform.check("apply", tf.apply(skip_plan=True, replace=replace or None))
    if "No changes." in out:
        log(f"lab {lab_name}: already up, no changes")
    else:
        summary = [ln for ln in out.splitlines() if ln.startswith("Apply complete!")]
        log(f"lab {lab_name}: {summary[-1] if summary else 'applied'}")

    path = inventory_path(lab_name, repo_root)
    write_inventory(path, render_inventory(lab_name, terraform.outputs(tf), sdir, MODULE,
                                           TARGET_VARS, VAR_COMMENTS))
    log(f"lab {lab_name}: up in {time.monotonic() - started:.1f} s, inventory {path}")
    return path


def lab_down(lab_name: str = "local", repo_root: Path = REPO_ROOT, log: Log = print) -> None:
    """Destroy the lab, remove its inventory, then verify nothing of it remains."""
    _check_name(lab_name)
    preflight()
    started = time.monotonic()
    resources, outputs = terraform.state_resources(_state_file(lab_name, repo_root))
    if not resources:
        log(f"lab {lab_name}: not up (no Terraform state with resources), nothing to destroy")
    else:
        # Destroy plans against the configuration too: give it the values the lab
        # was built with (recorded as outputs), so validation and for_each agree.
        lab_hosts = (outputs.get("lab_hosts") or {}).get("value") or {}
        variables = {"lab_name": lab_name, "state_dir": str(state_dir(lab_name, repo_root))}
        if lab_hosts:
            variables["hosts"] = {n: {"role": h["role"], "cpus": h["cpus"], "pair": h.get("pair", "")}
                                  for n, h in lab_hosts.items()}
        if (outputs.get("subnet") or {}).get("value"):
            variables["subnet"] = outputs["subnet"]["value"]
        tf = _terraform(lab_name, repo_root, variables)
        log(f"lab {lab_name}: terraform destroy")
        try:
            # python-terraform 0.10.1 passes -force by default; Terraform >= 0.15 rejects it.
            terraform.check("destroy", tf.destroy(force=None, auto_approve=True))
        except LabError as exc:
            # A half-built lab can fail its own destroy: everything of a local
            # lab is found by name, so remove it all and forget the state.
            log(f"lab {lab_name}: {exc}; removing the lab by its names instead")
            sweep(lab_name, repo_root)
            if not leftovers(lab_name, repo_root):
                _state_file(lab_name, repo_root).unlink(missing_ok=True)
    shutil.rmtree(inventory_path(lab_name, repo_root).parent, ignore_errors=True)

    left = leftovers(lab_name, repo_root)
    if left:
        # An interrupted `lab up` leaves things Terraform never recorded: find
        # them by the lab's own names and remove them.
        log(f"lab {lab_name}: {len(left)} thing(s) Terraform did not record (an interrupted "
            f"`lab up`?): removing them: " + "; ".join(left))
        sweep(lab_name, repo_root)
        left = leftovers(lab_name, repo_root)
    if left:
        raise LabError(f"lab {lab_name}: teardown left {len(left)} thing(s) behind: " + "; ".join(left))
    log(f"lab {lab_name}: down in {time.monotonic() - started:.1f} s")


def sweep(lab_name: str, repo_root: Path = REPO_ROOT) -> None:
    """Remove what `leftovers` finds, by the lab's naming alone: every process
    in its namespaces or run from its host folders, then the namespaces, the
    links and the cpuset cgroups. Never touches another lab's (the names
    carry the lab's name)."""
    _check_name(lab_name)
    namespaces = [ln.split()[0] for ln in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
        if ln.split() and ln.split()[0].startswith(f"djlab-{lab_name}-")]
    pids = set()
    for ns in namespaces:
        pids |= set(subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                   text=True).stdout.split())
    pids |= {item.split()[1] for item in leftovers(lab_name, repo_root) if item.startswith("process ")}
    for pid in pids:
        if pid.isdigit() and int(pid) != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    time.sleep(0.2)
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for item in leftovers(lab_name, repo_root):
        if item.startswith("link "):
            subprocess.run(["ip", "link", "del", item.split()[1]], capture_output=True)
    cgroup = CPUSET_ROOT / f"djlab-{lab_name}"
    for group in sorted(cgroup.glob("*/"), reverse=True) + [cgroup]:
        with contextlib.suppress(OSError):
            group.rmdir()
    for folder in _lab_folders(lab_name, repo_root):
        shutil.rmtree(folder, ignore_errors=True)


def leftovers(lab_name: str, repo_root: Path = REPO_ROOT) -> list[str]:
    """Everything of this lab still present on the machine, human-readable:
    namespaces, links, processes run from the lab's host folders (sshd first of
    all), cpuset cgroups. Empty after a clean `lab_down`."""
    _check_name(lab_name)
    found = []

    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in netns.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(f"djlab-{lab_name}-"):
            found.append(f"network namespace {name}")

    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        parts = line.split(":", 2)
        name = parts[1].strip().split("@")[0] if len(parts) > 2 else ""
        if name == f"djl-{lab_name}" or name.startswith(f"djl-{lab_name}-"):
            found.append(f"link {name}")

    # sshd runs as `sshd -f <state>/hosts/<host>/sshd_config`; servers and load
    # generators run out of <state>/hosts/<host>/root. Zombies have no cmdline.
    needle = f"{state_dir(lab_name, repo_root)}/hosts/".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            text = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
            found.append(f"process {proc.name} ({text[:120]})")

    cgroup = CPUSET_ROOT / f"djlab-{lab_name}"
    if cgroup.is_dir():
        found += [f"cgroup {p}" for p in sorted(cgroup.glob("*/")) if p.is_dir()]
        found.append(f"cgroup {cgroup}")
    # Made by lab_up.sh and host_up.sh, removed by their destroy scripts; a
    # `lab up` killed before Terraform saved its state leaves them unrecorded.
    found += [f"folder {p}" for p in _lab_folders(lab_name, repo_root) if p.exists()]
    return found


def _lab_folders(lab_name: str, repo_root: Path) -> list[Path]:
    """The lab's key folder and its hosts' folders (sshd configs, host keys, lab roots)."""
    base = state_dir(lab_name, repo_root)
    return [base / "ssh", base / "hosts"]


class LocalTarget(Target):
    """Network namespaces on this machine (infra/local)."""

    name = MODULE

    def preflight(self) -> None:
        preflight()

    def up(self, lab_name: str, settings: dict, log: Log) -> Path:
        return lab_up(lab_name, subnet=settings.get("subnet", DEFAULT_SUBNET),
                      hosts=settings.get("hosts"), log=log)

    def down(self, lab_name: str, log: Log) -> None:
        lab_down(lab_name, log=log)

    def health(self, lab_name: str) -> list[str]:
        return [f"{name or 'lab'}: {problem}" for name, problem in
                host_problems(lab_name, recorded_hosts(lab_name)).items()]

    def leftovers(self, lab_name: str) -> list[str]:
        return leftovers(lab_name)

    def state_dir(self, lab_name: str) -> Path:
        return state_dir(lab_name)
