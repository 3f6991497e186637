"""Lab targets: the backends that bring a lab's hosts up and down (base.py
has the interface). To add one: a module here with a Target subclass, its
Terraform root module under infra/, and its line in TARGETS.

Which target builds a lab comes from the lab's config, infra/labs.yaml (or
the file DJLAB_LABS_FILE names); a lab not listed there is the target that
built it (recorded in .lab/<lab>/target by `lab up`), else a local lab with
default settings."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from runner import REPO_ROOT
from runner.core.errors import LabError
from runner.lab.targets.aws import AwsTarget
from runner.lab.targets.base import Target
from runner.lab.targets.local import LocalTarget
from runner.lab.targets.static import StaticTarget

TARGETS: dict[str, Target] = {t.name: t for t in (LocalTarget(), StaticTarget(), AwsTarget())}
LABS_FILE = REPO_ROOT / "infra" / "labs.yaml"
RECORD = "target"   # .lab/<lab>/target: the target that built the lab
DEFAULT_TARGET = "local"


def labs_path() -> Path:
    return Path(os.environ.get("DJLAB_LABS_FILE") or LABS_FILE)


def _recorded(lab_name: str) -> str | None:
    path = REPO_ROOT / ".lab" / lab_name / RECORD
    return path.read_text().strip() if path.is_file() else None


def remember(lab_name: str, target: Target) -> None:
    """Note which target built the lab, so `lab down` finds it whatever the labs file says later."""
    target.state_dir(lab_name).mkdir(mode=0o700, parents=True, exist_ok=True)
    (target.state_dir(lab_name) / RECORD).write_text(target.name + "\n")


def lab_config(lab_name: str, labs_file: Path | None = None) -> dict:
    """The lab's entry in the labs file (target and its settings)."""
    labs_file = labs_file or labs_path()
    try:
        labs = yaml.safe_load(labs_file.read_text()) if labs_file.is_file() else {}
    except yaml.YAMLError as exc:
        raise LabError(f"{labs_file}: not valid YAML: {exc}") from None
    if not isinstance(labs, dict):
        raise LabError(f"{labs_file}: expected a mapping of lab names to settings")
    entry = labs.get(lab_name) or {"target": _recorded(lab_name) or DEFAULT_TARGET}
    if not isinstance(entry, dict):
        raise LabError(f"{labs_file}: {lab_name}: expected a mapping with `target`")
    if entry.get("target", DEFAULT_TARGET) not in TARGETS:
        raise LabError(f"{labs_file}: {lab_name}.target: unknown target {entry.get('target')!r}; "
                       f"allowed: {', '.join(sorted(TARGETS))}")
    return {"target": DEFAULT_TARGET, **entry}


def target_of(lab_name: str, labs_file: Path | None = None) -> tuple[Target, dict]:
    """(the lab's target, its settings without `target`)."""
    config = lab_config(lab_name, labs_file)
    return TARGETS[config.pop("target")], config
