"""Analysis tested on a small frozen run folder with hand-chosen numbers.

tests/data/runs/20250101T120000Z-frozen/ holds 4 measured cells x 3
repetitions and 1 failed cell. The per-repetition values were picked so the
medians are easy to check by eye, e.g. gunicorn-sync p50 = median(1.2, 0.9,
1.0) = 1.0. Tests that need other data copy the folder to tmp_path and edit
the copy: the frozen folder itself is never written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from analysis.runs.load import load_run
from analysis.report.markdown import build_report, console_tables, write_report
from analysis.stats.summary import NO_BASELINE, asgi_vs_wsgi, cell_medians, unmatched_cells
from tests.support.runs import FROZEN, RUN_ID, edit_manifest, edit_samples

BASELINE = "gunicorn-sync"

# Medians computed by hand from the values written into the frozen folder.
EXPECTED_MEDIANS = {
    #                latency_p50, p90, p99, mean, req/s, srv cpu, rss, threads, client cpu
    "gunicorn-sync": (1.0, 1.5, 2.0, 1.1, 1000.0, 55.0, 41.0, 1.0, 35.0),  # p50: 1.2, 0.9, 1.0
    "granian-wsgi": (0.8, 1.2, 1.6, 0.88, 1250.0, 70.0, 30.5, 2.0, 45.0),  # p50: 0.8, 0.7, 0.9
    "uvicorn": (1.5, 2.0, 3.0, 1.65, 700.0, 85.0, 51.0, 2.0, 25.0),  # p50: 1.5, 1.4, 1.6
    "daphne": (2.0, 3.0, 4.0, 2.2, 500.0, 95.0, 61.0, 4.0, 18.0),  # p50: 2.0, 2.2, 1.9
}
MEDIAN_METRICS = [
    "latency_p50", "latency_p90", "latency_p99", "latency_mean", "requests_per_s",
    "server_cpu_percent", "server_rss_mb", "server_threads", "client_cpu_percent",
]
# (p50_ratio, p50_diff_ms, p99_ratio, mean_ratio, throughput_ratio) vs gunicorn-sync
EXPECTED_RATIOS = {
    "granian-wsgi": ("wsgi", 0.8 / 1.0, 0.8 - 1.0, 1.6 / 2.0, 0.88 / 1.1, 1250 / 1000),
    "uvicorn": ("asgi", 1.5 / 1.0, 1.5 - 1.0, 3.0 / 2.0, 1.65 / 1.1, 700 / 1000),
    "daphne": ("asgi", 2.0 / 1.0, 2.0 - 1.0, 4.0 / 2.0, 2.2 / 1.1, 500 / 1000),
}


# --------------------------------------------------------------------------
# helpers


def medians() -> pd.DataFrame:
    samples, _ = load_run(FROZEN)
    return cell_medians(samples)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# load


def test_load_run_reads_samples_and_manifest():
    samples, manifest = load_run(FROZEN)
    assert manifest["run_id"] == RUN_ID
    assert len(samples) == 4 * 3 * 11  # cells x repetitions x metrics
    assert samples["workers"].dtype == "int64"
    assert samples["repetition"].dtype == "int64"


def test_load_run_follows_latest_symlink(run_copy: Path):
    latest = run_copy.parent / "latest"
    latest.symlink_to(RUN_ID)  # relative, as a runner would make it
    samples, manifest = load_run(latest)
    assert manifest["run_id"] == RUN_ID
    assert not samples.empty


def test_missing_folder_is_named(tmp_path: Path):
    missing = tmp_path / "results" / "no-such-run"
    with pytest.raises(ValueError, match="run folder not found") as err:
        load_run(missing)
    assert str(missing) in str(err.value)


def test_dangling_latest_symlink_is_named(tmp_path: Path):
    latest = tmp_path / "latest"
    latest.symlink_to(tmp_path / "gone")
    with pytest.raises(ValueError) as err:
        load_run(latest)
    assert str(latest) in str(err.value) and "gone" in str(err.value)


@pytest.mark.parametrize("name", ["manifest.json", "results.parquet"])
def test_missing_file_is_named(run_copy: Path, name: str):
    (run_copy / name).unlink()
    with pytest.raises(ValueError) as err:
        load_run(run_copy)
    assert str(run_copy / name) in str(err.value)


def test_missing_column_is_named(run_copy: Path):
    edit_samples(run_copy, lambda f: f.drop(columns=["asgiref"]))
    with pytest.raises(ValueError, match="asgiref") as err:
        load_run(run_copy)
    assert str(run_copy / "results.parquet") in str(err.value)


def test_unknown_schema_version_is_refused(run_copy: Path):
    edit_manifest(run_copy, lambda m: m.update(schema_version=99))
    with pytest.raises(ValueError, match="schema_version 99"):
        load_run(run_copy)


# --------------------------------------------------------------------------
# summary: medians


def test_cell_medians_one_row_per_measured_cell():
    frame = medians()
    # The failed daphne cell has no samples, so no median row (the report
    # lists it under "Failed cells" instead).
    assert sorted(frame["server"]) == ["daphne", "granian-wsgi", "gunicorn-sync", "uvicorn"]
    assert set(frame["scenario"]) == {"single-client"}
    assert (frame["repetitions"] == 3).all()
    assert (frame["workers"] == 1).all()
    for column in ["cell_id", "interface", "python", "django", "asgiref", "view"]:
        assert column in frame.columns


@pytest.mark.parametrize("server", sorted(EXPECTED_MEDIANS))
def test_cell_medians_exact(server: str):
    row = medians().set_index("server").loc[server]
    assert [row[m] for m in MEDIAN_METRICS] == list(EXPECTED_MEDIANS[server])
    assert row["requests"] == EXPECTED_MEDIANS[server][4] * 10  # 10 s windows
    assert row["errors"] == 0


def test_cell_medians_counts_distinct_repetitions():
    samples, _ = load_run(FROZEN)
    drop = (samples["server"] == "uvicorn") & (samples["repetition"] == 2)
    frame = cell_medians(samples[~drop]).set_index("server")
    assert frame.loc["uvicorn", "repetitions"] == 2
    # median of the two left (1.5, 1.4) is their mean
    assert frame.loc["uvicorn", "latency_p50"] == pytest.approx(1.45)


# --------------------------------------------------------------------------
# summary: ratios


def test_asgi_vs_wsgi_ratios():
    ratios = asgi_vs_wsgi(medians(), BASELINE).set_index("server")
    assert sorted(ratios.index) == sorted(EXPECTED_RATIOS)
    assert (ratios["baseline_server"] == BASELINE).all()
    for server, (interface, p50, diff, p99, mean, tput) in EXPECTED_RATIOS.items():
        row = ratios.loc[server]
        assert row["interface"] == interface
        assert row["p50_ratio"] == pytest.approx(p50)
        assert row["p50_diff_ms"] == pytest.approx(diff)
        assert row["p99_ratio"] == pytest.approx(p99)
        assert row["mean_ratio"] == pytest.approx(mean)
        assert row["throughput_ratio"] == pytest.approx(tput)
    assert unmatched_cells(medians(), BASELINE).empty


def test_fallback_to_only_wsgi_cell():
    frame = medians()
    frame = frame[frame["server"] != BASELINE]
    ratios = asgi_vs_wsgi(frame, BASELINE).set_index("server")
    # granian-wsgi is the group's only WSGI cell, so it stands in.
    assert sorted(ratios.index) == ["daphne", "uvicorn"]
    assert (ratios["baseline_server"] == "granian-wsgi").all()
    assert ratios.loc["uvicorn", "p50_ratio"] == pytest.approx(1.5 / 0.8)
    assert ratios.loc["daphne", "throughput_ratio"] == pytest.approx(500 / 1250)
    assert unmatched_cells(frame, BASELINE).empty


def test_no_wsgi_cell_means_no_baseline():
    frame = medians()
    frame = frame[frame["interface"] == "asgi"]
    assert asgi_vs_wsgi(frame, BASELINE).empty
    missing = unmatched_cells(frame, BASELINE)
    assert sorted(missing["server"]) == ["daphne", "uvicorn"]
    assert (missing["reason"] == NO_BASELINE).all()


def test_two_other_wsgi_cells_and_no_baseline_means_no_baseline():
    frame = medians()
    frame = frame[frame["server"] != BASELINE]
    waitress = frame[frame["server"] == "granian-wsgi"].assign(server="waitress", cell_id="w1")
    frame = pd.concat([frame, waitress])
    assert asgi_vs_wsgi(frame, BASELINE).empty
    missing = unmatched_cells(frame, BASELINE)
    assert sorted(missing["server"]) == ["daphne", "granian-wsgi", "uvicorn", "waitress"]
    assert (missing["reason"] == NO_BASELINE).all()


def test_several_baseline_cells_prefer_same_workers():
    frame = medians()
    wide = frame[frame["server"] == BASELINE].assign(workers=2, cell_id="g2", latency_p50=4.0)
    ratios = asgi_vs_wsgi(pd.concat([frame, wide]), BASELINE).set_index("server")
    assert ratios.loc["uvicorn", "baseline_cell_id"] == "c0a1gunsync1"
    assert ratios.loc["uvicorn", "p50_ratio"] == pytest.approx(1.5)


# --------------------------------------------------------------------------
# report


def test_report_header_and_method():
    text = build_report(FROZEN)
    assert text.startswith(f"# Benchmark report: {RUN_ID}\n")
    assert "Status: **complete**" in text
    method = text.split("## How this was measured")[1].split("##")[0]
    for needle in [
        "no coordinated-omission correction",
        "for 5 s",
        "a 10 s window",
        "3 repetitions",
        "1 connection(s)",
        "CPU set `1`",  # server
        "CPU set `0`",  # client
        "Frozen Test CPU @ 2.00GHz",
        "kernel 6.1.0-test-amd64",
    ]:
        assert needle in method, needle


def test_report_tables_are_formatted():
    text = build_report(FROZEN)
    assert (
        "| gunicorn-sync | wsgi | 1 | 1 | 3.12 | 5.1.4 | 3.8.1 | plaintext | 3 | 1.000"
        " | [0.900, 1.200] | 14.8 | 1.500 | 2.000 | 1.100 | 1000 | [900, 1100] | 10.0"
        " | 55.0 | 41.0 | 1 | 35.0 |"
    ) in text
    assert (
        "| uvicorn | asgi | 1 | 1 | 3.12 | 5.1.4 | 3.8.1 | plaintext | gunicorn-sync (1w)"
        " | 1.500 | +0.500 | [+0.200, +0.700] | 1.500 | 1.500 | 0.700 | [0.591, 0.889]"
        " | slower |"
    ) in text
    assert "ratio > 1 means slower" in text


def test_failed_cell_is_listed_with_reason():
    text = build_report(FROZEN)
    failed = text.split("## Failed cells")[1].split("## Checks")[0]
    assert "c0a5daphne02" in failed
    assert "server did not answer within 20 s" in failed


def test_no_failed_cells_says_none(run_copy: Path):
    edit_manifest(run_copy, lambda m: m.update(cells=[c for c in m["cells"] if c["status"] == "ok"]))
    assert "## Failed cells\n\nnone\n" in build_report(run_copy)


def test_clean_run_raises_no_flags():
    checks = build_report(FROZEN).split("## Checks")[1]
    assert "every measured cell has the 3 asked" in checks
    assert "Load generator likely saturated" not in checks
    assert "Fewer repetitions" not in checks


def test_saturation_flag_only_when_client_cpu_high(run_copy: Path):
    def hot_client(frame):
        rows = (frame["server"] == "uvicorn") & (frame["metric"] == "client_cpu_percent")
        frame.loc[rows, "value"] = frame.loc[rows, "repetition"].map({0: 95.0, 1: 92.0, 2: 97.0})
        return frame

    edit_samples(run_copy, hot_client)
    checks = build_report(run_copy).split("## Checks")[1]
    # An old run has no saturation flag: client CPU > 90 % of one core flags a window.
    assert "Load generator likely saturated" in checks
    assert ("`c0a3uvicorn1` uvicorn (asgi, 1w): client saturated in repetitions 0, 1, 2 of 3"
            " (client CPU share 0.95, 0.92, 0.97)") in checks
    assert "daphne" not in checks


def test_fewer_repetitions_are_flagged(run_copy: Path):
    edit_samples(
        run_copy,
        lambda f: f[~((f["server"] == "daphne") & (f["repetition"] == 1))],
    )
    checks = build_report(run_copy).split("## Checks")[1]
    assert "Fewer repetitions than the 3 asked" in checks
    assert "`c0a4daphne01` daphne (asgi, 1w) (2 of 3)" in checks


def test_ok_cell_without_samples_is_flagged(run_copy: Path):
    edit_samples(run_copy, lambda f: f[f["server"] != "uvicorn"])
    checks = build_report(run_copy).split("## Checks")[1]
    assert "`c0a3uvicorn1` uvicorn (asgi, 1w) (0 of 3: no samples)" in checks


def test_report_lists_cells_without_baseline(run_copy: Path):
    edit_samples(run_copy, lambda f: f[f["interface"] == "asgi"])
    text = build_report(run_copy)
    assert "### single-client: not compared" in text
    assert text.count(NO_BASELINE) == 2  # uvicorn and daphne


def test_interrupted_run_is_flagged(run_copy: Path):
    edit_manifest(run_copy, lambda m: m.update(status="interrupted"))
    text = build_report(run_copy)
    assert "Status: **interrupted**" in text
    assert "**This run is interrupted**" in text


def test_write_report_leaves_inputs_untouched(run_copy: Path):
    latest = run_copy.parent / "latest"
    latest.symlink_to(RUN_ID)
    before = {n: digest(run_copy / n) for n in ("results.parquet", "manifest.json")}
    path = write_report(latest)
    assert path == run_copy.resolve() / "report.md"
    assert path.read_text() == build_report(run_copy)
    assert {n: digest(run_copy / n) for n in before} == before
    # only report.md was added: no temp file left behind
    assert sorted(p.name for p in run_copy.iterdir()) == [
        "manifest.json", "report.md", "results.parquet",
    ]
    write_report(run_copy)  # a second run replaces it
    assert {n: digest(run_copy / n) for n in before} == before


def test_console_tables_match_report():
    tables = console_tables(FROZEN)
    titles = [title for title, _ in tables]
    assert titles == [
        "Verdict",
        "Stability warnings",
        "single-client: median per cell",
        "single-client: compared with the WSGI baseline (gunicorn-sync)",
        "Failed cells",
    ]
    frames = dict(tables)
    medians_table = frames["single-client: median per cell"].set_index("server")
    assert medians_table.loc["daphne", "p50 ms"] == "2.000"
    assert medians_table.loc["granian-wsgi", "req/s"] == "1250"
    assert list(frames["Failed cells"]["cell_id"]) == ["c0a5daphne02"]


def test_run_without_samples_still_reports(run_copy: Path):
    # Every cell failed or none finished: the report must still say so.
    edit_samples(run_copy, lambda f: f.iloc[0:0])
    text = build_report(run_copy)
    assert "server did not answer within 20 s" in text
    assert "(0 of 3: no samples)" in text


PREDATES = "This run predates raw latencies"


def test_a_run_before_raw_latencies_says_so_when_it_measured_with_wrk(run_copy: Path):
    from analysis.report.markdown import build_report
    assert PREDATES in build_report(run_copy)              # version 1, wrk
    edit_manifest(run_copy, lambda m: m.update(schema_version=3))
    assert PREDATES not in build_report(run_copy)          # raw latencies
    io_mix = Path(__file__).parent / "data" / "runs" / "20261122T193908Z-io-mix-small-0354"
    assert PREDATES not in build_report(io_mix)            # no wrk in it
