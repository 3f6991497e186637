"""Host tuning (runner/lab/host/tune_host.py) on this machine's real /sys and
/proc: show lists every setting with its availability; apply changes what
can be changed and restore puts back exactly what it changed, also after an
apply interrupted half-way or applied twice. The report's first screen
says when a run was measured on an untuned host."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from analysis.report.markdown import tuning_lines
from runner.lab import tune
from runner.lab.host import tune_host as th

EVERY = {"turbo", "irqbalance", "perf_event_max_sample_rate", "isolcpus", "nohz_full", "aslr",
         "swap", "power_supply"}
root_only = pytest.mark.root     # changing /proc/sys
MEASURED = [os.cpu_count() - 1]     # as the local lab pins its server


def current_values(cpus) -> dict:
    """What every setting holds now, read afresh."""
    return {s["name"]: s.get("value") for s in th.settings(cpus)}


def test_show_lists_every_setting_with_its_availability():
    shown = th.settings(MEASURED)
    names = {s["name"] for s in shown}
    assert EVERY <= names
    assert {f"cpu{MEASURED[0]}.governor", f"cpu{MEASURED[0]}.min_freq"} <= names
    for s in shown:
        assert isinstance(s["changeable"], bool) and s["kind"] in ("setting", "check")
        if not s["changeable"] and not s["ok"]:
            assert s["why"], s          # whatever cannot be changed says why
    # This VM exposes no frequency scaling: the governor is reported, not changeable.
    if not Path(f"/sys/devices/system/cpu/cpu{MEASURED[0]}/cpufreq").exists():
        gov = next(s for s in shown if s["name"].endswith(".governor"))
        assert (gov["changeable"], gov["value"]) == (False, None) and "cpufreq" in gov["why"]


@root_only
def test_apply_changes_what_it_can_and_restore_puts_back_exactly_that(tmp_path):
    before = current_values(MEASURED)
    journal = str(tmp_path / "journal.jsonl")
    try:
        out = th.apply(MEASURED, journal)
        changed = {c["name"] for c in out["changed"]}
        assert "perf_event_max_sample_rate" in changed
        if os.cpu_count() > 1:   # IRQs can leave the measured CPU
            assert any(n.startswith("irq") for n in changed)
        after = {s["name"]: s for s in th.settings(MEASURED)}
        assert all(after[n]["ok"] for n in changed)
        assert not out["failed"]
        skipped = {s["name"] for s in out["skipped"]}
        # Skipped: not changeable here, or an IRQ the kernel would not move.
        assert not skipped & changed
        assert all(not after[n]["changeable"] or n.startswith("irq") for n in skipped)
    finally:
        restored = th.restore(journal)
    assert {r["name"] for r in restored["restored"]} == changed
    assert current_values(MEASURED) == before
    assert not Path(journal).exists()


@root_only
def test_an_interrupted_apply_is_still_restored(tmp_path):
    before = current_values(MEASURED)
    journal = str(tmp_path / "journal.jsonl")
    calls = []

    def dies_on_the_third_change(knob, value):
        calls.append(knob["name"])
        if len(calls) == 3:
            raise KeyboardInterrupt      # Ctrl-C, or the SSH session dropping
        th.change(knob, value)

    if sum(1 for s in th.settings(MEASURED) if s["changeable"] and not s["ok"]) < 3:
        pytest.skip("fewer than three settings can be changed on this machine")
    with pytest.raises(KeyboardInterrupt):
        th.apply(MEASURED, journal, change=dies_on_the_third_change)
    assert current_values(MEASURED) != before          # two changes went through
    th.restore(journal)
    assert current_values(MEASURED) == before


@root_only
def test_a_second_apply_keeps_the_first_old_values(tmp_path):
    before = current_values(MEASURED)
    journal = str(tmp_path / "journal.jsonl")
    try:
        th.apply(MEASURED, journal)
        th.apply(MEASURED, journal)
    finally:
        th.restore(journal)
    assert current_values(MEASURED) == before


def test_the_host_script_runs_with_the_standard_library_alone(tmp_path):
    # It runs on hosts before any venv exists: no import outside the standard library.
    import subprocess
    proc = subprocess.run([sys.executable, "-I", "-S", th.__file__, "show", "--cpus", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert '"name": "perf_event_max_sample_rate"' in proc.stdout


def test_untuned_hosts_are_named_on_the_reports_first_screen():
    shown = [{"hosts": ["client", "server"], "cpus": "0-1", "settings": [
        {"name": "perf_event_max_sample_rate", "value": "100000", "tuned": "1", "ok": False,
         "changeable": True},
        {"name": "cpu1.governor", "value": None, "tuned": "performance", "ok": False,
         "changeable": False, "why": "no cpufreq"},
        {"name": "irq24.affinity", "value": "0-1", "tuned": None, "ok": False, "changeable": False},
        {"name": "aslr", "value": "2", "ok": True, "changeable": False}]}]
    manifest = {"host_tuning": tune.for_manifest(shown)}
    assert manifest["host_tuning"]["untuned"] == [{
        "hosts": ["client", "server"], "can_apply": ["perf_event_max_sample_rate"],
        "cannot": ["cpu1.governor", "irq24.affinity"]}]
    text = "\n".join(tuning_lines(manifest))
    assert "Measured on an untuned host" in text
    assert "`lab tune apply` would change perf_event_max_sample_rate" in text
    assert "cannot be changed there: cpu1.governor, 1 IRQs' affinity" in text
    for s in shown[0]["settings"]:
        s["ok"] = True
    assert tuning_lines({"host_tuning": tune.for_manifest(shown)}) == []
    assert tuning_lines({}) == []        # runs from before tuning was recorded


def test_what_show_reports_on_a_real_host_fits_the_manifests_model(tmp_path):
    """The run records `lab tune show` in the manifest (host_tuning): the
    script's real output, through for_manifest, validates in the typed
    model, before and after an apply is noted in the journal."""
    import json
    import subprocess

    from runner.core.model import HostTuning
    journal = tmp_path / "journal.jsonl"
    script = Path(th.__file__)

    def shown() -> list[dict]:
        out = subprocess.run([sys.executable, str(script), "show", "--cpus", str(MEASURED[0]),
                              "--journal", str(journal)], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        return [{"hosts": ["server", "client"], "cpus": str(MEASURED[0]), **json.loads(out)}]

    tuning = HostTuning.model_validate(tune.for_manifest(shown()))
    assert tuning.machines[0].journal is False and tuning.machines[0].settings
    journal.write_text('{"name": "swap", "value": "1"}\n')     # as an apply leaves it
    assert HostTuning.model_validate(tune.for_manifest(shown())).machines[0].journal is True
