"""The top of report.md: verdicts in plain words, noise floor, warnings.

Turns the frames of stats.py into display tables (which the CLI prints as
they are) and renders those same tables as the report's first section, so
the console and the report say the same thing.
"""

from __future__ import annotations

import pandas as pd

from analysis.render import formatting as fmt
from analysis.runs.saturation import CLIENT_CPU_SATURATED
from analysis.stats.bootstrap import CONFIDENCE, CV_WARN, MIN_REPETITIONS, N_RESAMPLES, SEED
from analysis.stats.paired import MIN_BLOCKS
from analysis.stats.paired import TITLE as PAIRED_TITLE
from analysis.stats.verdict import (BLOCKS, EQUIVALENT, FASTER, MIN_EFFECT, NOT_JUDGED,
                                    NOT_SIGNIFICANT, SLOWER, UNDETERMINED)

VERDICT_TITLE = "Verdict"
WARNINGS_TITLE = "Stability warnings"
CONTROL_TITLE = "A/A control (noise floor)"

# Coordinates a sentence names when they vary in the run ("to the drf view
# (Python 3.12, scenario concurrency c=16)"); constant ones go without saying.
_CONTEXT = {"python": "Python", "django": "Django", "asgiref": "asgiref"}
DEFAULT_VARIANT = "default"


def verdict_table(compared: pd.DataFrame, varying: set[str]) -> pd.DataFrame:
    """One row per ``stats.compare`` row: ``verdict`` and ``finding``, the
    comparison in one sentence. ``varying`` holds the cell coordinates that
    take several values in the run (they are named in the sentence)."""
    rows = [{"verdict": r.verdict, "finding": finding(r, varying)} for r in compared.itertuples()]
    return pd.DataFrame(rows, columns=["verdict", "finding"], dtype=object)


def finding(r, varying: set[str]) -> str:
    """E.g. "Under these conditions ASGI (uvicorn) adds +1.928 ms [+0.983,
    +2.048] per request to the drf view compared with WSGI (gunicorn-sync)
    (p50, 3 vs 3 repetitions); throughput ×0.241 [0.215, 1.954]."."""
    who = _who(r.interface, r.server, r.workers, r.threads, varying)
    base = _who("wsgi", r.baseline_server, r.baseline_workers, None, varying)
    context = [f"{name} {getattr(r, c)}" for c, name in _CONTEXT.items() if c in varying]
    if {"scenario", "variant"} & varying:
        context.append(workload(r.scenario, r.variant))
    view = f"the {r.view} view" + (f" ({', '.join(context)})" if context else "")
    diff = f"{fmt.num(r.p50_diff_ms, 3, True)} ms {fmt.ci((r.p50_diff_low, r.p50_diff_high), True)}"
    if r.verdict == SLOWER:
        change = f"adds {diff} per request to {view}"
    elif r.verdict == FASTER:
        saved = fmt.ci((-r.p50_diff_high, -r.p50_diff_low))  # as a saving: positive
        change = f"cuts {fmt.num(-r.p50_diff_ms, 3)} ms {saved} from each request to {view}"
    else:
        change = f"changes each request to {view} by {diff}"
    text = (
        f"Under these conditions {who} {change} compared with {base}"
        f" (p50, {r.repetitions} vs {r.baseline_repetitions} repetitions);"
        f" throughput ×{fmt.num(r.throughput_ratio, 3)}"
        f" {fmt.ci((r.throughput_ratio_low, r.throughput_ratio_high))}."
    )
    if r.why:   # why a comparison was not called slower or faster
        said = "Not significant" if r.verdict == NOT_SIGNIFICANT else r.verdict.capitalize()
        text += f" {said}: {r.why}."
    saturated = getattr(r, "saturated_client", "")
    if saturated:
        text += (f" This verdict rests on a saturated client ({saturated}): the figures may"
                 " describe the load generator rather than the server.")
    return text


def workload(scenario, variant) -> str:
    """"scenario concurrency c=16"; a scenario's only variant goes unnamed."""
    return f"scenario {scenario}" + ("" if variant == DEFAULT_VARIANT else f" {variant}")


def warnings_table(warnings: pd.DataFrame, show_scenario: bool) -> pd.DataFrame:
    """``stats.stability_warnings`` for display, one ``warning`` per row."""
    ids = ["cell_id", "server", "interface", "workers", "threads"]
    if show_scenario:
        ids += ["scenario", "variant"]
    out = fmt.display(warnings, ids, [])
    out["warning"] = list(warnings["message"])
    return out


def control_table(controls: pd.DataFrame, id_columns: list[str]) -> pd.DataFrame:
    """``stats.aa_controls`` for display: the pair and its p50 difference."""
    controls = controls.assign(
        p50_diff_ci=list(zip(controls["p50_diff_low"], controls["p50_diff_high"]))
    )
    return fmt.display(controls, ["cell_id", "twin_cell_id", *id_columns], [
        ("p50 diff ms", "p50_diff_ms", lambda v: fmt.num(v, 3, signed=True)),
        ("p50 diff 95% CI", "p50_diff_ci", lambda v: fmt.interval(v, 3, signed=True)),
    ])


