"""The workloads the lab runs, by scenario name (the `scenarios:` section of a
matrix file). Each scenario is one folder here (its settings, variants,
measurement, parser, host files and client packages); base.py has the
interface. To add one: make its folder, add its line below, and its
analysis module (analysis/scenarios/). docs/design.md has the details."""
from __future__ import annotations

from pathlib import Path

from runner.scenarios.base import Scenario
from runner.scenarios.concurrency import Concurrency
from runner.scenarios.fixed_rate import FixedRate
from runner.scenarios.hey import Hey
from runner.scenarios.instructions import Instructions
from runner.scenarios.io_mix import IoMix
from runner.scenarios.memory import Memory
from runner.scenarios.single_client import SingleClient
from runner.scenarios.user_ramp import UserRamp

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    SingleClient(), Concurrency(), Memory(), IoMix(), UserRamp(), FixedRate(), Hey(),
    Instructions(),
)}

__all__ = ["SCENARIOS", "Scenario", "playbook_vars"]
HERE = Path(__file__).resolve().parent


def host_file(scenario: Scenario, name: str) -> Path:
    """Where a scenario's file for the hosts is: <its folder>/host/<name>."""
    return HERE / type(scenario).__module__.split(".")[2] / "host" / name


def playbook_vars(used=None) -> dict:
    """What the playbooks install for every registered scenario: its host
    files (copied into each host's tools folder) and its client packages
    (exact pins, in the client hosts' tools venv); and the services that the
    scenarios `used` (names; None: all) need."""
    files = [{"src": str(host_file(s, name)), "name": name}
             for s in SCENARIOS.values() for name in s.host_files]
    packages = [p for s in SCENARIOS.values() for p in s.client_packages]
    chosen = SCENARIOS.values() if used is None else [SCENARIOS[n] for n in used]
    services = sorted({service for s in chosen for service in s.services})
    return {"lab_scenario_files": files, "lab_client_tools_packages": packages,
            "lab_services": services}
