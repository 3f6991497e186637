"""The settle check: before the first window of a run, wait until each
host's CPUs are quiet, so that what the install left running (compiling
bytecode, writing caches, Ansible's last processes) does not land in the
first windows. Bounded; the manifest records what each host showed
(`settle`), and a host that did not settle is a warning, not a failure."""
from __future__ import annotations

import json

from runner.lab.host_paths import HostPaths
from runner.lab.ssh import run

MAX_BUSY = 0.10      # busy share of the host's CPUs over one reading
EVERY_S = 0.5        # one reading
TIMEOUT_S = 10.0     # at most this long per host


def settle_hosts(ctx) -> dict:
    """{role: the sampler's settle report} for the server and client hosts."""
    out = {}
    for role, host, conn in (("server", ctx.server_host, ctx.server_conn),
                             ("client", ctx.client_host, ctx.client_conn)):
        paths = HostPaths.of(host)
        res = run(conn, f"{paths.tools_python} {paths.tool('sampler.py')} settle "
                        f"--max-busy {MAX_BUSY} --every {EVERY_S} --timeout {TIMEOUT_S}",
                  timeout=TIMEOUT_S + 30, warn=True)
        try:
            out[role] = json.loads(res.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out[role] = {"settled": False,
                         "error": f"settle check exited {res.return_code}: "
                                  f"{' '.join((res.stderr or '').split())[-200:]}"}
    return out
