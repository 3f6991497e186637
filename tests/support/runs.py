"""The frozen run folder and the edits tests make to copies of it.

tests/data/runs/20250101T120000Z-frozen/ holds 4 measured cells x 3
repetitions and 1 failed cell with hand-chosen numbers; the folder itself is
never written: tests copy it (the `run_copy` fixture) and edit the copy."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pandas as pd

RUN_ID = "20250101T120000Z-frozen"
FROZEN = Path(__file__).resolve().parent.parent / "data" / "runs" / RUN_ID


def copy_frozen(tmp_path: Path) -> Path:
    """A writable copy of the frozen run at tmp_path/results/<run_id>."""
    target = tmp_path / "results" / RUN_ID
    shutil.copytree(FROZEN, target)
    return target


def edit_samples(folder: Path, edit) -> None:
    path = folder / "results.parquet"
    frame = pd.read_parquet(path)
    edit(frame).to_parquet(path, index=False)


def edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def rewrite_archive(src: Path, dst: Path, change: dict[str, bytes | None] | None = None,
                    add: dict[str, bytes] | None = None) -> Path:
    """Copy an archive member by member with tarfile; `change` maps a member
    name to new bytes, or to None to drop it; `add` appends members."""
    change, add = change or {}, add or {}
    with tarfile.open(src, "r:gz") as old, tarfile.open(dst, "w:gz") as new:
        for info in old.getmembers():
            data = old.extractfile(info).read() if info.isfile() else None
            if info.name in change:
                data = change[info.name]
                if data is None:
                    continue
                info.size = len(data)
            new.addfile(info, io.BytesIO(data) if data is not None else None)
        for name, data in add.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    return dst
