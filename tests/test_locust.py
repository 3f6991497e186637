"""runner/scenarios/user_ramp/locust.py: the argv, and parsing of what Locust and the locustfile
wrote, tested on real outputs saved under tests/data/locust/ (each folder's
command.txt is the command that produced it, against the polls app on
gunicorn and PostgreSQL over loopback):

- loopback_ok: 2 then 4 users, no failure;
- loopback_server_killed: gunicorn killed near the end of the first step, so
  every later request is refused;
- loopback_timeouts: 5 then 40 users with almost no wait and a 0.3 s request
  timeout, so the second step's requests time out;
- lab_nginx_uvicorn: a `lab run` on the local lab (user-ramp, steps [2, 4] of
  3 s, the seed's 1-2 s wait): uvicorn behind nginx, PostgreSQL, no failure.
"""
from pathlib import Path

import pytest

from runner.scenarios.user_ramp import locust

DATA = Path(__file__).parent / "data" / "locust"
SAMPLES = sorted(p.name for p in DATA.iterdir() if p.is_dir())


def rows_of(name):
    return locust.parse_steps((DATA / name / "locust_steps.csv").read_text())


def totals_of(name):
    return locust.parse_totals((DATA / name / "locust.json").read_text())


def test_there_are_saved_outputs():
    assert {"loopback_ok", "loopback_server_killed", "loopback_timeouts"} <= set(SAMPLES)


@pytest.mark.parametrize("name", SAMPLES)
def test_saved_outputs_parse_and_agree_with_locusts_own_totals(name):
    rows = rows_of(name)
    locust.check_totals(rows, totals_of(name))   # raises on any disagreement
    assert [r.step for r in rows] == list(range(1, len(rows) + 1))
    for prev, row in zip(rows, rows[1:]):
        assert row.users > prev.users
        # Steps follow each other without a gap or an overlap.
        assert row.start_epoch == pytest.approx(prev.end_epoch, abs=0.002)
        assert row.start_s == pytest.approx(prev.start_s + prev.duration_s, abs=0.002)
    for row in rows:
        assert row.sent == row.requests + row.unfinished
        assert row.requests > 0 and row.users_reached == row.users
        assert row.failure_pct == pytest.approx(100.0 * row.failures / row.requests, abs=1e-3)
        assert row.requests_per_s == pytest.approx(row.requests / row.duration_s, rel=1e-3)
        lat = row.latency_ms
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert sum(row.errors.values()) == row.failures


def test_known_values_without_failures():
    rows = rows_of("loopback_ok")
    assert [(r.users, r.requests, r.failures) for r in rows] == [(2, 35, 0), (4, 65, 0)]
    assert rows[1].latency_ms["p99"] == pytest.approx(130.529)
    assert locust.max_users_without_failures(rows) == 4


def test_refused_connections_are_failures_of_their_step():
    rows = rows_of("loopback_server_killed")
    assert [r.failures for r in rows] == [0, 80, 156]
    assert rows[1].errors == {"ConnectionRefusedError": 80} and rows[1].failure_pct == 100.0
    assert locust.max_users_without_failures(rows) == 2
    assert totals_of("loopback_server_killed") == (269, 236)


def test_timeouts_are_failures_named_as_such():
    rows = rows_of("loopback_timeouts")
    assert rows[1].errors == {"timeout": 362}
    assert rows[1].failure_pct == pytest.approx(97.0509)
    assert locust.max_users_without_failures(rows) == 5


def test_totals_that_disagree_are_refused():
    rows = rows_of("loopback_ok")
    with pytest.raises(locust.LocustOutputError, match="100 requests / 0 failures, Locust counted 99 / 0"):
        locust.check_totals(rows, (99, 0))


def test_broken_step_files_are_refused():
    with pytest.raises(locust.LocustOutputError, match="lacks columns"):
        locust.parse_steps("step,users\n1,2\n")
    header = (DATA / "loopback_ok" / "locust_steps.csv").read_text().splitlines()[0]
    with pytest.raises(locust.LocustOutputError, match="no rows"):
        locust.parse_steps(header + "\n")
    good = (DATA / "loopback_ok" / "locust_steps.csv").read_text().splitlines()
    with pytest.raises(locust.LocustOutputError, match="malformed"):
        locust.parse_steps("\n".join([good[0], good[1].replace(",35,", ",many,", 1)]))
    with pytest.raises(locust.LocustOutputError, match="out of order"):
        locust.parse_steps("\n".join([good[0], good[2], good[1]]))
    with pytest.raises(locust.LocustOutputError, match="malformed Locust JSON"):
        locust.parse_totals('[{"name": "x"}]')


def _row(users, requests=10, failures=0, unfinished=0):
    return locust.StepRow(step=1, users=users, users_reached=users, start_epoch=0.0, end_epoch=1.0,
                          start_s=0.0, duration_s=1.0, sent=requests + unfinished, requests=requests,
                          unfinished=unfinished, failures=failures,
                          failure_pct=100.0 * failures / requests if requests else None,
                          requests_per_s=float(requests),
                          latency_ms={k: (1.0 if requests else None)
                                      for k in ("p50", "p90", "p99", "mean", "max")},
                          errors={})


def test_largest_user_count_without_failures_stops_at_the_first_bad_step():
    assert locust.max_users_without_failures([_row(100), _row(200), _row(300, failures=1),
                                              _row(400)]) == 200
    assert locust.max_users_without_failures([_row(100, failures=1), _row(200)]) == 0
    # A request still open when the drain gave up, or a step where nothing
    # ended at all, is no success either.
    assert locust.max_users_without_failures([_row(100), _row(200, unfinished=1)]) == 100
    assert locust.max_users_without_failures([_row(100), _row(200, requests=0)]) == 100


def test_metrics_are_named_per_step():
    metrics = locust.step_metrics(rows_of("loopback_server_killed"))
    assert metrics["failure_pct@4"] == (100.0, "%")
    assert metrics["requests@2"] == (33.0, "count")
    assert metrics["latency_p99@8"][1] == "ms"
    assert metrics["max_users_without_failures"] == (2.0, "count")
    assert metrics["requests"] == (269.0, "count") and metrics["errors"] == (236.0, "count")
    # A step where no request ended has no failure % and no latency.
    empty = locust.step_metrics([_row(10, requests=0)])
    assert "failure_pct@10" not in empty and "latency_p50@10" not in empty
    assert empty["sent@10"] == (0.0, "count")


def test_command_is_bounded_and_names_its_outputs():
    argv = locust.command("/t/locust", "/t/locustfile.py", "http://198.18.0.10:8080",
                          "/r/locust", [100, 200], 60, 50, 1, 2, 30)
    # Locust ignores --run-time with a shape: `timeout` bounds it (steps,
    # drain, start and stop).
    assert argv[:4] == ["timeout", "-k", "10", f"{2 * 60 + 30 + 5 + locust.RUN_TIME_MARGIN_S}s"]
    assert "--run-time" not in argv
    assert argv[argv.index("--host") + 1] == "http://198.18.0.10:8080"
    assert argv[argv.index("--csv") + 1] == argv[argv.index("--json-file") + 1] == "/r/locust"
    assert argv[argv.index("--lab-steps") + 1] == "100,200"
    assert argv[argv.index("--lab-wait-min") + 1] == "1" and argv[argv.index("--lab-wait-max") + 1] == "2"
    assert argv[argv.index("--exit-code-on-error") + 1] == "0"
