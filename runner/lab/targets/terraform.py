"""Terraform plumbing shared by targets that build their hosts with a root
module under infra/: one state file per lab in the lab's own state folder,
errors as one line, outputs as JSON."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
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


def validation_errors(stderr: str) -> list[str]:
    """The messages of a module's failed variable validations ("Invalid value
    for variable"), each as one line; [] when the failure is something else."""
    found = []
    for block in re.split(r"Error: ", stderr or "")[1:]:
        if not block.startswith("Invalid value for variable"):
            continue
        lines = [ln.strip(" │╷╵\t") for ln in block.splitlines()]
        # The message sits between "var.X is ..." and "This was checked by ...".
        start = max((i for i, ln in enumerate(lines) if ln.startswith("var.")), default=0) + 1
        end = next((i for i, ln in enumerate(lines) if ln.startswith("This was checked")), len(lines))
        found.append(" ".join(ln for ln in lines[start:end] if ln))
    return found


def check(step: str, result: tuple[int, str, str]) -> str:
    code, out, err = result
    if code != 0:
        invalid = validation_errors(err)
        if invalid:
            raise LabError("; ".join(invalid))
        raise LabError(f"terraform {step} failed (exit {code}): {tail(err, out)}")
    return out


def require_terraform(minimum: tuple[int, int]) -> None:
    """Fail in one line when terraform is missing or older than `minimum`."""
    need = ".".join(map(str, minimum))
    if shutil.which("terraform") is None:
        raise LabError(f"terraform not found on PATH (need Terraform >= {need})")
    proc = subprocess.run(["terraform", "version", "-json"], capture_output=True, text=True)
    try:
        version = json.loads(proc.stdout)["terraform_version"]
        found = tuple(int(p) for p in version.split(".")[:2])
    except (ValueError, KeyError):
        raise LabError(f"cannot read `terraform version -json` (need Terraform >= {need})") from None
    if found < minimum:
        raise LabError(f"Terraform {version} is too old (need Terraform >= {need})")


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
