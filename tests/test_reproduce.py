"""runner/archive/reproduce.py without a lab: refusing a tampered or truncated
archive, cells made from an archived run's locks (same ids), and the whole
flow with the run itself replaced by a stand-in.

The archive is made from the frozen scenarios run (2 cells, gunicorn-sync and
uvicorn): its manifest records every installed package, which is exactly what
a lock pins, so locks/<cell_id>.txt can be written back from it; matrix.yaml
is the manifest's matrix as given.
"""
from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from analysis.report.compare_runs import AGREES
from runner.archive import reproduce as reproduce_mod
from runner import ui
from runner.archive.pack import pack, verify
from runner.cli import app
from runner.core.errors import LabError
from runner.execute.manifest import write_manifest
from runner.matrix.expand import load_matrix
from runner.archive.reproduce import extract, reproduce
from runner.matrix.locks import locks_of_run
from runner.execute.run import NOT_ARCHIVED, cells_from_locks, with_aa_twins
from tests.support.runs import rewrite_archive as rewrite

SOURCE = Path(__file__).parent / "data" / "runs" / "20261122T193656Z-scenarios-1221"
RUN_ID = SOURCE.name


def lock_text(packages: dict) -> str:
    return "".join(f"{name}=={version} \\\n    --hash=sha256:{'0' * 64}\n"
                   for name, version in sorted(packages.items()))


