"""Render one run folder as markdown (report.md) and as tables for the CLI.

The report and the CLI show the same frames (``_Facts.tables``), so a
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

from analysis import formatting as fmt
from analysis import paired
from analysis.anomalies import anomalies, anomaly_lines
from analysis.seeds import TITLE as SEEDS_TITLE
from analysis.seeds import (display_table, load_claims, published_vs_measured, section_lines,
                            seed_of, size_of)
from analysis.attribution import attribution, attribution_lines, attribution_table, missing_views
from analysis.attribution import TITLE as ATTRIBUTION_TITLE
from analysis.load import DEFAULT_VARIANT, load_run
from analysis.scenarios import scenario_order, scenario_sections
from analysis import tails
from analysis.health import health_check
from analysis.saturation import CLIENT_CPU_SATURATED, client_saturation, saturation_text
from analysis.stats import (
    STABILITY_METRICS,
    aa_controls,
    cell_stats,
    compare,
    not_compared,
    stability_warnings,
)
from analysis.summary import CELL_COLUMNS, KEYS, cell_medians, variant_rank
from analysis.verdicts import (
    CONTROL_TITLE,
    VERDICT_TITLE,
    WARNINGS_TITLE,
    control_table,
    verdict_section,
    verdict_table,
    warnings_table,
)
from runner.core.files import write_atomic
from runner.core.model import RAW_LATENCY_SINCE, cut_short_notice

REPORT_NAME = "report.md"

FAILED_TITLE = "Failed cells"
FAILED_INTRO = ("Every cell whose status is not `ok` (`partial`: some of its repetitions"
                " failed; `failed`: none was measured), one row per failed repetition;"
                " `raw` is the run sub-folder holding its logs.")
ANOMALIES_TITLE = "Anomalies"
# Metrics whose interval the scenario tables show (and whose CV the warnings
# check).
_STATS_METRICS = [*STABILITY_METRICS, "latency_p99"]
_FAILED_COLUMNS = ["cell_id", *CELL_COLUMNS, "status", "scenario", "variant", "repetition",
                   "reason", "raw"]

# --------------------------------------------------------------------------
# Public API


def build_report(run_dir: str | Path) -> str:
    """Return the markdown report of the run folder ``run_dir``."""
    samples, manifest = load_run(run_dir)
    return render_markdown(_Facts(samples, manifest, Path(run_dir).resolve()))


def head_lines(facts: "_Facts") -> list[str]:
    """Title, status, and a warning when the run did not complete."""
    manifest = facts.manifest
    lines = [
        f"# Benchmark report: {manifest.get('run_id', '?')}",
        "",
        f"Status: **{manifest.get('status', '?')}** · matrix `{manifest.get('matrix_name', '?')}`"
        f" · WSGI baseline `{facts.baseline}`",
        "",
    ]
    if manifest.get("schema_version", RAW_LATENCY_SINCE) < RAW_LATENCY_SINCE and wrk_ran(manifest):
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
    models = (manifest.get("protocol") or {}).get("latency_models") or {}
    legacy = (manifest.get("protocol") or {}).get("latency_model") or ""
    return any(str(m).startswith("wrk") for m in [*models.values(), legacy])


def top_lines(facts: "_Facts", published: bool = True) -> list[str]:
    """The first screen: for a seed's run its published-vs-measured table
    (unless ``published`` is False: report.html puts it with its figure),
    anomaly flags (short, so they never scroll away below many verdicts), the
    verdicts, and the overhead attribution."""
    lines = list(facts.published_lines) if published else []
    lines += [f"## {ANOMALIES_TITLE}", "", *anomaly_lines(facts.anomalies)]
    lines += verdict_section(facts.baseline, facts.tables, facts.show_scenario,
                             facts.unjudged)
    if facts.paired is not None:
        lines += paired.lines(facts.paired)
    lines += tails.lines(facts.tails)
    if facts.attribution_asked:
        lines += attribution_lines(facts.attribution, facts.attribution_missing)
    return lines


def render_markdown(facts: "_Facts") -> str:
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
    see analysis.html_report.write_reports)."""
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
    return list(_Facts(samples, manifest).tables.items())


# --------------------------------------------------------------------------
# What the report says, computed once


