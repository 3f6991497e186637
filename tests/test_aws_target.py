"""The aws target's own checks, which need no AWS account: its settings
from the labs file, and a refusal without credentials before Terraform
runs. (The module itself is checked in test_infra_aws.py; neither has been
applied from here.)"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runner.core.errors import LabError
from runner.lab.targets.aws import SETTINGS, has_credentials, variables
from tests.conftest import REPO
from tests.support.lab import lab


def test_settings_become_the_modules_variables_with_the_labs_own_key_and_known_hosts():
    found = variables("cloud", {"region": "eu-central-1", "controller_cidr": "203.0.113.7/32",
                                "db_host": True, "python": {"provider": "uv"}})
    assert found["lab_name"] == "cloud" and found["db_host"] is True
    assert found["ssh_private_key"] == str(REPO / ".lab" / "cloud" / "ssh" / "id_ed25519")
    assert found["ssh_public_key"] == found["ssh_private_key"] + ".pub"
    assert found["known_hosts"] == str(REPO / ".lab" / "cloud" / "known_hosts")
    assert "python" not in found          # the inventory's, not the module's
    variables_tf = (REPO / "infra" / "aws" / "variables.tf").read_text()
    for name in SETTINGS:                 # every setting is a variable of the module
        assert f'variable "{name}"' in variables_tf


@pytest.mark.parametrize("settings, message", [
    ({"region": "r", "controller_cidr": "c", "instance": "x"}, "lab cloud: instance: not a setting"),
    ({"controller_cidr": "203.0.113.7/32"}, "lab cloud: region: missing"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(LabError, match=message):
        variables("cloud", settings)


def test_credentials_come_from_the_environment_or_the_aws_folder(tmp_path):
    assert not has_credentials({}, tmp_path)
    assert has_credentials({"AWS_PROFILE": "lab"}, tmp_path)
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    assert has_credentials({}, tmp_path)


def test_lab_up_without_credentials_stops_before_terraform(tmp_path, monkeypatch):
    if has_credentials():
        pytest.skip("this machine has AWS credentials: lab up would really apply")
    labs = tmp_path / "labs.yaml"
    labs.write_text(yaml.safe_dump({"cloudx": {"target": "aws", "region": "eu-central-1",
                                               "controller_cidr": "203.0.113.7/32"}}))
    proc = lab("up", "--lab", "cloudx", check=False, env_extra={"DJLAB_LABS_FILE": str(labs)})
    assert proc.returncode == 1
    assert "no AWS credentials: set AWS_PROFILE" in proc.stderr
    assert not Path(REPO, ".lab", "cloudx", "terraform.tfstate").exists()
