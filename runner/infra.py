"""Provision stage: bring the local lab up and down with Terraform.

Terraform (infra/local) builds the hosts; its one output `lab_hosts` is turned
into inventory/<lab>/hosts.yml, which Ansible and the runner both read. Each lab
keeps its Terraform state in its own state folder, .lab/<lab>/terraform.tfstate
(`-state=`), so labs never share state and nothing generated lands in git.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import yaml
from python_terraform import IsFlagged, Terraform

from runner import REPO_ROOT
from runner.errors import LabError

MODULE = "local"  # infra/<MODULE>: the Terraform root module this file drives
LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")  # same rule as variables.tf
CPUSET_ROOT = Path("/sys/fs/cgroup/cpuset")
MIN_TERRAFORM = (1, 5)

# Inventory vars that depend on the lab module, not on a host. The local lab's
# hosts share this machine's file system, so they use its preinstalled CPython
# builds (/root/.pyenv/versions); real machines would say e.g. "uv". Ansible's
# interpreter discovery would pick a pyenv shim that fails, so pin the system one.
MODULE_VARS = {"local": {"lab_python_provider": "preinstalled",
                         "ansible_python_interpreter": "/usr/bin/python3"}}
VAR_COMMENTS = {
    "ansible_python_interpreter": "root's shell puts pyenv shims first on PATH: pin Ansible's own Python",
    "lab_python_provider": "the local lab uses the builds under /root/.pyenv/versions",
    "lab_offline_wheelhouse": "lab hosts have no egress: the controller prefetches wheels here (shared fs)",
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


def inventory_path(lab_name: str, repo_root: Path = REPO_ROOT) -> Path:
    return Path(repo_root).resolve() / "inventory" / lab_name / "hosts.yml"


def _state_file(lab_name: str, repo_root: Path) -> Path:
    return state_dir(lab_name, repo_root) / "terraform.tfstate"


# --- preflight and defaults ------------------------------------------------------

def preflight() -> None:
    """Fail early, in one line, on what the local lab cannot do without."""
    if os.geteuid() != 0:
        raise LabError("must run as root (the local lab creates network namespaces)")
    if shutil.which("terraform") is None:
        raise LabError("terraform not found on PATH (need Terraform >= 1.5)")
    proc = subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True)
    try:
        version = json.loads(proc.stdout)["terraform_version"]
        found = tuple(int(p) for p in version.split(".")[:2])
    except (ValueError, KeyError):
        raise LabError("cannot read `terraform version -json` (need Terraform >= 1.5)") from None
    if found < MIN_TERRAFORM:
        raise LabError(f"Terraform {version} is too old (need Terraform >= 1.5)")


def default_hosts(cpu_count: int | None = None) -> dict[str, dict[str, str]]:
    """Server pinned to the last core, client (load generator) to core 0: on a
    2-core box they never share a core. On 1 core both must share core 0."""
    cpus = cpu_count or os.cpu_count() or 1
    return {
        "server": {"role": "server", "cpus": str(cpus - 1)},
        "client": {"role": "client", "cpus": "0"},
    }


# --- Terraform plumbing ----------------------------------------------------------

def _terraform(lab_name: str, repo_root: Path, variables: dict) -> Terraform:
    # python-terraform adds state= and var= to apply/destroy; `variables` holds a
    # nested map (hosts), which it writes to a temporary .tfvars.json for us.
    return Terraform(working_dir=str(Path(repo_root).resolve() / "infra" / MODULE),
                     state=str(_state_file(lab_name, repo_root)), variables=variables)


def _tail(stderr: str, stdout: str = "") -> str:
    """Terraform's error as one line: from its first "Error:" on, boxes stripped."""
    lines = [ln.strip(" │╷╵\t") for ln in (stderr or stdout or "").splitlines()]
    # Drop source excerpts ("59:   provisioner ...") and their underline boxes.
    lines = [ln for ln in lines if ln and not re.match(r"^(\d+:|├|\^)", ln)]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Error:")), max(len(lines) - 8, 0))
    text = " ".join(lines[start:]) or "(no output)"
    return text if len(text) <= 600 else text[:200] + " ... " + text[-380:]