class _Facts:
    """Numbers and display tables of one run, shared by report and CLI."""

    def __init__(self, samples: pd.DataFrame, manifest: dict, run_dir: Path | None = None):
        self.manifest = manifest
        self.samples = samples
        # Pooled tails need the raw histograms: only with the run folder at hand.
        self.tails = (tails.pooled_tails(run_dir, manifest) if run_dir is not None
                      else pd.DataFrame(columns=tails.COLUMNS))
        self.baseline = manifest.get("baseline_server")
        if not self.baseline:
            raise ValueError(f"manifest of run {manifest.get('run_id')!r} has no baseline_server")
        self.medians = cell_medians(samples)
        self.stats = cell_stats(samples, _STATS_METRICS)
        self.ci = {(*key, m): (lo, hi, cv) for *key, m, lo, hi, cv in zip(
            *(self.stats[c] for c in [*KEYS, "metric", "ci_low", "ci_high", "cv"]))}
        self.saturation = client_saturation(samples)
        self.saturated_reps = {tuple(r[c] for c in KEYS): len(r["saturated"])
                               for r in self.saturation.to_dict("records")}
        self.compared = _by_scenario(compare(samples, self.baseline, self.saturation,
                                             self.medians))
        self.unmatched = not_compared(samples, self.baseline, self.medians)
        self.controls = aa_controls(samples)
        # Runs measured in blocks: each pair judged on its within-block ratios.
        in_blocks = (manifest.get("protocol") or {}).get("design") == paired.BLOCKS_DESIGN
        self.paired = (paired.paired_verdicts(samples, paired.pairs_of(self.compared,
                                                                       self.controls))
                       if in_blocks else None)
        self.cells = manifest.get("cells") or []
        self.warnings = stability_warnings(self.stats, self.cells, self.saturation)
        firsts = samples.drop_duplicates("metric")
        self.units = dict(zip(firsts["metric"], firsts["unit"]))
        self.metric_order = list(firsts["metric"])
        # Name the scenario and variant only when a run has more than one.
        self.show_scenario = len(self.medians[["scenario", "variant"]].drop_duplicates()) > 1
        self.health = health_check(samples, manifest, self._where)
        # Coordinates a verdict sentence must name: those that vary in the run.
        self.varying = {
            c for c in ["workers", "threads", "python", "django", "asgiref", "scenario",
                        "variant"]
            if self.medians[c].nunique() > 1
        }
        # Scenarios measured but without a p50 to give a verdict on.
        has_p50 = self.medians.groupby("scenario")["latency_p50"].count()
        self.unjudged = scenario_order(has_p50[has_p50 == 0].index)
        self.sections = scenario_sections(self)
        self.anomalies = anomalies(self.medians, samples)
        # A seed's run: its write-up's figures beside the lab's, first of all.
        self.seed = seed_of(manifest)
        self.published, self.published_lines = None, []
        if self.seed:
            claims = load_claims()
            self.published = published_vs_measured(samples, claims.of(self.seed),
                                                   size_of(manifest))
            self.published_lines = section_lines(self.seed, claims, self.published)
        self.attribution = attribution(samples, self.baseline)
        self.attribution_missing = missing_views(samples)
        self.attribution_asked = not self.attribution.empty or bool(self.attribution_missing)

        self.tables: dict[str, pd.DataFrame] = {
            VERDICT_TITLE: verdict_table(self.compared, self.varying),
            WARNINGS_TITLE: warnings_table(self.warnings, self.show_scenario),
        }
        if not self.controls.empty:
            self.tables[CONTROL_TITLE] = control_table(self.controls, self._ids())
        if not self.anomalies.empty:
            self.tables[ANOMALIES_TITLE] = fmt.display(
                self.anomalies, ["cell_id", *CELL_COLUMNS, "scenario", "variant", "axis",
                                 "metric"],
                [("value ms", "value_ms", lambda v: fmt.num(v, 3)),
                 ("siblings ms", "siblings_ms", lambda v: fmt.num(v, 3)),
                 ("ratio", "ratio", lambda v: fmt.num(v, 2))])
        if self.published is not None:   # first: the console prints it first
            self.tables = {SEEDS_TITLE: display_table(self.published), **self.tables}
        if not self.attribution.empty:
            self.tables[ATTRIBUTION_TITLE] = attribution_table(self.attribution)
        for section in self.sections:
            self.tables.update({title: table for title, _, table in section.tables})
        self.tables[FAILED_TITLE] = self._failed_table()

    def _ids(self) -> list[str]:
        return [*CELL_COLUMNS, "scenario", "variant"] if self.show_scenario else list(CELL_COLUMNS)

    def _failed_table(self) -> pd.DataFrame:
        """Every cell the manifest does not call "ok" (partial or failed;
        anything else is listed too rather than dropped): one row per failed
        repetition, or one with the cell's reason when it has no failure list
        (an install that failed, a run from before scenarios)."""
        rows = []
        for c in self.cells:
            if c.get("status") == "ok":
                continue
            cell = {"cell_id": str(c.get("cell_id", "?")),
                    **{k: fmt.text(c.get(k)) for k in CELL_COLUMNS},
                    "status": fmt.text(c.get("status"))}
            failures = c.get("failures") or [{"reason": c.get("reason")}]
            rows += [{**cell, **{k: fmt.text(f.get(k)) for k in
                                 ("scenario", "variant", "repetition", "raw")},
                      "reason": fmt.text(f.get("reason")) if f.get("reason")
                      else "(no reason recorded)"} for f in failures]
        return pd.DataFrame(rows, columns=_FAILED_COLUMNS)

    def _where(self, row) -> str:
        """A row's cell, and its scenario and variant when the run has several."""
        if not self.show_scenario:
            return fmt.label(row)
        variant = "" if row["variant"] == DEFAULT_VARIANT else f" {row['variant']}"
        return f"{fmt.label(row)} [{row['scenario']}{variant}]"

    def checks(self) -> list[str]:
        return [self._repetitions_check(), self._saturation_check(),
                self.health, self._errors_check()]

    def _repetitions_check(self) -> str:
        asked = (self.manifest.get("protocol") or {}).get("repetitions")
        if asked is None:
            return "Repetitions: the protocol does not say how many were asked; not checked."
        short = [
            f"{self._where(row)} ({int(row['repetitions'])} of {asked})"
            for row in self.medians.to_dict("records")
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
        if self.saturation.empty:
            return ("Load generator: no measured window had a saturated client (runner flag;"
                    f" for runs without it, client CPU above {CLIENT_CPU_SATURATED:g} %).")
        cells = "; ".join(f"{self._where(row)}: {saturation_text(row)}"
                          for row in self.saturation.to_dict("records"))
        return (f"**Load generator likely saturated**: {cells}. These figures may measure the"
                " client, not the server.")

    def _errors_check(self) -> str:
        # Latency of failing requests is not latency of the view: say so.
        bad = self.medians[self.medians["errors"].fillna(0) > 0]
        if bad.empty:
            return "Errors: no cell reported request errors."
        cells = "; ".join(f"{self._where(row)} ({row['errors']:g})"
                          for row in bad.to_dict("records"))
        return f"**Request errors** (median per repetition): {cells}."


def _by_scenario(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the report's order of scenarios, then of variants (c=1
    before c=16); a stable sort keeps summary.py's order within."""
    if frame.empty:
        return frame
    scenarios = {s: i for i, s in enumerate(scenario_order(frame["scenario"]))}
    key = frame.assign(_s=frame["scenario"].map(scenarios),
                       _v=frame["variant"].map(variant_rank(frame["variant"])))
    return key.sort_values(["_s", "_v"], kind="stable").drop(columns=["_s", "_v"])


# --------------------------------------------------------------------------
# Formatting helpers


def _how_measured(manifest: dict) -> str:
    protocol = manifest.get("protocol") or {}
    scenarios = protocol.get("scenarios")
    if scenarios is None:  # a run from before scenarios: one wrk set-up for all
        parts = [
            f"Latency model: {protocol.get('latency_model', 'not recorded')}.",
            "Each repetition of a cell warmed the server up for"
            f" {fmt.seconds(protocol.get('warmup_s'))} and then measured a"
            f" {fmt.seconds(protocol.get('duration_s'))} window;"
            f" {protocol.get('repetitions', '?')} repetitions per cell"
            f" (order shuffled with seed {protocol.get('seed', '?')}),"
            f" {protocol.get('connections', '?')} connection(s),"
            f" {protocol.get('threads', '?')} load-generator thread(s).",
        ]
    else:
        models = protocol.get("latency_models") or {}
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
        host = _host(manifest.get("hosts") or {}, role)
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


def _host(hosts: dict, role: str) -> dict:
    """The host of ``role``: keyed by role (older runs) or carrying it."""
    if role in hosts:
        return hosts[role] or {}
    return next((h for h in hosts.values() if isinstance(h, dict) and h.get("role") == role), {})


def _fact(facts: dict, *names: str) -> str | None:
    """The first of several spellings a host fact may have, or None."""
    for name in names:
        if facts.get(name):
            return str(facts[name])
    return None
