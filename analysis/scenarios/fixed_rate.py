"""fixed-rate in the report: the generic table of medians per rate (its
latencies are from the intended send time, as its latency model says) and
the usual latency and throughput headline."""
from __future__ import annotations

from analysis.scenarios.base import ScenarioReport

REPORT = ScenarioReport("fixed-rate")
