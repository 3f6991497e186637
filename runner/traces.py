"""psutil traces cut to the measured window.

The server host's sampler runs a little longer than the load (it starts
before the load generator and stops after it). Here its trace is cut to the
samples taken inside [start, end], the load generator's own start and end as
its sampler recorded them, and reduced to the window's figures: CPU from the
CPU-time deltas of each process between the first and last sample inside the
window, memory and connection figures as means and peaks over those samples.

The hosts' clocks must agree (on the local lab they are one clock; on real
machines, NTP): the manifest records the hosts, and a window with fewer than
two samples inside it is an error rather than a guess.
"""
from __future__ import annotations

import json
from pathlib import Path

MB = 2 ** 20


class TraceError(ValueError):
    pass


def read_trace(path: Path) -> tuple[list[dict], dict]:
    """(samples, summary) from a sampler's JSON-lines file."""
    samples, summary = [], {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "summary" in row:
            summary = row["summary"]
        else:
            samples.append(row)
    return samples, summary


def cut(samples: list[dict], start: float, end: float, slack_s: float = 0.0) -> list[dict]:
    return [s for s in samples if start - slack_s <= s["t"] <= end + slack_s]


def window_summary(samples: list[dict], start: float, end: float) -> dict:
    """The server tree's figures over the samples inside [start, end]."""
    inside = [s for s in cut(samples, start, end) if s["procs"]]
    if len(inside) < 2:
        raise TraceError(f"only {len(inside)} sample(s) of the server's trace fall inside the "
                         f"measured window ({end - start:.2f} s); is the sampler running?")
    first, last = inside[0], inside[-1]
    wall = last["t"] - first["t"]
    firsts = {p["pid"]: p for p in first["procs"]}
    lasts = {p["pid"]: p for p in last["procs"]}
    # A process that appears mid-window counts from its first sample.
    for s in inside:
        for p in s["procs"]:
            firsts.setdefault(p["pid"], p)
            lasts[p["pid"]] = p
    cpu_s = sum(lasts[pid]["cpu_s"] - firsts[pid]["cpu_s"] for pid in lasts)
    vol = sum(lasts[pid]["ctx_vol"] - firsts[pid]["ctx_vol"] for pid in lasts)
    invol = sum(lasts[pid]["ctx_invol"] - firsts[pid]["ctx_invol"] for pid in lasts)

    def total(sample, key):
        return sum(p.get(key, 0) for p in sample["procs"])

    has_detail = any("uss" in p for p in last["procs"])
    out = {
        "wall_s": wall, "samples": len(inside), "cpu_s": cpu_s,
        "cpu_percent": 100.0 * cpu_s / wall if wall > 0 else 0.0,
        "rss_mean": sum(total(s, "rss") for s in inside) / len(inside),
        "rss_peak": max(total(s, "rss") for s in inside),
        "threads_peak": max(total(s, "threads") for s in inside),
        "ctx_voluntary": vol, "ctx_involuntary": invol, "processes": len(lasts),
    }
    if has_detail:
        out.update(uss_mean=sum(total(s, "uss") for s in inside) / len(inside),
                   fds_peak=max(total(s, "fds") for s in inside),
                   connections_peak=max(total(s, "conns") for s in inside))
    return out


def per_process(sample: dict) -> list[dict]:
    """One sample's processes, in MB, with whether each is the tree's root."""
    pids = {p["pid"] for p in sample["procs"]}
    return [{"pid": p["pid"], "name": p["name"], "rss_mb": p["rss"] / MB,
             "uss_mb": p.get("uss", 0) / MB, "cpu_s": p["cpu_s"],
             "root": p.get("ppid") not in pids} for p in sample["procs"]]
