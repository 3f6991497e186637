"""Window health: was anything but the measured processes competing for the
CPUs during a measured window? Measured, not guessed, from the samplers'
summaries (runner/session/host/sampler.py):

- per host, the window's /proc/stat deltas of the CPUs the host may use:
  their busy time, and of it the share that is irq + softirq, steal (the
  hypervisor ran someone else), and *other*: busy time that is neither
  interrupts, steal, the watched processes nor the sampler itself (another
  program, or the kernel working for one, on the measured CPUs);
- on the client, the load generator's run-queue delay: time its threads
  were ready to run but waited for the CPU (a late send, even when the
  generator's own CPU use is low).

A window beyond one of the thresholds below is flagged (`window_disturbed`)
and the report names it with the figure that crossed the line
(analysis/runs/health.py). Interrupt time is recorded, not judged: serving the
network is part of the work measured.
"""
from __future__ import annotations

# Stated thresholds, recorded in the manifest (protocol.window_health).
OTHER_MAX = 0.10       # share of the host's CPUs busy with something else
STEAL_MAX = 0.05       # share of the host's CPUs stolen by the hypervisor (a 5 % effect)
RUN_DELAY_MAX = 0.05   # share of the window the load generator waited to run
THRESHOLDS = {"other_max": OTHER_MAX, "steal_max": STEAL_MAX, "run_delay_max": RUN_DELAY_MAX}

STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_shares(summary: dict) -> dict | None:
    """{other, steal, softirq, busy}: shares of the host's CPU time over the
    sampler's life, from its summary; None when it has no /proc/stat delta."""
    st = summary.get("cpu_stat")
    if not st:
        return None
    total = sum(st.get(f, 0) for f in STAT_FIELDS)
    if total <= 0:
        return None
    busy = total - st.get("idle", 0) - st.get("iowait", 0)
    interrupts = st.get("irq", 0) + st.get("softirq", 0)
    hz = st.get("hz") or 100
    sampler_s = (summary.get("sampler_cpu_percent") or 0.0) / 100.0 * summary.get("wall_s", 0.0)
    own = (summary.get("cpu_s", 0.0) + sampler_s) * hz
    other = max(0.0, busy - interrupts - st.get("steal", 0) - own)
    return {"busy": busy / total, "other": other / total, "steal": st.get("steal", 0) / total,
            "softirq": interrupts / total}


def window_health(client: dict, server: dict) -> dict[str, tuple[float, str]]:
    """The window's health metrics and its `window_disturbed` flag."""
    metrics: dict[str, tuple[float, str]] = {}
    disturbed = False
    for host, summary in (("client", client), ("server", server)):
        shares = cpu_shares(summary)
        if shares is None:
            continue
        for name in ("other", "steal", "softirq"):
            metrics[f"{host}_cpu_{name}_share"] = (shares[name], "ratio")
        disturbed |= shares["other"] > OTHER_MAX or shares["steal"] > STEAL_MAX
    wall = client.get("wall_s") or 0.0
    if client.get("run_delay_s") is not None and wall > 0:
        share = client["run_delay_s"] / wall
        metrics["client_run_delay_share"] = (share, "ratio")
        disturbed |= share > RUN_DELAY_MAX
    if metrics:
        metrics["window_disturbed"] = (float(disturbed), "flag")
    return metrics
