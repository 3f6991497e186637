"""The static target's refusals that need no machine: Terraform's own
validation of the host list (infra/static) and the entry's required fields.
Each bad list stops `lab up` with one line naming the field and the host,
exit 1, and no inventory."""
from __future__ import annotations

import shutil

import pytest
import yaml

from runner.core.errors import LabError
from runner.lab.inventory import inventory_path
from runner.lab.targets.static import host_variables, target_vars
from tests.conftest import REPO
from tests.support.lab import lab

pytestmark = [pytest.mark.integration, pytest.mark.needs("terraform")]


def good_hosts(key: str) -> dict:
    return {"server": {"address": "198.18.9.11", "ssh_private_key": key, "role": "server", "cpus": "1"},
            "client": {"address": "198.18.9.10", "ssh_private_key": key, "role": "client", "cpus": "0"}}


def up_with(tmp_path, lab_name: str, hosts: dict):
    labs = tmp_path / "labs.yaml"
    labs.write_text(yaml.safe_dump({lab_name: {"target": "static", "hosts": hosts}}))
    try:
        return lab("up", "--lab", lab_name, check=False, env_extra={"DJLAB_LABS_FILE": str(labs)})
    finally:
        assert not inventory_path(lab_name).exists()
        shutil.rmtree(REPO / ".lab" / lab_name, ignore_errors=True)


@pytest.mark.parametrize("change, message", [
    (lambda h: h["client"].update(address="198.18.9.11"),
     "hosts.<name>.address must be unique; shared: 198.18.9.11 (client, server)"),
    (lambda h: h["server"].update(ssh_private_key="/nonexistent/key"),
     "hosts.<name>.ssh_private_key must be an absolute path to an existing file on the "
     "controller; missing: server (/nonexistent/key)"),
    (lambda h: h["client"].update(cpus="0-x"),
     "hosts.<name>.cpus must be a cpuset list such as \"0\", \"2-7\" or \"0,2-3\"; bad: client (0-x)"),
    (lambda h: h["client"].update(role="server"),
     "hosts must hold at least one host with role server and one with role client"),
    (lambda h: h["client"].update(role="loadgen"),
     "hosts.<name>.role must be server, client or db; bad: client (loadgen)"),
])
def test_terraform_refuses_a_bad_host_list_naming_the_field_and_host(tmp_path, change, message):
    key = tmp_path / "id_lab"
    key.write_text("not used: the plan stops first\n")
    hosts = good_hosts(str(key))
    change(hosts)
    proc = up_with(tmp_path, "tfbad", hosts)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_host_without_a_required_field_is_refused_by_name(tmp_path):
    hosts = good_hosts("/k")
    del hosts["client"]["cpus"]
    with pytest.raises(LabError, match=r"lab rack: hosts.client.cpus: missing"):
        host_variables("rack", {"hosts": hosts})
    with pytest.raises(LabError, match=r"lab rack: hosts: the static target needs"):
        host_variables("rack", {})


def test_key_paths_are_made_absolute_and_the_python_provider_is_checked():
    hosts = host_variables("rack", {"hosts": good_hosts("keys/id_lab")})
    assert hosts["server"]["ssh_private_key"] == str(REPO / "keys" / "id_lab")
    assert hosts["server"]["ssh_user"] == "root"
    assert target_vars("rack", {})["lab_python_provider"] == "uv"
    assert target_vars("rack", {"python": {"provider": "preinstalled", "root": "/opt/py"}})[
        "lab_python_preinstalled_root"] == "/opt/py"
    with pytest.raises(LabError, match=r"python.provider: 'conda' is not one of uv, preinstalled"):
        target_vars("rack", {"python": {"provider": "conda"}})
    with pytest.raises(LabError, match=r"python.root: the preinstalled provider needs"):
        target_vars("rack", {"python": {"provider": "preinstalled"}})
