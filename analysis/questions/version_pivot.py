"""ASGI/WSGI ratios of one run laid out as Python × Django (the version sweep).

    .venv/bin/python -m analysis.questions.version_pivot results/<run_id>

One set of tables per compared server (and, when the run holds several,
per scenario and variant: "[concurrency c=16]"; a c=16 ratio is never
pooled with a c=1 one). Each value is the median, over that server's cells
sharing that Python and Django (one per asgiref release), of the p50 ratio
or difference between the cell and its WSGI baseline in the same run
(analysis.stats.summary.asgi_vs_wsgi, which pairs within a scenario and variant).
"""
from __future__ import annotations

import sys

import pandas as pd

from analysis.runs.load import DEFAULT_VARIANT, load_run
from analysis.stats.summary import asgi_vs_wsgi, cell_medians


def _version_key(index: pd.Index) -> pd.Index:
    return index.map(lambda v: tuple(int(p) for p in str(v).split(".")))


def pivots(run_dir: str) -> dict[str, pd.DataFrame]:
    samples, manifest = load_run(run_dir)
    ratios = asgi_vs_wsgi(cell_medians(samples), manifest["baseline_server"])
    ratios = ratios.dropna(subset=["p50_ratio"])  # scenarios without a p50 (io-mix)
    workloads = ratios[["scenario", "variant"]].drop_duplicates()
    out = {}
    for (server, scenario, variant), rows in ratios.groupby(["server", "scenario", "variant"]):
        versus = f"{server}/{manifest['baseline_server']}"
        if len(workloads) > 1:
            versus += f" [{scenario}{'' if variant == DEFAULT_VARIANT else ' ' + variant}]"
        for title, column in ((f"p50 ratio {versus}", "p50_ratio"),
                              (f"p50 difference ms {versus}", "p50_diff_ms")):
            table = rows.pivot_table(index="python", columns="django", values=column,
                                     aggfunc="median")
            out[title] = (table.sort_index(key=_version_key)
                          .sort_index(axis=1, key=_version_key).round(2))
        out[f"p50 ratio {versus} by asgiref"] = (
            rows.groupby("asgiref")["p50_ratio"].agg(["median", "min", "max", "count"])
            .sort_index(key=_version_key).round(2))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    pd.set_option("display.width", 160)
    for title, table in pivots(argv[0]).items():
        print(f"{title}\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
