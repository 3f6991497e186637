"""Anomaly flags along every axis, on hand-built frames whose answer is known.
(The version-axis cases live in tests/test_analysis_attribution.py.)"""
from __future__ import annotations

import pytest

from analysis.questions.anomalies import anomalies, anomaly_lines
from analysis.stats.summary import cell_medians
from tests.support.frames import PINS, frame

STEADY = {"p50": 1.9, "mean": 2.0, "p99": 4.0}


def cell(cell_id, server="gunicorn-uvicorn", interface="asgi", reps=(STEADY,) * 3,
         scenario="single-client", variant="keep-alive", **pins):
    """Sample rows of one cell: one {"p50", "mean", "p99"} dict per repetition."""
    return [{"run_id": "r1", "cell_id": cell_id, "server": server, "interface": interface,
             **{**PINS, **pins}, "scenario": scenario, "variant": variant,
             "repetition": rep, "metric": f"latency_{short}", "value": float(value), "unit": "ms"}
            for rep, values in enumerate(reps, start=1) for short, value in values.items()]


def flagged(*cells):
    samples = frame(*cells)
    flags = anomalies(cell_medians(samples), samples)
    return flags, {(r.cell_id, r.axis, r.metric) for r in flags.itertuples()}


def scaled(k: float) -> tuple[dict, ...]:
    return ({m: v * k for m, v in STEADY.items()},) * 3


def test_a_slow_worker_count_with_one_client_is_flagged_along_workers_only():
    cells = [cell(f"gu-{w}w", workers=w, reps=scaled(3.0 if w == 4 else 1.0)) for w in (1, 2, 4)]
    # WSGI cells at a quarter of the latency: never the ASGI cells' server siblings.
    cells += [cell(f"gs-{w}w", "gunicorn-sync", "wsgi", workers=w, reps=scaled(0.25))
              for w in (1, 2, 4)]
    flags, found = flagged(*cells)
    assert found == {("gu-4w", "workers", m) for m in ("latency_p50", "latency_mean", "latency_p99")}
    p50 = flags[flags["metric"] == "latency_p50"].iloc[0]
    assert p50["ratio"] == pytest.approx(3.0)
    assert p50["p50_ms"] == pytest.approx(5.7) and p50["siblings_p50_ms"] == pytest.approx(1.9)
    line = anomaly_lines(flags)[2]
    assert line.startswith("- **workers 4** stands out (p50, mean, p99):")
    assert "×3.00 the median of its workers siblings (workers 1: 1.9 ms, workers 2: 1.9 ms)" in line


def test_under_load_more_workers_are_meant_to_differ():
    cells = [cell(f"gu-{w}w", workers=w, reps=scaled(4.0 / w), scenario="concurrency",
                  variant="c=16") for w in (1, 2, 4)]
    flags, _ = flagged(*cells)
    assert flags.empty and flags.attrs["checked"] == 0
    # ... but concurrency's one-connection level is a single client.
    cells = [cell(f"gu-{w}w", workers=w, reps=scaled(3.0 if w == 4 else 1.0),
                  scenario="concurrency", variant="c=1") for w in (1, 2, 4)]
    assert {a for _, a, _ in flagged(*cells)[1]} == {"workers"}


def test_a_stall_in_one_repetition_of_two_is_flagged_on_its_tail_not_its_p50():
    # Seed 000: gunicorn + UvicornWorker at 4 workers, one repetition of two stalled.
    stalled = ({"p50": 1.9, "mean": 7.5, "p99": 84.0}, {"p50": 1.9, "mean": 1.9, "p99": 4.1})
    cells = [cell("gu-1w", workers=1, reps=({"p50": 1.85, "mean": 1.9, "p99": 3.9},) * 2),
             cell("gu-2w", workers=2, reps=({"p50": 1.95, "mean": 2.0, "p99": 4.1},) * 2),
             cell("gu-4w", workers=4, reps=stalled)]
    flags, found = flagged(*cells)
    assert found == {("gu-4w", "workers", "latency_mean"), ("gu-4w", "workers", "latency_p99")}
    p99 = flags[flags["metric"] == "latency_p99"].iloc[0]
    assert p99["value_ms"] == pytest.approx(44.05) and p99["ratio"] == pytest.approx(44.05 / 4.0)
    assert "(mean, p99)" in anomaly_lines(flags)[2]


def test_one_worker_sibling_needs_the_factor_squared_and_flags_the_slower_only():
    pair = lambda k: [cell("gu-1w", workers=1), cell("gu-4w", workers=4, reps=scaled(k))]  # noqa: E731
    flags, found = flagged(*pair(2.5))    # p50 and mean >= 1.5² = 2.25, p99 < 2² = 4
    assert found == {("gu-4w", "workers", "latency_p50"), ("gu-4w", "workers", "latency_mean")}
    assert flags.attrs["checked"] == 2
    flags, found = flagged(*pair(2.0))    # 1.5x would do with two siblings; one needs more
    assert flags.empty and flags.attrs["checked"] == 2
    assert "**None**" in anomaly_lines(flags)[0]
    flags, found = flagged(*pair(0.3))    # the 1-worker cell is now the slower one
    assert {c for c, _, _ in found} == {"gu-1w"}


def test_wsgi_against_asgi_is_no_anomaly():
    flags, _ = flagged(cell("gs", "gunicorn-sync", "wsgi", reps=scaled(1.0)),
                       cell("uv", "uvicorn", reps=scaled(6.0)),
                       cell("da", "daphne", reps=scaled(6.3)))
    assert flags.empty
    flags, _ = flagged(cell("gs", "gunicorn-sync", "wsgi", reps=scaled(1.0)),
                       cell("uv", "uvicorn", reps=scaled(6.0)))
    assert flags.empty and flags.attrs["checked"] == 0   # no server of the same interface


def test_an_asgi_server_far_from_the_other_asgi_servers_is_flagged_along_server():
    flags, found = flagged(cell("gs", "gunicorn-sync", "wsgi", reps=scaled(0.25)),
                           cell("uv", "uvicorn"), cell("ga", "granian-asgi", reps=scaled(0.95)),
                           cell("da", "daphne", reps=scaled(3.0)))
    assert found == {("da", "server", m) for m in ("latency_p50", "latency_mean", "latency_p99")}
    assert "- **server daphne** stands out" in anomaly_lines(flags)[2]


def test_loop_and_parser_differences_show_up_along_server():
    # hypercorn-asyncio and hypercorn-uvloop differ only in their event loop.
    flags, found = flagged(cell("ha", "hypercorn-asyncio", reps=scaled(3.0)),
                           cell("hu", "hypercorn-uvloop"))
    assert {(c, a) for c, a, _ in found} == {("ha", "server")}


def test_views_are_not_an_axis():
    flags, _ = flagged(cell("raw", view="raw", reps=scaled(0.1)), cell("sync", view="sync"),
                       cell("drf", view="drf", reps=scaled(3.0)))
    assert flags.empty and flags.attrs["checked"] == 0


def test_a_stalled_cell_of_one_view_is_judged_against_its_own_view():
    cells = [cell(f"{v}-{w}w", view=v, workers=w, reps=scaled(base * (3.0 if (v, w) == ("raw", 4)
                                                                        else 1.0)))
             for v, base in (("raw", 0.1), ("drf", 1.0)) for w in (1, 2, 4)]
    assert {(c, a) for c, a, _ in flagged(*cells)[1]} == {("raw-4w", "workers")}
