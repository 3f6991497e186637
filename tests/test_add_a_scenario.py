"""Adding a scenario touches the places docs/design.md names, and nothing
else: its folder under runner/scenarios/ and its module under
analysis/scenarios/ (both found by name: no registry line). Done here on a
copy of the tree; then, in fresh interpreters that import the copy, the new
scenario is validated in a matrix, expanded into variants, shipped to the
hosts with its own Debian tool (installed by `make setup` and the
playbooks, recorded by the tool probe), and its samples go through
`lab report`, `lab compare` and `lab matrix show` with its own section and
headline. Nothing outside the toy's two places changes."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.integration]

RUNNER_SIDE = '''
"""[toy] a scenario made by the test: one variant per size."""
from pydantic import BaseModel, ConfigDict, Field

from runner.scenarios.base import AptPackage, Scenario, Variant


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sizes: list[int] = Field(default=[1, 2], min_length=1)


class Toy(Scenario):
    name = "toy"
    Params = Params
    latency_model = "none: the toy measures nothing"
    host_files = ("toy_client.py",)
    client_packages = ("toy-client==1.0",)
    apt_packages = (AptPackage("toy-tool", "client", executable="toy-tool",
                               version=("toy-tool", "--version")),)

    def variants(self, params, prior):
        return [Variant(f"size={n}", {"size": n}) for n in params.sizes]

    def measure(self, session, params, variant):
        return {"toy_metric": (float(variant.values["size"]), "count")}
'''

ANALYSIS_SIDE = '''
"""toy in the report: a section of its own, headline toy_metric."""
from analysis.scenarios.base import ScenarioReport
from analysis.scenarios.facts import Section


def section(facts, scenario, rows):
    columns = [c for c in ("cell_id", "variant", "toy_metric") if c in rows.columns]
    return Section(scenario, "the toy's own section",
                   [("Toy sizes", "toy_metric per cell", rows[columns].astype(str))])


REPORT = ScenarioReport("toy", section=section, headline=("toy_metric",))
'''

CHECK = '''
import types
import pandas as pd
from analysis.scenarios import headline_metrics, scenario_sections
from runner.execute.run import latency_models
from runner.matrix.expand import load_matrix
from runner.scenarios import SCENARIOS, playbook_vars

m = load_matrix("m.yaml")
params = m.scenarios["toy"]
print("variants", [v.label for v in SCENARIOS["toy"].variants(params, {})])
print("model", latency_models(m)["toy"])
shipped = playbook_vars()
print("shipped", [f["src"].split("runner/")[1] for f in shipped["lab_scenario_files"]
                  if f["name"] == "toy_client.py"], "toy-client==1.0" in shipped["lab_client_tools_packages"])
print("apt", "toy-tool" in shipped["lab_client_apt_packages"],
      "toy-tool" in shipped["lab_server_apt_packages"], shipped["lab_tool_versions"]["toy-tool"])
medians = pd.DataFrame({"scenario": ["toy"], "variant": ["size=3"]})
facts = types.SimpleNamespace(medians=medians, compared=pd.DataFrame({"scenario": []}),
                              unmatched=pd.DataFrame({"scenario": []}))
print("section", scenario_sections(facts)[0].intro)
print("headline", headline_metrics("toy"))
'''

MATRIX = '''
name: toy-matrix
axes: {python: ["3.12"], django: ["5.2.19"], server: [uvicorn], view: [drf]}
pins: {djangorestframework: "3.18.3", uvicorn: "0.54.0", uvloop: "0.23.0", httptools: "0.9.0"}
scenarios:
  toy: {sizes: [3, 5]}
'''


# What the copy holds of the tree: everything a scenario could have to touch.
COPIED = ("runner", "analysis", "playbooks", "Makefile", "pyproject.toml")
# The frozen run whose cells the toy's samples borrow (2 cells, 2 repetitions).
SOURCE_RUN = REPO / "tests" / "data" / "runs" / "20261122T193656Z-scenarios-1221"


def copy_tree(root: Path) -> Path:
    tree = root / "tree"
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tree / name)
    return tree


def add_toy(tree: Path) -> None:
    folder = tree / "runner" / "scenarios" / "toy"
    (folder / "host").mkdir(parents=True)
    (folder / "__init__.py").write_text(textwrap.dedent(RUNNER_SIDE))
    (folder / "host" / "toy_client.py").write_text("print('toy')\n")
    (tree / "analysis" / "scenarios" / "toy.py").write_text(textwrap.dedent(ANALYSIS_SIDE))


def snapshot(tree: Path) -> dict[str, str]:
    return {p.relative_to(tree).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tree.rglob("*"))
            if p.is_file() and not {"__pycache__", ".lab", "results"} & set(p.parts)}


def toy_run(target: Path, scale: float) -> Path:
    """A run folder of the toy's samples, built like the frozen runs: the
    source run's cells, one toy_metric per repetition and variant."""
    shutil.copytree(SOURCE_RUN, target)
    frame = pd.read_parquet(target / "results.parquet")
    base = frame[(frame["scenario"] == "single-client") & (frame["variant"] == "keep-alive")
                 & (frame["metric"] == "latency_p50")]
    rows = []
    for size in (3, 5):
        part = base.copy()
        part["scenario"], part["variant"] = "toy", f"size={size}"
        part["metric"], part["unit"] = "toy_metric", "count"
        part["value"] = size * scale + part["repetition"] * 0.01
        rows.append(part)
    pd.concat(rows, ignore_index=True).to_parquet(target / "results.parquet", index=False)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["protocol"]["scenarios"] = {"toy": {"sizes": [3, 5]}}
    manifest["protocol"]["latency_models"] = {"toy": "none: the toy measures nothing"}
    for cell in manifest["cells"]:
        cell["scenarios"] = ["toy"]
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


