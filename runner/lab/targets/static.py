"""The `static` target: machines that already exist (a rack, hosts built by
hand, the local lab's own namespaces in the tests).

Its entry in infra/labs.yaml lists the hosts; Terraform (infra/static)
validates the list (types, unique addresses, a server and a client, CPU
sets, key files) and records it; then every host is checked over SSH before
the inventory is written, so nothing is installed on a lab that cannot work.
`lab down` deletes each host's lab_root (what the lab installed there) and
leaves the machines themselves alone.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from paramiko import BadHostKeyException
from python_terraform import IsFlagged

from runner import REPO_ROOT
from runner.core.cpus import cpu_list, parse_cpu_list
from runner.core.errors import LabError, one_line
from runner.lab import ssh
from runner.lab.inventory import Host, inventory_path, render_inventory, write_inventory
from runner.lab.targets import terraform
from runner.lab.targets.base import Log, Target
from runner.lab.targets.local import LAB_NAME_RE, state_dir

MODULE = "static"
MIN_TERRAFORM = (1, 9)       # validations that name other variables
SUPPORTED_OS = ("debian", "ubuntu")
PYTHON_PROVIDERS = ("uv", "preinstalled")
SSH_TIMEOUT = 5.0
VAR_COMMENTS = {
    "lab_wheelhouse_copy": "hosts do not share the controller's files: the playbook copies the wheelhouse over SSH",
    "lab_offline_wheelhouse": "the controller downloads every wheel here; hosts install from their copy",
}

# One read-only command: who we are, whether sudo asks for a password, the OS,
# the CPUs a login on the host may use, and the Python Ansible needs.
PROBE = ("echo uid=$(id -u); "
         "if sudo -n true 2>/dev/null; then echo sudo=yes; else echo sudo=no; fi; "
         ". /etc/os-release 2>/dev/null; echo os_id=$ID; echo \"os_name=$PRETTY_NAME\"; "
         "awk '/^Cpus_allowed_list/ {print \"cpus=\" $2}' /proc/self/status; "
         "echo python3=$(command -v /usr/bin/python3)")


# --- the lab's entry -----------------------------------------------------------------

def _path(value: str, field: str) -> str:
    """An absolute path from the entry: ~ expanded, relative to the repository."""
    if not isinstance(value, str) or not value:
        raise LabError(f"{field}: expected a file path")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (REPO_ROOT / path).resolve())


def host_variables(lab_name: str, settings: dict) -> dict:
    """The module's `hosts` variable from the lab's entry (paths made absolute)."""
    hosts = settings.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise LabError(f"lab {lab_name}: hosts: the static target needs a mapping of host names "
                       "to address, ssh_user, ssh_private_key, role, cpus")
    out = {}
    for name, h in hosts.items():
        if not isinstance(h, dict):
            raise LabError(f"lab {lab_name}: hosts.{name}: expected a mapping")
        for field in ("address", "ssh_private_key", "role", "cpus"):
            if h.get(field) in (None, ""):
                raise LabError(f"lab {lab_name}: hosts.{name}.{field}: missing")
        out[str(name)] = {"address": str(h["address"]), "ssh_user": str(h.get("ssh_user", "root")),
                          "ssh_private_key": _path(h["ssh_private_key"], f"hosts.{name}.ssh_private_key"),
                          "role": str(h["role"]), "cpus": str(h["cpus"]),
                          "lab_root": h.get("lab_root"), "lab_address": h.get("lab_address")}
    return out


def target_vars(lab_name: str, settings: dict) -> dict:
    """Inventory vars for every host: where Pythons come from."""
    python = settings.get("python") or {}
    provider = python.get("provider", "uv")
    if provider not in PYTHON_PROVIDERS:
        raise LabError(f"lab {lab_name}: python.provider: {provider!r} is not one of "
                       f"{', '.join(PYTHON_PROVIDERS)}")
    found = {"lab_python_provider": provider, "ansible_python_interpreter": "/usr/bin/python3",
             "lab_wheelhouse_copy": True}
    if provider == "preinstalled":
        if not python.get("root"):
            raise LabError(f"lab {lab_name}: python.root: the preinstalled provider needs the "
                           "folder holding one X.Y.Z build per subfolder")
        found["lab_python_preinstalled_root"] = str(python["root"])
    return found


# --- host keys and checks over SSH ------------------------------------------------------

def _known(known_hosts: Path, address: str) -> bool:
    return known_hosts.is_file() and subprocess.run(
        ["ssh-keygen", "-F", address, "-f", str(known_hosts)], capture_output=True).returncode == 0


def record_host_keys(known_hosts: Path, addresses: list[str], log: Log) -> None:
    """Trust on first use: add the keys of hosts not yet in the lab's known_hosts
    (a key that later changes then fails every connection)."""
    for address in addresses:
        if _known(known_hosts, address):
            continue
        scan = subprocess.run(["ssh-keyscan", "-T", str(int(SSH_TIMEOUT)), address],
                              capture_output=True, text=True, timeout=SSH_TIMEOUT * 4)
        keys = [ln for ln in scan.stdout.splitlines() if ln and not ln.startswith("#")]
        if keys:
            known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with known_hosts.open("a") as f:
                f.write("\n".join(keys) + "\n")
            log(f"{address}: host key recorded in {known_hosts} (first use)")


def probe(host: Host) -> dict[str, str]:
    """The PROBE's answers from one host (raises what connecting raised)."""
    with ssh.connect(host, timeout=SSH_TIMEOUT) as conn:
        out = ssh.run(conn, PROBE, timeout=30).stdout
    return dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)


