"""`lab tune` end to end on the shared e2e lab: its two hosts are namespaces
of this machine, so they are tuned as one machine; show prints every
setting with whether it can be changed here, apply changes what it can and
restore puts it back."""
from pathlib import Path

import pytest

from tests.support.lab import LAB, lab

pytestmark = pytest.mark.e2e

RATE = Path("/proc/sys/kernel/perf_event_max_sample_rate")


def test_show_apply_restore_on_the_local_lab(lab_up):
    shown = lab("tune", "show", "--lab", LAB).stdout
    assert "machine of host(s) client, server; measured CPUs 0-1" in shown
    for name in ("cpu0.governor", "cpu1.min_freq", "turbo", "irqbalance", "irq affinity",
                 "perf_event_max_sample_rate", "isolcpus", "nohz_full", "aslr", "swap",
                 "power_supply"):
        assert name in shown
    # Both cores are measured (client 0, server 1): there is nowhere to move IRQs.
    assert "every online CPU is measured" in shown

    before = RATE.read_text().strip()
    try:
        applied = lab("tune", "apply", "--lab", LAB).stdout
        assert f"perf_event_max_sample_rate: {before} -> 1" in applied
        assert RATE.read_text().strip() == "1"
        assert "an apply is in force" in lab("tune", "show", "--lab", LAB).stdout
    finally:
        restored = lab("tune", "restore", "--lab", LAB).stdout
    assert f"perf_event_max_sample_rate: back to {before}" in restored
    assert RATE.read_text().strip() == before
    assert "an apply is in force" not in lab("tune", "show", "--lab", LAB).stdout
