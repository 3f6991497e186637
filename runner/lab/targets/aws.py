"""The `aws` target: EC2 bare-metal hosts built by infra/aws.

Never applied from this repository (the build machine cannot download
Terraform providers): its module is checked statically
(tests/test_infra_aws.py), and this driver's own checks are tested without
AWS. After `terraform apply` the hosts go through the same SSH checks as the
static target's, and get the same inventory: key recorded on first use,
wheelhouse copied over SSH, Pythons from uv. Lab traffic uses each host's
private address (`lab_address`); the controller reaches the public one.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from python_terraform import IsFlagged

from runner.core.errors import LabError
from runner.lab.inventory import inventory_path, render_inventory, write_inventory
from runner.lab.targets import static, terraform
from runner.lab.targets.base import Log, Target
from runner.lab.targets.local import LAB_NAME_RE, state_dir

MODULE = "aws"
# The module's variables an infra/labs.yaml entry may set (the rest come from the lab).
SETTINGS = ("region", "availability_zone", "instance_type", "allow_non_metal", "db_host",
            "controller_cidr", "ssh_user", "cpus", "lab_root", "image_name_pattern", "image_owner",
            "vpc_cidr", "subnet_cidr", "root_volume_size")
REQUIRED = ("region", "controller_cidr")
BOOT_WAIT_S = 20 * 60      # metal instances take 10 minutes or more to boot


def has_credentials(environ=os.environ, home: Path = Path.home()) -> bool:
    """Whether the AWS provider will find credentials: the environment or ~/.aws."""
    return bool(environ.get("AWS_PROFILE") or environ.get("AWS_ACCESS_KEY_ID")
                or (home / ".aws" / "credentials").is_file() or (home / ".aws" / "config").is_file())


def variables(lab_name: str, settings: dict) -> dict:
    """The module's variables from the lab's entry; unknown or missing keys are named."""
    module_settings = {k: v for k, v in settings.items() if k != "python"}
    unknown = sorted(set(module_settings) - set(SETTINGS))
    if unknown:
        raise LabError(f"lab {lab_name}: {', '.join(unknown)}: not a setting of the aws target "
                       f"(allowed: python, {', '.join(SETTINGS)})")
    missing = [k for k in REQUIRED if not module_settings.get(k)]
    if missing:
        raise LabError(f"lab {lab_name}: {', '.join(missing)}: missing (infra/aws/README.md)")
    sdir = state_dir(lab_name)
    return {**module_settings, "lab_name": lab_name,
            "ssh_public_key": str(sdir / "ssh" / "id_ed25519.pub"),
            "ssh_private_key": str(sdir / "ssh" / "id_ed25519"),
            "known_hosts": str(sdir / "known_hosts")}


def _lab_key(private_key: str) -> None:
    """The lab's own key pair, made once (its public half becomes the EC2 key pair)."""
    if not Path(private_key).is_file():
        Path(private_key).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "djlab", "-f", private_key],
                       check=True, capture_output=True)


def _wait_for_ssh(lab_name: str, hosts: dict, known_hosts: Path, log: Log) -> None:
    """Record host keys and check the hosts, retrying while they boot."""
    deadline = time.monotonic() + BOOT_WAIT_S
    while True:
        static.record_host_keys(known_hosts, sorted(h.address for h in hosts.values()), log)
        problems = static.check_hosts(hosts)
        booting = {n: p for n, p in problems.items() if "does not answer SSH" in p}
        if not booting or time.monotonic() > deadline:
            static.refuse(lab_name, problems, hosts)
            return
        log(f"lab {lab_name}: waiting for {', '.join(sorted(booting))} to boot")
        time.sleep(30)


def _tf(lab_name: str, settings: dict):
    return terraform.terraform(MODULE, state_dir(lab_name) / terraform.STATE_FILE,
                               variables(lab_name, settings))


class AwsTarget(Target):
    """EC2 bare-metal instances (infra/aws)."""

    name = MODULE

    def preflight(self) -> None:
        terraform.require_terraform(static.MIN_TERRAFORM)
        if not has_credentials():
            raise LabError("no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY); infra/aws/README.md")

    def up(self, lab_name: str, settings: dict, log: Log) -> Path:
        if not LAB_NAME_RE.match(lab_name or ""):
            raise LabError(f"bad lab name {lab_name!r}: use 1-8 characters, a-z then a-z/0-9")
        tf = _tf(lab_name, settings)
        extra = static.target_vars(lab_name, settings)
        _lab_key(tf.variables["ssh_private_key"])
        code, out, err = tf.cmd("init", input=False, no_color=IsFlagged)
        if code != 0:
            raise LabError("terraform init of infra/aws failed (it downloads the aws provider from "
                           f"registry.terraform.io): {terraform.tail(err, out)}")
        log(f"lab {lab_name}: terraform apply (EC2 bare metal: this takes minutes and costs money)")
        terraform.check("apply", tf.apply(skip_plan=True, no_color=IsFlagged))
        outputs = terraform.outputs(tf)
        hosts = static.hosts_of(outputs["lab_hosts"]["value"])
        _wait_for_ssh(lab_name, hosts, Path(tf.variables["known_hosts"]), log)
        become = {n: {"ansible_become": True} for n, h in hosts.items() if h.user != "root"}
        path = inventory_path(lab_name)
        write_inventory(path, render_inventory(lab_name, outputs, state_dir(lab_name), MODULE, extra,
                                               static.VAR_COMMENTS, host_vars=become))
        return path

    def down(self, lab_name: str, log: Log) -> None:
        from runner.lab.targets import lab_config   # the entry holds the variables destroy needs
        settings = {k: v for k, v in lab_config(lab_name).items() if k != "target"}
        log(f"lab {lab_name}: terraform destroy")
        terraform.check("destroy", _tf(lab_name, settings).destroy(force=None, auto_approve=True,
                                                                   no_color=IsFlagged))
        inventory_path(lab_name).unlink(missing_ok=True)

    def health(self, lab_name: str) -> list[str]:
        hosts = static.recorded_hosts(lab_name)
        return [f"{n}: {p}" for n, p in sorted(static.check_hosts(hosts).items())] if hosts else []

    def leftovers(self, lab_name: str) -> list[str]:
        resources, _ = terraform.state_resources(state_dir(lab_name) / terraform.STATE_FILE)
        return [f"{r.get('type')}.{r.get('name')}" for r in resources if r.get("mode") == "managed"]

    def state_dir(self, lab_name: str) -> Path:
        return state_dir(lab_name)
