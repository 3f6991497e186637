"""hey in the report: hey's own summary figures per number of workers, one
table per cell (the same layout as concurrency's levels)."""
from __future__ import annotations

import pandas as pd

from analysis.scenarios import concurrency
from analysis.scenarios.base import ScenarioReport
from analysis.scenarios.facts import Section

INTRO = (
    "Closed-loop load with hey (seed 004's client), each number of workers (hey -c) on its own"
    " fresh server. The figures are hey's own (its percentile rule and average over the"
    " requests without a transport error, 0.1 ms resolution; see the latency model): set them"
    " beside the lab's wrk scenarios on the same cells rather than mixing them."
)


def section(facts, scenario: str, rows: pd.DataFrame) -> Section:
    built = concurrency.section(facts, scenario, rows)
    return Section(scenario, INTRO, built.tables)


REPORT = ScenarioReport("hey", order=2, section=section)
