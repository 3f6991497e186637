"""io-mix: the client's output parsed (saved REAL outputs in tests/data/iomix/),
the article's table from a results frame, and the scenario's parameters,
exclusions, variants, command line and failure rule."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from analysis.scenarios import io_mix as io_mix_report
from runner.scenarios.io_mix import result as iomix
from runner.matrix.expand import CellSpec
from runner.scenarios import SCENARIOS
from runner.core.errors import StepFailed
from runner.core.model import Variant
from runner.session.session import Window
from runner.scenarios.io_mix import IoMix, Params, client_argv, client_timeout_s
from runner.catalog.views import VIEWS

DATA = Path(__file__).parent / "data" / "iomix"


def load(name: str) -> str:
    return (DATA / name).read_text()


def test_parses_a_sequential_run():
    r = iomix.parse(load("gunicorn-sync-w1-sequential.json"))
    assert (r.mode, r.n_slow, r.n_fast, r.slow_s) == ("sequential", 3, 15, 0.3)
    assert (r.requests, r.ok, r.failed, r.errors, r.non_2xx, r.wrong_body) == (18, 18, 0, 0, 0, 0)
    assert r.elapsed_s == pytest.approx(0.934815)
    assert r.requests_per_s == pytest.approx(18 / 0.934815)
    assert r.pool_limits == {"max_connections": 100, "max_keepalive_connections": 20,
                             "keepalive_expiry": 5.0}
    # Slow requests first, one after another; each sleeps at least slow_s.
    kinds = [p["kind"] for p in r.per_request]
    assert kinds == ["slow"] * 3 + ["fast"] * 15
    starts = [p["start_s"] for p in r.per_request]
    assert starts == sorted(starts)
    assert all(s >= 0.3 for s in r.seconds("slow"))


def test_the_saved_outputs_have_the_articles_shape():
    serial = {f: iomix.parse(load(f)).elapsed_s for f in (
        "gunicorn-sync-w1-sequential.json", "gunicorn-sync-w1-concurrent.json",
        "uvicorn-w1-sequential.json")}
    overlap = {f: iomix.parse(load(f)).elapsed_s for f in (
        "gunicorn-sync-w4-concurrent.json", "uvicorn-w1-concurrent.json")}
    assert all(0.9 <= v < 1.5 for v in serial.values()), serial
    assert all(0.3 <= v < 0.6 for v in overlap.values()), overlap


def test_the_lab_outputs_have_the_articles_shape():
    """From the client host of a local lab (slow_s 1 s, tools venv on CPython 3.11)."""
    elapsed = {f.stem.removeprefix("lab-"): iomix.parse(f.read_text())
               for f in DATA.glob("lab-*.json")}
    assert len(elapsed) == 8
    for name, r in elapsed.items():
        assert (r.slow_s, r.failed, r.httpx) == (1.0, 0, "0.28.1"), name
        queued = name.endswith("sequential") or name.startswith("gunicorn-sync-w1")
        # Serial: the three slow seconds in a row; overlapped: one, plus the client's setup.
        assert (3.0 <= r.elapsed_s < 3.5) if queued else (1.0 <= r.elapsed_s < 1.5), (name, r.elapsed_s)


def test_metrics_of_a_run():
    r = iomix.parse(load("uvicorn-w1-concurrent.json"))
    m = iomix.metrics(r)
    assert m["elapsed_s"] == (r.elapsed_s, "s")
    assert m["requests_per_s"][0] == pytest.approx(18 / r.elapsed_s)
    assert m["requests"] == (18, "count") and m["errors"] == (0, "count")
    assert (m["n_slow"], m["n_fast"], m["slow_s"]) == ((3, "count"), (15, "count"), (0.3, "s"))
    slow = sorted(p["seconds"] for p in r.per_request if p["kind"] == "slow")
    assert m["slow_p50"] == (slow[1], "s")
    fast = [p["seconds"] for p in r.per_request if p["kind"] == "fast"]
    assert m["fast_max"] == (max(fast), "s")
    assert m["fast_p50"][0] == pytest.approx(sorted(fast)[7])


def test_overall_timeout_sequential_counts_what_was_never_sent():
    r = iomix.parse(load("overall-timeout-sequential.json"))
    assert (r.ok, r.errors, r.failed) == (1, 17, 17)
    assert r.error_types == {"OverallTimeout": 1, "NotSent": 16}
    assert r.elapsed_s == pytest.approx(0.7, abs=0.05)
    assert len(r.seconds("slow")) == 1   # only the first got an answer


def test_overall_timeout_concurrent_and_refused_connections():
    r = iomix.parse(load("overall-timeout-concurrent.json"))
    assert r.error_types == {"OverallTimeout": 17} and r.ok == 1
    refused = iomix.parse(load("connection-refused.json"))
    assert refused.error_types == {"ConnectError": 18} and refused.ok == 0
    m = iomix.metrics(refused)
    assert math.isnan(m["slow_p50"][0]) and math.isnan(m["fast_max"][0])


def test_non_2xx_answers_are_counted_apart_from_errors():
    r = iomix.parse(load("fast-path-404.json"))
    assert (r.ok, r.non_2xx, r.errors, r.wrong_body) == (3, 15, 0, 0)
    assert {p["status"] for p in r.per_request if p["kind"] == "fast"} == {404}


def _tampered(**changes) -> str:
    data = json.loads(load("uvicorn-w1-sequential.json"))
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize("text,message", [
    ("", "expected one JSON line"),
    ("Traceback (most recent call last):\n  boom", "expected one JSON line"),
    (load("uvicorn-w1-sequential.json") * 2, "found 2"),
    ("{not json", "malformed"),
    (_tampered(tool="wrk"), "not iomix_client"),
    (_tampered(format=2), "format"),
    (_tampered(mode="parallel"), "unknown mode"),
    (_tampered(ok=17), "!= requests 18"),
    (_tampered(n_fast=14), "14 fast"),
    (_tampered(errors=1, ok=17, error_types={}), "do not add up"),
    (_tampered(elapsed_s=None), "malformed"),
])
def test_bad_output_is_refused_with_the_reason(text, message):
    with pytest.raises(iomix.IoMixOutputError, match=message):
        iomix.parse(text)


def _frame() -> pd.DataFrame:
    """A results frame as run.py writes it, from the saved outputs (2 repetitions)."""
    cells = {"gunicorn-sync-w1": ("c1", "gunicorn-sync", "wsgi", 1),
             "gunicorn-sync-w4": ("c4", "gunicorn-sync", "wsgi", 4),
             "uvicorn-w1": ("cu", "uvicorn", "asgi", 1)}
    rows = []
    for f in sorted(DATA.glob("[gu]*-w[14]-*.json")):
        key, mode = f.stem.rsplit("-", 1)
        cell_id, server, interface, workers = cells[key]
        result = iomix.parse(f.read_text())
        for rep, scale in ((0, 1.0), (1, 3.0)):   # a second, slower repetition
            for metric, (value, unit) in iomix.metrics(result).items():
                if metric in ("elapsed_s",):
                    value *= scale
                if metric == "requests_per_s":
                    value /= scale
                rows.append({"run_id": "r", "cell_id": cell_id, "server": server,
                             "interface": interface, "workers": workers, "threads": 1,
                             "python": "3.12", "django": "5.2.19", "asgiref": "3.13.0",
                             "view": "raw", "scenario": "io-mix", "variant": mode,
                             "repetition": rep, "metric": metric, "value": value, "unit": unit})
    rows.append({**rows[0], "scenario": "single-client", "metric": "elapsed_s", "value": 99.0})
    return pd.DataFrame(rows)


def test_article_table_has_the_articles_columns_and_medians():
    table = io_mix_report.article_table(_frame())
    assert list(table.columns) == ["Server", "Mode", "# Slow", "# Fast", "Elapsed",
                                   "Throughput", "Reps"]
    assert list(zip(table["Server"], table["Mode"])) == [
        ("gunicorn-sync 1w (WSGI, raw)", "sequential"), ("gunicorn-sync 1w (WSGI, raw)", "concurrent"),
        ("gunicorn-sync 4w (WSGI, raw)", "concurrent"),
        ("uvicorn 1w (ASGI, raw)", "sequential"), ("uvicorn 1w (ASGI, raw)", "concurrent")]
    row = table.iloc[0]
    elapsed = iomix.parse(load("gunicorn-sync-w1-sequential.json")).elapsed_s
    # Median of the two repetitions (x1 and x3): x2.
    assert row["Elapsed"] == f"{2 * elapsed:.2f}s"
    rps = 18 / elapsed
    assert row["Throughput"] == f"{(rps + rps / 3) / 2:.2f} req/s"
    assert (row["# Slow"], row["# Fast"], row["Reps"]) == (3, 15, 2)


def test_article_table_of_a_run_without_io_mix_is_empty():
    df = _frame()
    assert io_mix_report.article_table(df[df.scenario != "io-mix"]).empty


def test_markdown_table():
    text = io_mix_report.to_markdown(io_mix_report.article_table(_frame()))
    lines = text.splitlines()
    assert lines[0] == "| Server | Mode | # Slow | # Fast | Elapsed | Throughput | Reps |"
    assert lines[1] == "|---|---|---:|---:|---:|---:|---:|"
    assert lines[2].startswith("| gunicorn-sync 1w (WSGI, raw) | sequential | 3 | 15 | ")
    assert len(lines) == 2 + 5


# -- the scenario --------------------------------------------------------------

def test_registered_with_the_articles_defaults():
    scenario = SCENARIOS["io-mix"]
    assert isinstance(scenario, IoMix)
    p = Params()
    assert (p.slow_s, p.n_slow, p.n_fast, p.modes) == (5.0, 3, 15, ["sequential", "concurrent"])
    assert [v.label for v in scenario.variants(p, {})] == ["sequential", "concurrent"]
    assert scenario.variants(Params(modes=["concurrent"]), {}) == [
        Variant("concurrent", {"mode": "concurrent"})]


@pytest.mark.parametrize("bad", [
    {"slow_s": 0}, {"slow_s": -1.0}, {"slow_s": 61}, {"slow_s": "5"}, {"slow_s": True},
    {"n_slow": -1}, {"n_slow": 2.5}, {"n_fast": 0}, {"modes": []}, {"modes": ["parallel"]},
    {"modes": ["sequential", "sequential"]}, {"slw_s": 1},
])
def test_bad_params_are_refused(bad):
    with pytest.raises(ValidationError):
        Params(**bad)


def _spec(view: str) -> CellSpec:
    return CellSpec(python="3.12", django="5.2.19", asgiref="3.13.0", server="uvicorn",
                    workers=1, view=view)


def test_only_views_with_a_slow_path_can_run_it():
    scenario, p = IoMix(), Params()
    for name in ("raw", "io-sync", "io-async"):
        assert scenario.exclusion(_spec(name), p) is None
    reason = scenario.exclusion(_spec("drf"), p)
    assert "'drf' has no slow endpoint" in reason and "io-sync" in reason


class FakeSession:
    """What io-mix uses of a Session; measure_window replays a saved output."""

    client_python = "/lab/tools/venv/bin/python"
    view = VIEWS["raw"]

    def __init__(self, stdout: str):
        self.stdout, self.calls = stdout, []

    def url(self, path):
        return f"http://198.18.22.2:8000{path}"

    def client_tool(self, name):
        return f"/lab/tools/{name}"

    def measure_window(self, tag, argv, timeout_s, capacity_cores=1.0):
        self.calls.append((tag, argv, timeout_s))
        return Window(stdout=self.stdout, server={}, client={}, start=0.0, end=1.0,
                      server_samples=[])

    def window_metrics(self, window):
        return {"server_cpu_percent": (1.0, "%")}


def test_client_command_line():
    p = Params(slow_s=0.3)
    argv = client_argv(FakeSession(""), p, "concurrent")
    assert argv == ["/lab/tools/venv/bin/python", "/lab/tools/iomix_client.py",
                    "--base", "http://198.18.22.2:8000", "--fast-path", "/fast",
                    "--slow-path", "/slow", "--slow-s", "0.3", "--n-slow", "3", "--n-fast", "15",
                    "--mode", "concurrent", "--timeout", f"{client_timeout_s(p):g}"]
    # Long enough for every slow request served one after another, twice over.
    assert client_timeout_s(Params()) >= 2 * 3 * 5.0


def test_measure_records_the_clients_figures_and_the_psutil_columns():
    session = FakeSession(load("gunicorn-sync-w4-concurrent.json"))
    metrics = IoMix().measure(session, Params(slow_s=0.3), Variant("concurrent", {"mode": "concurrent"}))
    assert metrics["requests"] == (18, "count")
    assert metrics["server_cpu_percent"] == (1.0, "%")
    assert metrics["elapsed_s"][0] == pytest.approx(0.455739)
    tag, argv, timeout = session.calls[0]
    assert tag == "measured" and argv[argv.index("--mode") + 1] == "concurrent"
    assert timeout > client_timeout_s(Params(slow_s=0.3))


@pytest.mark.parametrize("name,reason", [
    ("overall-timeout-sequential.json", "17 of 18 requests failed (sequential): errors 17 "
                                        "{'OverallTimeout': 1, 'NotSent': 16}, non-2xx 0"),
    ("fast-path-404.json", "15 of 18 requests failed (concurrent): errors 0, non-2xx 15"),
    ("connection-refused.json", "18 of 18 requests failed"),
])
def test_a_repetition_with_failed_requests_fails(name, reason):
    with pytest.raises(StepFailed, match=re.escape(reason)):
        IoMix().measure(FakeSession(load(name)), Params(), Variant("x", {"mode": "sequential"}))


def test_unparsable_client_output_fails_the_repetition():
    with pytest.raises(StepFailed, match="expected one JSON line"):
        IoMix().measure(FakeSession("Traceback: httpx missing"), Params(),
                        Variant("x", {"mode": "sequential"}))
