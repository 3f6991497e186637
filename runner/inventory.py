"""Read the generated inventory (inventory/<lab>/hosts.yml).

The inventory is written from `terraform output -json` and is the one list of
hosts: Ansible reads it as an inventory, the runner reads it here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from runner import REPO_ROOT
from runner.errors import LabError


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


@dataclass(frozen=True)
class Lab:
    name: str
    path: Path
    vars: dict
    hosts: dict[str, Host]

    def by_role(self, role: str) -> Host:
        found = [h for h in self.hosts.values() if h.role == role]
        if len(found) != 1:
            raise LabError(f"{self.path}: expected exactly one host with role {role!r}, found {len(found)}")
        return found[0]


def inventory_file(lab_name: str, repo_root: Path = REPO_ROOT) -> Path:
    return repo_root / "inventory" / lab_name / "hosts.yml"


def load_lab(lab_name: str = "local", repo_root: Path = REPO_ROOT) -> Lab:
    path = inventory_file(lab_name, repo_root)
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
                    lab_root=merged["lab_root"])
            except KeyError as exc:
                raise LabError(f"{path}: host {name!r} lacks {exc.args[0]}") from None
    if not hosts:
        raise LabError(f"{path}: no hosts")
    return Lab(name=lab_name, path=path, vars=common, hosts=hosts)
