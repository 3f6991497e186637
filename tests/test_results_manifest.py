import hashlib
import json

import pandas as pd
import pytest
from pydantic import ValidationError

from runner.execute import manifest
from runner.core.model import SAMPLE_COLUMNS, parse_manifest
from runner.execute.results import Samples, new_run_dir, point_latest
from runner.execute.run import units
from runner.scenarios.single_client import Params as SingleParams


def test_run_dirs_are_new_and_latest_moves(tmp_path):
    a_id, a = new_run_dir(tmp_path, "demo")
    b_id, b = new_run_dir(tmp_path, "demo")
    assert a != b and a.is_dir() and b.is_dir()
    point_latest(tmp_path, a)
    point_latest(tmp_path, b)
    assert (tmp_path / "latest").resolve() == b.resolve()


def test_samples_are_long_form_with_the_documented_columns(tmp_path):
    s = Samples("r1")
    cols = {"cell_id": "c1", "server": "uvicorn", "interface": "asgi", "workers": 1,
            "threads": 1, "python": "3.12", "django": "5.2.19", "asgiref": "3.13.0", "view": "drf"}
    s.add(cols, "single-client", 0, {"latency_p50": (1.5, "ms"), "requests_per_s": (600, "1/s")})
    df = pd.read_parquet(s.write(tmp_path))
    assert list(df.columns) == SAMPLE_COLUMNS
    assert df.set_index("metric").loc["latency_p50", "value"] == 1.5
    assert df["workers"].dtype == "int64" and df["threads"].dtype == "int64"


def test_threads_and_package_axes_are_kept_as_cell_columns(tmp_path):
    s = Samples("r1")
    base = {"cell_id": "c1", "server": "gunicorn-gthread", "interface": "wsgi", "workers": 1,
            "python": "3.12", "django": "6.1.3", "asgiref": "3.13.0", "view": "drf"}
    s.add({**base, "threads": 4, "djangorestframework": "3.18.3"}, "single-client", 0,
          {"latency_p50": (0.6, "ms")})
    s.add({**base, "cell_id": "c2", "threads": 1, "djangorestframework": "3.16.1"},
          "single-client", 0, {"latency_p50": (0.5, "ms")})
    df = pd.read_parquet(s.write(tmp_path)).set_index("cell_id")
    assert df.loc["c1", "threads"] == 4 and df.loc["c2", "djangorestframework"] == "3.16.1"
    assert list(df.reset_index().columns).index("djangorestframework") < list(
        df.reset_index().columns).index("scenario")


def test_manifest_hashes_every_file_and_has_a_schema_version(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "wrk.txt").write_text("x")
    manifest.write_manifest(tmp_path, {"run_id": "r1", "status": "complete"})
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["schema_version"] == manifest.SCHEMA_VERSION
    assert data["files"] == {"raw/wrk.txt": hashlib.sha256(b"x").hexdigest()}
    assert parse_manifest(data).status == "complete"


def test_a_manifest_the_model_refuses_is_not_written(tmp_path):
    with pytest.raises(ValidationError, match="status"):
        manifest.write_manifest(tmp_path, {"run_id": "r1"})
    with pytest.raises(ValidationError, match="workers"):
        manifest.write_manifest(tmp_path, {"run_id": "r1", "status": "complete",
                                           "cells": [{"cell_id": "c", "server": "uvicorn",
                                                      "interface": "asgi", "workers": "many",
                                                      "python": "3.12", "django": "5.2",
                                                      "view": "drf"}]})
    assert not (tmp_path / "manifest.json").exists()


def test_samples_refuse_a_known_metric_in_another_unit():
    samples = Samples("r1")
    with pytest.raises(ValueError, match="latency_p50 in 's'; the model says 'ms'"):
        samples.add({"cell_id": "c"}, "single-client", 0, {"latency_p50": (0.001, "s")})
    samples.add({"cell_id": "c"}, "single-client", 0, {"my_metric": (1.0, "s")})
    assert len(samples.rows) == 1


def test_aa_twins_copy_each_baseline_cell_under_its_own_id():
    from runner.matrix.locks import Cell
    from runner.matrix.expand import CellSpec
    from runner.execute.run import with_aa_twins

    def cell(server, cid):
        spec = CellSpec(python="3.12", django="5.2.19", asgiref=None, server=server, workers=1,
                        view="drf")
        return Cell(spec=spec, cell_id=cid, env_id="e-" + server, lock_text="x==1\n",
                    packages=(("x", "1"),))
    cells = [cell("gunicorn-sync", "a1"), cell("uvicorn", "b2")]
    out = with_aa_twins(cells, "gunicorn-sync")
    assert [c.cell_id for c in out] == ["a1", "b2", "a1-aa"]
    twin = out[-1]
    assert twin.env_id == "e-gunicorn-sync" and twin.spec == cells[0].spec
    assert {k: v for k, v in twin.columns().items() if k != "cell_id"} == \
        {k: v for k, v in cells[0].columns().items() if k != "cell_id"}
    # Both are scheduled, interleaved with the rest.
    matrix = type("M", (), {"protocol": type("P", (), {"repetitions": 2})(),
                            "scenarios_for": lambda self, spec: {"single-client": SingleParams()}})()
    order = units(matrix, out, ["single-client"], {}, seed=3)
    assert sorted((u.cell.cell_id, u.repetition) for u in order) == sorted(
        (c.cell_id, r) for c in out for r in range(2))
