"""The scenario layer without a lab: traces cut to the window, memory per
worker, the client saturation flag, scenario settings in matrix files, and
the run's units and phases."""
from pathlib import Path

import pytest

from runner.session import traces
from runner.core.errors import LabError, StepFailed
from runner.matrix.expand import load_matrix
from runner.execute.run import phases, prior_results, units
from runner.execute.results import Samples
from runner.scenarios import SCENARIOS
from runner.core.model import Variant
from runner.scenarios.wrk_window import littles_law
from runner.session.session import Session, Window
from runner.scenarios.memory import memory_metrics

MB = 2 ** 20


def proc(pid, cpu_s, rss_mb, uss_mb=None, ppid=1, **extra):
    row = {"pid": pid, "ppid": ppid, "name": "python", "cpu_s": cpu_s, "rss": rss_mb * MB,
           "threads": 2, "ctx_vol": int(cpu_s * 100), "ctx_invol": 1, **extra}
    if uss_mb is not None:
        row.update(uss=uss_mb * MB, fds=10)
    return row


def sample(t, *procs):
    return {"t": t, "rss": sum(p["rss"] for p in procs), "threads": 0, "procs": list(procs),
            "conns": 1}


def test_window_summary_counts_only_the_cpu_spent_inside_the_window():
    # 100 % of a core before the window, 50 % inside, 100 % after.
    trace = [sample(t, proc(10, cpu, 50, 20)) for t, cpu in
             [(0.0, 0.0), (1.0, 1.0), (2.0, 1.5), (3.0, 2.0), (4.0, 3.0)]]
    s = traces.window_summary(trace, start=1.0, end=3.0)
    assert s["samples"] == 3
    assert s["cpu_percent"] == pytest.approx(50.0)
    assert s["uss_mean"] == pytest.approx(20 * MB)
    assert s["connections_peak"] == 1


def test_the_busiest_worker_s_share_shows_an_uneven_accept():
    # A supervisor (pid 1) and four workers: even, then one worker doing it all.
    def trace(cpu_of):
        return [sample(t, proc(1, 0.1 * t, 30, ppid=0),
                       *(proc(pid, t * cpu_of(pid), 50, ppid=1) for pid in (2, 3, 4, 5)))
                for t in (0.0, 1.0, 2.0)]
    even = traces.window_summary(trace(lambda pid: 0.2), start=0.0, end=2.0)
    assert even["busiest_worker_cpu_share"] == pytest.approx(0.25)
    one_hot = traces.window_summary(trace(lambda pid: 0.9 if pid == 3 else 0.0), 0.0, 2.0)
    assert one_hot["busiest_worker_cpu_share"] == pytest.approx(1.0)
    # One process serving alone (uvicorn, 1 worker) is its own busiest worker.
    alone = traces.window_summary([sample(t, proc(7, t, 50, ppid=0)) for t in (0.0, 1.0)], 0, 1)
    assert alone["busiest_worker_cpu_share"] == 1.0


def test_stalls_are_requests_far_above_the_window_s_median():
    from runner.scenarios.wrk_window import stalls
    # Median 1 ms: 10 ms and above stalls; at 0.05 ms, 1 ms above it counts.
    assert stalls({1000: 980, 9000: 5, 10000: 10, 40000: 5}, 1.0) == 15
    assert stalls({50: 990, 600: 5, 1100: 5}, 0.05) == 5


def test_window_summary_refuses_a_window_the_sampler_did_not_cover():
    # The sampler stopped before the load did.
    trace = [sample(0.0, proc(10, 0, 50)), sample(0.5, proc(10, 1, 50))]
    with pytest.raises(traces.TraceError, match="does not cover the measured window"):
        traces.window_summary(trace, start=1.0, end=4.0)


def test_a_window_shorter_than_the_sampling_interval_is_covered_by_its_neighbours():
    # 0.5 s samples, a 0.46 s io-mix window holding one sample: the samples
    # on either side make the span (the sampler is not "missing").
    trace = [sample(t, proc(10, cpu, 50)) for t, cpu in
             [(0.0, 0.0), (0.5, 0.25), (1.0, 0.5), (1.5, 0.75)]]
    s = traces.window_summary(trace, start=0.3, end=0.76)
    assert s["samples"] == 3 and s["cpu_percent"] == pytest.approx(50.0)