def _check(step: str, result: tuple[int, str, str]) -> str:
    code, out, err = result
    if code != 0:
        raise LabError(f"terraform {step} failed (exit {code}): {_tail(err, out)}")
    return out


def _outputs(tf: Terraform) -> dict:
    """`terraform output -json` of the lab's state ({} when nothing was applied)."""
    out = _check("output", tf.cmd("output", json=IsFlagged, no_color=IsFlagged, state=tf.state))
    return json.loads(out or "{}")


def _state_resources(lab_name: str, repo_root: Path) -> tuple[list, dict]:
    """Resources and outputs recorded in the lab's state file (none if absent)."""
    path = _state_file(lab_name, repo_root)
    if not path.is_file():
        return [], {}
    data = json.loads(path.read_text() or "{}")
    return data.get("resources") or [], data.get("outputs") or {}


# --- drift: things removed behind Terraform's back ---------------------------------

def _answers_ssh(address: str, timeout: float = 2.0) -> bool:
    """Does an sshd greet us on address:22? (Lab addresses only, 198.18.0.0/15.)"""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _drift_replacements(lab_name: str, lab_hosts: dict, log: Log) -> list[str]:
    """Terraform only knows what it recorded; if a namespace, link or sshd was
    removed by hand, plain `apply` would report "no changes" on a broken lab.
    Probe the recorded hosts and ask Terraform to rebuild what is broken."""
    if not lab_hosts:
        return []
    if not Path(f"/sys/class/net/djl-{lab_name}").exists():
        log(f"lab {lab_name}: bridge djl-{lab_name} is gone (removed outside Terraform): rebuilding the lab")
        return ["terraform_data.lab"]  # hosts and known_hosts follow (they depend on its id)
    replace = []
    for name, h in sorted(lab_hosts.items()):
        # `ip netns del` only drops the name: sshd keeps the namespace alive and
        # still answers, but the scripts can no longer reach what runs inside.
        if not Path(f"/run/netns/djlab-{lab_name}-{name}").exists():
            problem = f"namespace djlab-{lab_name}-{name} is gone"
        elif not _answers_ssh(h["address"]):
            problem = f"nothing answers on {h['address']}:22"
        else:
            continue
        log(f"lab {lab_name}: host {name}: {problem} (changed outside Terraform): recreating it")
        replace.append(f'terraform_data.host["{name}"]')
    return replace


# --- inventory ---------------------------------------------------------------------

def _scalar(value) -> str:
    """A YAML scalar: plain when it reads back as the same string, else quoted."""
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9_./@+-][A-Za-z0-9_./@+=-]*", text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def _ssh_vars(host: dict) -> dict[str, str]:
    """How Ansible (and the runner) reach a host: the lab key, the lab's known_hosts,
    strict host key checking, never the user's ~/.ssh keys or agent."""
    return {
        "ansible_user": host["ssh_user"],
        "ansible_ssh_private_key_file": host["ssh_private_key"],
        "ansible_ssh_common_args": (f"-o UserKnownHostsFile={host['ssh_known_hosts']}"
                                    " -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"),
        "lab_known_hosts": host["ssh_known_hosts"],
    }


