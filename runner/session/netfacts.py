"""The server host's TCP settings, read once per run for the manifest: the
kernel's side of a stall pattern (a short accept backlog, TIME_WAIT reuse,
slow start after idle, delayed ACKs) is then on record beside the figures.
Network sysctls are per namespace: these are the server's own."""
from __future__ import annotations

from runner.lab.ssh import run

SYSCTLS = (
    "net.core.somaxconn",                   # the cap on any listen backlog
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_autocorking",
    "net.ipv4.tcp_low_latency",
    "net.ipv4.ip_local_port_range",
)


def read_net_facts(conn) -> dict:
    """{sysctl: value} on the host behind `conn`; a setting the kernel lacks
    is None."""
    paths = " ".join("/proc/sys/" + name.replace(".", "/") for name in SYSCTLS)
    script = f'for f in {paths}; do v=$(cat "$f" 2>/dev/null) || v=-; echo "$v"; done'
    lines = run(conn, script, timeout=15, warn=True).stdout.splitlines()
    values = [" ".join(line.split()) for line in lines] + ["-"] * len(SYSCTLS)
    return {name: (None if value == "-" else value) for name, value in zip(SYSCTLS, values)}