def host_problem(host: Host) -> str | None:
    """Why the lab cannot use this host, or None."""
    try:
        facts = probe(host)
    except BadHostKeyException:
        return (f"its host key is not the one recorded in {host.known_hosts}; if the machine was "
                f"reinstalled, forget the old key with `ssh-keygen -R {host.address} -f {host.known_hosts}`")
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer
        return f"does not answer SSH as {host.user} at {host.address}: {one_line(exc, 160)}"
    if facts.get("uid") != "0" and facts.get("sudo") != "yes":
        return f"{host.user} is not root and has no passwordless sudo"
    if facts.get("os_id") not in SUPPORTED_OS:
        return (f"unsupported OS {facts.get('os_name') or facts.get('os_id') or 'unknown'!r} "
                f"(the lab supports {', '.join(SUPPORTED_OS)})")
    if not facts.get("python3"):
        return "has no /usr/bin/python3 (Ansible needs it)"
    have = set(parse_cpu_list(facts.get("cpus", "")))
    missing = sorted(set(parse_cpu_list(host.cpus)) - have)
    if missing:
        return f"cpus {cpu_list(missing)} not available (the host offers {cpu_list(have)})"
    return None


def check_hosts(hosts: dict[str, Host]) -> dict[str, str]:
    """{host name: problem} over every host, checked in parallel."""
    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        answers = dict(zip(hosts, pool.map(host_problem, hosts.values())))
    return {name: problem for name, problem in answers.items() if problem}


def hosts_of(contract: dict) -> dict[str, Host]:
    """Hosts from a module's `lab_hosts` output."""
    return {name: Host(name=name, role=h["role"], address=h["address"], user=h["ssh_user"],
                       key=h["ssh_private_key"], known_hosts=h["ssh_known_hosts"],
                       cpus=h["cpus"], lab_root=h["lab_root"], lab_address=h.get("lab_address") or "")
            for name, h in contract.items()}


def refuse(lab_name: str, problems: dict[str, str], hosts: dict[str, Host]) -> None:
    """Stop, naming every host with a problem and what it is."""
    if problems:
        raise LabError(f"lab {lab_name}: " + "; ".join(
            f"host {name} ({hosts[name].address}): {problem}" for name, problem in sorted(problems.items())))


# --- up / down ------------------------------------------------------------------------

def _state_file(lab_name: str) -> Path:
    return state_dir(lab_name) / terraform.STATE_FILE


def recorded_hosts(lab_name: str) -> dict[str, Host]:
    _, outputs = terraform.state_resources(_state_file(lab_name))
    return hosts_of((outputs.get("lab_hosts") or {}).get("value") or {})


