"""Terraform plumbing shared by targets that build their hosts with a root
module under infra/: one state file per lab in the lab's own state folder,
errors as one line, outputs as JSON."""
from __future__ import annotations

import json
import re
from pathlib import Path

from python_terraform import IsFlagged, Terraform

from runner import REPO_ROOT
from runner.core.errors import LabError

STATE_FILE = "terraform.tfstate"


def terraform(module: str, state_file: Path, variables: dict) -> Terraform:
    """A driver for infra/<module> keeping its state in `state_file`."""
    # python-terraform adds state= and var= to apply/destroy; `variables` holds a
    # nested map (hosts), which it writes to a temporary .tfvars.json for us.
    return Terraform(working_dir=str(REPO_ROOT / "infra" / module),
                     state=str(state_file), variables=variables)


def tail(stderr: str, stdout: str = "") -> str:
    """Terraform's error as one line: from its first "Error:" on, boxes stripped."""
    lines = [ln.strip(" │╷╵\t") for ln in (stderr or stdout or "").splitlines()]
    # Drop source excerpts ("59:   provisioner ...") and their underline boxes.
    lines = [ln for ln in lines if ln and not re.match(r"^(\d+:|├|\^)", ln)]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Error:")), max(len(lines) - 8, 0))
    text = " ".join(lines[start:]) or "(no output)"
    return text if len(text) <= 600 else text[:200] + " ... " + text[-380:]


def check(step: str, result: tuple[int, str, str]) -> str:
    code, out, err = result
    if code != 0:
        raise LabError(f"terraform {step} failed (exit {code}): {tail(err, out)}")
    return out


def outputs(tf: Terraform) -> dict:
    """`terraform output -json` of the lab's state ({} when nothing was applied)."""
    out = check("output", tf.cmd("output", json=IsFlagged, no_color=IsFlagged, state=tf.state))
    return json.loads(out or "{}")


def state_resources(state_file: Path) -> tuple[list, dict]:
    """Resources and outputs recorded in a state file (none if absent)."""
    if not state_file.is_file():
        return [], {}
    data = json.loads(state_file.read_text() or "{}")
    return data.get("resources") or [], data.get("outputs") or {}
