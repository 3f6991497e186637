"""The static target end to end: the shared e2e lab's namespaces, listed as
machines that already exist, become a second lab through infra/static. Its
hosts are checked over real SSH before the inventory is written; a host
that does not answer or lacks the CPUs named stops `lab up` before anything
is installed; `lab down` deletes what the lab owns on each host and leaves
the machines alone."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from runner.lab import ssh
from runner.lab.inventory import inventory_path, load_lab
from runner.lab.targets import terraform
from runner.lab.targets.static import recorded_hosts
from tests.conftest import REPO, lab_capable
from tests.lab_helpers import LAB, lab

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(lab_capable() is not None, reason=str(lab_capable()))]


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


def test_existing_machines_come_up_as_a_lab_and_go_down_leaving_them_clean(lab_up, tmp_path):
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
    shutil.rmtree(REPO / ".lab" / "e2est", ignore_errors=True)


def test_a_dead_host_or_missing_cpus_stop_up_before_anything_is_installed(lab_up, tmp_path):
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
    shutil.rmtree(REPO / ".lab" / "e2ebad", ignore_errors=True)
