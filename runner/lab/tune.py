"""`lab tune show|apply|restore`: the host settings that decide a benchmark's
noise, shown, applied and put back (the host side is host/tune_host.py).

Settings are per kernel, not per host: the local lab's hosts are namespaces
of one machine and share its CPUs, IRQs and sysctls. So hosts are grouped by
the kernel's boot id, each machine is tuned once for the union of the CPUs
its hosts measure on, and its journal of old values lives under the lab_root
of its first host by name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from runner.core.cpus import cpu_list, parse_cpu_list
from runner.core.errors import LabError
from runner.lab import ssh
from runner.lab.inventory import Host, Lab

SCRIPT = Path(__file__).parent / "host" / "tune_host.py"
JOURNAL = "tune-journal.jsonl"


@dataclass(frozen=True)
class Machine:
    hosts: tuple[Host, ...]     # sorted by name; the first keeps the journal
    cpus: str                   # every CPU any of them measures on

    @property
    def names(self) -> str:
        return ", ".join(h.name for h in self.hosts)

    @property
    def journal(self) -> str:
        return f"{self.hosts[0].lab_root.rstrip('/')}/{JOURNAL}"


def machines(lab: Lab) -> list[Machine]:
    """The lab's hosts grouped by the kernel they run on."""
    by_boot: dict[str, list[Host]] = {}
    for host in sorted(lab.hosts.values(), key=lambda h: h.name):
        with ssh.connect(host) as conn:
            boot = ssh.run(conn, "cat /proc/sys/kernel/random/boot_id", timeout=15).stdout.strip()
        by_boot.setdefault(boot, []).append(host)
    return [Machine(tuple(hosts), cpu_list({c for h in hosts for c in parse_cpu_list(h.cpus)}))
            for hosts in by_boot.values()]


def _host_script(machine: Machine, action: str) -> dict:
    host = machine.hosts[0]
    remote = f"{host.lab_root.rstrip('/')}/tools/{SCRIPT.name}"
    with ssh.connect(host) as conn:
        ssh.run(conn, f"mkdir -p {host.lab_root.rstrip('/')}/tools", timeout=15)
        conn.put(str(SCRIPT), remote)
        result = ssh.run(conn, f"/usr/bin/python3 {remote} {action} --cpus {machine.cpus} "
                               f"--journal {machine.journal}", timeout=120, warn=True)
    try:
        return json.loads(result.stdout)
    except ValueError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise LabError(f"lab tune {action} on {machine.names}: {last[-300:]}") from None


def show(lab: Lab) -> list[dict]:
    """Per machine: its hosts, measured CPUs and every setting with its value."""
    return [{"hosts": [h.name for h in m.hosts], "cpus": m.cpus, **_host_script(m, "show")}
            for m in machines(lab)]


def apply(lab: Lab) -> list[dict]:
    return [{"hosts": [h.name for h in m.hosts], **_host_script(m, "apply")} for m in machines(lab)]


def restore(lab: Lab) -> list[dict]:
    return [{"hosts": [h.name for h in m.hosts], **_host_script(m, "restore")} for m in machines(lab)]


def untuned(shown: list[dict]) -> list[dict]:
    """Per machine, the settings and checks not at their tuned value, split into
    those `lab tune apply` could change and those it cannot here."""
    found = []
    for machine in shown:
        off = [s for s in machine["settings"] if not s.get("ok")]
        if off:
            found.append({"hosts": machine["hosts"],
                          "can_apply": sorted(s["name"] for s in off if s.get("changeable")),
                          "cannot": sorted(s["name"] for s in off if not s.get("changeable"))})
    return found


def for_manifest(shown: list[dict]) -> dict:
    """The settings in force, compact: {machine's hosts: {setting: value}} plus what is untuned."""
    return {"machines": [{"hosts": m["hosts"], "cpus": m["cpus"], "journal": m.get("journal"),
                          "settings": {s["name"]: {k: s.get(k) for k in ("value", "tuned", "ok",
                                                                         "changeable", "why")}
                                       for s in m["settings"]}}
                         for m in shown],
            "untuned": untuned(shown)}
