"""The interface every lab target implements: how a lab's hosts come to
exist and go away. A target writes the host contract (inventory/<lab>/
hosts.yml, runner/lab/inventory.py); everything after that (Ansible, the
runner) is the same whatever built the hosts."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, ClassVar

Log = Callable[[str], None]


class Target(ABC):
    name: ClassVar[str]

    @abstractmethod
    def preflight(self) -> None:
        """Raise LabError, in one line, for what this machine lacks."""

    @abstractmethod
    def up(self, lab_name: str, settings: dict, log: Log) -> Path:
        """Build (or confirm) the lab's hosts; write and return the inventory path."""

    @abstractmethod
    def down(self, lab_name: str, log: Log) -> None:
        """Remove the lab; raise LabError naming whatever is left behind."""

    @abstractmethod
    def health(self, lab_name: str) -> list[str]:
        """What is wrong with an up lab's hosts (empty: healthy)."""

    @abstractmethod
    def leftovers(self, lab_name: str) -> list[str]:
        """Everything of the lab still present (empty after a clean down)."""

    @abstractmethod
    def state_dir(self, lab_name: str) -> Path:
        """The lab's private folder on the controller (keys, state, logs)."""
