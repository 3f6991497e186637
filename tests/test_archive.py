"""runner/archive/pack.py on real files: a copy of the frozen run folder, packed and
checked, then archives spoiled in the ways a copy across machines can spoil
them (changed or lost member, cut file) and folders edited after the run.

The frozen folder's manifest has no `files` hashes (it was written by hand),
so each test works on a copy that gets a real manifest from
runner.execute.manifest.write_manifest, plus the report.md / raw / logs / locks a real
run has. The frozen folder itself is never written.
"""
from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from runner.archive import pack as archive
from runner.archive.pack import SUMS_NAME, pack, verify
from runner.core.errors import LabError
from tests.support.runs import FROZEN, RUN_ID, rewrite_archive as rewrite

TRUNCATED = "archive is truncated or not a gzip tar:"


def members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def test_pack_then_verify(run_dir, tmp_path):
    (run_dir / ".results.parquet.tmp").write_bytes(b"half a write")  # skipped, like the manifest
    out = tmp_path / "archives"
    path = pack(run_dir, out)

    assert path == out / f"{RUN_ID}.tar.gz"
    assert verify(path) == []
    infos = members(path)
    assert [m.name for m in infos] == [
        RUN_ID,
        f"{RUN_ID}/{SUMS_NAME}",
        f"{RUN_ID}/locks",
        f"{RUN_ID}/logs",
        f"{RUN_ID}/logs/server.log",
        f"{RUN_ID}/manifest.json",
        f"{RUN_ID}/raw",
        f"{RUN_ID}/raw/cell-1-rep-1.txt",
        f"{RUN_ID}/report.md",
        f"{RUN_ID}/results.parquet",
    ]
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in infos)
    assert not any(m.name.startswith("/") or ".." in m.name.split("/") for m in infos)

    with tarfile.open(path, "r:gz") as tar:
        sums = tar.extractfile(f"{RUN_ID}/{SUMS_NAME}").read().decode()
    expected = "".join(
        f"{hashlib.sha256((run_dir / rel).read_bytes()).hexdigest()}  {rel}\n"
        for rel in ["logs/server.log", "manifest.json", "raw/cell-1-rep-1.txt",
                    "report.md", "results.parquet"])
    assert sums == expected
    assert leftovers(out) == []  # no temp file after success


def test_pack_resolves_latest_symlink(run_dir, tmp_path):
    latest = run_dir.parent / "latest"
    latest.symlink_to(run_dir.name)
    path = pack(latest, tmp_path / "out")
    assert path.name == f"{RUN_ID}.tar.gz"
    assert members(path)[0].name == RUN_ID


