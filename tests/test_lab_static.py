"""The static target end to end: the shared e2e lab's namespaces, listed as
machines that already exist, become a second lab through infra/static. Its
hosts are checked over real SSH before the inventory is written; a host
that does not answer or lacks the CPUs named stops `lab up` before anything
is installed; `lab down` deletes what the lab owns on each host and leaves
the machines alone."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner.lab import ssh
from runner.lab.inventory import inventory_path, load_lab
from runner.lab.targets import terraform
from runner.lab.targets.static import recorded_hosts
from tests.conftest import REPO
from tests.support.lab import LAB, lab

pytestmark = pytest.mark.e2e


def machines(tmp_path) -> dict:
    """The e2e lab's hosts as a rack would list them, each with its own lab_root."""
    e2e = load_lab(LAB)
    return {h.name: {"address": h.address, "ssh_user": h.user, "ssh_private_key": h.key,
                     "role": h.role, "cpus": h.cpus, "lab_root": str(tmp_path / f"{h.name}-root")}
            for h in e2e.hosts.values()}


def labs_file(tmp_path, lab_name: str, hosts: dict) -> dict:
    path = tmp_path / "labs.yaml"
    path.write_text(yaml.safe_dump({lab_name: {
        "target": "static", "python": {"provider": "preinstalled", "root": "/root/.pyenv/versions"},
        "hosts": hosts}}))
    return {"DJLAB_LABS_FILE": str(path)}


def copy_wheelhouse(wheels: Path) -> str:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_path("e2est")),
         # site.yml's group_vars hold the copy's defaults; the static inventory turns it on.
         "-e", f"@{REPO / 'playbooks/group_vars/all.yml'}", "-e", f"lab_offline_wheelhouse={wheels}", str(REPO / "tests/data/playbooks/copy_wheelhouse.yml")],
        cwd=REPO / "playbooks", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def recap(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if "ok=" in ln and "changed=" in ln]


@pytest.fixture
def fresh():
    """No state left by an earlier, failed attempt (its known_hosts would hold
    the keys of an e2e lab since rebuilt)."""
    for name in ("e2est", "e2ebad"):
        shutil.rmtree(REPO / "inventory" / name, ignore_errors=True)
        shutil.rmtree(REPO / ".lab" / name, ignore_errors=True)
    yield
    for name in ("e2est", "e2ebad"):
        if inventory_path(name).exists():
            lab("down", "--lab", name, check=False)
        shutil.rmtree(REPO / ".lab" / name, ignore_errors=True)


def test_existing_machines_come_up_as_a_lab_and_go_down_leaving_them_clean(lab_up, fresh, tmp_path):
    hosts = machines(tmp_path)
    up = lab("up", "--lab", "e2est", env_extra=labs_file(tmp_path, "e2est", hosts))
    assert "checking 2 host(s) over SSH" in up.stdout

    # The same contract as the local lab: Ansible and the runner read it alike.
    static = load_lab("e2est")
    assert static.vars["lab_module"] == "static"
    assert static.vars["lab_python_provider"] == "preinstalled"
    for name, h in static.hosts.items():
        assert (h.address, h.cpus, h.lab_root) == (hosts[name]["address"], hosts[name]["cpus"],
                                                   hosts[name]["lab_root"])
        with ssh.connect(h) as conn:   # host keys were recorded on first use: strict checking passes
            ssh.run(conn, f"mkdir -p {h.lab_root}/envs && touch {h.lab_root}/envs/installed")
    assert lab("health", "--lab", "e2est").returncode == 0

    # The hosts do not share the controller's files: its wheelhouse reaches them over SSH.
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / "demo-1.0-py3-none-any.whl").write_bytes(b"wheel one")
    first = copy_wheelhouse(wheels)
    for h in static.hosts.values():
        assert Path(h.lab_root, "wheelhouse", "demo-1.0-py3-none-any.whl").read_bytes() == b"wheel one"
    assert "changed=0" not in first
    assert all("changed=0" in line for line in recap(copy_wheelhouse(wheels)))   # nothing new
    (wheels / "demo-2.0-py3-none-any.whl").write_bytes(b"wheel two")
    copy_wheelhouse(wheels)
    for h in static.hosts.values():
        assert Path(h.lab_root, "wheelhouse", "demo-2.0-py3-none-any.whl").read_bytes() == b"wheel two"

    # Tuning applied through the lab is put back when the lab goes.
    rate = Path("/proc/sys/kernel/perf_event_max_sample_rate")
    before = rate.read_text().strip()
    lab("tune", "apply", "--lab", "e2est")
    assert rate.read_text().strip() == "1"

    # Down needs no labs file: the lab remembers its target.
    down = lab("down", "--lab", "e2est")
    assert "1 tuned setting(s) restored" in down.stdout
    assert rate.read_text().strip() == before
    for h in hosts.values():
        assert not (tmp_path / h["lab_root"]).exists()
    assert not inventory_path("e2est").exists()
    assert recorded_hosts("e2est") == {}
    assert terraform.state_resources(REPO / ".lab" / "e2est" / terraform.STATE_FILE)[0] == []
    # The machines themselves are untouched: the e2e lab still answers.
    assert lab("health", "--lab", LAB).returncode == 0


def test_a_dead_host_or_missing_cpus_stop_up_before_anything_is_installed(lab_up, fresh, tmp_path):
    hosts = machines(tmp_path)
    hosts["server"]["cpus"] = "0-1"               # the e2e server namespace is pinned to core 1
    hosts["client"]["address"] = "198.18.1.99"    # nothing there
    proc = lab("up", "--lab", "e2ebad", check=False, env_extra=labs_file(tmp_path, "e2ebad", hosts))
    assert proc.returncode == 1
    assert "host client (198.18.1.99): does not answer SSH" in proc.stderr
    assert f"host server ({hosts['server']['address']}): cpus 0 not available" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not inventory_path("e2ebad").exists()
    assert not any((tmp_path / f"{n}-root").exists() for n in hosts)
    # Nothing was recorded, so down has nothing to undo.
    assert lab("down", "--lab", "e2ebad").returncode == 0
