"""The report's side of each scenario: one module per scenario, each with a
`REPORT` (analysis/scenarios/base.py), found here by name. To add one: a
module named after the scenario (user-ramp: user_ramp.py) with its REPORT;
nothing else in the analysis changes. A scenario module builds on facts.py
(the run's public ``Facts`` and the helpers its tables and figures use) and
imports no private name. docs/design.md has the details."""
from __future__ import annotations

import importlib
import pkgutil

from analysis.scenarios.base import DEFAULT_HEADLINE, FigureSpec, ScenarioReport
from analysis.render.sections import Section, comparisons, generic
from analysis.runs.declared import register

__all__ = ["REPORTS", "FigureSpec", "ScenarioReport", "figure_specs", "headline_metrics",
           "scenario_order", "scenario_sections", "wants_repetitions"]


def _discover() -> dict[str, ScenarioReport]:
    found = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name in ("base", "facts"):
            continue
        report = importlib.import_module(f"{__name__}.{module.name}").REPORT
        found[report.name] = report
    ordered = dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))
    for report in ordered.values():
        register(report)
    return ordered


REPORTS = _discover()


def scenario_order(scenarios) -> list[str]:
    """Scenarios with a report module in their order, then the others by name."""
    present = set(scenarios)
    known = [s for s in REPORTS if s in present]
    return known + sorted(present - set(known))


def scenario_sections(facts) -> list[Section]:
    """One section per scenario of the run, in :func:`scenario_order`, each
    followed by its comparisons with the WSGI baseline."""
    sections = []
    for scenario in scenario_order(facts.medians["scenario"]):
        rows = facts.medians[facts.medians["scenario"] == scenario]
        build = getattr(REPORTS.get(scenario), "section", None) or generic
        section = build(facts, scenario, rows)
        section.tables += comparisons(facts, scenario)
        sections.append(section)
    return sections


def headline_metrics(scenario: str) -> tuple[str, ...]:
    report = REPORTS.get(scenario)
    return report.headline if report else DEFAULT_HEADLINE


def figure_specs() -> list[FigureSpec]:
    return [spec for report in REPORTS.values() for spec in report.figures]


def wants_repetitions(metric: str) -> bool:
    """Whether a scenario's figure needs the metric's per-repetition values."""
    return any(report.wants(metric) for report in REPORTS.values())
