"""Sample frames built by hand, in the long format of results.parquet, so
that a test knows the answer: one row per (cell, repetition, metric)."""
from __future__ import annotations

import pandas as pd

PINS = {"workers": 1, "threads": 1, "python": "3.12", "django": "5.1.4", "asgiref": "3.8.1",
        "view": "plaintext"}
METRIC_NAMES = {"p50": "latency_p50", "rps": "requests_per_s", "cpu": "client_cpu_percent"}


def cell(cell_id: str, server: str, interface: str, run_id: str = "r1",
         scenario: str = "single-client", extra: dict | None = None, variant: str = "default",
         **metrics) -> list[dict]:
    """Rows of one cell: ``p50=[...]`` etc. give one value per repetition;
    req/s defaults to 1000 / p50 and client CPU to 20 %."""
    p50 = metrics["p50"]
    metrics.setdefault("rps", [1000 / v for v in p50])
    metrics.setdefault("cpu", [20.0] * len(p50))
    return [
        {"run_id": run_id, "cell_id": cell_id, "server": server, "interface": interface,
         **PINS, **(extra or {}), "scenario": scenario, "variant": variant, "repetition": rep,
         "metric": METRIC_NAMES[short], "value": float(value), "unit": "x"}
        for short, values in metrics.items()
        for rep, value in enumerate(values, start=1)
    ]


def frame(*cells: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for rows in cells for row in rows])