def test_a_late_sampler_is_bridged_by_the_samples_around_the_window():
    # A saturated host delayed the sampler: nothing inside the window, one
    # sample on each side. CPU is counted over the span that covers it.
    trace = [sample(0.0, proc(10, 0.0, 50)), sample(0.9, proc(10, 0.1, 50)),
             sample(3.4, proc(10, 2.6, 50)), sample(3.6, proc(10, 2.7, 50))]
    s = traces.window_summary(trace, start=1.0, end=3.0)
    assert s["samples"] == 2 and s["max_gap_s"] == pytest.approx(2.5)
    assert s["cpu_percent"] == pytest.approx(100.0)


def test_a_process_forked_mid_window_counts_from_its_first_sample():
    trace = [sample(0.0, proc(1, 0.0, 50)),
             sample(1.0, proc(1, 0.5, 50), proc(2, 3.0, 40, ppid=1)),
             sample(2.0, proc(1, 1.0, 50), proc(2, 3.5, 40, ppid=1))]
    s = traces.window_summary(trace, 0.0, 2.0)
    assert s["cpu_s"] == pytest.approx(1.5)   # not the 3 s process 2 had before it was seen
    assert s["processes"] == 2


def test_memory_metrics_separate_busy_workers_from_the_idle_master():
    master = dict(pid=1, ppid=0)
    first = sample(0, proc(cpu_s=0.1, rss_mb=60, uss_mb=30, **master),
                   proc(2, 0.1, 70, 20), proc(3, 0.1, 72, 22))
    last = sample(2, proc(cpu_s=0.1, rss_mb=60, uss_mb=30, **master),
                  proc(2, 1.1, 80, 30), proc(3, 1.2, 82, 32))
    m = memory_metrics(first, last)
    assert m["workers_seen"][0] == 2 and m["other_processes"][0] == 1
    assert m["worker_uss_mb_after_warmup"][0] == pytest.approx(21)
    assert m["worker_uss_mb_after_load"][0] == pytest.approx(31)
    assert m["total_uss_mb_after_load"][0] == pytest.approx(92)


def test_littles_law_below_one_is_no_saturation_and_above_one_fails_the_window():
    busy = {"requests_per_s": (1000.0, "1/s"), "latency_mean": (15.5, "ms")}
    assert littles_law(busy, 16) == {"littles_law_ratio": (pytest.approx(0.969, abs=1e-3), "ratio")}
    # A server that closes every connection: wrk reconnects outside the
    # latency, so the ratio is low; that is not a saturated client.
    reconnects = {"requests_per_s": (500.0, "1/s"), "latency_mean": (1.2, "ms")}
    assert littles_law(reconnects, 1) == {"littles_law_ratio": (pytest.approx(0.6), "ratio")}
    # More in flight than connections: the samples are not one per request.
    inflated = {"requests_per_s": (1000.0, "1/s"), "latency_mean": (1.32, "ms")}
    with pytest.raises(StepFailed, match="1.320 of the 1 connection"):
        littles_law(inflated, 1)


def test_client_saturation_flag_reads_cpu_against_the_generators_cores():
    session = Session.__new__(Session)
    window = Window(stdout="", server={"cpu_percent": 80, "rss_mean": MB, "threads_peak": 3,
                                       "processes": 1, "ctx_voluntary": 1, "ctx_involuntary": 1,
                                       "max_gap_s": 0.2, "busiest_worker_cpu_share": 1.0},
                    client={"cpu_percent": 95.0, "sampler_cpu_percent": 0.4}, start=0, end=2,
                    server_samples=[], capacity_cores=1)
    assert session.window_metrics(window)["client_saturated"] == (1.0, "flag")
    window.capacity_cores = 2
    assert session.window_metrics(window)["client_saturated"] == (0.0, "flag")


def client_trace(shares: list[float], interval: float = 0.2) -> list[dict]:
    """A load generator's samples, using `shares[i]` of a core in interval i."""
    cpu, out = 0.0, []
    for i, share in enumerate([0.0, *shares]):
        cpu += share * interval
        out.append({"t": 100 + i * interval, "procs": [{"pid": 7, "cpu_s": round(cpu, 2)}]})
    return out


