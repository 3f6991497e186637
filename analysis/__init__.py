"""Analysis stage: read run folders, reduce their samples, write report.md,
report.html and comparison.md.

Six rooms, one job each, layered like runner/ (pyproject.toml's
import-linter contracts: a room imports only the rooms below it):

- report/     the documents: report.md (markdown.py), report.html (html.py)
              and the comparison of two runs (compare_runs.py);
- scenarios/  one module per scenario (its report section, figures and
              headline metrics), and facts.py: the public ``Facts`` of a
              run and the helpers a scenario module builds its tables with;
- questions/  questions asked of runs: overhead attribution, anomaly flags,
              seeds' published claims, calibration, instructions and
              version sweeps;
- render/     numbers into strings, tables, figures and verdict sentences;
- stats/      medians, ratios, bootstrap and paired intervals, steps, tails,
              and the one verdict (verdict.py: thresholds, rules, words);
- runs/       reading run folders (load.py, with the old manifest schemas
              brought up to date in one function), derived metrics, window
              health and client saturation.

What the runner uses is exported here, so it never imports a room:
"""

from analysis.questions.calibration import closing_line, write_calibration
from analysis.questions.seeds import load_claims, seeds_summary
from analysis.report.compare_runs import compare_runs
from analysis.report.html import write_reports
from analysis.report.markdown import build_report, console_tables, write_report
from analysis.runs.load import load_run, load_runs
from analysis.stats.bootstrap import (
    aa_controls,
    cell_stats,
    client_saturation,
    compare,
    not_compared,
    stability_warnings,
)
from analysis.stats.summary import asgi_vs_wsgi, cell_medians, unmatched_cells
from analysis.stats.verdict import bootstrap_rule as decide

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
    "write_reports",
    "console_tables",
    "compare_runs",
    "seeds_summary",
    "load_claims",
    "write_calibration",
    "closing_line",
]
