"""Render one run folder as markdown (report.md) and as tables for the CLI.

The report and the CLI show the same frames (``_Facts.tables``), so a
number read on the console is the number in report.md. Numbers become
strings only through formatting.py; summary.py and stats.py stay numeric
(apart from short reasons and warning messages); verdicts.py writes the
report's first section.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from analysis import formatting as fmt
from analysis.load import load_run
from analysis.stats import (
    CLIENT_CPU_SATURATED,
    CONFIDENCE,
    MIN_REPETITIONS,
    STABILITY_METRICS,
    aa_controls,
    cell_stats,
    compare,
    not_compared,
    stability_warnings,
)
from analysis.summary import GROUP_COLUMNS, cell_medians
from analysis.verdicts import (
    CONTROL_TITLE,
    VERDICT_TITLE,
    WARNINGS_TITLE,
    control_table,
    verdict_section,
    verdict_table,
    warnings_table,
)

REPORT_NAME = "report.md"

MEDIANS_TITLE = "Median per cell"
FAILED_TITLE = "Failed cells"
UNMATCHED_TITLE = "Not compared"
# Metrics whose interval and CV the medians table shows (and whose CV the
# warnings check); client CPU for the saturation warning.
_STATS_METRICS = [*STABILITY_METRICS, "client_cpu_percent"]

# (display title, source column, formatter) for the medians table.
_MEDIAN_COLUMNS = [
    ("reps", "repetitions", lambda v: fmt.num(v, 0)),
    ("p50 ms", "latency_p50", lambda v: fmt.num(v, 3)),
    ("p50 95% CI", "latency_p50 ci", lambda v: fmt.interval(v, 3)),
    ("p50 CV %", "latency_p50 cv", lambda v: fmt.percent(v)),
    ("p90 ms", "latency_p90", lambda v: fmt.num(v, 3)),
    ("p99 ms", "latency_p99", lambda v: fmt.num(v, 3)),
    ("mean ms", "latency_mean", lambda v: fmt.num(v, 3)),
    ("req/s", "requests_per_s", lambda v: fmt.num(v, 0)),
    ("req/s 95% CI", "requests_per_s ci", lambda v: fmt.interval(v, 0)),
    ("req/s CV %", "requests_per_s cv", lambda v: fmt.percent(v)),
    ("server CPU %", "server_cpu_percent", lambda v: fmt.num(v, 1)),
    ("server RSS MB", "server_rss_mb", lambda v: fmt.num(v, 1)),
    ("server threads", "server_threads", lambda v: fmt.num(v, 0 if fmt.is_whole(v) else 1)),
    ("client CPU %", "client_cpu_percent", lambda v: fmt.num(v, 1)),
]
_RATIO_COLUMNS = [
    ("p50 ratio", "p50_ratio", lambda v: fmt.num(v, 3)),
    ("p50 diff ms", "p50_diff_ms", lambda v: fmt.num(v, 3, signed=True)),
    ("p50 diff 95% CI", "p50_diff_ci", lambda v: fmt.interval(v, 3, signed=True)),
    ("p99 ratio", "p99_ratio", lambda v: fmt.num(v, 3)),
    ("mean ratio", "mean_ratio", lambda v: fmt.num(v, 3)),
    ("throughput ratio", "throughput_ratio", lambda v: fmt.num(v, 3)),
    ("throughput 95% CI", "throughput_ratio_ci", lambda v: fmt.interval(v, 3)),
    ("verdict", "verdict", lambda v: fmt.text(v)),
]
_CELL_COLUMNS = ["server", "interface", "workers", "threads", "python", "django", "asgiref", "view"]

# --------------------------------------------------------------------------
# Public API


def build_report(run_dir: str | Path) -> str:
    """Return the markdown report of the run folder ``run_dir``."""
    samples, manifest = load_run(run_dir)
    facts = _Facts(samples, manifest)
    lines = [
        f"# Benchmark report: {manifest.get('run_id', '?')}",
        "",
        f"Status: **{manifest.get('status', '?')}** · matrix `{manifest.get('matrix_name', '?')}`"
        f" · WSGI baseline `{facts.baseline}`",
        "",
    ]
    if manifest.get("status") != "complete":
        lines += [
            f"> **This run is {manifest.get('status', 'of unknown status')}**: the figures"
            " cover only the repetitions that finished.",
            "",
        ]
    lines += verdict_section(facts.baseline, facts.tables, facts.show_scenario, UNMATCHED_TITLE)
    lines += ["## How this was measured", "", _how_measured(manifest), ""]

    lines += [f"## {MEDIANS_TITLE}", ""]
    lines += [
        "Median over repetitions of each cell. Latency in ms; CPU in % of one core;"
        " RSS in MB; `reps` is the number of repetitions measured; `CI` is the"
        f" {CONFIDENCE * 100:g} % bootstrap interval of the median (n/a below"
        f" {MIN_REPETITIONS} repetitions); `CV` is std/mean over repetitions.",
        "",
        fmt.markdown_table(facts.tables[MEDIANS_TITLE]),
        "",
    ]

    lines += [f"## {facts.ratio_title}", ""]
    lines += [
        "Each row divides a cell's median by that of the WSGI baseline cell with the same"
        " python, django, asgiref, view and scenario: rows with interface `asgi` are the"
        " ASGI servers, rows with interface `wsgi` are the other WSGI servers against the"
        " same baseline. A latency ratio > 1 means slower than the baseline; a throughput"
        " ratio > 1 means more requests per second. The intervals resample the two cells'"
        " repetitions independently; the verdict follows the rule under"
        f" \"{VERDICT_TITLE}\".",
        "",
        fmt.markdown_table(facts.tables[facts.ratio_title]),
        "",
    ]
    if UNMATCHED_TITLE in facts.tables:
        lines += [f"{UNMATCHED_TITLE} (no usable baseline in their group):", ""]
        lines += [fmt.markdown_table(facts.tables[UNMATCHED_TITLE]), ""]

    lines += [f"## {FAILED_TITLE}", ""]
    failed = facts.tables[FAILED_TITLE]
    if failed.empty:
        lines += ["none", ""]
    else:
        lines += [fmt.markdown_table(failed), ""]

    lines += ["## Checks", ""]
    lines += [f"- {line}" for line in facts.checks()]
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.md`` and return its path.

    Written to a temp file in the same folder and renamed, so a reader never
    sees half a report; results.parquet and manifest.json are only read.
    """
    folder = Path(run_dir).resolve()
    text = build_report(folder)
    target = folder / REPORT_NAME
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{REPORT_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is for everyone
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def console_tables(run_dir: str | Path) -> list[tuple[str, pd.DataFrame]]:
    """The report's tables as (title, frame of formatted strings), in report
    order, for the CLI to print with rich. "A/A control" appears only when the
    run holds such a pair, "Not compared" only when some cell lacks a
    baseline; the others are always there (maybe empty)."""
    samples, manifest = load_run(run_dir)
    return list(_Facts(samples, manifest).tables.items())


# --------------------------------------------------------------------------
# What the report says, computed once


class _Facts:
    """Numbers and display tables of one run, shared by report and CLI."""

    def __init__(self, samples: pd.DataFrame, manifest: dict):
        self.manifest = manifest
        self.baseline = manifest.get("baseline_server")
        if not self.baseline:
            raise ValueError(f"manifest of run {manifest.get('run_id')!r} has no baseline_server")
        self.medians = cell_medians(samples)
        self.stats = cell_stats(samples, _STATS_METRICS)
        self.compared = compare(samples, self.baseline)
        self.unmatched = not_compared(samples, self.baseline)
        self.controls = aa_controls(samples)
        self.cells = manifest.get("cells") or []
        self.warnings = stability_warnings(self.stats, self.cells)
        # Show the scenario only when a run has more than one: one column less.
        self.show_scenario = self.medians["scenario"].nunique() > 1
        # Coordinates a verdict sentence must name: those that vary in the run.
        self.varying = {
            c for c in ["workers", "threads", "python", "django", "asgiref", "scenario"]
            if self.medians[c].nunique() > 1
        }
        self.ratio_title = f"Compared with the WSGI baseline ({self.baseline})"

        self.tables: dict[str, pd.DataFrame] = {
            VERDICT_TITLE: verdict_table(self.compared, self.varying),
            WARNINGS_TITLE: warnings_table(self.warnings, self.show_scenario),
        }
        if not self.controls.empty:
            self.tables[CONTROL_TITLE] = control_table(self.controls, self._ids())
        self.tables[MEDIANS_TITLE] = self._medians_table()
        self.tables[self.ratio_title] = self._ratio_table()
        if not self.unmatched.empty:
            self.tables[UNMATCHED_TITLE] = self._unmatched_table()
        self.tables[FAILED_TITLE] = self._failed_table()

    def _ids(self) -> list[str]:
        return [*_CELL_COLUMNS, "scenario"] if self.show_scenario else list(_CELL_COLUMNS)

    def _medians_table(self) -> pd.DataFrame:
        # The baseline first within its group: it is what the other rows are
        # read against. A stable sort keeps summary.py's order otherwise.
        medians = self._medians_with_stats()
        medians = medians.assign(_other=medians["server"] != self.baseline)
        group = [c for c in GROUP_COLUMNS if c in medians.columns]
        medians = medians.sort_values([*group, "_other"], kind="stable")
        return fmt.display(medians, self._ids(), _MEDIAN_COLUMNS)

    def _medians_with_stats(self) -> pd.DataFrame:
        """The medians plus, per metric of STABILITY_METRICS, a "<metric> ci"
        column of (low, high) and a "<metric> cv" column."""
        out = self.medians
        for metric in STABILITY_METRICS:
            rows = self.stats[self.stats["metric"] == metric]
            extra = pd.DataFrame({
                "cell_id": rows["cell_id"], "scenario": rows["scenario"],
                f"{metric} ci": list(zip(rows["ci_low"], rows["ci_high"])),
                f"{metric} cv": rows["cv"],
            })
            out = out.merge(extra, on=["cell_id", "scenario"], how="left")
        return out

    def _ratio_table(self) -> pd.DataFrame:
        ratios = self.compared.copy()
        ratios["p50_diff_ci"] = list(zip(ratios["p50_diff_low"], ratios["p50_diff_high"]))
        ratios["throughput_ratio_ci"] = list(
            zip(ratios["throughput_ratio_low"], ratios["throughput_ratio_high"])
        )
        ratios["baseline"] = [
            f"{s} ({w}w)" for s, w in zip(ratios["baseline_server"], ratios["baseline_workers"])
        ]
        return fmt.display(ratios, [*self._ids(), "baseline"], _RATIO_COLUMNS)

    def _unmatched_table(self) -> pd.DataFrame:
        return fmt.display(self.unmatched, [*self._ids(), "reason"], [])

    def _failed_table(self) -> pd.DataFrame:
        # Every cell the manifest does not call "ok" (the runner writes
        # "failed"; anything else is listed too rather than dropped).
        rows = [
            {
                "cell_id": str(c.get("cell_id", "?")),
                **{k: fmt.text(c.get(k)) for k in _CELL_COLUMNS},
                "status": fmt.text(c.get("status")),
                "reason": fmt.text(c.get("reason")) if c.get("reason") else "(no reason recorded)",
            }
            for c in self.cells
            if c.get("status") != "ok"
        ]
        return pd.DataFrame(rows, columns=["cell_id", *_CELL_COLUMNS, "status", "reason"])

    def checks(self) -> list[str]:
        return [self._repetitions_check(), self._saturation_check(), self._errors_check()]

    def _repetitions_check(self) -> str:
        asked = (self.manifest.get("protocol") or {}).get("repetitions")
        if asked is None:
            return "Repetitions: the protocol does not say how many were asked; not checked."
        short = [
            f"{fmt.label(row)} ({int(row['repetitions'])} of {asked})"
            for _, row in self.medians.iterrows()
            if row["repetitions"] < asked
        ]
        # A cell the runner calls ok but with no sample at all would otherwise
        # vanish from every table.
        measured = set(self.medians["cell_id"])
        short += [
            f"{fmt.label(c)} (0 of {asked}: no samples)"
            for c in self.cells
            if c.get("status") == "ok" and c.get("cell_id") not in measured
        ]
        if not short:
            return f"Repetitions: every measured cell has the {asked} asked."
        return f"**Fewer repetitions than the {asked} asked**: " + "; ".join(short) + "."

    def _saturation_check(self) -> str:
        hot = self.medians[self.medians["client_cpu_percent"] > CLIENT_CPU_SATURATED]
        if hot.empty:
            return (
                f"Load generator: median client CPU is at most {CLIENT_CPU_SATURATED:g} %"
                " in every cell."
            )
        cells = "; ".join(
            f"{fmt.label(row)} ({row['client_cpu_percent']:.1f} %)" for _, row in hot.iterrows()
        )
        return (
            f"**Load generator likely saturated** (median client CPU above"
            f" {CLIENT_CPU_SATURATED:g} %): {cells}. These figures may measure the client,"
            " not the server."
        )

    def _errors_check(self) -> str:
        # Latency of failing requests is not latency of the view: say so.
        bad = self.medians[self.medians["errors"].fillna(0) > 0]
        if bad.empty:
            return "Errors: no cell reported request errors."
        cells = "; ".join(f"{fmt.label(row)} ({row['errors']:g})" for _, row in bad.iterrows())
        return f"**Request errors** (median per repetition): {cells}."


# --------------------------------------------------------------------------
# Formatting helpers


def _how_measured(manifest: dict) -> str:
    protocol = manifest.get("protocol") or {}
    hosts = manifest.get("hosts") or {}
    parts = [
        f"Latency model: {protocol.get('latency_model', 'not recorded')}.",
        "Each repetition of a cell warmed the server up for"
        f" {fmt.seconds(protocol.get('warmup_s'))} and then measured a {fmt.seconds(protocol.get('duration_s'))} window;"
        f" {protocol.get('repetitions', '?')} repetitions per cell"
        f" (order shuffled with seed {protocol.get('seed', '?')}),"
        f" {protocol.get('connections', '?')} connection(s),"
        f" {protocol.get('threads', '?')} load-generator thread(s).",
    ]
    for role in ("server", "client"):
        host = hosts.get(role) or {}
        text = f"The {role} host ran on CPU set `{host.get('cpus', '?')}`"
        facts = host.get("facts") or {}
        cpu = _fact(facts, "cpu_model", "cpu_model_name", "model_name", "cpu")
        kernel = _fact(facts, "kernel", "kernel_release", "os_kernel")
        extra = [x for x in (cpu, f"kernel {kernel}" if kernel else None) if x]
        parts.append(text + (f" ({', '.join(extra)})." if extra else "."))
    parts.append("Every figure below is a median over repetitions.")
    return " ".join(parts)


def _fact(facts: dict, *names: str) -> str | None:
    """The first of several spellings a host fact may have, or None."""
    for name in names:
        if facts.get(name):
            return str(facts[name])
    return None