def test_a_client_saturated_for_part_of_the_window_is_flagged():
    """The miss the mean makes: 0.15 of a core, then 0.95 for the last
    second and a half of a 5 s window (mean 0.39)."""
    session = Session.__new__(Session)
    trace = client_trace([0.15] * 17 + [0.95] * 8)
    peak = traces.peak_cpu_share(trace)
    assert peak == pytest.approx(0.95, abs=0.03)
    window = Window(stdout="", server={"cpu_percent": 80, "rss_mean": MB, "threads_peak": 3,
                                       "processes": 1, "ctx_voluntary": 1, "ctx_involuntary": 1,
                                       "max_gap_s": 0.2, "busiest_worker_cpu_share": 1.0},
                    client={"cpu_percent": 39.0, "sampler_cpu_percent": 0.4,
                            "peak_cpu_share": peak}, start=0, end=5,
                    server_samples=[], capacity_cores=1)
    metrics = session.window_metrics(window)
    assert metrics["client_cpu_share"][0] == pytest.approx(0.39)
    assert metrics["client_saturated"] == (1.0, "flag")
    # A steady light client is not flagged, and one busy 0.2 s tick is not a burst.
    assert traces.peak_cpu_share(client_trace([0.02] * 25)) < 0.05
    assert traces.peak_cpu_share(client_trace([0.02] * 12 + [1.0] + [0.02] * 12)) < 0.5


BASE = """
name: sc
axes: {python: ["3.12"], django: ["5.2.19"], server: [gunicorn-sync], view: [drf, raw]}
pins: {djangorestframework: "3.18.3", gunicorn: "27.0.1"}
protocol: {repetitions: 2, seed: 3}
"""


def test_scenarios_default_to_single_client_keep_alive(write_matrix):
    m = load_matrix(write_matrix(BASE))
    assert list(m.scenarios) == ["single-client"]
    assert m.scenarios["single-client"].connection == ["keep-alive"]


@pytest.mark.parametrize("section,message", [
    ("{bogus: {}}", "scenarios.bogus: unknown scenario; allowed: single-client"),
    ("{concurrency: {levels: [0, 4]}}", "scenarios.concurrency.levels[0]: must be >= 1, got 0"),
    ("{concurrency: {level: [4]}}", "scenarios.concurrency.level: unknown field; allowed: levels"),
    ("{single-client: {connection: [pipelined]}}", "scenarios.single-client.connection[0]"),
    ("{}", "scenarios: names no scenario to run"),
    ("{io-mix: {slow_s: 0}}", "scenarios.io-mix.slow_s: must be > 0"),
    ("{concurrency: {levels: [20000]}}", "scenarios.concurrency.levels[0]: must be <= 10000"),
    ("{fixed-rate: {rates: [-5]}}", "scenarios.fixed-rate.rates[0]"),
])
def test_bad_scenario_settings_are_named(write_matrix, section, message):
    with pytest.raises(LabError) as err:
        load_matrix(write_matrix(BASE + f"scenarios: {section}\n"))
    assert message in str(err.value)


def test_units_cover_every_variant_and_repetition_in_a_seeded_shuffle(write_matrix):
    m = load_matrix(write_matrix(BASE + "scenarios: {concurrency: {levels: [1, 8]}, memory: }\n"))
    cells = [type("C", (), {"spec": s, "cell_id": f"c{i}"})() for i, s in enumerate(m.cells)]
    [names] = phases(m)
    order = units(m, cells, names, {}, m.protocol.seed)
    keys = [(u.cell.cell_id, u.scenario, u.variant.label, u.repetition) for u in order]
    assert len(keys) == len(set(keys)) == 2 * (2 + 1) * 2
    assert keys == [(u.cell.cell_id, u.scenario, u.variant.label, u.repetition)
                    for u in units(m, cells, names, {}, m.protocol.seed)]
    assert keys != sorted(keys)
    other = [(u.cell.cell_id, u.scenario, u.variant.label, u.repetition)
             for u in units(m, cells, names, {}, m.protocol.seed + 1)]
    assert other != keys and sorted(other) == sorted(keys)


