"""analysis/report/compare_runs.py and `lab compare`, on copies of the frozen run
folder changed in one way each (the frozen folder itself is never written)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.report.compare_runs import (
    AGREES,
    DISAGREES,
    FAILED,
    NOT_JUDGED,
    ONLY_A,
    compare_runs,
)
from runner.cli import app

RUNS = Path(__file__).parent / "data" / "runs"
FROZEN = RUNS / "20250101T120000Z-frozen"        # 5 cells, 3 repetitions, one cell failed
SCENARIOS = RUNS / "20261122T193656Z-scenarios-1221"   # 2 cells, 5 scenario variants


def copy_run(src: Path, dst: Path, samples=None, manifest=None) -> Path:
    """A copy of a run folder; `samples` and `manifest` edit its frame and dict."""
    shutil.copytree(src, dst)
    if samples is not None:
        df = samples(pd.read_parquet(dst / "results.parquet"))
        df.to_parquet(dst / "results.parquet", index=False)
    if manifest is not None:
        m = json.loads((dst / "manifest.json").read_text())
        manifest(m)
        (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def by_server(cells: pd.DataFrame, workers: int = 1) -> dict[str, pd.Series]:
    return {r["server"]: r for _, r in cells[cells["workers"] == str(workers)].iterrows()}


def test_a_run_agrees_with_itself():
    c = compare_runs(FROZEN, FROZEN)
    judged = c.cells[c.cells["verdict"].isin([AGREES, DISAGREES])]
    assert len(judged) == 4 and (judged["verdict"] == AGREES).all()
    assert (c.figures["verdict"] == AGREES).all() and (c.figures["ratio"] == 1.0).all()
    assert set(c.figures["metric"]) == {"latency_p50", "latency_p99", "requests_per_s"}
    # The failed cell is listed as failed with its reason, not dropped.
    failed = c.cells[c.cells["verdict"] == FAILED]
    assert list(failed["cell_id_a"]) == ["c0a5daphne02"]
    assert "server did not answer within 20 s" in failed["note"].iloc[0]
    assert c.environment.empty and (c.cells["same_lock"].dropna() == "yes").all()
    assert c.summary() == "4 cells agree, 0 disagree, 0 not judged, 0 only in one run, 1 failed"


def test_one_cell_three_times_slower_disagrees_and_only_it(tmp_path):
    def slower(df):
        df.loc[df["cell_id"] == "c0a3uvicorn1", "value"] *= 3
        return df
    b = copy_run(FROZEN, tmp_path / "b", samples=slower)
    c = compare_runs(FROZEN, b)
    verdicts = dict(zip(c.cells["cell_id_a"], c.cells["verdict"]))
    assert verdicts == {"c0a1gunsync1": AGREES, "c0a2granwsgi": AGREES,
                        "c0a3uvicorn1": DISAGREES, "c0a4daphne01": AGREES,
                        "c0a5daphne02": FAILED}
    uvicorn = c.figures[c.figures["cell_id_a"] == "c0a3uvicorn1"]
    assert (uvicorn["verdict"] == DISAGREES).all()
    assert uvicorn["ratio"].round(6).eq(3.0).all()
    note = by_server(c.cells)["uvicorn"]["note"]
    assert "latency_p50" in note and "3.000" in note
    assert c.any_disagree and c.summary().startswith("3 cells agree, 1 disagree")
    # The markdown says so too, and names the disagreeing cell's figures.
    md = c.markdown()
    assert "3 cells agree, 1 disagree" in md and "disagrees" in md


def test_another_kernel_is_named_in_the_environment_diff(tmp_path):
    def kernel(m):
        m["hosts"]["server"]["facts"]["kernel"] = "6.9.0-other"
    b = copy_run(FROZEN, tmp_path / "b", manifest=kernel)
    env = compare_runs(FROZEN, b).environment
    row = env[env["what"].str.contains("kernel")]
    assert len(row) == 1 and "host server" in row["what"].iloc[0]
    assert (row["A"].iloc[0], row["B"].iloc[0]) == ("6.1.0-test-amd64", "6.9.0-other")


def test_package_and_python_differences_of_a_matched_cell_are_listed(tmp_path):
    def other(m):
        cell = m["cells"][0]
        cell["packages"] = {**cell["packages"], "django": "5.1.5"}
        cell["python_exact"] = "3.12.9"
    b = copy_run(SCENARIOS, tmp_path / "b", manifest=other)
    env = compare_runs(SCENARIOS, b).environment
    what = " | ".join(env["what"])
    assert "gunicorn-sync" in what and "packages: django" in what and "python_exact" in what
    assert set(env[env["what"].str.endswith("django")]["B"]) == {"5.1.5"}


def test_a_cell_in_one_run_only_is_listed(tmp_path):
    def drop_samples(df):
        return df[df["cell_id"] != "c0a2granwsgi"]

    def drop_cell(m):
        m["cells"] = [c for c in m["cells"] if c["cell_id"] != "c0a2granwsgi"]
    b = copy_run(FROZEN, tmp_path / "b", samples=drop_samples, manifest=drop_cell)
    c = compare_runs(FROZEN, b)
    row = by_server(c.cells)["granian-wsgi"]
    assert row["verdict"] == ONLY_A and pd.isna(row["cell_id_b"]) and "ok in A" in row["note"]
    assert c.summary() == "3 cells agree, 0 disagree, 0 not judged, 1 only in one run, 1 failed"
    # And the other way round: B's extra cell is "only in B".
    assert "only in B" in set(compare_runs(b, FROZEN).cells["verdict"])


@pytest.mark.parametrize("kept", [1, 2])
def test_too_few_repetitions_are_not_judged_never_agree(tmp_path, kept):
    b = copy_run(FROZEN, tmp_path / "b", samples=lambda df: df[df["repetition"] < kept])
    c = compare_runs(FROZEN, b)
    measured = c.cells[c.cells["verdict"] != FAILED]
    assert (measured["verdict"] == NOT_JUDGED).all()
    assert (c.figures["verdict"] == NOT_JUDGED).all()
    assert (c.figures["repetitions_b"] == kept).all()
    assert c.figures["note"].str.contains(f"3 and {kept} repetitions").all()
    assert c.summary().startswith("0 cells agree, 0 disagree, 4 not judged")


def test_other_locks_still_match_by_coordinates(tmp_path):
    """Another lock gives another cell_id: the cells still pair up, and the
    table says the locks differ."""
    def relabel(df):
        df["cell_id"] = df["cell_id"].replace({"c0a1gunsync1": "0123456789ab"})
        return df

    def relabel_manifest(m):
        for cell in m["cells"]:
            if cell["cell_id"] == "c0a1gunsync1":
                cell["cell_id"] = "0123456789ab"
    b = copy_run(FROZEN, tmp_path / "b", samples=relabel, manifest=relabel_manifest)
    row = by_server(compare_runs(FROZEN, b).cells)["gunicorn-sync"]
    assert (row["cell_id_a"], row["cell_id_b"]) == ("c0a1gunsync1", "0123456789ab")
    assert row["verdict"] == AGREES and row["same_lock"] == "no"
    assert "locks differ" in row["note"]


def test_each_scenario_compares_its_headline_metrics():
    c = compare_runs(SCENARIOS, SCENARIOS)
    metrics = c.figures.groupby("scenario")["metric"].agg(lambda m: sorted(set(m))).to_dict()
    assert metrics == {"concurrency": ["latency_p50", "latency_p99", "requests_per_s"],
                       "memory": ["worker_uss_mb_after_load"],
                       "single-client": ["latency_p50", "latency_p99", "requests_per_s"]}
    assert set(c.figures["variant"]) == {"c=1", "c=8", "default", "close", "keep-alive"}
    io = compare_runs(RUNS / "20261122T193908Z-io-mix-small-0354",
                      RUNS / "20261122T193908Z-io-mix-small-0354")
    assert set(io.figures["metric"]) == {"elapsed_s"}
    ramp = compare_runs(RUNS / "20261122T194413Z-user-ramp-small-d9f0",
                        RUNS / "20261122T194413Z-user-ramp-small-d9f0")
    assert set(ramp.figures["metric"]) == {"max_users_without_failures"}


# --------------------------------------------------------------------------
# lab compare


def test_cli_prints_the_summary_and_writes_markdown(tmp_path):
    out = tmp_path / "cmp.md"
    res = CliRunner().invoke(app, ["compare", str(FROZEN), str(FROZEN), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 cells agree, 0 disagree, 0 not judged, 0 only in one run, 1 failed" in res.output
    text = out.read_text()
    assert text.startswith("# Comparison:") and "| gunicorn-sync |" in text


def test_cli_exits_0_on_a_disagreement_and_shows_the_environment(tmp_path):
    def slower(df):
        df.loc[df["cell_id"] == "c0a3uvicorn1", "value"] *= 3
        return df

    def kernel(m):
        m["hosts"]["server"]["facts"]["kernel"] = "6.9.0-other"
    b = copy_run(FROZEN, tmp_path / "b", samples=slower, manifest=kernel)
    res = CliRunner().invoke(app, ["compare", str(FROZEN), str(b)])
    assert res.exit_code == 0, res.output
    assert "1 disagree" in res.output and "6.9.0-other" in res.output


def test_cli_missing_folder_exits_1_naming_it(tmp_path):
    missing = tmp_path / "no-such-run"
    res = CliRunner().invoke(app, ["compare", str(FROZEN), str(missing)])
    assert res.exit_code == 1
    assert str(missing) in res.output.replace("\n", "")


def test_cli_unsupported_schema_exits_1_naming_the_file(tmp_path):
    b = copy_run(FROZEN, tmp_path / "b", manifest=lambda m: m.update(schema_version=99))
    res = CliRunner().invoke(app, ["compare", str(FROZEN), str(b)])
    assert res.exit_code == 1
    assert "schema_version 99" in res.output and str(b) in res.output.replace("\n", "")


def test_cli_never_overwrites_the_out_file(tmp_path):
    out = tmp_path / "cmp.md"
    out.write_text("mine\n")
    res = CliRunner().invoke(app, ["compare", str(FROZEN), str(FROZEN), "--out", str(out)])
    assert res.exit_code == 1
    assert str(out) in res.output.replace("\n", "") and "not overwriting" in res.output
    assert out.read_text() == "mine\n"
