"""runner/session/health.py on sampler summaries whose answer is known:
false alarms (a server busy with its own work, a server that closes every
connection, a stalling server) and misses (another program on the CPUs,
steal, a load generator waiting for its CPU)."""
from __future__ import annotations

import pytest

from runner.session import health

HZ = 100


def summary(wall_s=2.0, cpu_s=0.0, sampler_pct=1.0, busy_s=None, softirq_s=0.0, steal_s=0.0,
            run_delay_s=None, cpus=1):
    """A sampler summary over `wall_s` on `cpus` CPUs: the tree used cpu_s,
    the CPUs were busy busy_s in all (default: the tree and the sampler)."""
    own = cpu_s + sampler_pct / 100 * wall_s
    busy = own + softirq_s + steal_s if busy_s is None else busy_s
    total = wall_s * cpus
    stat = {"cpus": list(range(cpus)), "hz": HZ, "user": 0, "nice": 0,
            "system": round((busy - softirq_s - steal_s) * HZ), "idle": round((total - busy) * HZ),
            "iowait": 0, "irq": 0, "softirq": round(softirq_s * HZ), "steal": round(steal_s * HZ)}
    out = {"wall_s": wall_s, "cpu_s": cpu_s, "sampler_cpu_percent": sampler_pct, "cpu_stat": stat}
    if run_delay_s is not None:
        out["run_delay_s"] = run_delay_s
    return out


def flag(client, server):
    return health.window_health(client, server)["window_disturbed"][0]


def test_a_server_busy_with_its_own_work_is_not_disturbed():
    # A saturated server: its tree uses the whole CPU; nothing else does.
    assert flag(summary(cpu_s=0.3, run_delay_s=0.01), summary(cpu_s=1.98)) == 0.0


def test_a_server_that_closes_every_connection_is_not_disturbed():
    # Connection setup and teardown: much softirq, which is the work measured.
    m = health.window_health(summary(cpu_s=0.6, softirq_s=0.4, run_delay_s=0.02),
                             summary(cpu_s=1.2, softirq_s=0.5))
    assert m["window_disturbed"] == (0.0, "flag")
    assert m["server_cpu_softirq_share"][0] == pytest.approx(0.25)


def test_a_stalling_server_is_not_disturbed():
    # Rare 40 ms stalls inside the server: its CPUs idle, the client waits on I/O, not the CPU.
    assert flag(summary(cpu_s=0.05, run_delay_s=0.0), summary(cpu_s=0.4)) == 0.0


def test_another_program_on_the_server_cpu_is_named():
    m = health.window_health(summary(cpu_s=0.1, run_delay_s=0.0),
                             summary(cpu_s=0.8, busy_s=1.4))
    assert m["server_cpu_other_share"][0] == pytest.approx((1.4 - 0.82) / 2.0, abs=0.01)
    assert m["window_disturbed"] == (1.0, "flag")


def test_steal_and_a_waiting_load_generator_are_flagged():
    assert flag(summary(cpu_s=0.1, steal_s=0.2, run_delay_s=0.0), summary(cpu_s=0.5)) == 1.0
    assert flag(summary(cpu_s=0.1, run_delay_s=0.2), summary(cpu_s=0.5)) == 1.0
    assert flag(summary(cpu_s=0.1, run_delay_s=0.05), summary(cpu_s=0.5)) == 0.0


def test_summaries_without_cpu_counters_give_no_health_figures():
    assert health.window_health({"wall_s": 2.0}, {}) == {}


def test_the_report_names_each_disturbed_window_and_the_figure_that_crossed_the_line():
    import pandas as pd

    from analysis.runs.health import health_check

    cell = {"run_id": "r", "cell_id": "c1", "server": "uvicorn", "interface": "asgi",
            "workers": 1, "threads": 1, "python": "3.12", "django": "5.2.19",
            "asgiref": "3.13.0", "view": "drf", "scenario": "single-client",
            "variant": "keep-alive"}
    rows = []
    for rep, (other, flagged) in enumerate([(0.01, 0.0), (0.31, 1.0)]):
        rows += [{**cell, "repetition": rep, "metric": "server_cpu_other_share", "value": other},
                 {**cell, "repetition": rep, "metric": "window_disturbed", "value": flagged}]
    samples = pd.DataFrame(rows)
    manifest = {"protocol": {"window_health": health.THRESHOLDS}}
    line = health_check(samples, manifest, lambda row: row["server"])
    assert "**Disturbed windows** (1;" in line
    assert "uvicorn repetition 1: other load on the server's CPUs 31.0% > 10%" in line
    quiet = health_check(samples[samples["repetition"] == 0], manifest, lambda r: r["server"])
    assert quiet.startswith("Window health: no measured window was disturbed")
    assert "predates" in health_check(samples, {"protocol": {}}, lambda r: "")


class Windows:
    """A scenario whose windows come out disturbed `disturbed` times first,
    writing its raw file each time as the real ones do."""

    def __init__(self, disturbed: int, remeasure: bool = True):
        self.left, self.remeasure_disturbed, self.calls = disturbed, remeasure, 0

    def measure(self, session, params, variant):
        self.calls += 1
        (session.local_dir / "measured-out.txt").write_text(f"attempt {self.calls}")
        flag = 1.0 if self.left > 0 else 0.0
        self.left -= 1
        return {"latency_p50": (float(self.calls), "ms"), "window_disturbed": (flag, "flag")}


def test_a_disturbed_window_is_measured_again_and_the_set_aside_attempt_kept(tmp_path):
    from types import SimpleNamespace

    from runner.execute.repetition import measure_until_quiet

    session = SimpleNamespace(local_dir=tmp_path)
    plugin = Windows(disturbed=1)
    m = measure_until_quiet(session, plugin, None, None, 3)
    assert m["latency_p50"] == (2.0, "ms") and m["window_attempts"] == (2.0, "count")
    assert m["window_disturbed"] == (0.0, "flag")
    assert (tmp_path / "disturbed1-measured-out.txt").read_text() == "attempt 1"
    assert (tmp_path / "measured-out.txt").read_text() == "attempt 2"
    # Bounded: a window disturbed every time is measured MAX times, then flagged.
    always = Windows(disturbed=99)
    (tmp_path / "x").mkdir()
    m = measure_until_quiet(SimpleNamespace(local_dir=tmp_path / "x"), always, None, None, 3)
    assert always.calls == 3 and m["window_disturbed"] == (1.0, "flag")
    # A scenario that does not re-measure keeps its one window, flagged.
    once = Windows(disturbed=1, remeasure=False)
    (tmp_path / "y").mkdir()
    m = measure_until_quiet(SimpleNamespace(local_dir=tmp_path / "y"), once, None, None, 3)
    assert once.calls == 1 and "window_attempts" not in m
