"""`lab tune show|apply|restore`: the host settings that decide a benchmark's noise."""
from __future__ import annotations

import typer

from runner import ui
from runner.cli.options import LabOpt


def _tune_rows(settings: list[dict]) -> list[tuple[str, str, str, str]]:
    """(setting, value, tuned value, state); the IRQs on measured CPUs as one row."""
    def state(s: dict) -> str:
        if s.get("ok"):
            return "tuned" if s.get("kind") == "setting" else "ok"
        if s.get("changeable"):
            return "not tuned: `lab tune apply` changes it"
        return f"cannot change here: {s.get('why') or 'read-only'}"
    rows, irqs = [], [s for s in settings if s.get("irq")]
    for s in settings:
        if not s.get("irq"):
            rows.append((s["name"], str(s.get("value")), str(s.get("tuned", "") or ""), state(s)))
    if irqs:
        off = [s for s in irqs if not s.get("ok")]
        rows.append((f"irq affinity ({len(irqs)} IRQs)", f"{len(off)} on the measured CPUs",
                     "none on them", state(off[0]) if off else "tuned"))
    return rows


def show(lab: str = LabOpt):
    """Every setting on each machine of the lab, its value, the tuned value and
    whether it can be changed there."""
    from runner.lab import tune
    from runner.lab.inventory import load_lab

    for machine in tune.show(load_lab(lab)):
        ui.info(f"machine of host(s) {', '.join(machine['hosts'])}; measured CPUs {machine['cpus']}"
                + ("; an apply is in force (`lab tune restore` undoes it)" if machine.get("journal") else ""))
        rows = _tune_rows(machine["settings"])
        width = max(len(r[0]) for r in rows)
        for name, value, tuned, state in rows:
            print(f"  {name:<{width}}  {value:<24} {tuned:<14} {state}")


def apply(lab: str = LabOpt):
    """Change what can be changed to its tuned value, recording each old value first."""
    from runner.lab import tune
    from runner.lab.inventory import load_lab

    _tune_report(tune.apply(load_lab(lab)), "changed",
                 lambda c: f"{c['name']}: {c['from']} -> {c['to']}",
                 lambda m: f"{len(m['changed'])} changed, {len(m['skipped'])} cannot be "
                           f"changed here (`lab tune show` says why)")


def _tune_report(machines, done_key: str, line, summary) -> None:
    """Per machine: a line per setting done, a summary line, a line per
    setting that failed; exit 1 when any failed."""
    failed = False
    for machine in machines:
        where = ", ".join(machine["hosts"])
        for item in machine[done_key]:
            ui.info(f"{where}: {line(item)}")
        ui.info(f"{where}: {summary(machine)}")
        for f in machine["failed"]:
            failed = True
            ui.error(f"{where}: {f['name']}: {f['error']}")
    if failed:
        raise typer.Exit(1)


def restore(lab: str = LabOpt):
    """Put back exactly what `lab tune apply` changed (also after an interrupted apply)."""
    from runner.lab import tune
    from runner.lab.inventory import load_lab

    _tune_report(tune.restore(load_lab(lab)), "restored",
                 lambda r: f"{r['name']}: back to {r['to']}",
                 lambda m: f"{len(m['restored'])} setting(s) restored")
