"""What a scenario contributes to the report: its section (tables), its
figures for report.html, and the metrics `lab compare` judges it by. A
scenario with no module here still gets the generic table of medians."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

# Compared by `lab compare` for a scenario that names no headline of its own.
DEFAULT_HEADLINE = ("latency_p50", "latency_p99", "requests_per_s")


@dataclass(frozen=True)
class FigureSpec:
    """A figure of report.html: its id, caption, and a builder taking
    (report facts, per-repetition values, cell labels) and returning a
    matplotlib Figure, or None when the run has no data for it."""

    id: str
    caption: str
    build: Callable


@dataclass(frozen=True)
class ScenarioReport:
    name: str
    # Where its section comes in the report (lower first; then by name).
    order: int = 100
    # (facts, scenario, rows of facts.medians) -> sections.Section; None: the generic table.
    section: Optional[Callable] = None
    figures: tuple[FigureSpec, ...] = ()
    headline: tuple[str, ...] = DEFAULT_HEADLINE
    # Metrics (names or compiled patterns) whose per-repetition values its figures use.
    figure_metrics: tuple = field(default=())
    # (samples) -> samples: metrics derived from several units' samples when
    # a run is loaded (analysis/runs/load.py calls it when the run has the scenario).
    derive: Optional[Callable] = None
    # Its variants measured one request at a time ("*": all of them): the
    # anomaly flags compare cells along the one-client axes only there.
    one_client_variants: tuple[str, ...] = ()
    # Its latency_p50 is one request at a time on a kept-alive connection:
    # the overhead attribution splits it; `lab calibrate`'s variant.
    reference_latency: bool = False
    calibration_variant: Optional[str] = None

    def wants(self, metric: str) -> bool:
        return any(m.match(metric) if isinstance(m, re.Pattern) else m == metric
                   for m in self.figure_metrics)