def verdict_section(baseline: str, tables: dict[str, pd.DataFrame], show_scenario: bool,
                    unjudged: list[str] = (), design: str | None = None) -> list[str]:
    """The report's first section, from the display ``tables`` (those above,
    keyed by their titles; the control table only when the run has one).
    ``unjudged``: scenarios measured without a p50 latency to judge.
    ``design``: the run's (verdict.design_of), which says which rule the
    verdicts follow."""
    has_control = CONTROL_TITLE in tables
    floor = " and by more than the A/A noise floor" if has_control else ""
    lines = [f"## {VERDICT_TITLE}", "", _rule_text(baseline, floor, design), ""]
    verdicts = tables[VERDICT_TITLE]
    if verdicts.empty:
        lines += ["No cell could be compared with a WSGI baseline (see each scenario's"
                  " \"not compared\" table).", ""]
    else:
        lines += [f"- **{r.verdict}**: {r.finding}" for r in verdicts.itertuples()] + [""]
    if unjudged:
        lines += [f"No verdict for {', '.join(unjudged)}: no p50 latency per request was"
                  " recorded there; see the scenario's own section.", ""]

    if has_control:
        lines += [f"{CONTROL_TITLE}: cells identical in every pin but their cell_id;"
                  " their difference is what the lab reports when there is none.", "",
                  fmt.markdown_table(tables[CONTROL_TITLE]), ""]
    else:
        lines += ["No A/A control in this run (two cells identical in every pin but their"
                  " cell_id), so no noise floor was measured.", ""]

    lines += [
        f"### {WARNINGS_TITLE}",
        "",
        f"pyperf-style checks: CV (std/mean over repetitions) of p50 or req/s at or above"
        f" {CV_WARN * 100:g} %, fewer than {MIN_REPETITIONS} repetitions, a measured window"
        " whose client was saturated (the runner's flag: the load generator near its CPU"
        " limit over the window or any half second of it; in runs before 2026-12-03 also"
        " Little's law off; for runs without the flag, client CPU above"
        f" {CLIENT_CPU_SATURATED:g} %), or a failed or partial cell.",
        "",
    ]
    warnings = tables[WARNINGS_TITLE]
    if warnings.empty:
        return lines + ["none", ""]
    def where(r) -> str:
        if not show_scenario or r.scenario == fmt.text(None):  # a whole cell's warning
            return ""
        return f" [{workload(r.scenario, r.variant).removeprefix('scenario ')}]"

    return lines + [
        f"- `{r.cell_id}` {r.server} ({r.interface}, {r.workers}w){where(r)}: {r.warning}"
        for r in warnings.itertuples()
    ] + [""]


def _rule_text(baseline: str, floor: str, design: str | None) -> str:
    """How the verdicts below were decided: the rule of the run's design."""
    if design == BLOCKS:
        return (
            "Each line compares a cell's median latency per request (p50) with its WSGI"
            f" baseline (`{baseline}`). The run was measured in blocks, so each verdict is the"
            f" paired one (\"{PAIRED_TITLE}\" below): **{SLOWER}** or **{FASTER}** when the"
            " ratio of the two cells' p50s within the same blocks differs from 1,"
            f" **{EQUIVALENT}** within ±{MIN_EFFECT * 100:g} %, **{UNDETERMINED}** when the"
            f" blocks show neither, **{NOT_JUDGED}** below {MIN_BLOCKS} blocks. The p50"
            f" difference and the throughput ratio carry {CONFIDENCE * 100:g} % percentile"
            f" bootstrap intervals ({N_RESAMPLES} resamples of the repetitions, seed {SEED})."
            " A cell is only compared with the baseline's same scenario and variant.")
    return (
        "Each line compares a cell's median latency per request (p50) with its WSGI baseline"
        f" (`{baseline}`), with a {CONFIDENCE * 100:g} % percentile bootstrap interval"
        f" ({N_RESAMPLES} resamples of the repetitions, seed {SEED}). A cell is called"
        f" **{SLOWER}** or **{FASTER}** only when the interval of the difference excludes 0"
        f" and the p50 changes by at least {MIN_EFFECT * 100:g} %{floor}; otherwise there is"
        f" **{NOT_SIGNIFICANT}**. With 3 repetitions an interval is about the range"
        f" of the repetitions: a rough bound, not a {CONFIDENCE * 100:g} % guarantee."
        " A cell is only compared with the baseline's same scenario and variant.")


def _who(interface, server, workers, threads, varying: set[str]) -> str:
    extra = ""
    if "workers" in varying:
        extra += f", {workers} worker{'s' if workers != 1 else ''}"
    if "threads" in varying and threads is not None:
        extra += f", {threads} thread{'s' if threads != 1 else ''}"
    return f"{str(interface).upper()} ({server}{extra})"
