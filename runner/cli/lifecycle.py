"""`lab up`, `lab down`, `lab health`: bring a lab up, take it down, check it."""
from __future__ import annotations

import time
from typing import Optional

import typer

from runner import ui
from runner.cli.options import LabOpt


def up(lab: str = LabOpt,
       subnet: Optional[str] = typer.Option(None, help="A /24 inside 198.18.0.0/15 (local "
                                                       "target; default from infra/labs.yaml).")):
    """Provision the lab with its target (infra/labs.yaml; default: local network
    namespaces with sshd and CPU sets); write the inventory."""
    from runner.lab.targets import remember, target_of

    target, settings = target_of(lab)
    if subnet:
        settings["subnet"] = subnet
    target.preflight()
    remember(lab, target)
    start = time.monotonic()
    path = target.up(lab, settings, log=ui.info)
    ui.info(f"lab {lab!r} ({target.name}) is up in {time.monotonic() - start:.1f} s; "
            f"inventory: {path}")


def _restore_tuning(lab: str) -> None:
    """Before a lab goes, put back what `lab tune apply` changed on its hosts
    (the journal of old values lives in the lab_root that down deletes)."""
    from runner.lab import tune
    from runner.lab.inventory import inventory_path, load_lab
    if not inventory_path(lab).is_file():
        return                     # not up: nothing was applied through it
    try:
        machines = tune.restore(load_lab(lab))
    except Exception as exc:  # noqa: BLE001 - a broken lab must still come down
        ui.warn(f"lab {lab!r}: could not check for host tuning to restore: {str(exc)[:200]}")
        return
    for machine in machines:
        if machine["restored"] or machine["failed"]:
            ui.info(f"lab {lab!r}: {', '.join(machine['hosts'])}: {len(machine['restored'])} tuned "
                    f"setting(s) restored, {len(machine['failed'])} failed")


def down(lab: str = LabOpt):
    """Destroy the lab and check that nothing of it is left."""
    from runner.lab.targets import target_of

    target, _ = target_of(lab)
    target.preflight()
    start = time.monotonic()
    _restore_tuning(lab)
    target.down(lab, log=ui.info)
    ui.info(f"lab {lab!r} is down in {time.monotonic() - start:.1f} s; nothing of it is left")


def health(lab: str = LabOpt):
    """Check an up lab's hosts; exit 1 naming each broken one."""
    from runner.lab.targets import target_of

    target, _ = target_of(lab)
    problems = target.health(lab)
    for problem in problems:
        ui.error(f"lab {lab!r}: {problem}")
    if problems:
        raise typer.Exit(1)
    ui.info(f"lab {lab!r} ({target.name}): every host answers")


def apt_packages():
    """Print the Debian packages the scenarios use (their apt_packages), for `make setup`."""
    from runner.scenarios import apt_packages as declared
    print(" ".join(declared()))
