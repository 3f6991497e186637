"""The host contract: inventory/<lab>/hosts.yml, written here from a
target's host list (`terraform output -json`'s `lab_hosts`) and read back
as `Lab` and `Host`. It is the one list of hosts: Ansible reads it as an
inventory, the runner reads it here, whatever target built the hosts.
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from runner import REPO_ROOT
from runner.core.errors import LabError
from runner.core.files import write_atomic


# What every lab module's `lab_hosts` output gives for each host (infra/*/outputs.tf).
HOST_CONTRACT = ("name", "role", "address", "ssh_user", "ssh_private_key", "ssh_known_hosts",
                 "cpus", "lab_root")
# Optional: the address lab traffic uses (servers bind it, clients aim at it),
# when it is not the one the controller reaches over SSH (a cloud host's
# private address behind its public one). Default: address.
LAB_ADDRESS = "lab_address"
# Optional: which server/client pair a host belongs to, in a lab of several
# (the runner shards a matrix over them). Default "": the lab is one pair.
PAIR = "pair"


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    address: str
    user: str
    key: str
    known_hosts: str
    cpus: str
    lab_root: str
    lab_address: str = ""
    pair: str = ""

    @property
    def traffic_address(self) -> str:
        """Where lab traffic goes: servers bind it, load generators aim at it."""
        return self.lab_address or self.address


@dataclass(frozen=True)
class Pair:
    """A server and the client that loads it: the unit a matrix is sharded over."""
    name: str
    server: Host
    client: Host


@dataclass(frozen=True)
class Lab:
    name: str
    path: Path
    vars: dict
    hosts: dict[str, Host]
    left_out: tuple[str, ...] = ()     # hosts of the inventory this run does not use

    def without(self, names) -> "Lab":
        """The lab less some hosts (a pair that does not answer): Ansible is
        limited to the rest, the runner never reaches for them."""
        names = set(names)
        return dataclasses.replace(self, hosts={n: h for n, h in self.hosts.items() if n not in names},
                                   left_out=tuple(sorted({*self.left_out, *names})))

    def by_role(self, role: str) -> Host:
        found = [h for h in self.hosts.values() if h.role == role]
        if len(found) != 1:
            raise LabError(f"{self.path}: expected exactly one host with role {role!r}, found {len(found)}")
        return found[0]

    def first(self, role: str) -> Host:
        """The first host of a role by name: where the lab's own checks run when
        several pairs each have one (every server gets the same environments)."""
        found = sorted((h for h in self.hosts.values() if h.role == role), key=lambda h: h.name)
        if not found:
            raise LabError(f"{self.path}: no host with role {role!r}")
        return found[0]

    def pairs(self) -> list[Pair]:
        """Server/client pairs by name; a lab that names none is one pair, ""."""
        out = []
        for name in sorted({h.pair for h in self.hosts.values() if h.role in ("server", "client")}):
            members = [h for h in self.hosts.values() if h.pair == name]
            servers = [h for h in members if h.role == "server"]
            clients = [h for h in members if h.role == "client"]
            if len(servers) != 1 or len(clients) != 1:
                raise LabError(f"{self.path}: pair {name or '(unnamed)'!r} has {len(servers)} server(s) "
                               f"and {len(clients)} client(s); a pair needs one of each")
            out.append(Pair(name, servers[0], clients[0]))
        return out


def inventory_path(lab_name: str, repo_root: Path = REPO_ROOT) -> Path:
    return Path(repo_root).resolve() / "inventory" / lab_name / "hosts.yml"


def write_inventory(path: Path, text: str) -> None:
    """Readers (Ansible, the runner) never see a half-written inventory; an
    unchanged lab leaves the file alone."""
    if not path.is_file() or path.read_text() != text:
        write_atomic(path, text)   # 0644: the inventory holds paths, no secrets


def load_lab(lab_name: str = "local", repo_root: Path = REPO_ROOT) -> Lab:
    path = inventory_path(lab_name, repo_root)
    if not path.is_file():
        raise LabError(f"lab {lab_name!r} is not up: {path} does not exist (run `make lab-up`)")
    data = yaml.safe_load(path.read_text()) or {}
    top = data.get("all", {})
    common = top.get("vars", {})
    hosts = {}
    for group in (top.get("children") or {}).values():
        for name, hv in ((group or {}).get("hosts") or {}).items():
            merged = {**common, **(hv or {})}
            try:
                hosts[name] = Host(
                    name=name, role=merged["lab_role"], address=merged["ansible_host"],
                    user=merged["ansible_user"], key=merged["ansible_ssh_private_key_file"],
                    known_hosts=merged["lab_known_hosts"], cpus=str(merged["lab_cpus"]),
                    lab_root=merged["lab_root"], lab_address=merged.get(LAB_ADDRESS, ""),
                    pair=str(merged.get("lab_pair", "")))
            except KeyError as exc:
                raise LabError(f"{path}: host {name!r} lacks {exc.args[0]}") from None
    if not hosts:
        raise LabError(f"{path}: no hosts")
    return Lab(name=lab_name, path=path, vars=common, hosts=hosts)


# Why a var is there, written beside it in the file.
VAR_COMMENTS = {
    "lab_offline_wheelhouse": "lab hosts have no egress: the controller prefetches wheels here (shared fs)",
}

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
                     module: str = "local", target_vars: dict | None = None,
                     comments: dict | None = None, host_vars: dict | None = None) -> str:
    """hosts.yml text from `terraform output -json` (the full dict of outputs).

    `target_vars` are the target's own settings for every host, `comments`
    why each is there. Groups are named after roles. Connection settings shared by every host go to
    all.vars, the rest stay on the host (a real rack may use per-host keys);
    `host_vars` adds a target's own vars to single hosts."""
    try:
        lab_hosts = tf_outputs["lab_hosts"]["value"]
    except (KeyError, TypeError):
        raise LabError("terraform output has no lab_hosts: is the lab up?") from None
    if not lab_hosts:
        raise LabError("terraform output lab_hosts is empty")
    for name, h in lab_hosts.items():
        missing = [k for k in HOST_CONTRACT if k not in (h or {})]
        if missing:
            raise LabError(f"terraform output lab_hosts.{name} lacks {', '.join(missing)}")

    per_host = {name: _ssh_vars(h) for name, h in lab_hosts.items()}
    shared = {k: v for k, v in next(iter(per_host.values())).items()
              if all(hv[k] == v for hv in per_host.values())}
    lab_state_dir = str(lab_state_dir)
    common = {
        "lab_name": lab_name,
        "lab_module": module,
        **shared,
        "lab_state_dir": lab_state_dir,
        **(target_vars or {}),
        "lab_offline_wheelhouse": f"{lab_state_dir}/wheelhouse",
    }

    lines = [f"# Generated by runner/lab/inventory.py from `terraform output -json` (infra/{module}).",
             "# Do not edit: `lab up` rewrites it, `lab down` removes it.",
             "all:", "  vars:"]
    for key, value in common.items():
        why = {**VAR_COMMENTS, **(comments or {})}.get(key)
        comment = f"  # {why}" if why else ""
        lines.append(f"    {key}: {_scalar(value)}{comment}")
    lines.append("  children:")
    for role in sorted({h["role"] for h in lab_hosts.values()}):
        lines += [f"    {role}:", "      hosts:"]
        members = sorted((h for h in lab_hosts.values() if h["role"] == role), key=lambda h: h["name"])
        for h in members:
            hv = {"ansible_host": h["address"], "lab_role": h["role"], "lab_cpus": h["cpus"],
                  "lab_root": h["lab_root"]}
            if h.get(LAB_ADDRESS) and h[LAB_ADDRESS] != h["address"]:
                hv[LAB_ADDRESS] = h[LAB_ADDRESS]
            if h.get(PAIR):
                hv["lab_pair"] = h[PAIR]
            hv.update({k: v for k, v in per_host[h["name"]].items() if k not in shared})
            hv.update((host_vars or {}).get(h["name"], {}))
            body = ", ".join(f"{k}: {_scalar(v)}" for k, v in hv.items())
            lines.append(f"        {h['name']}: {{{body}}}")
    return "\n".join(lines) + "\n"
