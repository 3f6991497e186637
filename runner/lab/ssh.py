"""Fabric connections to lab hosts, checking host keys against the lab's own
known_hosts (never the user's, never turned off)."""
from __future__ import annotations

import logging

import fabric
from paramiko import RejectPolicy

from runner.lab.inventory import Host


# Paramiko's transport thread logs a failed handshake (a host going down) with
# its traceback; with no handler Python prints it on stderr. The same failure
# reaches the runner as an exception, which says it in one line.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def connect(host: Host, timeout: float = 10) -> fabric.Connection:
    conn = fabric.Connection(host.address, user=host.user,
                             connect_kwargs={"key_filename": host.key, "look_for_keys": False,
                                             "allow_agent": False},
                             connect_timeout=timeout)
    # Fabric installs AutoAddPolicy; a lab host must present the key we recorded.
    conn.client.set_missing_host_key_policy(RejectPolicy())
    conn.client.load_host_keys(host.known_hosts)
    return conn


def run(conn: fabric.Connection, command: str, timeout: float = 60, warn: bool = False):
    """Run a command quietly with a bound on its duration."""
    return conn.run(command, hide=True, warn=warn, timeout=timeout, in_stream=False)
