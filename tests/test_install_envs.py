"""The server host's environment installer (playbooks/roles/lab_server/files/
install_envs.py), run here for real with uv, offline, from a wheelhouse."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.network]

SCRIPT = REPO / "playbooks" / "roles" / "lab_server" / "files" / "install_envs.py"
PYTHON = "/root/.pyenv/versions/3.12.1/bin/python3"
UV = str(Path(sys.executable).parent / "uv")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """A wheelhouse with six, and a lock of it with hashes (real PyPI, once)."""
    root = tmp_path_factory.mktemp("wheels")
    lock = subprocess.run([UV, "pip", "compile", "-", "--generate-hashes", "--no-header",
                           "--python-version", "3.12", "--quiet"], input="six==1.16.0\n",
                          capture_output=True, text=True, check=True).stdout
    subprocess.run([PYTHON, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes",
                    "-d", str(root / "wh"), "-r", "/dev/stdin"], input=lock, text=True, check=True)
    return root / "wh", lock


def install(tmp_path, wheelhouse_dir, envs, pythons=None) -> dict:
    spec = {"uv": UV, "uv_cache": str(tmp_path / "uv-cache"), "envs_dir": str(tmp_path / "envs"),
            "find_links": str(wheelhouse_dir), "jobs": 2,
            "pythons": pythons or {"3.12": {"path": PYTHON, "version": "3.12.1"}, "3.99": None},
            "skip": {}, "envs": envs}
    out = subprocess.run([sys.executable, str(SCRIPT), "/dev/stdin"], input=json.dumps(spec),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["envs"]


def env(env_id, lock, python="3.12"):
    return {"env_id": env_id, "python": python, "lock_text": lock,
            "lock_sha256": hashlib.sha256(lock.encode()).hexdigest()}


def test_builds_exact_envs_and_leaves_no_half_built_one(tmp_path, wheelhouse):
    wh, lock = wheelhouse
    # idna is not in the wheelhouse: offline, that install fails half-way.
    bad_lock = lock + "idna==3.10 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    report = install(tmp_path, wh, [env("good", lock), env("bad", bad_lock), env("nopy", lock, "3.99")])
    assert report["good"]["status"] == "installed"
    assert report["good"]["python_exact"] == "3.12.1"
    assert report["good"]["freeze"] == ["six==1.16.0"]
    assert report["bad"]["status"] == "failed" and "idna" in report["bad"]["error"]
    assert not (tmp_path / "envs" / "bad" / "venv").exists()
    assert report["nopy"]["status"] == "no-python"
    marker = json.loads((tmp_path / "envs" / "good" / "venv" / ".lab-complete").read_text())
    assert marker["lock_sha256"] == hashlib.sha256(lock.encode()).hexdigest()


def test_an_exact_env_is_left_alone_and_a_changed_or_cut_short_one_rebuilt(tmp_path, wheelhouse):
    wh, lock = wheelhouse
    install(tmp_path, wh, [env("a", lock), env("b", lock)])
    (tmp_path / "envs" / "a" / "venv" / "keep").write_text("x")
    # b was cut short: its completion marker is missing.
    (tmp_path / "envs" / "b" / "venv" / ".lab-complete").unlink()
    report = install(tmp_path, wh, [env("a", lock), env("b", lock)])
    assert report["a"]["status"] == "unchanged"
    assert (tmp_path / "envs" / "a" / "venv" / "keep").exists()
    assert report["b"]["status"] == "installed"
    # The same env id with another lock (edited by hand) is rebuilt, not trusted.
    edited = lock.replace("six==1.16.0", "six==1.16.0 ")
    report = install(tmp_path, wh, [env("a", edited)])
    assert report["a"]["status"] == "installed"
    assert not (tmp_path / "envs" / "a" / "venv" / "keep").exists()


def if_complete(tmp_path, envs):
    (tmp_path / "envs.json").write_text(json.dumps(envs))
    return subprocess.run([sys.executable, str(SCRIPT), "--if-complete", str(tmp_path / "envs"),
                           str(tmp_path / "envs.json")], capture_output=True, text=True, timeout=120)


def test_the_fast_path_reports_complete_envs_and_builds_nothing_when_one_is_not(tmp_path, wheelhouse):
    wh, lock = wheelhouse
    # Before any full run there is no kept spec: not complete.
    assert if_complete(tmp_path, [env("a", lock)]).returncode == 3
    full = install(tmp_path, wh, [env("a", lock), env("b", lock), env("nopy", lock, "3.99")])
    out = if_complete(tmp_path, [env("a", lock), env("nopy", lock, "3.99")])
    assert out.returncode == 0, out.stderr
    fast = json.loads(out.stdout)["envs"]
    assert fast["a"]["status"] == "unchanged" and fast["a"]["freeze"] == full["a"]["freeze"]
    assert fast["nopy"]["status"] == "no-python"
    # A cut-short env, an env never built, and a changed lock all send the
    # runner back to the playbook, and the fast path builds none of them.
    (tmp_path / "envs" / "b" / "venv" / ".lab-complete").unlink()
    edited = lock.replace("six==1.16.0", "six==1.16.0 ")
    for envs in ([env("a", lock), env("b", lock)], [env("c", lock)], [env("a", edited)]):
        out = if_complete(tmp_path, envs)
        assert out.returncode == 3 and out.stdout == "", (envs, out)
    assert not (tmp_path / "envs" / "b" / "venv" / ".lab-complete").exists()
    assert not (tmp_path / "envs" / "c").exists()