def test_units_run_in_randomized_complete_blocks(write_matrix):
    """Repetition k is block k: it measures every cell x scenario x variant
    once, all of it before block k + 1 starts, each block in its own order."""
    m = load_matrix(write_matrix(BASE.replace("repetitions: 2", "repetitions: 6")
                                 + "scenarios: {concurrency: {levels: [1, 8, 64]}}\n"))
    cells = [type("C", (), {"spec": s, "cell_id": f"c{i}"})() for i, s in enumerate(m.cells)]
    order = units(m, cells, phases(m)[0], {}, m.protocol.seed)
    reps = [u.repetition for u in order]
    assert reps == sorted(reps)                       # blocks one after another
    blocks = [[(u.cell.cell_id, u.variant.label) for u in order if u.repetition == k]
              for k in range(6)]
    assert all(sorted(b) == sorted(blocks[0]) and len(b) == 2 * 3 for b in blocks)
    assert len({tuple(b) for b in blocks}) > 1         # shuffled anew in each block


def test_prior_results_give_each_cell_its_peak_throughput():
    samples = Samples("r")
    cols = {"cell_id": "a", "server": "s", "interface": "wsgi", "workers": 1, "threads": 1,
            "python": "3.12", "django": "5", "asgiref": "3", "view": "drf"}
    for rep, (c1, c8) in enumerate([(900, 2000), (1000, 2200), (950, 2100)]):
        samples.add(cols, "concurrency", rep, {"requests_per_s": (c1, "1/s")}, variant="c=1")
        samples.add(cols, "concurrency", rep, {"requests_per_s": (c8, "1/s")}, variant="c=8")
    assert prior_results(samples) == {"a": {"concurrency_peak_rps": 2100.0}}


def test_a_view_needing_a_service_no_scenario_sets_up_is_refused(write_matrix):
    with pytest.raises(LabError) as refused:
        load_matrix(write_matrix(BASE.replace("view: [drf, raw]", "view: [drf, polls]")
                                 + "scenarios: {concurrency: {levels: [4]}}\n"))
    message = str(refused.value)
    assert "\n" not in message
    assert "view 'polls' needs the service postgres" in message
    assert "(concurrency)" in message and "scenarios that do: user-ramp" in message


def test_the_polls_view_runs_only_under_the_scenario_that_sets_up_its_database(write_matrix):
    m = load_matrix(write_matrix(BASE.replace("view: [drf, raw]", "view: [polls]")
                                 + "scenarios: {single-client: {}, user-ramp: {}}\n"))
    assert {c.view for c in m.cells} == {"polls"}
    assert all(list(m.scenarios_for(c)) == ["user-ramp"] for c in m.cells)
    reason = SCENARIOS["single-client"].exclusion(m.cells[0], m.scenarios["single-client"])
    assert reason == "view 'polls' needs postgres, which single-client does not set up"


def one_repetition(monkeypatch, tmp_path, start_server, **patches):
    """run_repetition on a single-client keep-alive unit with no host:
    `start_server` and the other `patches` stand in for the repetition's
    steps; returns (the outcome, or the exception it raised; the pids stopped)."""
    from runner.execute import repetition
    from runner.session.session import Context

    monkeypatch.setattr(repetition, "start_server", start_server)
    for name, fake in patches.items():
        monkeypatch.setattr(repetition, name, fake)
    stopped = []
    monkeypatch.setattr(repetition, "stop_server", lambda ctx, pid, **k: stopped.append(pid))
    monkeypatch.setattr(Session, "fetch", lambda *a, **k: None)
    host = type("H", (), {"lab_root": "/lab", "address": "198.18.1.10", "traffic_address": "198.18.1.10",
                         "cpus": "1"})()
    ctx = Context(run_id="r", run_dir=tmp_path, server_host=host, client_host=host,
                  server_conn=None, client_conn=None, warmup_s=1, duration_s=1)
    cell = type("C", (), {"cell_id": "c1", "spec": type("S", (), {"view": "drf", "workers": 1})()})()
    try:
        out = repetition.run_repetition(ctx, cell, "single-client",
                                        SCENARIOS["single-client"].Params(),
                                        Variant("keep-alive", {"connection": "keep-alive"}), 0)
    except BaseException as exc:      # noqa: BLE001 - what escaped is the answer
        out = exc
    return out, stopped


