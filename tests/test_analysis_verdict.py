"""analysis/stats/verdict.py: the one verdict. Its threshold and words have
one definition in the package, and a report prints one verdict per pair:
the paired one for a run measured in blocks, never beside the bootstrap one."""
from __future__ import annotations

import ast
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis.report.markdown import build_report
from analysis.stats import paired, verdict
from runner.core.model import BLOCKS_DESIGN
from analysis.stats.verdict import (EQUIVALENT, FASTER, NOT_JUDGED, NOT_SIGNIFICANT, SLOWER,
                                    UNDETERMINED)

PACKAGE = Path(__file__).resolve().parent.parent / "analysis"
FROZEN = Path(__file__).parent / "data" / "runs" / "20261122T193656Z-scenarios-1221"
WORDS = (SLOWER, FASTER, NOT_SIGNIFICANT, EQUIVALENT, UNDETERMINED, NOT_JUDGED)


def module_constants(path: Path) -> list[tuple[str, object]]:
    """(name, value) of every module-level NAME = <constant> (tuples unpacked)."""
    out = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = ([(target, node.value)] if isinstance(target, ast.Name) else
                     list(zip(target.elts, node.value.elts))
                     if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                     else [])
            out += [(t.id, v.value) for t, v in pairs
                    if isinstance(t, ast.Name) and isinstance(v, ast.Constant)]
    return out


def test_the_threshold_has_one_definition():
    found = {(str(p.relative_to(PACKAGE)), name, value)
             for p in PACKAGE.rglob("*.py") for name, value in module_constants(p)
             if name in ("MIN_EFFECT", "MARGIN", "EXACT") or value == 0.05}
    assert found == {("stats/verdict.py", "MIN_EFFECT", 0.05),
                     ("stats/verdict.py", "ALPHA", 0.05)}


def test_the_verdict_words_have_one_definition():
    where = {(str(p.relative_to(PACKAGE)), value)
             for p in PACKAGE.rglob("*.py") for _, value in module_constants(p)
             if value in WORDS}
    assert {w for _, w in where} == set(WORDS)
    assert {p for p, _ in where} == {"stats/verdict.py"}


@pytest.mark.parametrize("low, high, ratio, floor, word", [
    (0.1, 0.3, 1.2, math.nan, SLOWER),
    (-0.3, -0.1, 0.8, math.nan, FASTER),
    (-0.1, 0.3, 1.1, math.nan, NOT_SIGNIFICANT),
    (0.1, 0.3, 1.2, 0.5, NOT_SIGNIFICANT),
])
def test_the_bootstrap_rule(low, high, ratio, floor, word):
    assert verdict.bootstrap_rule(low, high, ratio, (low + high) / 2, floor)[0] == word


@pytest.mark.parametrize("p_different, p_equivalent, ratio, word", [
    (0.001, 0.9, 1.2, SLOWER), (0.001, 0.9, 0.8, FASTER), (0.5, 0.01, 1.0, EQUIVALENT),
    (0.5, 0.5, 1.03, UNDETERMINED), (math.nan, math.nan, math.nan, NOT_JUDGED),
])
def test_the_paired_rule(p_different, p_equivalent, ratio, word):
    said, why = verdict.paired_rule(p_different, p_equivalent, ratio)
    assert said == word and bool(why) == (word in (UNDETERMINED, NOT_JUDGED))


def test_the_design_chooses_the_rule():
    assert verdict.design_of({"protocol": {"design": BLOCKS_DESIGN}}) == verdict.BLOCKS
    assert verdict.design_of({"protocol": {}}) == verdict.REPETITIONS
    compared = pd.DataFrame({"cell_id": ["a"], "baseline_cell_id": ["b"], "scenario": ["s"],
                             "variant": ["v"], "verdict": [NOT_SIGNIFICANT], "why": ["x"]})
    assert verdict.of_design(compared, None) is compared
    table = pd.DataFrame({"cell_id": ["a"], "baseline_cell_id": ["b"], "scenario": ["s"],
                          "variant": ["v"], "kind": ["vs baseline"], "ratio": [1.2],
                          "p_different": [0.001], "p_equivalent": [0.9]})
    assert list(verdict.of_design(compared, table)["verdict"]) == [SLOWER]


def printed_verdicts(text: str) -> dict[str, list[str]]:
    """Every verdict word the report prints, by where: the verdict lines, the
    scenario tables' "verdict" column, the paired section's pairs vs baseline."""
    lines = text.splitlines()
    out = {"lines": [ln[4:].split("**")[0] for ln in lines if ln.startswith("- **")
                     and ln[4:].split("**")[0] in WORDS],
           "tables": [], "paired": []}
    paired_part = text.split(f"## {paired.TITLE}")[1].split("\n## ")[0] \
        if f"## {paired.TITLE}" in text else ""
    column = None
    for ln in lines:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if not ln.startswith("|"):
            column = None
        elif "verdict" in cells:
            column = cells.index("verdict")
        elif column is not None and not set(ln) <= set("|-: "):
            key = "paired" if ln in paired_part else "tables"
            if key == "tables" or "vs baseline" in cells:
                out[key].append(cells[column])
    return out


@pytest.fixture
def run(tmp_path) -> Path:
    folder = tmp_path / FROZEN.name
    shutil.copytree(FROZEN, folder)
    return folder


def test_a_run_in_blocks_prints_the_paired_verdict_once_per_pair(run):
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["protocol"]["design"] = BLOCKS_DESIGN
    (run / "manifest.json").write_text(json.dumps(manifest))
    said = printed_verdicts(build_report(run))
    # Two repetitions: the bootstrap rule would say "no significant
    # difference" and the paired rule "not judged"; only the latter is printed.
    assert said["paired"] and said["lines"] == said["tables"] == said["paired"]
    assert NOT_SIGNIFICANT not in said["lines"] + said["tables"]


def test_a_run_not_in_blocks_prints_the_bootstrap_verdict_once_per_pair(run):
    said = printed_verdicts(build_report(run))
    assert said["lines"] and said["lines"] == said["tables"] and not said["paired"]
