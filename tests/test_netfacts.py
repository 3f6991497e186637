"""The server host's TCP settings for the manifest (session/netfacts.py),
read here from this machine's /proc/sys with the script the host runs."""
from pathlib import Path

import invoke

from runner.session import netfacts


class LocalConn:
    def run(self, command, **kwargs):
        return invoke.run(command, **kwargs)


def test_each_setting_is_read_and_a_missing_one_is_none(monkeypatch):
    monkeypatch.setattr(netfacts, "SYSCTLS", ("net.core.somaxconn", "net.ipv4.no_such_setting",
                                              "net.ipv4.ip_local_port_range"))
    facts = netfacts.read_net_facts(LocalConn())
    assert facts["net.core.somaxconn"] == Path("/proc/sys/net/core/somaxconn").read_text().strip()
    assert facts["net.ipv4.no_such_setting"] is None
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    assert facts["net.ipv4.ip_local_port_range"] == f"{low} {high}"   # tabs made one space
