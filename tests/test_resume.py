"""`lab run --resume`: what it refuses, before any host is touched (the
resumption itself runs end to end in tests/test_lab_scenarios.py)."""
import json
import shutil

import pytest
from typer.testing import CliRunner

from runner.cli import app
from runner.session.session import set_aside
from tests.conftest import REPO

FAULTS = REPO / "tests" / "data" / "matrices" / "faults.yaml"


def run_folder(tmp_path, status, cells=()):
    folder = tmp_path / "results" / "20261203T000000Z-faults-abcd"
    folder.mkdir(parents=True)
    shutil.copyfile(FAULTS, folder / "matrix.yaml")
    (folder / "manifest.json").write_text(json.dumps(
        {"schema_version": 3, "run_id": folder.name, "status": status, "error": "resolve failed",
         "cells": list(cells)}))
    return folder


def lab_run(*args):
    result = CliRunner().invoke(app, ["run", *args])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("status,message", [
    ("complete", "is complete: nothing to resume"),
    ("failed", "failed before its cells had locks (resolve failed): start a new run instead"),
])
def test_a_run_that_cannot_be_resumed_is_refused_with_why(tmp_path, status, message):
    folder = run_folder(tmp_path, status)
    code, out = lab_run("--resume", folder.name, "--results", str(folder.parent))
    assert code == 1 and message in out, out


def test_resume_takes_no_matrix_and_needs_a_run_folder(tmp_path):
    folder = run_folder(tmp_path, "interrupted")
    code, out = lab_run(str(FAULTS), "--resume", str(folder))
    assert code == 1 and "give either a MATRIX or --resume RUN_ID, not both" in out
    code, out = lab_run("--resume", "nope", "--results", str(tmp_path))
    assert code == 1 and f"--resume: no run folder {tmp_path / 'nope'}" in out
    code, out = lab_run("--results", str(tmp_path))
    assert code == 1 and "give a MATRIX file to run" in out


def test_an_earlier_attempts_files_are_set_aside_never_overwritten(tmp_path):
    rep = tmp_path / "rep0"
    rep.mkdir()
    (rep / "server.log").write_text("first")
    set_aside(rep)
    rep.mkdir()
    (rep / "server.log").write_text("second")
    set_aside(rep)
    assert not rep.exists()
    assert (tmp_path / "rep0.earlier1" / "server.log").read_text() == "first"
    assert (tmp_path / "rep0.earlier2" / "server.log").read_text() == "second"
