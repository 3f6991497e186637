"""A version sweep's instructions per request, release by release:

    .venv/bin/python -m analysis.questions.instructions_sweep results/<run_id>

per server a (python, django) x asgiref table of thousands of instructions
per request (median over repetitions), and each ASGI server over the WSGI
baseline in the same layout (analysis/runs/instructions.py sweep_tables).
"""
from __future__ import annotations

import sys

import pandas as pd

from analysis.runs.instructions import sweep_tables
from analysis.runs.load import load_run


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    samples, manifest = load_run(argv[0])
    pd.set_option("display.width", 160)
    for title, table in sweep_tables(samples, manifest["baseline_server"]).items():
        print(f"{title}\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