def lab(tree: Path, *args):
    """The copied tree's own `lab` command."""
    return subprocess.run([sys.executable, "-m", "runner.cli", *args], cwd=tree,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def toy_tree(tmp_path):
    """A copy of the tree with the toy added; at the end, checks that only
    the toy's two places were added to it and nothing else changed."""
    tree = copy_tree(tmp_path)
    before = snapshot(tree)
    add_toy(tree)
    yield tree
    after = snapshot(tree)
    assert set(before) <= set(after)
    assert sorted(p for p in after if before.get(p) != after[p]) == [
        "analysis/scenarios/toy.py", "runner/scenarios/toy/__init__.py",
        "runner/scenarios/toy/host/toy_client.py"]


def test_a_new_scenario_is_its_folder_and_its_analysis_module(toy_tree, tmp_path):
    (tmp_path / "m.yaml").write_text(MATRIX)
    (tmp_path / "check.py").write_text(textwrap.dedent(CHECK))
    out = subprocess.run([sys.executable, str(tmp_path / "check.py")], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(toy_tree)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "variants ['size=3', 'size=5']",
        "model none: the toy measures nothing",
        "shipped ['scenarios/toy/host/toy_client.py'] True",
        "apt True False ['toy-tool', '--version']",
        "section the toy's own section",
        "headline ('toy_metric',)",
    ]


def test_its_apt_tool_is_installed_and_recorded_from_its_folder_alone(toy_tree, tmp_path):
    res = lab(toy_tree, "apt-packages")
    assert res.returncode == 0, res.stderr
    assert "toy-tool" in res.stdout.split()     # make setup installs it on the controller
    versions = subprocess.run(
        [sys.executable, "-c", "import json; from runner.scenarios import playbook_vars; "
                               "print(json.dumps(playbook_vars()['lab_tool_versions']))"],
        cwd=toy_tree, capture_output=True, text=True, timeout=120)
    assert versions.returncode == 0, versions.stderr
    # The tool probe the playbooks run on every host, given what the runner passes.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "toy-tool").write_text("#!/bin/sh\necho 'toy-tool 1.2'\n")
    (bin_dir / "toy-tool").chmod(0o755)
    probe = subprocess.run(
        [sys.executable, str(toy_tree / "runner/session/host/loadgens.py"),
         "--venv", str(tmp_path / "no-venv"), "--tools", versions.stdout.strip()],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    record = json.loads(probe.stdout)["toy-tool"]
    assert record["version"] == "toy-tool 1.2"
    assert record["path"] == str(bin_dir / "toy-tool")
    # The client role installs the scenarios' packages the runner passes.
    tasks = (toy_tree / "playbooks/roles/lab_client/tasks/main.yml").read_text()
    assert "lab_client_packages + lab_client_apt_packages" in tasks


def test_its_samples_go_through_report_and_compare(toy_tree, tmp_path):
    run_a = toy_run(tmp_path / "a" / SOURCE_RUN.name, 1.0)
    run_b = toy_run(tmp_path / "b" / SOURCE_RUN.name, 1.0)
    res = lab(toy_tree, "report", str(run_a))
    assert res.returncode == 0, res.stderr
    assert "the toy's own section" in (run_a / "report.md").read_text()
    html = (run_a / "report.html").read_text()
    assert "<h2>Scenario: toy</h2>" in html and "Toy sizes" in html
    res = lab(toy_tree, "compare", str(run_a), str(run_b), "--out", str(tmp_path / "cmp.md"))
    assert res.returncode == 0, res.stderr
    comparison = (tmp_path / "cmp.md").read_text()
    assert "toy" in comparison and "toy_metric" in comparison


def test_lab_matrix_show_lists_its_variants(toy_tree, tmp_path):
    """As tests/test_cli_matrix.py: real uv (the pins are resolved), no host."""
    (tmp_path / "m.yaml").write_text(MATRIX)
    res = lab(toy_tree, "matrix", "show", str(tmp_path / "m.yaml"))
    assert res.returncode == 0, res.stderr
    assert "scenario toy: size=3, size=5" in " ".join(res.stdout.split())
