"""load_runs: several run folders as one sample table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.runs.load import load_run, load_runs
from analysis.stats.bootstrap import cell_stats
from analysis.stats.summary import cell_medians
from tests.support.runs import FROZEN, RUN_ID, edit_manifest, edit_samples

SECOND = "20250102T120000Z-frozen"


@pytest.fixture
def second_run(tmp_path: Path) -> Path:
    """The frozen run again under another run_id, one p50 shifted by +1 ms."""
    target = tmp_path / SECOND
    shutil.copytree(FROZEN, target)
    edit_manifest(target, lambda m: m.update(run_id=SECOND))

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.assign(run_id=SECOND)
        frame.loc[frame["metric"] == "latency_p50", "value"] += 1.0
        return frame

    edit_samples(target, rename)
    return target


def test_load_runs_concatenates_and_keeps_run_id(second_run: Path):
    samples = load_runs([FROZEN, second_run])
    one, _ = load_run(FROZEN)
    assert len(samples) == 2 * len(one)
    assert samples.groupby("run_id").size().to_dict() == {RUN_ID: len(one), SECOND: len(one)}
    assert samples["workers"].dtype == "int64"


def test_repetitions_of_both_runs_count(second_run: Path):
    samples = load_runs([FROZEN, second_run])
    medians = cell_medians(samples).set_index("server")
    assert (medians["repetitions"] == 6).all()
    # gunicorn-sync p50: 1.2, 0.9, 1.0 and 2.2, 1.9, 2.0 -> median of six = 1.55
    assert medians.loc["gunicorn-sync", "latency_p50"] == pytest.approx(1.55)
    stats = cell_stats(samples, ["latency_p50"]).set_index("server")
    assert stats.loc["gunicorn-sync", "repetitions"] == 6


def test_one_folder_is_load_run(second_run: Path):
    samples, _ = load_run(second_run)
    pd.testing.assert_frame_equal(load_runs([second_run]), samples)


def test_extra_column_of_one_run_is_nan_elsewhere(second_run: Path):
    edit_samples(second_run, lambda f: f.assign(djangorestframework="3.15.2"))
    samples = load_runs([FROZEN, second_run])
    extra = samples.groupby("run_id")["djangorestframework"].apply(lambda s: s.isna().all())
    assert extra.to_dict() == {RUN_ID: True, SECOND: False}


def test_bad_folder_is_named(tmp_path: Path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(ValueError) as err:
        load_runs([FROZEN, missing])
    assert str(missing) in str(err.value)


def test_bad_file_names_its_folder(second_run: Path):
    (second_run / "results.parquet").unlink()
    with pytest.raises(ValueError) as err:
        load_runs([FROZEN, second_run])
    assert str(second_run) in str(err.value)


def test_run_id_mismatch_is_named(second_run: Path):
    edit_manifest(second_run, lambda m: m.update(run_id="something-else"))
    with pytest.raises(ValueError, match="something-else") as err:
        load_runs([second_run])
    assert str(second_run) in str(err.value) and SECOND in str(err.value)


def test_same_run_twice_is_refused(tmp_path: Path):
    latest = tmp_path / "latest"
    latest.symlink_to(FROZEN.resolve())
    with pytest.raises(ValueError, match="given twice"):
        load_runs([FROZEN, latest])


def test_no_folder_is_an_error():
    with pytest.raises(ValueError, match="no run folder"):
        load_runs([])


def test_read_schema_gathers_what_old_manifests_spell_differently():
    from analysis.runs.schema import read_schema

    old = read_schema({"schema_version": 1, "protocol": {"latency_model": "wrk (open)"},
                       "hosts": {"server": {"cpus": "1"}, "client": {"cpus": "0"}}})
    assert old.scenarios is None and old.latency_models == {} and not old.raw_latencies
    assert old.wrk_ran() and old.hosts["server"] == {"cpus": "1"}
    new = read_schema({"schema_version": 3, "protocol": {
        "scenarios": {"memory": {}}, "latency_models": {"memory": "k6 (closed)"}},
        "hosts": {"a": {"role": "server", "cpus": "1"}}})
    assert new.raw_latencies and not new.wrk_ran() and new.latency_model is None
    assert new.hosts == {"server": {"role": "server", "cpus": "1"}, "client": {}}
