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