def lab_up(lab_name: str, settings: dict, log: Log) -> Path:
    if not LAB_NAME_RE.match(lab_name or ""):
        raise LabError(f"bad lab name {lab_name!r}: use 1-8 characters, a-z then a-z/0-9")
    started = time.monotonic()
    sdir = state_dir(lab_name)
    sdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    given = settings.get("known_hosts")
    known_hosts = Path(_path(given, "known_hosts")) if given else sdir / "known_hosts"
    variables = {"lab_name": lab_name, "state_dir": str(sdir), "known_hosts": str(known_hosts),
                 "hosts": host_variables(lab_name, settings)}
    extra = target_vars(lab_name, settings)
    tf = terraform.terraform(MODULE, _state_file(lab_name), variables)
    terraform.check("init", tf.cmd("init", input=False, no_color=IsFlagged))
    # Plan first: Terraform's validations name the bad field before any host is touched.
    terraform.check("plan", tf.plan(no_color=IsFlagged, input=False, detailed_exitcode=None))

    # The hosts as the module will record them (lab_root: its default comes later).
    hosts = hosts_of({name: {**h, "ssh_known_hosts": str(known_hosts), "lab_root": h["lab_root"] or ""}
                      for name, h in variables["hosts"].items()})
    if not given:
        record_host_keys(known_hosts, sorted({h.address for h in hosts.values()}), log)
    log(f"lab {lab_name}: checking {len(hosts)} host(s) over SSH")
    refuse(lab_name, check_hosts(hosts), hosts)

    terraform.check("apply", tf.apply(skip_plan=True, no_color=IsFlagged))
    outputs = terraform.outputs(tf)
    become = {name: {"ansible_become": True}
              for name, h in outputs["lab_hosts"]["value"].items() if h["ssh_user"] != "root"}
    path = inventory_path(lab_name)
    write_inventory(path, render_inventory(lab_name, outputs, sdir, MODULE, extra, VAR_COMMENTS,
                                           host_vars=become))
    log(f"lab {lab_name}: {len(hosts)} host(s) checked in {time.monotonic() - started:.1f} s, "
        f"inventory {path}")
    return path


def _remove_lab_root(host: Host) -> str | None:
    """Delete what the lab installed on the host; None when gone, else why not."""
    root = host.lab_root.rstrip("/")
    if not root.startswith("/") or root.count("/") < 2:
        return f"refusing to delete lab_root {host.lab_root!r}"
    try:
        with ssh.connect(host, timeout=SSH_TIMEOUT) as conn:
            quoted = shlex.quote(root)
            ssh.run(conn, f"rm -rf -- {quoted}; test ! -e {quoted}", timeout=300)
    except Exception as exc:  # noqa: BLE001
        return f"{root} not deleted: {one_line(exc, 160)}"
    return None


def lab_down(lab_name: str, log: Log) -> None:
    """Delete every host's lab_root, then forget the lab. A host that cannot be
    reached keeps the lab recorded, so a later `lab down` can finish."""
    hosts = recorded_hosts(lab_name)
    problems = {}
    for name, host in sorted(hosts.items()):
        log(f"lab {lab_name}: host {name}: deleting {host.lab_root}")
        problem = _remove_lab_root(host)
        if problem:
            problems[name] = problem
    refuse(lab_name, problems, hosts)
    resources, outputs = terraform.state_resources(_state_file(lab_name))
    if resources:
        lab_hosts = (outputs.get("lab_hosts") or {}).get("value") or {}
        variables = {"lab_name": lab_name, "state_dir": str(state_dir(lab_name)),
                     "known_hosts": next(iter(lab_hosts.values()))["ssh_known_hosts"],
                     "hosts": {n: {k: h.get(k) for k in ("address", "ssh_user", "ssh_private_key",
                                                         "role", "cpus", "lab_root", "lab_address")}
                               for n, h in lab_hosts.items()}}
        tf = terraform.terraform(MODULE, _state_file(lab_name), variables)
        terraform.check("destroy", tf.destroy(force=None, auto_approve=True, no_color=IsFlagged))
    shutil.rmtree(inventory_path(lab_name).parent, ignore_errors=True)


class StaticTarget(Target):
    """Existing machines reached over SSH (infra/static)."""

    name = MODULE

    def preflight(self) -> None:
        terraform.require_terraform(MIN_TERRAFORM)
        if shutil.which("ssh-keyscan") is None:
            raise LabError("ssh-keyscan not found on PATH (the static target records host keys with it)")

    def up(self, lab_name: str, settings: dict, log: Log) -> Path:
        return lab_up(lab_name, settings, log)

    def down(self, lab_name: str, log: Log) -> None:
        lab_down(lab_name, log)

    def health(self, lab_name: str) -> list[str]:
        hosts = recorded_hosts(lab_name)
        return [f"{name}: {problem}" for name, problem in sorted(check_hosts(hosts).items())] if hosts else []

    def leftovers(self, lab_name: str) -> list[str]:
        found = [f"Terraform state {_state_file(lab_name)}"] if terraform.state_resources(
            _state_file(lab_name))[0] else []
        return found + ([f"inventory {inventory_path(lab_name)}"] if inventory_path(lab_name).exists() else [])

    def state_dir(self, lab_name: str) -> Path:
        return state_dir(lab_name)
