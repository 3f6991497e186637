"""psutil traces cut to the measured window.

The server host's sampler runs a little longer than the load (it starts
before the load generator and stops after it). Here its trace is cut to
[start, end], the load generator's own start and end as its sampler recorded
them (plus the nearest sample on each side), and reduced to the window's
figures: CPU from the CPU-time deltas of each process between the first and
last of those samples, memory and connection figures as means and peaks.

The hosts' clocks must agree (on the local lab they are one clock; on real
machines, NTP): the manifest records the hosts, and a window the trace does
not cover (to within 1 s at either end) is an error rather than a guess.
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


def cut(samples: list[dict], start: float, end: float, reach_s: float = 0.5) -> list[dict]:
    """The samples inside [start, end]; when the first (last) of them is more
    than `reach_s` from the window's edge, or there is none, the nearest
    sample outside is added, so that CPU is counted over a span covering the
    whole window even when the sampler was late (a saturated host can delay
    it) without widening the span when it kept its schedule."""
    inside = [s for s in samples if start <= s["t"] <= end]
    before = [s for s in samples if s["t"] < start][-1:]
    after = [s for s in samples if s["t"] > end][:1]
    if len(inside) < 2:
        # A window shorter than the sampler's interval (an io-mix batch):
        # the samples on either side are the span that covers it.
        return before + inside + after
    if inside and inside[0]["t"] - start <= reach_s:
        before = []
    if inside and end - inside[-1]["t"] <= reach_s:
        after = []
    return before + inside + after


def window_summary(samples: list[dict], start: float, end: float) -> dict:
    """The server tree's figures over the samples that cover [start, end].
    `max_gap_s` is the longest time between two of them: the sampler's
    resolution in this window (0.2 s when it kept its schedule)."""
    inside = [s for s in cut(samples, start, end) if s["procs"]]
    if len(inside) < 2 or inside[0]["t"] > start + 1.0 or inside[-1]["t"] < end - 1.0:
        raise TraceError(f"the server's trace does not cover the measured window "
                         f"({end - start:.2f} s, {len(inside)} sample(s)); is the sampler running?")
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
    # How evenly the workers shared the work (with one socket they take
    # turns in accept; with SO_REUSEPORT the kernel hashes connections to
    # them): the busiest worker's share of the workers' CPU time. The
    # supervisor, parent of the others, is no worker; alone, it is the one.
    tree = set(lasts)
    workers = [pid for pid in lasts if lasts[pid].get("ppid") in tree] or list(lasts)
    worker_cpu = [lasts[pid]["cpu_s"] - firsts[pid]["cpu_s"] for pid in workers]
    busiest = max(worker_cpu) / sum(worker_cpu) if sum(worker_cpu) > 0 else 1.0
    vol = sum(lasts[pid]["ctx_vol"] - firsts[pid]["ctx_vol"] for pid in lasts)
    invol = sum(lasts[pid]["ctx_invol"] - firsts[pid]["ctx_invol"] for pid in lasts)

    def total(sample, key):
        return sum(p.get(key, 0) for p in sample["procs"])

    # USS, fds and connections come with every fifth sample (the sampler's
    # detail rate): averaged over the samples that carry them.
    detailed = [s for s in inside if any("uss" in p for p in s["procs"])]
    counted = [s["conns"] for s in inside if s.get("conns") is not None]
    out_conns = {"connections_peak": max(counted)} if counted else {}
    out = {
        "wall_s": wall, "samples": len(inside), "cpu_s": cpu_s,
        "cpu_percent": 100.0 * cpu_s / wall if wall > 0 else 0.0,
        "rss_mean": sum(total(s, "rss") for s in inside) / len(inside),
        "rss_peak": max(total(s, "rss") for s in inside),
        "threads_peak": max(total(s, "threads") for s in inside),
        "ctx_voluntary": vol, "ctx_involuntary": invol, "processes": len(lasts),
        "busiest_worker_cpu_share": busiest,
        "max_gap_s": max(b["t"] - a["t"] for a, b in zip(inside, inside[1:])),
    }
    if detailed:
        out.update(uss_mean=sum(total(s, "uss") for s in detailed) / len(detailed),
                   fds_peak=max(total(s, "fds") for s in detailed))
    out.update(out_conns)
    return out


def peak_cpu_share(samples: list[dict], span_s: float = 0.5) -> float:
    """The tree's highest CPU use, in cores, over any stretch of consecutive
    samples at least `span_s` long: a load generator busy for part of the
    window only (0.15 of a core, then 0.9) shows here where the window's
    mean hides it. Stretches shorter than `span_s` are not judged: CPU times
    come in 10 ms ticks, too coarse for one 0.2 s interval."""
    points = [(s["t"], sum(p["cpu_s"] for p in s["procs"])) for s in samples if s["procs"]]
    peak, j = 0.0, 0
    for i, (t0, c0) in enumerate(points):
        j = max(j, i + 1)
        while j < len(points) and points[j][0] - t0 < span_s:
            j += 1
        if j >= len(points):
            break
        t1, c1 = points[j]
        peak = max(peak, (c1 - c0) / (t1 - t0))
    return peak


def per_process(sample: dict) -> list[dict]:
    """One sample's processes, in MB, with whether each is the tree's root."""
    pids = {p["pid"] for p in sample["procs"]}
    return [{"pid": p["pid"], "name": p["name"], "rss_mb": p["rss"] / MB,
             "uss_mb": p.get("uss", 0) / MB, "cpu_s": p["cpu_s"],
             "root": p.get("ppid") not in pids} for p in sample["procs"]]
