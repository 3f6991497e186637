"""Analysis stage: read run folders, reduce their samples, write report.md.

One job per module:
- load.py    reads and validates ``results/<run_id>/`` (manifest + samples),
             one folder or several into one sample table; runs from before
             variants get ``variant`` = "default";
- summary.py reduces samples to medians per (cell_id, scenario, variant)
             and baseline ratios within the same scenario and variant;
- stats.py   bootstrap intervals, CVs, client saturation, stability
             warnings, A/A noise floor and the slower/faster verdicts;
- verdicts.py says those verdicts and warnings in words (report's top);
- sections.py one report section per scenario (single-client, concurrency,
             memory, and a generic table for any other);
- formatting.py turns numbers and intervals into the strings shown;
- report.py  assembles report.md (and the same tables for the CLI).
"""

from analysis.load import load_run, load_runs
from analysis.report import build_report, console_tables, write_report
from analysis.stats import (
    aa_controls,
    cell_stats,
    client_saturation,
    compare,
    decide,
    not_compared,
    stability_warnings,
)
from analysis.summary import asgi_vs_wsgi, cell_medians, unmatched_cells

__all__ = [
    "load_run",
    "load_runs",
    "cell_medians",
    "asgi_vs_wsgi",
    "unmatched_cells",
    "cell_stats",
    "client_saturation",
    "stability_warnings",
    "aa_controls",
    "compare",
    "not_compared",
    "decide",
    "build_report",
    "write_report",
    "console_tables",
]
