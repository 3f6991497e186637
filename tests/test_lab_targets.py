"""Lab targets: which backend builds a lab comes from infra/labs.yaml, and
every backend implements the one interface."""
from __future__ import annotations

import inspect

import pytest

from runner.core.errors import LabError
from runner.lab.targets import TARGETS, lab_config, target_of
from runner.lab.targets.base import Target
from runner.lab.targets.local import DEFAULT_SUBNET, LocalTarget


def test_the_committed_labs_file_names_the_local_lab():
    target, settings = target_of("local")
    assert isinstance(target, LocalTarget)
    assert settings == {"subnet": DEFAULT_SUBNET}


def test_a_lab_not_listed_is_a_local_lab_with_defaults(tmp_path):
    labs = tmp_path / "labs.yaml"
    labs.write_text("rack: {target: local, subnet: 198.18.5.0/24}\n")
    assert lab_config("other", labs) == {"target": "local"}
    assert lab_config("rack", labs) == {"target": "local", "subnet": "198.18.5.0/24"}
    assert lab_config("x", tmp_path / "missing.yaml") == {"target": "local"}


@pytest.mark.parametrize("text, message", [
    ("rack: {target: cloud}\n", "rack.target: unknown target 'cloud'; allowed: aws, local, static"),
    ("rack: [local]\n", "rack: expected a mapping with `target`"),
    ("- rack\n", "expected a mapping of lab names to settings"),
    ("rack: {target: [\n", "not valid YAML"),
])
def test_a_bad_labs_file_is_refused_naming_the_field(tmp_path, text, message):
    labs = tmp_path / "labs.yaml"
    labs.write_text(text)
    with pytest.raises(LabError, match=message.replace("[", r"\[")) as caught:
        lab_config("rack", labs)
    assert str(labs) in str(caught.value)


def test_every_target_implements_the_whole_interface():
    required = {n for n, f in inspect.getmembers(Target) if getattr(f, "__isabstractmethod__", False)}
    assert required == {"preflight", "up", "down", "health", "leftovers", "state_dir"}
    for name, target in TARGETS.items():
        assert target.name == name
        assert not getattr(type(target), "__abstractmethods__", None)


def test_health_of_a_lab_that_is_not_up_is_empty():
    # No state recorded: nothing to probe, so nothing is reported broken.
    assert TARGETS["local"].health("nolab9") == []