def render_inventory(lab_name: str, tf_outputs: dict, lab_state_dir: Path | str,
                     module: str = MODULE) -> str:
    """hosts.yml text from `terraform output -json` (the full dict of outputs).

    Groups are named after roles. Connection settings shared by every host go to
    all.vars, the rest stay on the host (a real rack may use per-host keys)."""
    try:
        lab_hosts = tf_outputs["lab_hosts"]["value"]
    except (KeyError, TypeError):
        raise LabError("terraform output has no lab_hosts: is the lab up?") from None
    if not lab_hosts:
        raise LabError("terraform output lab_hosts is empty")

    per_host = {name: _ssh_vars(h) for name, h in lab_hosts.items()}
    shared = {k: v for k, v in next(iter(per_host.values())).items()
              if all(hv[k] == v for hv in per_host.values())}
    lab_state_dir = str(lab_state_dir)
    common = {
        "lab_name": lab_name,
        "lab_module": module,
        **shared,
        "lab_state_dir": lab_state_dir,
        **MODULE_VARS.get(module, {}),
        "lab_offline_wheelhouse": f"{lab_state_dir}/wheelhouse",
    }

    lines = [f"# Generated by runner/infra.py from `terraform output -json` (infra/{module}).",
             "# Do not edit: `lab up` rewrites it, `lab down` removes it.",
             "all:", "  vars:"]
    for key, value in common.items():
        comment = f"  # {VAR_COMMENTS[key]}" if key in VAR_COMMENTS else ""
        lines.append(f"    {key}: {_scalar(value)}{comment}")
    lines.append("  children:")
    for role in sorted({h["role"] for h in lab_hosts.values()}):
        lines += [f"    {role}:", "      hosts:"]
        members = sorted((h for h in lab_hosts.values() if h["role"] == role), key=lambda h: h["name"])
        for h in members:
            hv = {"ansible_host": h["address"], "lab_role": h["role"], "lab_cpus": h["cpus"],
                  "lab_root": h["lab_root"]}
            hv.update({k: v for k, v in per_host[h["name"]].items() if k not in shared})
            body = ", ".join(f"{k}: {_scalar(v)}" for k, v in hv.items())
            lines.append(f"        {h['name']}: {{{body}}}")
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    """Readers (Ansible, the runner) never see a half-written inventory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hosts.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the inventory holds paths, no secrets
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- up / down / leftovers ---------------------------------------------------------

def lab_up(lab_name: str = "local", subnet: str = "198.18.0.0/24",
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
    _check("init", tf.cmd("init", input=False, no_color=IsFlagged))
    replace = _drift_replacements(lab_name, _outputs(tf).get("lab_hosts", {}).get("value") or {}, log)

    log(f"lab {lab_name}: terraform apply ({len(hosts)} hosts, subnet {subnet})")
    out = _check("apply", tf.apply(skip_plan=True, replace=replace or None))
    if "No changes." in out:
        log(f"lab {lab_name}: already up, no changes")
    else:
        summary = [ln for ln in out.splitlines() if ln.startswith("Apply complete!")]
        log(f"lab {lab_name}: {summary[-1] if summary else 'applied'}")

    path = inventory_path(lab_name, repo_root)
    text = render_inventory(lab_name, _outputs(tf), sdir)
    if not path.is_file() or path.read_text() != text:  # unchanged lab: leave the file alone
        _write_atomically(path, text)
    log(f"lab {lab_name}: up in {time.monotonic() - started:.1f} s, inventory {path}")
    return path


def lab_down(lab_name: str = "local", repo_root: Path = REPO_ROOT, log: Log = print) -> None:
    """Destroy the lab, remove its inventory, then verify nothing of it remains."""
    _check_name(lab_name)
    preflight()
    started = time.monotonic()
    resources, outputs = _state_resources(lab_name, repo_root)
    if not resources:
        log(f"lab {lab_name}: not up (no Terraform state with resources), nothing to destroy")
    else:
        # Destroy plans against the configuration too: give it the values the lab
        # was built with (recorded as outputs), so validation and for_each agree.
        lab_hosts = (outputs.get("lab_hosts") or {}).get("value") or {}
        variables = {"lab_name": lab_name, "state_dir": str(state_dir(lab_name, repo_root))}
        if lab_hosts:
            variables["hosts"] = {n: {"role": h["role"], "cpus": h["cpus"]} for n, h in lab_hosts.items()}
        if (outputs.get("subnet") or {}).get("value"):
            variables["subnet"] = outputs["subnet"]["value"]
        tf = _terraform(lab_name, repo_root, variables)
        log(f"lab {lab_name}: terraform destroy")
        # python-terraform 0.10.1 passes -force by default; Terraform >= 0.15 rejects it.
        _check("destroy", tf.destroy(force=None, auto_approve=True))
    shutil.rmtree(inventory_path(lab_name, repo_root).parent, ignore_errors=True)

    left = leftovers(lab_name, repo_root)
    if left:
        raise LabError(f"lab {lab_name}: teardown left {len(left)} thing(s) behind: " + "; ".join(left))
    log(f"lab {lab_name}: down in {time.monotonic() - started:.1f} s")


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
    return found
