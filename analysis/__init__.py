"""Analysis stage: read one run folder, reduce its samples, write report.md.

One job per module:
- load.py    reads and validates ``results/<run_id>/`` (manifest + samples);
- summary.py reduces samples to per-cell medians and baseline ratios;
- report.py  renders those tables as markdown (and as frames for the CLI).
"""

from analysis.load import load_run
from analysis.report import build_report, console_tables, write_report
from analysis.summary import asgi_vs_wsgi, cell_medians, unmatched_cells

__all__ = [
    "load_run",
    "cell_medians",
    "asgi_vs_wsgi",
    "unmatched_cells",
    "build_report",
    "write_report",
    "console_tables",
]
