import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The CLI and Ansible live in the venv that runs the tests.
os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"


def lab_capable() -> str | None:
    """Why this machine cannot run the local lab, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("terraform", "sshd", "wrk", "ip"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} not found"
    return None


@pytest.fixture
def write_matrix(tmp_path):
    def write(text: str, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


@pytest.fixture(scope="session")
def lab_up():
    """The end-to-end lab, brought up once for every e2e test module and
    torn down at the end, with a check that nothing of it is left."""
    import subprocess
    import time

    from runner.lab.targets import local as infra
    from tests.lab_helpers import LAB, SUBNET, lab, lab_processes
    start = time.monotonic()
    lab("up", "--lab", LAB, "--subnet", SUBNET)
    up_seconds = time.monotonic() - start
    try:
        yield up_seconds
    finally:
        lab("down", "--lab", LAB, check=False)
        left = infra.leftovers(LAB)
        assert left == [], f"lab-down left: {left}"
        assert lab_processes() == []
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"djlab-{LAB}-" not in netns