def make_run(folder: Path, edit=None) -> Path:
    """A finished run folder with locks/ and matrix.yaml, as `lab run` leaves it."""
    shutil.copytree(SOURCE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    if edit:
        edit(manifest)
    (folder / "locks").mkdir()
    for cell in manifest["cells"]:
        (folder / cell["lock"]).write_text(lock_text(cell["packages"]))
    (folder / "matrix.yaml").write_text(yaml.safe_dump(manifest["matrix"], sort_keys=False))
    manifest.pop("files", None)
    write_manifest(folder, manifest)
    (folder / "report.md").write_text("# Report\n")
    return folder


@pytest.fixture
def archive(tmp_path) -> Path:
    return pack(make_run(tmp_path / "src" / RUN_ID), tmp_path / "archives")


def invoke_reproduce(archive_file: Path, results: Path):
    return CliRunner().invoke(app, ["reproduce", str(archive_file), "--lab", "no-such-lab",
                                    "--results", str(results)])


def test_a_tampered_archive_is_refused_naming_the_member(archive, tmp_path):
    member = f"{RUN_ID}/locks/39e49ad888c9.txt"
    bad = rewrite(archive, tmp_path / "bad.tar.gz",
                  change={member: lock_text({"django": "9.9.9"}).encode()})
    results = tmp_path / "results"
    res = invoke_reproduce(bad, results)
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert f"refusing to reproduce {bad}" in out and f"changed: {member}" in out
    assert not results.exists()     # nothing created


def test_a_truncated_archive_is_refused(archive, tmp_path):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    results = tmp_path / "results"
    results.mkdir()
    res = invoke_reproduce(cut, results)
    assert res.exit_code == 1
    out = " ".join(res.output.split())
    assert f"refusing to reproduce {cut}" in out and "truncated" in out
    assert list(results.iterdir()) == []


def test_cells_from_the_archived_locks_have_the_archived_ids(archive, tmp_path):
    old = extract(archive, tmp_path / "x")
    manifest = json.loads((old / "manifest.json").read_text())
    matrix = load_matrix(old / "matrix.yaml")
    locks = locks_of_run(matrix, manifest, old, ui)
    cells, excluded = cells_from_locks(matrix, locks, ui)
    assert sorted(c.cell_id for c in cells) == sorted(c["cell_id"] for c in manifest["cells"])
    assert not excluded
    for cell in cells:
        assert cell.lock_text == (old / "locks" / f"{cell.cell_id}.txt").read_text()
    # A/A twins come back from the same lock under the twin's id.
    twins = with_aa_twins(cells, "gunicorn-sync")
    assert [c.cell_id for c in twins[2:]] == ["39e49ad888c9-aa"]


def test_a_cell_the_archived_run_lacks_is_excluded_with_the_reason(tmp_path):
    def drop_uvicorn(m):
        m["cells"] = [c for c in m["cells"] if c["server"] != "uvicorn"]
    old = make_run(tmp_path / RUN_ID, edit=drop_uvicorn)
    manifest = json.loads((old / "manifest.json").read_text())
    matrix = load_matrix(old / "matrix.yaml")
    cells, excluded = cells_from_locks(matrix, locks_of_run(matrix, manifest, old, ui), ui)
    assert [c.cell_id for c in cells] == ["39e49ad888c9"]
    assert [(x.spec.server, x.reason) for x in excluded] == [("uvicorn", NOT_ARCHIVED)]


def test_a_lock_missing_from_the_run_folder_is_an_error(tmp_path):
    old = make_run(tmp_path / RUN_ID)
    (old / "locks" / "dcc793b0d4a4.txt").unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    with pytest.raises(LabError, match="lock of cell dcc793b0d4a4"):
        locks_of_run(load_matrix(old / "matrix.yaml"), manifest, old, ui)


def test_reproduce_runs_the_archived_matrix_from_its_locks_and_writes_the_comparison(
        archive, tmp_path, monkeypatch):
    """The run stage is replaced by a stand-in that 'measures' the archived
    figures again: every judged cell agrees, and everything around the run
    (arguments, manifest key, comparison.md, clean-up) is the real code."""
    monkeypatch.setattr(reproduce_mod.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    seen = {}

    def fake_run(matrix_path, lab_name, results_root, ui, locks, reproduces):
        seen.update(matrix=Path(matrix_path).read_text(), locks=locks, reproduces=reproduces,
                    lab=lab_name)
        run_dir = Path(results_root) / "20990101T000000Z-scenarios-beef"
        run_dir.mkdir(parents=True)
        df = pd.read_parquet(Path(matrix_path).parent / "results.parquet")
        df.assign(run_id=run_dir.name).to_parquet(run_dir / "results.parquet", index=False)
        manifest = json.loads((Path(matrix_path).parent / "manifest.json").read_text())
        manifest.update(run_id=run_dir.name, reproduces=reproduces)
        manifest.pop("files")
        write_manifest(run_dir, manifest)
        return run_dir

    monkeypatch.setattr(reproduce_mod, "run_matrix", fake_run)
    run_dir, comparison = reproduce(archive, lab_name="e2e", results_root=tmp_path / "results",
                                    ui=ui)
    assert seen["lab"] == "e2e"
    assert seen["matrix"] == yaml.safe_dump(
        json.loads((SOURCE / "manifest.json").read_text())["matrix"], sort_keys=False)
    assert sorted(c.server for c in seen["locks"]) == ["gunicorn-sync", "uvicorn"]
    assert seen["reproduces"]["run_id"] == RUN_ID
    assert seen["reproduces"]["archive"] == str(archive.resolve())
    assert len(seen["reproduces"]["archive_sha256"]) == 64
    # 2 repetitions per cell: no interval, so nothing is judged, nor called agreeing.
    assert comparison.summary() == "0 cells agree, 0 disagree, 2 not judged, 0 only in one run"
    text = (run_dir / "comparison.md").read_text()
    assert comparison.summary() in text and str(archive) in text
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()
    assert list((tmp_path / "tmp").iterdir()) == []    # the extracted copy is gone
    # A new archive of the reproduced run covers comparison.md, written after
    # the manifest: a change to it is named.
    new = pack(run_dir, tmp_path / "new-archives")
    assert verify(new) == []
    with tarfile.open(new) as tar:
        assert f"{run_dir.name}/comparison.md" in tar.getnames()
    member = f"{run_dir.name}/comparison.md"
    bad = rewrite(new, tmp_path / "bad.tar.gz", change={member: b"# all agree\n"})
    assert verify(bad) == [f"changed: {member}"]


def test_reproduce_says_agree_when_the_figures_do(tmp_path, monkeypatch):
    """With 3 repetitions (the frozen scenarios run has 2: a third is added
    as a copy of the second) the stand-in's identical figures agree."""
    def third(m):
        m["protocol"]["repetitions"] = 3
        m["matrix"]["protocol"]["repetitions"] = 3
    folder = make_run(tmp_path / "src" / RUN_ID, edit=third)
    df = pd.read_parquet(folder / "results.parquet")
    df = pd.concat([df, df[df["repetition"] == 1].assign(repetition=2)], ignore_index=True)
    df.to_parquet(folder / "results.parquet", index=False)
    m = json.loads((folder / "manifest.json").read_text())
    m.pop("files")
    write_manifest(folder, m)
    archive_file = pack(folder, tmp_path / "archives")

    def fake_run(matrix_path, lab_name, results_root, ui, locks, reproduces):
        run_dir = Path(results_root) / "20990101T000000Z-scenarios-beef"
        shutil.copytree(Path(matrix_path).parent, run_dir)
        (run_dir / "report.md").unlink()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        manifest["reproduces"] = reproduces
        manifest.pop("files")
        write_manifest(run_dir, manifest)
        return run_dir

    monkeypatch.setattr(reproduce_mod, "run_matrix", fake_run)
    res = CliRunner().invoke(app, ["reproduce", str(archive_file), "--results",
                                   str(tmp_path / "results")])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "2 cells agree, 0 disagree, 0 not judged, 0 only in one run" in out
    run_dir = tmp_path / "results" / "20990101T000000Z-scenarios-beef"
    assert f"results: {run_dir}" in out and (run_dir / "comparison.md").is_file()
    assert AGREES in (run_dir / "comparison.md").read_text()
