"""Render one run folder as markdown (report.md) and as tables for the CLI.

The report and the CLI show the same frames (``Facts.tables``,
analysis/scenarios/facts.py), so a
number read on the console is the number in report.md. Numbers become
strings only through formatting.py; summary.py and stats.py stay numeric
(apart from short reasons and warning messages); verdicts.py writes the
report's first section, sections.py one section per scenario.

Order: anomaly flags, verdicts (with the A/A control and stability
warnings), the overhead attribution when the run has its cells, how the run
was measured, a section per scenario, failed and partial cells, checks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.questions.anomalies import anomaly_lines
from analysis.questions.attribution import attribution_lines
from analysis.render import formatting as fmt
from analysis.render.verdicts import verdict_section
from analysis.scenarios.facts import ANOMALIES_TITLE, FAILED_TITLE, Facts
from analysis.runs.load import load_run
from analysis.runs.schema import read_schema
from analysis.stats import paired, tails
from runner.core.files import write_atomic
from runner.core.model import cut_short_notice

__all__ = ["ANOMALIES_TITLE", "FAILED_INTRO", "FAILED_TITLE", "REPORT_NAME", "Facts",
           "build_report", "console_tables", "head_lines", "render_markdown", "top_lines",
           "write_file", "write_report"]

REPORT_NAME = "report.md"

FAILED_INTRO = ("Every cell whose status is not `ok` (`partial`: some of its repetitions"
                " failed; `failed`: none was measured), one row per failed repetition;"
                " `raw` is the run sub-folder holding its logs.")

# --------------------------------------------------------------------------
# Public API


def build_report(run_dir: str | Path) -> str:
    """Return the markdown report of the run folder ``run_dir``."""
    samples, manifest = load_run(run_dir)
    return render_markdown(Facts(samples, manifest, Path(run_dir).resolve()))


def head_lines(facts: Facts) -> list[str]:
    """Title, status, and a warning when the run did not complete."""
    manifest = facts.manifest
    lines = [
        f"# Benchmark report: {manifest.get('run_id', '?')}",
        "",
        f"Status: **{manifest.get('status', '?')}** · matrix `{manifest.get('matrix_name', '?')}`"
        f" · WSGI baseline `{facts.baseline}`",
        "",
    ]
    if not read_schema(manifest).raw_latencies and wrk_ran(manifest):
        lines += [
            "> **This run predates raw latencies**: its wrk figures include the synthetic"
            " samples wrk adds at the end of a run (its coordinated-omission correction),"
            " which inflate means and tails. Rerun it (`lab reproduce`) for raw figures.",
            "",
        ]
    lines += tuning_lines(manifest)
    if notice := cut_short_notice(manifest):
        lines += [f"> **{notice}**", ""]
    elif manifest.get("status") != "complete":
        lines += [
            f"> **This run is {manifest.get('status', 'of unknown status')}**: the figures"
            " cover only the repetitions that finished.",
            "",
        ]
    return lines


def _names(names: list[str], limit: int = 5) -> str:
    irqs = [n for n in names if n.startswith("irq") and n.endswith(".affinity")]
    rest = [n for n in names if n not in irqs] + ([f"{len(irqs)} IRQs' affinity"] if irqs else [])
    return ", ".join(rest[:limit]) + (f" and {len(rest) - limit} more" if len(rest) > limit else "")


def tuning_lines(manifest: dict) -> list[str]:
    """A notice when a run was measured on a host whose settings were not all at
    their tuned values (the manifest's host_tuning, from `lab tune show`)."""
    untuned = (manifest.get("host_tuning") or {}).get("untuned") or []
    if not untuned:
        return []
    parts = []
    for m in untuned:
        said = []
        if m.get("can_apply"):
            said.append(f"`lab tune apply` would change {_names(m['can_apply'])}")
        if m.get("cannot"):
            said.append(f"cannot be changed there: {_names(m['cannot'])}")
        parts.append(f"{', '.join(m['hosts'])}: {'; '.join(said)}")
    return ["> **Measured on an untuned host**: " + " · ".join(parts) + ". `lab tune show` lists "
            "every setting; the manifest's `host_tuning` keeps them.", ""]


def wrk_ran(manifest: dict) -> bool:
    """Whether any scenario of the run measured with wrk (its latency model says so)."""
    return read_schema(manifest).wrk_ran()


def top_lines(facts: Facts, published: bool = True) -> list[str]:
    """The first screen: for a seed's run its published-vs-measured table
    (unless ``published`` is False: report.html puts it with its figure),
    anomaly flags (short, so they never scroll away below many verdicts), the
    verdicts, and the overhead attribution."""
    lines = list(facts.published_lines) if published else []
    lines += [f"## {ANOMALIES_TITLE}", "", *anomaly_lines(facts.anomalies)]
    lines += verdict_section(facts.baseline, facts.tables, facts.show_scenario,
                             facts.unjudged, facts.design)
    if facts.paired is not None:
        lines += paired.lines(facts.paired)
    lines += tails.lines(facts.tails)
    if facts.attribution_asked:
        lines += attribution_lines(facts.attribution, facts.attribution_missing)
    return lines


def render_markdown(facts: Facts) -> str:
    """report.md's text from the run's computed facts."""
    manifest = facts.manifest
    lines = head_lines(facts) + top_lines(facts)
    lines += ["## How this was measured", "", _how_measured(manifest), ""]

    for section in facts.sections:
        lines += [f"## Scenario: {section.scenario}", "", section.intro, ""]
        for title, caption, table in section.tables:
            lines += [f"### {title}", ""] + ([caption, ""] if caption else [])
            lines += [fmt.markdown_table(table), ""]

    lines += [f"## {FAILED_TITLE}", ""]
    failed = facts.tables[FAILED_TITLE]
    if failed.empty:
        lines += ["none", ""]
    else:
        lines += [FAILED_INTRO, "", fmt.markdown_table(failed), ""]

    lines += ["## Checks", ""]
    lines += [f"- {line}" for line in facts.checks()]
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.md`` and return its path (report.html too:
    see analysis.report.html.write_reports)."""
    folder = Path(run_dir).resolve()
    return write_file(folder, REPORT_NAME, build_report(folder))


def write_file(folder: Path, name: str, text: str) -> Path:
    """Write ``folder/name`` atomically (a reader never sees half a report); mode 0644."""
    return write_atomic(Path(folder) / name, text)


def console_tables(run_dir: str | Path) -> list[tuple[str, pd.DataFrame]]:
    """The report's tables as (title, frame of formatted strings), in report
    order, for the CLI to print with rich. "A/A control" appears only when the
    run holds such a pair; each scenario adds its own tables (titled
    "<scenario>: ..."); the others are always there (maybe empty)."""
    samples, manifest = load_run(run_dir)
    return list(Facts(samples, manifest).tables.items())


# --------------------------------------------------------------------------
# Formatting helpers


def _how_measured(manifest: dict) -> str:
    protocol = manifest.get("protocol") or {}
    schema = read_schema(manifest)
    scenarios = schema.scenarios
    if scenarios is None:  # a run from before scenarios: one wrk set-up for all
        parts = [
            f"Latency model: {schema.latency_model or 'not recorded'}.",
            "Each repetition of a cell warmed the server up for"
            f" {fmt.seconds(protocol.get('warmup_s'))} and then measured a"
            f" {fmt.seconds(protocol.get('duration_s'))} window;"
            f" {protocol.get('repetitions', '?')} repetitions per cell"
            f" (order shuffled with seed {protocol.get('seed', '?')}),"
            f" {protocol.get('connections', '?')} connection(s),"
            f" {protocol.get('threads', '?')} load-generator thread(s).",
        ]
    else:
        models = schema.latency_models
        parts = [
            "Each repetition of a cell, scenario and variant ran on a fresh server, warmed up"
            f" for {fmt.seconds(protocol.get('warmup_s'))}, then measured a"
            f" {fmt.seconds(protocol.get('duration_s'))} window (unless its scenario says"
            f" otherwise); {protocol.get('repetitions', '?')} repetitions, "
            + (f"in {protocol['design']} (repetition k of every cell in block k, each block"
               f" shuffled with seed {protocol.get('seed', '?')})."
               if protocol.get("design") else
               f"in an order shuffled with seed {protocol.get('seed', '?')}."),
            "Scenarios: " + "; ".join(f"{name} ({_params(params)})" for name, params in
                                      scenarios.items()) + ".",
            "Latency models: " + "; ".join(f"{name}: {model}" for name, model in
                                           models.items()) + "." if models else
            "Latency models: not recorded.",
        ]
    for role in ("server", "client"):
        host = schema.hosts[role]
        text = f"The {role} host ran on CPU set `{host.get('cpus', '?')}`"
        facts = host.get("facts") or {}
        cpu = _fact(facts, "cpu_model", "cpu_model_name", "model_name", "cpu")
        kernel = _fact(facts, "kernel", "kernel_release", "os_kernel")
        extra = [x for x in (cpu, f"kernel {kernel}" if kernel else None) if x]
        parts.append(text + (f" ({', '.join(extra)})." if extra else "."))
    parts.append("Every figure below is a median over repetitions.")
    return " ".join(parts)


def _params(params: dict) -> str:
    if not params:
        return "no parameters"
    return ", ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                     for k, v in params.items())


def _fact(facts: dict, *names: str) -> str | None:
    """The first of several spellings a host fact may have, or None."""
    for name in names:
        if facts.get(name):
            return str(facts[name])
    return None