def test_a_step_over_its_bound_fails_the_unit_not_the_run(monkeypatch, tmp_path):
    from invoke.exceptions import CommandTimedOut
    from invoke.runners import Result

    def hangs(*args, **kwargs):
        raise CommandTimedOut(Result(command="wrk -c1 ..."), timeout=7)

    out, stopped = one_repetition(monkeypatch, tmp_path, lambda *a, **k: (4242, ["server"]),
                                  wait_ready=hangs)
    assert out.failure == "a step timed out after 7 s: wrk -c1 ..."
    assert stopped == [4242]   # the server is still stopped


def test_a_dropped_ssh_session_fails_the_unit_as_ssh_lost_and_a_real_exit_does_not(
        monkeypatch, tmp_path):
    """Fabric reports a command cut off by a lost host as exit -1 (found when a
    pair's server host lost SSH mid-start): that is the host gone, to be checked,
    not a traceback. A command that really exited non-zero is not."""
    from invoke.exceptions import UnexpectedExit
    from invoke.runners import Result

    def cut_off(*args, **kwargs):
        raise UnexpectedExit(Result(command="setsid uvicorn ...", exited=-1))

    out, _ = one_repetition(monkeypatch, tmp_path, cut_off)
    assert out.ssh_lost and "session closed before the command ended (exit -1)" in out.failure

    def fails(*args, **kwargs):
        raise UnexpectedExit(Result(command="setsid uvicorn ...", exited=2))

    out, _ = one_repetition(monkeypatch, tmp_path, fails)
    assert isinstance(out, UnexpectedExit)


def test_ctrl_c_during_the_start_still_stops_the_server_it_started(monkeypatch, tmp_path):
    """A Ctrl-C that lands while the start command is in flight is held until
    the pid is kept: the server is then stopped, not left behind (CI once
    found a server alive after a Ctrl-C in exactly this gap)."""
    import os
    import signal

    def starts_then_interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return 4242, ["server"]

    out, stopped = one_repetition(monkeypatch, tmp_path, starts_then_interrupted)
    assert isinstance(out, KeyboardInterrupt)
    assert stopped == [4242]


def test_the_manifest_names_the_single_client_latency_model_exactly():
    """One connection, one thread, for keep-alive; a connection per request for close
    (it once said "N connection(s), T thread(s)", the concurrency template)."""
    from runner.execute.run import latency_models
    m = load_matrix(Path(__file__).parent / "data" / "matrices" / "scenarios.yaml")
    models = latency_models(m)
    assert "wrk closed loop, 1 connection(s), 1 thread(s), keep-alive" in models["single-client"]
    assert "a new connection per request" in models["single-client close"]


def test_every_scenario_ships_its_host_files_from_its_own_folder():
    """What the playbooks copy and install comes from the registry: each
    declared host file exists in <scenario>/host/, no two scenarios ship one
    name (they land in one tools folder), and every client package is pinned."""
    from runner.scenarios import host_file, playbook_vars
    shipped = playbook_vars()
    names = [f["name"] for f in shipped["lab_scenario_files"]]
    assert len(names) == len(set(names))
    for scenario in SCENARIOS.values():
        for name in scenario.host_files:
            assert host_file(scenario, name).is_file(), (scenario.name, name)
            assert host_file(scenario, name).parent.parent.name == scenario.name.replace("-", "_")
    assert shipped["lab_client_tools_packages"]
    assert all("==" in p for p in shipped["lab_client_tools_packages"])


def test_every_scenario_describes_itself_in_the_matrix_schema():
    from runner.matrix.schema import MatrixFile
    schema = MatrixFile.model_json_schema()["$defs"]["ScenarioSet"]["properties"]
    for name, scenario in SCENARIOS.items():
        assert scenario.summary.startswith(f"[{name}] ")
        assert schema[name]["description"] == scenario.summary
