"""Analysis of runs with several scenarios and variants, on real run folders.

tests/data/runs/ holds, besides the hand-made old-schema folder of
tests/test_analysis.py, three runs the lab measured (manifest.json and
results.parquet copied as written; raw/ and traces/ left out):

- SCENARIOS: gunicorn-sync and uvicorn (drf view, 1 worker), 2 repetitions
  of single-client (keep-alive, close), concurrency (c=1, c=8) and memory;
- IOMIX: io-mix (sequential, concurrent), 1 repetition, 9 cells;
- RAMP: user-ramp (Locust, steps of 2 and 4 users), 1 repetition, 2 cells.

Tests that need other data edit a copy (the folders are never written).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.render.formatting import markdown_table
from analysis.runs.load import load_run, load_runs
from analysis.report.markdown import FAILED_TITLE, build_report, console_tables
from analysis.stats.bootstrap import client_saturation, compare, not_compared
from analysis.stats.summary import GROUP_COLUMNS, KEYS, NO_BASELINE, cell_medians
from analysis.render.verdicts import VERDICT_TITLE, WARNINGS_TITLE
from analysis.questions.version_pivot import pivots
from tests.support.runs import FROZEN, edit_manifest, edit_samples

DATA = Path(__file__).parent / "data" / "runs"
SCENARIOS = DATA / "20261122T193656Z-scenarios-1221"
IOMIX = DATA / "20261122T193908Z-io-mix-small-0354"
RAMP = DATA / "20261122T194413Z-user-ramp-small-d9f0"
GUNICORN, UVICORN = "39e49ad888c9", "dcc793b0d4a4"  # the SCENARIOS run's cells
BASELINE = "gunicorn-sync"


@pytest.fixture
def copy(tmp_path: Path):
    def make(folder: Path) -> Path:
        target = tmp_path / folder.name
        shutil.copytree(folder, target)
        return target
    return make


def section(text: str, start: str, end: str = "\n## ") -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def median_of(samples: pd.DataFrame, cell_id: str, scenario: str, variant: str,
              metric: str) -> float:
    rows = samples[(samples["cell_id"] == cell_id) & (samples["scenario"] == scenario)
                   & (samples["variant"] == variant) & (samples["metric"] == metric)]
    assert len(rows), (cell_id, scenario, variant, metric)
    return float(np.median(rows["value"]))


def set_metric(frame: pd.DataFrame, where: dict, metric: str, value: float,
               unit: str = "flag") -> pd.DataFrame:
    """Set (or add) ``metric`` in the repetitions matched by ``where``."""
    match = np.logical_and.reduce([frame[c] == v for c, v in where.items()])
    rows = match & (frame["metric"] == metric)
    if rows.any():
        frame.loc[rows, "value"] = value
        return frame
    added = frame[match].drop_duplicates([*KEYS, "repetition"]).assign(
        metric=metric, value=value, unit=unit)
    return pd.concat([frame, added], ignore_index=True)


# --------------------------------------------------------------------------
# load: the variant column


def test_new_runs_carry_their_variants():
    samples, _ = load_run(SCENARIOS)
    variants = samples.groupby("scenario")["variant"].unique().map(sorted).to_dict()
    assert variants == {"single-client": ["close", "keep-alive"], "concurrency": ["c=1", "c=8"],
                        "memory": ["default"]}


def test_old_run_without_variant_loads_as_default():
    raw = pd.read_parquet(FROZEN / "results.parquet")
    assert "variant" not in raw.columns  # the old-schema folder, kept on purpose
    samples, _ = load_run(FROZEN)
    assert set(samples["variant"]) == {"default"}
    assert list(cell_medians(samples)["variant"].unique()) == ["default"]


def test_old_and_new_runs_load_together():
    samples = load_runs([FROZEN, SCENARIOS])
    by_run = samples.groupby("run_id")["variant"].apply(lambda v: sorted(set(v))).to_dict()
    assert by_run["20250101T120000Z-frozen"] == ["default"]
    assert by_run["20261122T193656Z-scenarios-1221"] == [
        "c=1", "c=8", "close", "default", "keep-alive"]
    assert samples["variant"].notna().all()


# --------------------------------------------------------------------------
# pairing within scenario and variant


def test_variant_is_part_of_every_key():
    assert KEYS == ["cell_id", "scenario", "variant"]
    assert "variant" in GROUP_COLUMNS
    samples, _ = load_run(SCENARIOS)
    medians = cell_medians(samples)
    assert len(medians) == 2 * 5  # 2 cells x (2 + 2 + 1) scenario variants
    assert not medians.duplicated(KEYS).any()


def test_each_cell_is_compared_with_the_same_scenario_and_variant():
    samples, _ = load_run(SCENARIOS)
    compared = compare(samples, BASELINE)
    assert sorted(zip(compared["scenario"], compared["variant"])) == [
        ("concurrency", "c=1"), ("concurrency", "c=8"), ("memory", "default"),
        ("single-client", "close"), ("single-client", "keep-alive")]
    assert set(compared["cell_id"]) == {UVICORN}
    assert set(compared["baseline_cell_id"]) == {GUNICORN}
    for r in compared.itertuples():
        cell = median_of(samples, UVICORN, r.scenario, r.variant, "latency_p50")
        base = median_of(samples, GUNICORN, r.scenario, r.variant, "latency_p50")
        assert r.p50_diff_ms == pytest.approx(cell - base), (r.scenario, r.variant)
        assert r.repetitions == r.baseline_repetitions == 2


def test_a_level_without_its_baseline_level_is_not_compared(copy):
    # Drop the baseline's c=8: uvicorn's c=8 must not be read against c=1.
    run = copy(SCENARIOS)
    edit_samples(run, lambda f: f[~((f["cell_id"] == GUNICORN) & (f["variant"] == "c=8"))])
    samples, _ = load_run(run)
    compared = compare(samples, BASELINE)
    assert ("concurrency", "c=8") not in set(zip(compared["scenario"], compared["variant"]))
    missing = not_compared(samples, BASELINE)
    assert list(zip(missing["variant"], missing["reason"])) == [("c=8", NO_BASELINE)]
    text = build_report(run)
    assert "### concurrency: not compared" in text


def test_scenario_without_p50_gets_no_verdict_but_its_section():
    text = build_report(IOMIX)
    verdict = section(text, f"## {VERDICT_TITLE}", "### ")
    assert "No verdict for io-mix: no p50 latency per request was recorded there" in verdict
    assert "- **" not in verdict
    assert "## Scenario: io-mix" in text


def test_scenario_with_only_its_baseline_is_not_said_to_lack_a_p50(copy):
    run = copy(SCENARIOS)
    edit_samples(run, lambda f: f[~((f["cell_id"] == UVICORN) & (f["scenario"] == "memory"))])
    text = build_report(run)
    assert "No verdict for" not in text
    assert "## Scenario: memory" in text


# --------------------------------------------------------------------------
# client saturation


def saturate_uvicorn_c8_rep1(frame: pd.DataFrame) -> pd.DataFrame:
    where = {"cell_id": UVICORN, "variant": "c=8", "repetition": 1}
    frame = set_metric(frame, where, "client_saturated", 1.0)
    return set_metric(frame, where, "littles_law_ratio", 0.62, "ratio")


def test_flagged_window_is_a_warning_naming_its_repetition(copy):
    run = copy(SCENARIOS)
    edit_samples(run, saturate_uvicorn_c8_rep1)
    samples, _ = load_run(run)
    share = samples[(samples["cell_id"] == UVICORN) & (samples["variant"] == "c=8")
                    & (samples["repetition"] == 1) & (samples["metric"] == "client_cpu_share")]
    hot = client_saturation(samples)
    assert list(zip(hot["cell_id"], hot["variant"])) == [(UVICORN, "c=8")]
    assert hot.iloc[0]["saturated"] == ["1"] and hot.iloc[0]["repetitions"] == 2

    text = build_report(run)
    warnings = section(text, f"### {WARNINGS_TITLE}", "## How")
    assert (f"- `{UVICORN}` uvicorn (asgi, 1w) [concurrency c=8]: client saturated in"
            f" repetition 1 of 2 (client CPU share {share['value'].iloc[0]:.2f}; Little's law"
            " ratio 0.62): the load generator may be measuring itself") in warnings
    assert warnings.count("client saturated") == 1


def test_verdict_on_a_saturated_window_says_so(copy):
    run = copy(SCENARIOS)
    edit_samples(run, saturate_uvicorn_c8_rep1)
    verdict = section(build_report(run), f"## {VERDICT_TITLE}", "### ")
    lines = [line for line in verdict.splitlines() if line.startswith("- **")]
    flagged = [line for line in lines if "saturated client" in line]
    assert len(lines) == 5 and len(flagged) == 1
    assert "(scenario concurrency c=8)" in flagged[0]
    assert ("This verdict rests on a saturated client (this cell: client saturated in"
            " repetition 1 of 2") in flagged[0]
    table = dict(console_tables(run))["concurrency: compared with the WSGI baseline"
                                      " (gunicorn-sync)"]
    assert list(zip(table["variant"], table["client saturated"])) == [("c=1", ""), ("c=8", "yes")]
    checks = build_report(run).split("## Checks")[1]
    assert f"**Load generator likely saturated**: `{UVICORN}` uvicorn (asgi, 1w)" \
           " [concurrency c=8]: client saturated in repetition 1 of 2" in checks


def test_runner_flag_wins_over_cpu_share():
    # The flag, not the CPU, says a window was saturated (Little's law can
    # raise it at low CPU); and a flag of 0 keeps a busy client unflagged.
    samples, _ = load_run(SCENARIOS)
    assert client_saturation(samples).empty
    busy = samples.copy()
    busy.loc[busy["metric"] == "client_cpu_percent", "value"] = 99.0
    assert client_saturation(busy).empty


# --------------------------------------------------------------------------
# the report's sections


def test_sections_follow_the_verdicts_in_scenario_order():
    text = build_report(SCENARIOS)
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads == ["## Anomalies", "## Verdict", "## How this was measured", "## Scenario: single-client",
                     "## Scenario: concurrency", "## Scenario: memory", f"## {FAILED_TITLE}",
                     "## Checks"]
    verdict = section(text, f"## {VERDICT_TITLE}", "### ")
    order = [line.split("(scenario ")[1].split(")")[0] for line in verdict.splitlines()
             if line.startswith("- **")]
    assert order == ["single-client close", "single-client keep-alive", "concurrency c=1",
                     "concurrency c=8", "memory"]


def test_single_client_table_has_a_row_per_variant():
    samples, _ = load_run(SCENARIOS)
    table = dict(console_tables(SCENARIOS))["single-client: median per cell"]
    assert list(zip(table["server"], table["variant"])) == [
        (BASELINE, "close"), ("uvicorn", "close"), (BASELINE, "keep-alive"),
        ("uvicorn", "keep-alive")]
    row = table[(table["server"] == "uvicorn") & (table["variant"] == "close")].iloc[0]
    assert row["p50 ms"] == f"{median_of(samples, UVICORN, 'single-client', 'close', 'latency_p50'):.3f}"


def test_concurrency_table_per_cell_in_level_order(copy):
    run = copy(SCENARIOS)
    # c=1 renamed c=16: numbers sort as numbers (c=8 first), not as text.
    edit_samples(run, lambda f: f.assign(variant=f["variant"].replace("c=1", "c=16")))
    samples, _ = load_run(run)
    tables = dict(console_tables(run))
    titles = [t for t in tables if t.startswith("concurrency: `")]
    assert titles == [
        f"concurrency: `{GUNICORN}` gunicorn-sync (wsgi, 1w 1t; Python 3.12, Django 5.2.19,"
        " asgiref 3.13.0, view drf)",
        f"concurrency: `{UVICORN}` uvicorn (asgi, 1w 1t; Python 3.12, Django 5.2.19,"
        " asgiref 3.13.0, view drf)"]
    table = tables[titles[1]]
    assert list(table.columns) == ["level", "reps", "p50 ms", "p99 ms", "req/s", "errors",
                                   "server CPU %", "saturated"]
    assert list(table["level"]) == ["c=8", "c=16"]
    for row in table.itertuples():
        p50 = median_of(samples, UVICORN, "concurrency", row.level, "latency_p50")
        rps = median_of(samples, UVICORN, "concurrency", row.level, "requests_per_s")
        assert row._3 == f"{p50:.3f}"  # 2 repetitions: no interval shown
        assert row._5 == f"{rps:.0f}"
        assert row.errors == "0" and row.saturated == "no"
    assert markdown_table(table) in build_report(run)


def test_concurrency_levels_show_intervals_from_three_repetitions(copy):
    run = copy(SCENARIOS)

    def third_repetition(frame: pd.DataFrame) -> pd.DataFrame:
        extra = frame[frame["repetition"] == 1].assign(repetition=2)
        extra.loc[extra["metric"] == "latency_p50", "value"] *= 1.5
        return pd.concat([frame, extra], ignore_index=True)

    edit_samples(run, third_repetition)
    table = dict(console_tables(run))[
        f"concurrency: `{UVICORN}` uvicorn (asgi, 1w 1t; Python 3.12, Django 5.2.19,"
        " asgiref 3.13.0, view drf)"]
    p50, interval = table["p50 ms"].iloc[0].split(" ", 1)
    low, high = (float(v) for v in interval.strip("[]").split(", "))
    assert low <= float(p50) <= high and low < high


def test_memory_table_holds_the_workers_and_tree_memory():
    samples, _ = load_run(SCENARIOS)
    table = dict(console_tables(SCENARIOS))["memory: per cell"]
    assert list(table["server"]) == [BASELINE, "uvicorn"]
    columns = {"worker RSS MB warm": "worker_rss_mb_after_warmup",
               "worker RSS MB load": "worker_rss_mb_after_load",
               "worker USS MB warm": "worker_uss_mb_after_warmup",
               "worker USS MB load": "worker_uss_mb_after_load",
               "total USS MB warm": "total_uss_mb_after_warmup",
               "total USS MB load": "total_uss_mb_after_load", "workers seen": "workers_seen"}
    for row, cell in zip(table.to_dict("records"), [GUNICORN, UVICORN]):
        for title, metric in columns.items():
            value = median_of(samples, cell, "memory", "default", metric)
            assert row[title] == (f"{value:.0f}" if title == "workers seen" else f"{value:.1f}")


def test_unknown_scenario_gets_a_generic_table_with_every_cell_and_variant():
    samples, _ = load_run(IOMIX)
    text = build_report(IOMIX)
    table = dict(console_tables(IOMIX))["io-mix: medians"]
    measured = set(zip(samples["cell_id"], samples["variant"]))
    shown = {(c, v) for c, v in zip(
        samples.drop_duplicates(["cell_id", "variant"])["cell_id"],
        samples.drop_duplicates(["cell_id", "variant"])["variant"])}
    assert measured == shown and len(measured) == 18  # 9 cells x 2 modes
    rows = set(zip(table["server"], table["workers"], table["view"], table["variant"]))
    assert len(rows) == 18
    # The parameters and zero counts are said once; the rest are rows.
    intro = section(text, "## Scenario: io-mix", "### ")
    assert "The same in every row: requests = 18; n_slow = 3; n_fast = 15; slow_s = 1 s;" in intro
    assert set(table["metric"]) == {"elapsed_s", "requests_per_s", "slow_p50", "fast_p50",
                                    "fast_max", "server_cpu_percent", "server_rss_mb",
                                    "server_uss_mb", "client_cpu_percent"}
    uvicorn = table[(table["server"] == "uvicorn") & (table["view"] == "raw")
                    & (table["variant"] == "concurrent") & (table["metric"] == "elapsed_s")]
    cell = samples[(samples["server"] == "uvicorn") & (samples["view"] == "raw")]["cell_id"].iloc[0]
    expected = median_of(samples, cell, "io-mix", "concurrent", "elapsed_s")
    assert list(uvicorn["median"]) == [f"{expected:.4g}"] and list(uvicorn["unit"]) == ["s"]


def test_ramp_steps_are_shown_generically():
    table = dict(console_tables(RAMP))["user-ramp: medians"]
    uvicorn = table[table["server"] == "uvicorn"].set_index("metric")
    assert {"latency_p50@2", "latency_p50@4", "requests_per_s@4"} <= set(uvicorn.index)
    assert uvicorn.loc["latency_p50@4", "unit"] == "ms"
    # both cells held 4 users without failures: said once, above the table
    intro = section(build_report(RAMP), "## Scenario: user-ramp", "### ")
    assert "max_users_without_failures = 4;" in intro


# --------------------------------------------------------------------------
# failed and partial cells


def with_failures(manifest: dict) -> None:
    uvicorn = next(c for c in manifest["cells"] if c["cell_id"] == UVICORN)
    uvicorn.update(status="partial", reason="concurrency c=8 repetition 0: server died", failures=[
        {"scenario": "concurrency", "variant": "c=8", "repetition": 0,
         "reason": "server died during the measured window (measured)",
         "raw": f"raw/{UVICORN}/concurrency/c_8/rep0"},
        {"scenario": "single-client", "variant": "close", "repetition": 1,
         "reason": "load generator exited 1 (measured): unable to connect",
         "raw": f"raw/{UVICORN}/single-client/close/rep1"}])
    manifest["cells"].append({**uvicorn, "cell_id": "d0000000daph", "server": "daphne",
                              "status": "failed", "reason": "install failed: no wheel",
                              "failures": []})


def test_every_failure_of_partial_and_failed_cells_is_listed(copy):
    run = copy(SCENARIOS)
    edit_manifest(run, with_failures)
    failed = dict(console_tables(run))[FAILED_TITLE]
    assert list(zip(failed["cell_id"], failed["status"], failed["scenario"], failed["variant"],
                    failed["repetition"], failed["raw"])) == [
        (UVICORN, "partial", "concurrency", "c=8", "0", f"raw/{UVICORN}/concurrency/c_8/rep0"),
        (UVICORN, "partial", "single-client", "close", "1",
         f"raw/{UVICORN}/single-client/close/rep1"),
        ("d0000000daph", "failed", "n/a", "n/a", "n/a", "n/a")]
    assert list(failed["reason"]) == ["server died during the measured window (measured)",
                                      "load generator exited 1 (measured): unable to connect",
                                      "install failed: no wheel"]
    text = build_report(run)
    assert markdown_table(failed) in section(text, f"## {FAILED_TITLE}")
    warnings = section(text, f"### {WARNINGS_TITLE}", "## How")
    assert (f"- `{UVICORN}` uvicorn (asgi, 1w): partial: concurrency c=8 repetition 0:"
            " server died (and 1 more failure(s))") in warnings
    assert "- `d0000000daph` daphne (asgi, 1w): failed: install failed: no wheel" in warnings


# --------------------------------------------------------------------------
# how it was measured, version pivot


def test_method_names_scenarios_and_latency_models():
    method = section(build_report(SCENARIOS), "## How this was measured")
    manifest = json.loads((SCENARIOS / "manifest.json").read_text())
    assert ("Scenarios: single-client (connection: keep-alive, close); concurrency (levels: 1,"
            " 8); memory (connections: 4).") in method
    for name, model in manifest["protocol"]["latency_models"].items():
        assert f"{name}: {model}" in method
    assert "CPU set `1`" in method and "CPU set `0`" in method  # hosts keyed by name
    assert "2 repetitions" in method


def test_version_pivot_is_per_scenario_and_variant():
    tables = pivots(str(SCENARIOS))
    samples, _ = load_run(SCENARIOS)
    for scenario, variant, label in [("concurrency", "c=8", "concurrency c=8"),
                                     ("memory", "default", "memory")]:
        table = tables[f"p50 ratio uvicorn/gunicorn-sync [{label}]"]
        ratio = (median_of(samples, UVICORN, scenario, variant, "latency_p50")
                 / median_of(samples, GUNICORN, scenario, variant, "latency_p50"))
        assert table.loc["3.12", "5.2.19"] == round(ratio, 2)
    assert len([t for t in tables if t.startswith("p50 ratio") and "by asgiref" not in t]) == 5


def test_a_burst_flagged_window_shows_its_peak_share(copy):
    """A window flagged for a half-second burst: the warning gives the peak
    share, not the window's lower mean."""
    run = copy(SCENARIOS)
    where = {"cell_id": UVICORN, "variant": "c=8", "repetition": 1}
    edit_samples(run, lambda f: set_metric(set_metric(f, where, "client_saturated", 1.0),
                                           where, "client_cpu_peak_share", 0.95, "ratio"))
    samples, _ = load_run(run)
    hot = client_saturation(samples)
    assert hot.iloc[0]["cpu_share"] == [0.95]
    assert "client CPU share 0.95" in build_report(run)


# --------------------------------------------------------------------------
# The scenario modules' interface (analysis/scenarios/facts.py)


def test_no_scenario_module_imports_a_private_name():
    import ast

    import analysis.scenarios
    folder = Path(analysis.scenarios.__file__).parent
    private = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                private += [f"{path.name}: from {node.module} import {a.name}"
                            for a in node.names if a.name.startswith("_")]
    assert not private


def test_facts_computes_a_property_when_first_asked_for():
    from analysis.scenarios import facts as public

    samples, manifest = load_run(SCENARIOS)
    facts = public.Facts(samples, manifest)
    assert not {"stats", "compared", "tables", "sections"} & set(vars(facts))
    assert not facts.medians.empty
    assert "medians" in vars(facts) and "stats" not in vars(facts)  # no bootstrap yet
    assert facts.tables is facts.tables and "compared" in vars(facts)
    for name in ("baseline_first", "with_ci", "ids", "new_figure", "figure_title"):
        assert getattr(public, name).__doc__, name
