"""Adding a scenario touches the places docs/design.md names, and nothing
else: its folder under runner/scenarios/, its line in the registry, and its
module under analysis/scenarios/. Done here on a copy of the tree, then the
new scenario is validated in a matrix, expanded into variants, shipped to
the hosts, and given its own report section and headline, in a fresh
interpreter that imports the copy."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.integration]

RUNNER_SIDE = '''
"""[toy] a scenario made by the test: one variant per size."""
from pydantic import BaseModel, ConfigDict, Field

from runner.scenarios.base import Scenario, Variant


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sizes: list[int] = Field(default=[1, 2], min_length=1)


class Toy(Scenario):
    name = "toy"
    Params = Params
    latency_model = "none: the toy measures nothing"
    host_files = ("toy_client.py",)
    client_packages = ("toy-client==1.0",)

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
    return Section(scenario, "the toy's own section")


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
medians = pd.DataFrame({"scenario": ["toy"], "variant": ["size=3"]})
facts = types.SimpleNamespace(medians=medians, compared=pd.DataFrame({"scenario": []}),
                              unmatched=pd.DataFrame({"scenario": []}))
print("section", scenario_sections(facts)[0].intro)
print("headline", headline_metrics("toy"))
'''

MATRIX = '''
axes: {python: ["3.12"], django: ["5.2.19"], server: [uvicorn], view: [drf]}
pins: {djangorestframework: "3.18.3", uvicorn: "0.54.0", uvloop: "0.23.0", httptools: "0.9.0"}
scenarios:
  toy: {sizes: [3, 5]}
'''


def test_a_new_scenario_is_its_folder_a_registry_line_and_its_analysis_module(tmp_path):
    for name in ("runner", "analysis"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    folder = tmp_path / "runner" / "scenarios" / "toy"
    (folder / "host").mkdir(parents=True)
    (folder / "__init__.py").write_text(textwrap.dedent(RUNNER_SIDE))
    (folder / "host" / "toy_client.py").write_text("print('toy')\n")
    registry = tmp_path / "runner" / "scenarios" / "__init__.py"
    text = registry.read_text()
    anchor = "SCENARIOS: dict[str, Scenario] = {s.name: s for s in ("
    assert anchor in text
    last_import = "from runner.scenarios.user_ramp import UserRamp\n"
    assert last_import in text
    registry.write_text(text.replace(last_import, last_import + "from runner.scenarios.toy import Toy\n")
                        .replace(anchor, anchor + "\n    Toy(),"))
    (tmp_path / "analysis" / "scenarios" / "toy.py").write_text(textwrap.dedent(ANALYSIS_SIDE))
    (tmp_path / "m.yaml").write_text(MATRIX)
    (tmp_path / "check.py").write_text(textwrap.dedent(CHECK))

    out = subprocess.run([sys.executable, "check.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "variants ['size=3', 'size=5']",
        "model none: the toy measures nothing",
        "shipped ['scenarios/toy/host/toy_client.py'] True",
        "section the toy's own section",
        "headline ('toy_metric',)",
    ]
