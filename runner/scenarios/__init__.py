"""The workloads the lab runs, by scenario name (the `scenarios:` section of a
matrix file). Each scenario is one folder here (its settings, variants,
measurement, parser, host files, client packages, the Debian packages and
services it needs), found by folder: a package here whose module defines a
`Scenario` subclass with a name. base.py has the interface. To add one: make
its folder and its analysis module (analysis/scenarios/). docs/design.md has
the details."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from runner.scenarios.base import AptPackage, Scenario

__all__ = ["SCENARIOS", "AptPackage", "Scenario", "apt_packages", "playbook_vars"]
HERE = Path(__file__).resolve().parent


def _discover() -> dict[str, Scenario]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        if not module.ispkg:
            continue
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        found += [obj() for obj in vars(loaded).values()
                  if isinstance(obj, type) and issubclass(obj, Scenario) and obj.name
                  and obj.__module__ == loaded.__name__]
    found.sort(key=lambda s: (s.order, s.name))
    return {s.name: s for s in found}


SCENARIOS: dict[str, Scenario] = _discover()


def host_file(scenario: Scenario, name: str) -> Path:
    """Where a scenario's file for the hosts is: <its folder>/host/<name>."""
    return HERE / type(scenario).__module__.split(".")[2] / "host" / name


def apt_packages(role: str | None = None) -> list[str]:
    """The Debian packages every registered scenario uses, sorted: on the
    hosts of `role` and installed there by the playbooks, or (None) all of
    them, for the controller (`make setup`)."""
    return sorted({p.package for s in SCENARIOS.values() for p in s.apt_packages
                   if role is None or (p.role == role and p.playbook_installs)})


def tool_versions() -> dict[str, list[str]]:
    """{executable: the argv that prints its version} of every scenario's
    Debian tool the manifest records (session/host/loadgens.py --tools)."""
    return {p.executable: list(p.version) for s in SCENARIOS.values()
            for p in s.apt_packages if p.version and p.executable}


def host_roles(used=None) -> list[str]:
    """The other host roles the scenarios `used` (names; None: all) use."""
    chosen = SCENARIOS.values() if used is None else [SCENARIOS[n] for n in used]
    return sorted({role for s in chosen for role in s.host_roles})


def playbook_vars(used=None) -> dict:
    """What the playbooks install for every registered scenario: its host
    files (copied into each host's tools folder), its client packages (exact
    pins, in the client hosts' tools venv), its Debian packages on the client
    and server hosts, and how to read its tools' versions; and the services
    that the scenarios `used` (names; None: all) need."""
    files = [{"src": str(host_file(s, name)), "name": name}
             for s in SCENARIOS.values() for name in s.host_files]
    packages = [p for s in SCENARIOS.values() for p in s.client_packages]
    chosen = SCENARIOS.values() if used is None else [SCENARIOS[n] for n in used]
    services = sorted({service for s in chosen for service in s.services})
    return {"lab_scenario_files": files, "lab_client_tools_packages": packages,
            "lab_services": services,
            "lab_client_apt_packages": apt_packages("client"),
            "lab_server_apt_packages": apt_packages("server"),
            "lab_tool_versions": tool_versions()}
