"""Overhead attribution and anomaly flags on hand-built frames whose answer is known."""
from __future__ import annotations

import math
import shutil

import pytest

from analysis.questions.anomalies import anomalies, anomaly_lines
from analysis.questions.attribution import attribution, attribution_lines, missing_views
from analysis.report.markdown import build_report
from analysis.stats.summary import cell_medians
from tests.support.frames import cell, frame
from tests.support.runs import FROZEN, RUN_ID

BASE = "gunicorn-sync"
# Per-repetition p50 (ms) of each (server, view), chosen so every part differs:
# server +0.2, handler +0.3, hand-off +0.5, middleware +0.1, drf +0.05.
WSGI = {"raw": 0.10, "sync-bare": 0.40, "sync": 0.60, "drf": 0.90}
ASGI = {"raw": 0.30, "async-bare": 0.90, "sync-bare": 1.40, "sync": 1.70, "drf": 2.05}
EXPECTED = {"server": 0.2, "handler": 0.3, "hand-off": 0.5, "middleware": 0.1, "drf": 0.05}
JITTER = (0.0, 0.01, -0.01, 0.005, -0.005)


def attribution_frame(wsgi=WSGI, asgi=ASGI, reps=5, **extra):
    cells = []
    for server, interface, views in ((BASE, "wsgi", wsgi), ("uvicorn", "asgi", asgi)):
        for view, p50 in views.items():
            cells.append(cell(f"{server}-{view}", server, interface, **extra,
                              extra={"view": view}, p50=[p50 + j for j in JITTER[:reps]]))
    return frame(*cells)


def parts(result):
    return {p.part: p for p in result.itertuples(index=False)}


def test_parts_are_the_defined_differences_and_add_up_to_the_total():
    result = parts(attribution(attribution_frame(), BASE))
    for part, expected in EXPECTED.items():
        assert result[part].ms == pytest.approx(expected, abs=1e-9), part
        assert result[part].ms_low <= result[part].ms <= result[part].ms_high, part
    assert result["total"].ms == pytest.approx(ASGI["drf"] - WSGI["drf"])
    assert sum(result[p].ms for p in EXPECTED) == pytest.approx(result["total"].ms)
    assert {r.view for r in result.values()} == {"drf"}


def test_without_drf_the_total_is_the_sync_view():
    result = parts(attribution(attribution_frame(
        wsgi={k: v for k, v in WSGI.items() if k != "drf"},
        asgi={k: v for k, v in ASGI.items() if k != "drf"}), BASE))
    assert "drf" not in result
    assert result["total"].ms == pytest.approx(ASGI["sync"] - WSGI["sync"])


def test_a_missing_view_gives_no_attribution_and_names_it():
    samples = attribution_frame(asgi={k: v for k, v in ASGI.items() if k != "async-bare"})
    assert attribution(samples, BASE).empty
    assert missing_views(samples) == ["async-bare"]
    text = "\n".join(attribution_lines(attribution(samples, BASE), missing_views(samples)))
    assert "Not estimated" in text and "async-bare" in text


def test_few_repetitions_give_parts_without_intervals():
    result = parts(attribution(attribution_frame(reps=2), BASE))
    assert math.isnan(result["server"].ms_low) and math.isnan(result["total"].ms_high)
    assert result["server"].ms == pytest.approx(0.2)   # both medians of 2 reps shift alike


def test_runs_without_those_views_are_not_asked():
    samples = attribution_frame()
    samples = samples[samples["view"] == "drf"]
    assert missing_views(samples) == [] and attribution(samples, BASE).empty


def test_report_has_the_attribution_section(tmp_path):
    run = tmp_path / RUN_ID
    shutil.copytree(FROZEN, run)
    attribution_frame(run_id=RUN_ID).to_parquet(run / "results.parquet", index=False)
    text = build_report(run)
    assert "## Where the ASGI cost comes from" in text
    assert "hand-off +0.500" in text


# ---------------------------------------------------------------- anomalies


def version_cells(values: dict[str, float], axis="django", server="uvicorn"):
    cells = [cell(f"{server}-{v}", server, "asgi", extra={axis: v}, p50=[p] * 3)
             for v, p in values.items()]
    return frame(*cells)


def test_a_release_far_from_its_siblings_is_flagged_with_its_axis():
    samples = version_cells({"4.2": 1.0, "5.0": 1.05, "5.1": 2.0, "5.2": 0.95})
    flags = anomalies(cell_medians(samples), samples)
    assert list(flags["cell_id"]) == ["uvicorn-5.1"]
    assert flags.iloc[0]["axis"] == "django"
    assert flags.iloc[0]["ratio"] == pytest.approx(2.0)
    assert "django 5.1" in "\n".join(anomaly_lines(flags))


def test_spread_siblings_or_too_few_flag_nothing():
    spread = version_cells({"4.2": 1.0, "5.0": 1.9, "5.1": 1.4})   # no one is far from all
    assert anomalies(cell_medians(spread), spread).empty
    pair = version_cells({"4.2": 1.0, "5.0": 3.0})                  # one sibling only
    flags = anomalies(cell_medians(pair), pair)
    assert flags.empty and flags.attrs["checked"] == 0
    assert "Not checked" in anomaly_lines(flags)[0]


def test_wsgi_and_asgi_servers_far_apart_are_not_anomalies():
    samples = frame(*[cell(f"{s}-1", s, i, p50=[p] * 3) for s, i, p in
                      (("gunicorn-sync", "wsgi", 0.5), ("uvicorn", "asgi", 2.0),
                       ("daphne", "asgi", 2.2))])
    assert anomalies(cell_medians(samples), samples).empty
