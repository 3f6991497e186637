"""What the scenarios' report modules declare (analysis/scenarios/<name>.py:
their ScenarioReport) that the rooms below them read: the metrics a
scenario derives when a run is loaded, and which of its variants the
questions use. analysis/scenarios registers every REPORT here as it finds
them (analysis/__init__.py imports it before anything reads a run), so no
room below names a scenario."""
from __future__ import annotations

REPORTS: dict[str, object] = {}


def register(report) -> None:
    REPORTS[report.name] = report


def declaring(attribute: str) -> dict[str, object]:
    """{scenario: its value of `attribute`} for every scenario that sets it."""
    return {name: value for name, report in REPORTS.items()
            if (value := getattr(report, attribute, None))}


def one(attribute: str) -> tuple[str, object]:
    """(scenario, value) of the one scenario that declares `attribute`."""
    found = declaring(attribute)
    if len(found) != 1:
        raise ValueError(f"expected one scenario report declaring {attribute}, found "
                         f"{sorted(found) or 'none'}")
    return next(iter(found.items()))


def derive(samples):
    """`samples` plus what each scenario present in them derives (its
    report's `derive` hook), in registry order."""
    present = set(samples["scenario"].unique()) if len(samples) else set()
    for name, hook in declaring("derive").items():
        if name in present:
            samples = hook(samples)
    return samples
