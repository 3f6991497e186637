"""The import contracts (pyproject.toml, [tool.importlinter]) that keep the
rooms of runner/ and analysis/ layered: the real tree keeps them, and each
kind of violation a change could bring back breaks its contract."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.needs("lint-imports")]

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT)], cwd=folder, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_contract():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "5 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("module, line, broken", [
    # A lower room reaching up: the cycle the restructure removed (session -> execute).
    ("runner/session/session.py", "from runner.execute import run", "layered"),
    # Scenarios must not know the matrix; it knows them.
    ("runner/scenarios/base.py", "from runner.matrix import expand", "layered"),
    # An analysis room reaching up: statistics rendering, a reader asking a question.
    ("analysis/stats/summary.py", "from analysis.render import formatting",
     "analysis's rooms are layered"),
    ("analysis/runs/load.py", "from analysis.questions import seeds",
     "analysis's rooms are layered"),
    ("analysis/scenarios/base.py", "from analysis.report import markdown",
     "analysis's rooms are layered"),
    # The analysis reading the runner beyond its model, and through it Fabric.
    ("analysis/runs/load.py", "from runner.lab import ssh", "depends on nothing of the runner"),
    ("runner/core/model.py", "import fabric", "import no Fabric"),
    # A cycle inside one room, hidden in a function.
    ("analysis/stats/bootstrap.py", "def _hidden():\n    from analysis import report", "No import cycle"),
])
def test_a_planted_violation_breaks_its_contract(tmp_path, module, line, broken):
    for name in ("runner", "analysis"):
        shutil.copytree(REPO / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / module, "a") as f:
        f.write(f"\n\n{line}  # planted\n")
    out = lint(tmp_path)
    assert out.returncode != 0
    assert any(broken in ln and "BROKEN" in ln for ln in out.stdout.splitlines()), out.stdout
