"""single-client in the report: one table of medians per cell, with the
p50 and throughput intervals; its comparisons come after it."""
from __future__ import annotations

import pandas as pd

from analysis.render import formatting as fmt
from analysis.scenarios.base import ScenarioReport
from analysis.scenarios.facts import MEDIAN_COLUMNS, Section, baseline_first, ids, with_ci
from analysis.stats.bootstrap import CONFIDENCE, MIN_REPETITIONS


def section(facts, scenario: str, rows: pd.DataFrame) -> Section:
    intro = (
        "One client, one request at a time. Median over repetitions of each cell (and"
        " variant: `keep-alive` reuses one connection, `close` opens one per request)."
        " Latency in ms; CPU in % of one core; RSS in MB; `reps` is the number of repetitions"
        f" measured; `CI` is the {CONFIDENCE * 100:g} % bootstrap interval of the median (n/a"
        f" below {MIN_REPETITIONS} repetitions); `CV` is std/mean over repetitions."
    )
    frame = baseline_first(with_ci(facts, rows, ("latency_p50", "requests_per_s")),
                            facts.baseline)
    table = fmt.display(frame, ids(facts, scenario), MEDIAN_COLUMNS)
    return Section(scenario, intro, [(f"{scenario}: median per cell", "", table)])


REPORT = ScenarioReport("single-client", order=0, section=section, one_client_variants="*",
                        reference_latency=True, calibration_variant="keep-alive")
