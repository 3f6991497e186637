"""Host tuning, run on a lab host by `lab tune` (runner/lab/tune.py) with the
host's own python3 (standard library only).

    tune_host.py show    --cpus LIST
    tune_host.py apply   --cpus LIST --journal FILE
    tune_host.py restore --journal FILE

Settings after `pyperf system tune` and tuned's latency-performance profile:
the measured CPUs' frequency governor and minimum frequency, turbo, the
irqbalance service, IRQ affinity off the measured CPUs and perf's sample
rate; and checks that cannot be changed at run time (isolcpus, nohz_full,
ASLR, swap, power supply). `apply` writes each old value to the journal
before it changes anything, so `restore` puts back exactly what was changed,
even after an apply that was interrupted half-way. Prints JSON.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

CPU = "/sys/devices/system/cpu"


def parse_cpus(text: str) -> list[int]:
    cpus = []
    for part in filter(None, text.strip().split(",")):
        a, _, b = part.partition("-")
        cpus.extend(range(int(a), int(b or a) + 1))
    return cpus


def cpu_text(cpus) -> str:
    cpus, parts = sorted(set(cpus)), []
    for c in cpus:
        if parts and c == parts[-1][1] + 1:
            parts[-1][1] = c
        else:
            parts.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def writable(path: str) -> bool:
    return os.path.exists(path) and os.access(path, os.W_OK)


# --- the settings: each yields knobs {name, path or service, value, tuned, why} -------------

def file_knob(name: str, path: str, tuned: str, missing: str) -> dict:
    value = read(path)
    if value is None:
        return {"name": name, "value": None, "tuned": tuned, "changeable": False, "why": missing}
    return {"name": name, "path": path, "value": value, "tuned": tuned,
            "changeable": writable(path), "why": None if writable(path) else f"{path} is read-only"}


def cpufreq_knobs(cpus: list[int]) -> list[dict]:
    knobs = []
    for cpu in cpus:
        base = f"{CPU}/cpu{cpu}/cpufreq"
        missing = f"no {base} (no frequency scaling exposed: a VM?)"
        knobs.append(file_knob(f"cpu{cpu}.governor", f"{base}/scaling_governor", "performance", missing))
        top = read(f"{base}/cpuinfo_max_freq")
        knobs.append(file_knob(f"cpu{cpu}.min_freq", f"{base}/scaling_min_freq", top or "max", missing))
    return knobs


def turbo_knob() -> dict:
    if read(f"{CPU}/intel_pstate/no_turbo") is not None:
        return file_knob("turbo", f"{CPU}/intel_pstate/no_turbo", "1", "")
    return file_knob("turbo", f"{CPU}/cpufreq/boost", "0",
                     "neither intel_pstate/no_turbo nor cpufreq/boost exists")


def irqbalance_knob() -> dict:
    knob = {"name": "irqbalance", "service": "irqbalance", "tuned": "inactive"}
    if not shutil.which("systemctl"):
        return {**knob, "value": None, "changeable": False, "why": "no systemctl"}
    state = subprocess.run(["systemctl", "is-active", "irqbalance"], capture_output=True,
                           text=True).stdout.strip() or "unknown"
    known = subprocess.run(["systemctl", "cat", "irqbalance"], capture_output=True).returncode == 0
    return {**knob, "value": state if known else "not installed", "changeable": known,
            "why": None if known else "irqbalance is not installed (nothing moves IRQs back)"}


def irq_knobs(cpus: list[int]) -> list[dict]:
    """Every IRQ's affinity; those allowed on a measured CPU are to move to the
    other online CPUs."""
    online = parse_cpus(read(f"{CPU}/online") or "0")
    rest = [c for c in online if c not in cpus]
    knobs = []
    for path in sorted(glob.glob("/proc/irq/*/smp_affinity_list")):
        value = read(path)
        if value is None:
            continue
        name = f"irq{path.split('/')[3]}.affinity"
        if not set(parse_cpus(value)) & set(cpus):
            knobs.append({"name": name, "path": path, "value": value, "tuned": value, "ok": True,
                          "changeable": writable(path), "why": None, "irq": True})
        elif not rest:
            knobs.append({"name": name, "value": value, "tuned": None, "changeable": False, "ok": False,
                          "irq": True, "why": "every online CPU is measured: no CPU to move IRQs to"})
        else:
            knobs.append({**file_knob(name, path, cpu_text(rest), ""), "irq": True})
    return knobs


def check(name: str, value, ok: bool, why: str) -> dict:
    return {"name": name, "value": value, "ok": ok, "changeable": False, "why": why}


def checks(cpus: list[int]) -> list[dict]:
    isolated = parse_cpus(read(f"{CPU}/isolated") or "")
    nohz = parse_cpus(read(f"{CPU}/nohz_full") or "")
    aslr = read("/proc/sys/kernel/randomize_va_space")
    swaps = (read("/proc/swaps") or "").splitlines()[1:]
    supplies = {os.path.basename(p): read(f"{p}/online") for p in glob.glob("/sys/class/power_supply/*")
                if read(f"{p}/type") == "Mains"}
    on_battery = any(v == "0" for v in supplies.values())
    boot = "set on the kernel command line at boot"
    return [
        check("isolcpus", cpu_text(isolated) or "none", set(cpus) <= set(isolated), boot),
        check("nohz_full", cpu_text(nohz) or "none", set(cpus) <= set(nohz), boot),
        # pyperf only reports ASLR: it changes addresses, not the time a request takes.
        check("aslr", aslr, True, "recorded, not changed (kernel.randomize_va_space)"),
        check("swap", f"{len(swaps)} device(s) active", not swaps, "swapoff is left to the operator"),
        check("power_supply", ", ".join(f"{k}={v}" for k, v in supplies.items()) or "no mains sensor",
              not on_battery, "a laptop on battery throttles"),
    ]


def settings(cpus: list[int]) -> list[dict]:
    knobs = cpufreq_knobs(cpus) + [turbo_knob(), irqbalance_knob()] + irq_knobs(cpus) + [
        file_knob("perf_event_max_sample_rate", "/proc/sys/kernel/perf_event_max_sample_rate", "1",
                  "no perf events in this kernel")]
    for k in knobs:
        k.setdefault("ok", k["tuned"] is None or k["value"] == k["tuned"])
        k["kind"] = "setting"
    for c in checks(cpus):
        c["kind"] = "check"
        knobs.append(c)
    return knobs


# --- apply / restore ---------------------------------------------------------------------------

def load_journal(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def note(journal: str, entry: dict) -> None:
    """Append one old value and make it durable before the change it protects."""
    with open(journal, "a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def change(knob: dict, value: str) -> None:
    if knob.get("service"):
        verb = "stop" if value == "inactive" else "start"
        subprocess.run(["systemctl", verb, knob["service"]], check=True, capture_output=True)
    else:
        with open(knob["path"], "w") as f:
            f.write(value)


def apply(cpus: list[int], journal: str, change=change) -> dict:
    done, skipped, failed = [], [], []
    noted = {e["name"] for e in load_journal(journal)}   # a second apply keeps the first old values
    for knob in settings(cpus):
        if knob["kind"] != "setting" or knob["ok"]:
            continue
        if not knob["changeable"]:
            skipped.append({"name": knob["name"], "why": knob["why"]})
            continue
        if knob["name"] not in noted:
            note(journal, {k: knob[k] for k in ("name", "path", "service", "value") if knob.get(k)})
        try:
            change(knob, knob["tuned"])
            done.append({"name": knob["name"], "from": knob["value"], "to": knob["tuned"]})
        except OSError as exc:
            if knob.get("irq"):   # managed and per-CPU IRQs stay where the kernel put them
                skipped.append({"name": knob["name"], "why": f"the kernel refused to move it ({exc.strerror})"})
            else:
                failed.append({"name": knob["name"], "error": str(exc)})
        except subprocess.CalledProcessError as exc:
            failed.append({"name": knob["name"], "error": str(exc)})
    return {"changed": done, "skipped": skipped, "failed": failed}


def restore(journal: str, change=change) -> dict:
    done, failed = [], []
    for entry in reversed(load_journal(journal)):
        if entry.get("path") and read(entry["path"]) == entry["value"]:
            continue    # never changed (the kernel refused), or already back
        try:
            change(entry, entry["value"])
            done.append({"name": entry["name"], "to": entry["value"]})
        except (OSError, subprocess.CalledProcessError) as exc:
            failed.append({"name": entry["name"], "error": str(exc)})
    if not failed and os.path.exists(journal):
        os.unlink(journal)
    return {"restored": done, "failed": failed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["show", "apply", "restore"])
    parser.add_argument("--cpus", default="")
    parser.add_argument("--journal", default="")
    args = parser.parse_args(argv)
    cpus = parse_cpus(args.cpus)
    if args.action == "show":
        # "journal": old values an apply recorded and no restore has put back yet.
        out = {"settings": settings(cpus), "journal": bool(args.journal and load_journal(args.journal))}
    elif args.action == "apply":
        out = apply(cpus, args.journal)
    else:
        out = restore(args.journal)
    print(json.dumps(out))
    return 1 if out.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