def test_pack_is_deterministic(run_dir, tmp_path):
    first = pack(run_dir, tmp_path / "a")
    second = pack(run_dir, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_pack_never_overwrites(run_dir, tmp_path):
    out = tmp_path / "out"
    path = pack(run_dir, out)
    before = path.read_bytes()
    with pytest.raises(LabError, match=str(path)):
        pack(run_dir, out)
    assert path.read_bytes() == before
    assert leftovers(out) == []


def test_pack_never_overwrites_an_archive_appearing_meanwhile(run_dir, tmp_path, monkeypatch):
    """Another pack finishing between the first check and the rename."""
    out = tmp_path / "out"
    target = out / f"{RUN_ID}.tar.gz"
    real_verify = archive.verify

    def verify_then_race(path):
        target.write_bytes(b"the other archive")
        return real_verify(path)

    monkeypatch.setattr(archive, "verify", verify_then_race)
    with pytest.raises(LabError, match="already exists"):
        pack(run_dir, out)
    assert target.read_bytes() == b"the other archive"
    assert leftovers(out) == []


def test_no_temp_file_left_when_writing_fails(run_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_addfile = tarfile.TarFile.addfile
    calls = []

    def failing_addfile(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:  # root, sums, locks/, logs/, then the first file
            raise OSError("disk full")
        return real_addfile(self, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "addfile", failing_addfile)
    with pytest.raises(OSError, match="disk full"):
        pack(run_dir, out)
    assert list(out.iterdir()) == []


def test_out_dir_is_created(run_dir, tmp_path):
    out = tmp_path / "not" / "yet" / "there"
    assert pack(run_dir, out).parent == out


def test_out_dir_inside_run_is_refused(run_dir):
    with pytest.raises(LabError, match="inside the run folder"):
        pack(run_dir, run_dir / "archives")


def test_folder_without_manifest_is_refused(tmp_path):
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    (folder / "results.parquet").write_bytes(b"x")
    with pytest.raises(LabError, match=str(folder / "manifest.json")):
        pack(folder, tmp_path / "out")
    assert not (tmp_path / "out" / "not-a-run.tar.gz").exists()


def test_manifest_without_hashes_is_refused(tmp_path):
    """Like the hand-written frozen folder: nothing to check the files against."""
    run = shutil.copytree(FROZEN, tmp_path / RUN_ID)
    with pytest.raises(LabError, match="no 'files' hashes"):
        pack(run, tmp_path / "out")


def test_result_edited_after_manifest_is_refused(run_dir, tmp_path):
    with (run_dir / "results.parquet").open("ab") as f:
        f.write(b"\0")
    out = tmp_path / "out"
    with pytest.raises(LabError, match=r"changed: results\.parquet") as exc:
        pack(run_dir, out)
    assert "report.md" not in str(exc.value)  # not in the manifest, may differ
    assert not out.exists()  # a refused pack creates nothing


def test_listed_file_missing_is_refused(run_dir, tmp_path):
    (run_dir / "raw" / "cell-1-rep-1.txt").unlink()
    with pytest.raises(LabError, match="missing: raw/cell-1-rep-1.txt"):
        pack(run_dir, tmp_path / "out")


def test_symlink_inside_run_is_refused(run_dir, tmp_path):
    (run_dir / "logs" / "elsewhere").symlink_to("/etc/hostname")
    with pytest.raises(LabError, match="elsewhere"):
        pack(run_dir, tmp_path / "out")


def test_changed_member_is_named(run_dir, tmp_path):
    good = pack(run_dir, tmp_path / "out")
    bad = rewrite(good, tmp_path / "bad.tar.gz",
                  change={f"{RUN_ID}/results.parquet": b"not the measured data"})
    assert verify(bad) == [f"changed: {RUN_ID}/results.parquet"]


def test_changed_member_with_forged_sums_disagrees_with_manifest(run_dir, tmp_path):
    good = pack(run_dir, tmp_path / "out")
    new = b"not the measured data"
    with tarfile.open(good, "r:gz") as tar:
        sums = tar.extractfile(f"{RUN_ID}/{SUMS_NAME}").read().decode()
    old = hashlib.sha256((run_dir / "results.parquet").read_bytes()).hexdigest()
    forged = sums.replace(old, hashlib.sha256(new).hexdigest()).encode()
    bad = rewrite(good, tmp_path / "bad.tar.gz",
                  change={f"{RUN_ID}/results.parquet": new, f"{RUN_ID}/{SUMS_NAME}": forged})
    assert verify(bad) == [f"disagrees with manifest.json: {RUN_ID}/results.parquet"]


def test_removed_member_is_missing(run_dir, tmp_path):
    good = pack(run_dir, tmp_path / "out")
    bad = rewrite(good, tmp_path / "bad.tar.gz", change={f"{RUN_ID}/report.md": None})
    assert verify(bad) == [f"missing: {RUN_ID}/report.md"]


def test_added_member_is_unlisted(run_dir, tmp_path):
    good = pack(run_dir, tmp_path / "out")
    bad = rewrite(good, tmp_path / "bad.tar.gz", add={f"{RUN_ID}/raw/extra.txt": b"x"})
    assert verify(bad) == [f"unlisted: {RUN_ID}/raw/extra.txt"]


def test_missing_sums(run_dir, tmp_path):
    good = pack(run_dir, tmp_path / "out")
    bad = rewrite(good, tmp_path / "bad.tar.gz", change={f"{RUN_ID}/{SUMS_NAME}": None})
    assert verify(bad) == [f"missing: {SUMS_NAME}"]


def test_unsafe_paths_are_reported_not_extracted(run_dir, tmp_path, monkeypatch):
    good = pack(run_dir, tmp_path / "out")
    bad = rewrite(good, tmp_path / "bad.tar.gz",
                  add={"../escaped.txt": b"x", "/tmp/absolute.txt": b"x"})
    cwd = tmp_path / "cwd" / "deeper"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    problems = verify(bad)
    assert "unsafe path: ../escaped.txt" in problems
    assert any(p.startswith("unsafe path: ") and "absolute.txt" in p for p in problems)
    assert not (tmp_path / "cwd" / "escaped.txt").exists()
    assert list(cwd.iterdir()) == []


def test_truncated_archive(run_dir, tmp_path):
    good = pack(run_dir, tmp_path / "out")
    data = good.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    problems = verify(cut)
    assert len(problems) == 1 and problems[0].startswith(TRUNCATED)


def test_cut_gzip_trailer_is_noticed(run_dir, tmp_path):
    """The tar ends before the gzip trailer: tarfile alone would not notice."""
    good = pack(run_dir, tmp_path / "out")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-4])
    assert verify(cut)[0].startswith(TRUNCATED)


def test_not_a_gzip(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_text("hello")
    assert verify(junk)[0].startswith(TRUNCATED)
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w") as tar:  # uncompressed tar under a .gz name
        tar.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    assert verify(plain)[0].startswith(TRUNCATED)
