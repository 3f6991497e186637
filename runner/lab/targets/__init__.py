"""Lab targets: the backends that bring a lab's hosts up and down (base.py
has the interface). To add one: a module here with a Target subclass, its
Terraform root module under infra/, and its line in TARGETS.

Which target builds a lab comes from the lab's config, infra/labs.yaml; a
lab not listed there is a local lab with default settings."""
from __future__ import annotations

from pathlib import Path

import yaml

from runner import REPO_ROOT
from runner.core.errors import LabError
from runner.lab.targets.base import Target
from runner.lab.targets.local import LocalTarget

TARGETS: dict[str, Target] = {t.name: t for t in (LocalTarget(),)}
LABS_FILE = REPO_ROOT / "infra" / "labs.yaml"
DEFAULT_TARGET = "local"


def lab_config(lab_name: str, labs_file: Path = LABS_FILE) -> dict:
    """The lab's entry in the labs file (target and its settings)."""
    try:
        labs = yaml.safe_load(labs_file.read_text()) if labs_file.is_file() else {}
    except yaml.YAMLError as exc:
        raise LabError(f"{labs_file}: not valid YAML: {exc}") from None
    if not isinstance(labs, dict):
        raise LabError(f"{labs_file}: expected a mapping of lab names to settings")
    entry = labs.get(lab_name) or {"target": DEFAULT_TARGET}
    if not isinstance(entry, dict):
        raise LabError(f"{labs_file}: {lab_name}: expected a mapping with `target`")
    if entry.get("target", DEFAULT_TARGET) not in TARGETS:
        raise LabError(f"{labs_file}: {lab_name}.target: unknown target {entry.get('target')!r}; "
                       f"allowed: {', '.join(sorted(TARGETS))}")
    return {"target": DEFAULT_TARGET, **entry}


def target_of(lab_name: str, labs_file: Path = LABS_FILE) -> tuple[Target, dict]:
    """(the lab's target, its settings without `target`)."""
    config = lab_config(lab_name, labs_file)
    return TARGETS[config.pop("target")], config
