"""`lab archive`, `lab verify`, `lab reproduce` and `lab compare` end to end on
the shared e2e lab (tests/conftest.py's `lab_up`): a small run is archived,
verified, run again from its archive, and the two runs compared.

Small on purpose: 1 cell (uvicorn on the raw app, a venv of the other e2e
matrices), single client, 3 repetitions of a 1 s window per run: about
2 × 3 units of ~7 s plus each run's configure stage.
"""
import json
import re
import tarfile
import time

import pytest

from analysis.report.compare_runs import AGREES, DISAGREES, compare_runs
from tests.conftest import REPO
from tests.support.lab import LAB, lab, run_folders

pytestmark = pytest.mark.e2e

MATRIX = REPO / "tests" / "data" / "matrices" / "reproduce.yaml"
SUMMARY = re.compile(r"(\d+) cells? agrees?, (\d+) disagree, (\d+) not judged, "
                     r"(\d+) only in one run(?:, (\d+) failed)?")


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_archive_verify_reproduce_compare(lab_up, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reproduce")
    timings = {}

    start = time.monotonic()
    lab("run", str(MATRIX), "--lab", LAB, "--results", str(tmp / "first"))
    timings["run"] = time.monotonic() - start
    (first,) = run_folders(tmp / "first")
    old = json.loads((first / "manifest.json").read_text())
    assert old["status"] == "complete" and all(c["status"] == "ok" for c in old["cells"])

    out = one_line(lab("archive", str(first), "--out", str(tmp / "archives")).stdout)
    archive = tmp / "archives" / f"{first.name}.tar.gz"
    assert f"archive: {archive}" in out
    assert "every member matches its sha256" in one_line(lab("verify", str(archive)).stdout)

    start = time.monotonic()
    proc = lab("reproduce", str(archive), "--lab", LAB, "--results", str(tmp / "again"))
    timings["reproduce"] = time.monotonic() - start
    out = one_line(proc.stdout)
    print(f"\nlab reproduce: {SUMMARY.search(out).group(0)}")
    (again,) = run_folders(tmp / "again")
    assert f"results: {again}" in out
    counts = [int(n or 0) for n in SUMMARY.search(out).groups()]
    assert sum(counts[:3]) == 1 and counts[3:] == [0, 0], out    # a verdict for the cell

    new = json.loads((again / "manifest.json").read_text())
    assert new["status"] == "complete"
    # The same locks on the same hosts, nothing changed since: no playbook run,
    # and the install report is the installer's own (every venv unchanged).
    assert new["configure"] == {"mode": "skipped", "why": None} and new["ansible_recap"] == {}
    assert {c["install"]["status"] for c in new["cells"]} == {"unchanged"}
    assert new["hosts"]["server"]["facts"] and new["tools"]["load_generators"]["client"]
    assert new["reproduces"]["run_id"] == first.name
    assert new["reproduces"]["archive"] == str(archive.resolve())
    assert len(new["reproduces"]["archive_sha256"]) == 64
    # The cells came from the archived locks: the same ids, the same locks.
    assert sorted(c["cell_id"] for c in new["cells"]) == sorted(c["cell_id"] for c in old["cells"])
    for cell in new["cells"]:
        assert (again / cell["lock"]).read_bytes() == (first / cell["lock"]).read_bytes()
    assert (again / "matrix.yaml").read_bytes() == MATRIX.read_bytes()
    comparison = compare_runs(first, again)
    assert set(comparison.cells["verdict"]) <= {AGREES, DISAGREES}, comparison.cells
    assert (comparison.cells["same_lock"] == "yes").all()
    text = (again / "comparison.md").read_text()
    assert comparison.summary() in text and str(archive) in text

    proc = lab("compare", str(first), str(again), "--out", str(tmp / "cmp.md"))
    print(f"lab compare: {SUMMARY.search(one_line(proc.stdout)).group(0)}")
    assert comparison.summary() in one_line(proc.stdout)
    assert (tmp / "cmp.md").read_text().startswith("# Comparison:")

    # The reproduced run archives and verifies like any other, comparison.md included.
    lab("archive", str(again), "--out", str(tmp / "archives"))
    second = tmp / "archives" / f"{again.name}.tar.gz"
    assert "every member matches" in one_line(lab("verify", str(second)).stdout)
    with tarfile.open(second) as tar:
        sums = tar.extractfile(f"{again.name}/ARCHIVE-SHA256SUMS").read().decode()
    assert re.search(r"^[0-9a-f]{64}  comparison\.md$", sums, re.M)
    print(f"timings: run {timings['run']:.1f} s, reproduce {timings['reproduce']:.1f} s, "
          f"lab up {lab_up:.1f} s")
