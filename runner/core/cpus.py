"""CPU lists in the kernel's own notation ("0-2,5", as Cpus_allowed_list)."""
from __future__ import annotations


def cpu_list(cpus) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    cpus, parts = sorted(cpus or []), []
    for cpu in cpus:
        if parts and cpu == parts[-1][1] + 1:
            parts[-1][1] = cpu
        else:
            parts.append([cpu, cpu])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def parse_cpu_list(text: str) -> list[int]:
    """"0-2,5" -> [0, 1, 2, 5]."""
    cpus = []
    for part in filter(None, str(text).split(",")):
        a, _, b = part.partition("-")
        cpus.extend(range(int(a), int(b or a) + 1))
    return cpus
