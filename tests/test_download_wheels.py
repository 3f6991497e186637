"""The controller's wheelhouse filler (playbooks/roles/lab_wheelhouse/files/
download_wheels.py), run for real with pip against the package index."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.network]

SCRIPT = REPO / "playbooks" / "roles" / "lab_wheelhouse" / "files" / "download_wheels.py"
PYTHON = "/root/.pyenv/versions/3.12.1/bin/python3"
UV = str(Path(sys.executable).parent / "uv")


def fill(wheelhouse: Path, envs) -> dict:
    spec = {"wheelhouse": str(wheelhouse), "jobs": 2, "build_packages": ["wheel"],
            "pythons": {"3.12": {"path": PYTHON, "version": "3.12.1"}, "3.99": None},
            "envs": envs}
    out = subprocess.run([sys.executable, str(SCRIPT), "/dev/stdin"], input=json.dumps(spec),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["envs"]


def test_downloads_each_lock_once_and_the_build_backend_once_per_python(tmp_path):
    lock = subprocess.run([UV, "pip", "compile", "-", "--generate-hashes", "--no-header",
                           "--python-version", "3.12", "--quiet"], input="six==1.16.0\n",
                          capture_output=True, text=True, check=True).stdout
    envs = [{"env_id": e, "python": "3.12", "lock_text": lock} for e in ("a", "b")]
    report = fill(tmp_path, envs + [{"env_id": "c", "python": "3.99", "lock_text": lock}])
    assert report["a"]["status"] == report["b"]["status"] == "downloaded"
    assert report["c"]["status"] == "skipped"
    assert any(tmp_path.glob("six-1.16.0-*.whl")) and any(tmp_path.glob("wheel-*.whl"))
    assert len(list(tmp_path.glob(".build-3.12.1-*"))) == 1
    assert fill(tmp_path, envs)["a"]["status"] == "present"
    # A lock whose hash does not match fails that environment only.
    bad = lock.replace("--hash=sha256:", "--hash=sha256:0")
    again = fill(tmp_path, envs + [{"env_id": "d", "python": "3.12", "lock_text": bad}])
    assert again["d"]["status"] == "failed" and again["a"]["status"] == "present"
