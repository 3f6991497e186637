"""The workloads the lab runs, by scenario name (the `scenarios:` section of a
matrix file). Each scenario is one folder here (its settings, variants,
measurement, parser, host files and client packages); base.py has the
interface. To add one: make its folder, add its line below, and its
analysis module (analysis/scenarios/). docs/design.md has the details."""
from __future__ import annotations

from runner.scenarios.base import Scenario
from runner.scenarios.concurrency import Concurrency
from runner.scenarios.fixed_rate import FixedRate
from runner.scenarios.io_mix import IoMix
from runner.scenarios.memory import Memory
from runner.scenarios.single_client import SingleClient
from runner.scenarios.user_ramp import UserRamp

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    SingleClient(), Concurrency(), Memory(), IoMix(), UserRamp(), FixedRate(),
)}

__all__ = ["SCENARIOS", "Scenario"]
