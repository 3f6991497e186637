"""Where things live on a lab host, below its lab_root (from the inventory).
The playbooks create these; the runner uses them. Keep both in step."""
from __future__ import annotations

from dataclasses import dataclass

from runner.lab.inventory import Host


@dataclass(frozen=True)
class HostPaths:
    root: str

    @classmethod
    def of(cls, host: Host) -> "HostPaths":
        return cls(host.lab_root.rstrip("/"))

    @property
    def app(self) -> str:
        return f"{self.root}/app"

    @property
    def user_app(self) -> str:
        """A user's own project (`lab run --app`), beside lab_app."""
        return f"{self.root}/userapp"

    @property
    def tools_python(self) -> str:
        return f"{self.root}/tools/venv/bin/python"

    def tool(self, name: str) -> str:
        return f"{self.root}/tools/{name}"

    @property
    def envs(self) -> str:
        return f"{self.root}/envs"

    def venv_bin(self, env_id: str) -> str:
        return f"{self.envs}/{env_id}/venv/bin"

    def rep_dir(self, run_id: str, cell_id: str, repetition: int) -> str:
        return f"{self.root}/runs/{run_id}/{cell_id}/rep{repetition}"
