"""The suite's tiers and the one rule that decides whether a test can run here.

Every test is in one tier, named by a marker (registered in pyproject.toml,
`--strict-markers`); a test with none is `unit`. A test that needs a tool
says so with `@pytest.mark.needs("wrk", ...)`. Where the machine lacks what
a test needs, the hook below skips it with the reason, except under
`make test` (DJLAB_TEST_STRICT=1), where a missing tool is a failure: the
full suite must have installed everything, so a skip there would hide a
missing install step.

- `make check`: `-m "not e2e"`, everything that needs no lab;
- `make test`: every tier, as CI runs it.
"""
import functools
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The CLI and Ansible live in the venv that runs the tests.
os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"

TIERS = ("unit", "integration", "network", "root", "e2e")
# What a tier needs beyond the tools its tests name.
TIER_TOOLS = {"e2e": ("terraform", "sshd", "wrk", "ip")}
TIER_ROOT = {"root", "e2e"}


@functools.cache
def _has_tool(tool: str) -> bool:
    return bool(shutil.which(tool)) or Path(f"/usr/sbin/{tool}").exists()


def missing_for(item: pytest.Item) -> list[str]:
    """What this machine lacks for the test, in words; empty if nothing."""
    tiers = {m.name for m in item.iter_markers() if m.name in TIERS}
    tools = [t for tier in tiers for t in TIER_TOOLS.get(tier, ())]
    tools += [t for m in item.iter_markers("needs") for t in m.args]
    missing = [f"{tool} not found" for tool in dict.fromkeys(tools) if not _has_tool(tool)]
    if tiers & TIER_ROOT and os.geteuid() != 0:
        missing.insert(0, "needs root")
    return missing


@pytest.hookimpl(tryfirst=True)  # before -m selects by tier
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.get_closest_marker(name) for name in TIERS):
            item.add_marker(pytest.mark.unit)


def pytest_runtest_setup(item):
    missing = missing_for(item)
    if not missing:
        return
    reason = "; ".join(missing)
    if os.environ.get("DJLAB_TEST_STRICT") == "1":
        pytest.fail(f"{reason} (make test installs every tool the suite needs)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def write_matrix(tmp_path):
    def write(text: str, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


@pytest.fixture
def run_copy(tmp_path: Path) -> Path:
    """A writable copy of the frozen run folder (tests/support/runs.py)."""
    from tests.support.runs import copy_frozen
    return copy_frozen(tmp_path)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """results/<run_id>/ as a finished run leaves it: the frozen run with raw
    output, logs, an empty locks folder and a report written after the
    manifest (so only ARCHIVE-SHA256SUMS covers it)."""
    import json

    from runner.execute.manifest import write_manifest
    from tests.support.runs import copy_frozen
    run = copy_frozen(tmp_path)
    (run / "raw").mkdir()
    (run / "raw" / "cell-1-rep-1.txt").write_text("Requests/sec: 1000.00\n")
    (run / "logs").mkdir()
    (run / "logs" / "server.log").write_text("started\n")
    (run / "locks").mkdir()
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.pop("files", None)
    write_manifest(run, manifest)
    (run / "report.md").write_text("# Report\n")
    return run


@pytest.fixture(scope="session")
def venv_bin(tmp_path_factory) -> Path:
    """One venv with the catalog's default pins on CPython 3.12, shared by
    every loopback test (tests/support/loopback.py)."""
    from tests.support.loopback import build_server_venv
    return build_server_venv(tmp_path_factory)


@pytest.fixture(scope="session")
def lab_up():
    """The end-to-end lab, brought up once for every e2e test module and
    torn down at the end, with a check that nothing of it is left: no
    namespace, no leftover, and none of the processes its hosts ran before
    `lab down` (sshd, PostgreSQL and nginx once user-ramp has run)."""
    import subprocess
    import time

    from runner.lab.targets import local as infra
    from tests.support.lab import LAB, SUBNET, lab, lab_processes, namespace_processes
    start = time.monotonic()
    lab("up", "--lab", LAB, "--subnet", SUBNET)
    up_seconds = time.monotonic() - start
    try:
        yield up_seconds
    finally:
        before = namespace_processes()
        lab("down", "--lab", LAB, check=False)
        left = infra.leftovers(LAB)
        assert left == [], f"lab-down left: {left}"
        assert lab_processes() == []
        alive = {pid: name for pid, name in before.items() if _alive(pid)}
        assert alive == {}, f"processes of the lab's hosts still running after lab down: {alive}"
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"djlab-{LAB}-" not in netns


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"   # a reparented daemon may stay a zombie until pid 1 reaps it
