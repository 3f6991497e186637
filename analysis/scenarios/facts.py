"""The public interface of a scenario's report module: a run's ``Facts``
and the helpers a section or figure is built with.

A scenario module (analysis/scenarios/<name>.py, docs/design.md) receives a
:class:`Facts` in its ``section(facts, scenario, rows)`` and in each
figure's ``build(facts, reps, labels)``, and imports from here only::

    from analysis.scenarios.facts import Facts, baseline_first, ids, with_ci

Every property of :class:`Facts` is computed the first time it is asked
for (``functools.cached_property``) and kept: a figure that reads only
``medians`` costs no bootstrap, and report.md, report.html and the CLI
tables share one computation. What a scenario section reads:

- ``manifest``, ``baseline`` (the WSGI baseline server), ``samples``;
- ``medians`` (summary.cell_medians: one row per cell, scenario and
  variant, a column per metric), ``ci`` ({(cell_id, scenario, variant,
  metric): (low, high, cv)}), ``units`` and ``metric_order`` (the metrics
  as recorded);
- ``compared`` and ``unmatched`` (each cell against its baseline, with the
  verdict of the run's design: analysis/stats/verdict.py), ``controls``
  (A/A pairs), ``saturated_reps`` ({(cell_id, scenario, variant): number of
  repetitions with a saturated client});
- ``show_scenario`` and ``varying`` (the coordinates that take several
  values in the run).

The rest (``sections``, ``tables``, ``warnings``, ``anomalies``, the
seed's ``published`` figures, ``attribution``, ``checks()``) is what the
report around the sections shows.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from analysis import scenarios
from analysis.questions.anomalies import anomalies
from analysis.questions.attribution import attribution, attribution_table, missing_views
from analysis.questions.attribution import TITLE as ATTRIBUTION_TITLE
from analysis.questions.seeds import (display_table, load_claims, published_vs_measured,
                                      section_lines, seed_of, size_of)
from analysis.questions.seeds import TITLE as SEEDS_TITLE
from analysis.render import formatting as fmt
from analysis.render.plots import (error_bars, figure_title, latency_model, new_figure,
                                   plain_log, row_label)
from analysis.render.sections import (CI_TEXT, MEDIAN_COLUMNS, Section, baseline_first,
                                      cell_title, ids, saturated_count, with_ci)
from analysis.render.verdicts import (CONTROL_TITLE, VERDICT_TITLE, WARNINGS_TITLE,
                                      control_table, verdict_table, warnings_table)
from analysis.runs.health import health_check
from analysis.runs.load import DEFAULT_VARIANT
from analysis.runs.saturation import CLIENT_CPU_SATURATED, client_saturation, saturation_text
from analysis.stats import paired, tails, verdict
from analysis.stats.bootstrap import (STABILITY_METRICS, aa_controls, cell_stats, compare,
                                      not_compared, stability_warnings)
from analysis.stats.summary import CELL_COLUMNS, KEYS, cell_medians, variant_rank

__all__ = ["Facts", "Section", "baseline_first", "with_ci", "ids", "saturated_count",
           "cell_title", "new_figure", "figure_title", "latency_model", "row_label", "plain_log",
           "error_bars",
           "CI_TEXT", "MEDIAN_COLUMNS"]

FAILED_TITLE = "Failed cells"
ANOMALIES_TITLE = "Anomalies"
# Metrics whose interval the scenario tables show (and whose CV the warnings
# check).
_STATS_METRICS = [*STABILITY_METRICS, "latency_p99"]
_FAILED_COLUMNS = ["cell_id", *CELL_COLUMNS, "status", "scenario", "variant", "repetition",
                   "reason", "raw"]


class Facts:
    """Numbers and display tables of one run, shared by report.md,
    report.html and the CLI; each computed when first asked for.

    ``samples`` and ``manifest``: what analysis.runs.load.load_run returns;
    ``run_dir``: the run folder, for what only its files hold (the pooled
    tails' raw histograms); without it those are empty. A manifest without
    ``baseline_server`` is refused here, at once.
    """

    def __init__(self, samples: pd.DataFrame, manifest: dict, run_dir: Path | None = None):
        self.manifest = manifest
        self.samples = samples
        self.run_dir = run_dir
        self.baseline = manifest.get("baseline_server")
        if not self.baseline:
            raise ValueError(f"manifest of run {manifest.get('run_id')!r} has no baseline_server")

    # -- per cell --------------------------------------------------------

    @cached_property
    def medians(self) -> pd.DataFrame:
        """summary.cell_medians: one row per cell, scenario and variant."""
        return cell_medians(self.samples)

    @cached_property
    def stats(self) -> pd.DataFrame:
        """bootstrap.cell_stats of the metrics the tables show intervals for."""
        return cell_stats(self.samples, _STATS_METRICS)

    @cached_property
    def ci(self) -> dict:
        """{(cell_id, scenario, variant, metric): (ci_low, ci_high, cv)}."""
        return {(*key, m): (lo, hi, cv) for *key, m, lo, hi, cv in zip(
            *(self.stats[c] for c in [*KEYS, "metric", "ci_low", "ci_high", "cv"]))}

    @cached_property
    def saturation(self) -> pd.DataFrame:
        """runs.saturation.client_saturation: windows with a saturated client."""
        return client_saturation(self.samples)

    @cached_property
    def saturated_reps(self) -> dict:
        """{(cell_id, scenario, variant): repetitions with a saturated client}."""
        return {tuple(r[c] for c in KEYS): len(r["saturated"])
                for r in self.saturation.to_dict("records")}

    @cached_property
    def units(self) -> dict:
        """{metric: unit}."""
        firsts = self.samples.drop_duplicates("metric")
        return dict(zip(firsts["metric"], firsts["unit"]))

    @cached_property
    def metric_order(self) -> list:
        """The metrics in the order the run recorded them."""
        return list(self.samples.drop_duplicates("metric")["metric"])

    @cached_property
    def cells(self) -> list:
        """The manifest's cells (with their status and failures)."""
        return self.manifest.get("cells") or []

    # -- against the baseline ---------------------------------------------

    @cached_property
    def design(self) -> str:
        """verdict.design_of the run: which rule its verdicts follow."""
        return verdict.design_of(self.manifest)

    @cached_property
    def controls(self) -> pd.DataFrame:
        """bootstrap.aa_controls: the A/A pairs and their p50 differences."""
        return aa_controls(self.samples)

    @cached_property
    def _compared_by_bootstrap(self) -> pd.DataFrame:
        return _by_scenario(compare(self.samples, self.baseline, self.saturation, self.medians))

    @cached_property
    def paired(self) -> pd.DataFrame | None:
        """A run measured in blocks: each pair judged on its within-block
        ratios (paired.paired_verdicts); None for any other run."""
        if self.design != verdict.BLOCKS:
            return None
        return paired.paired_verdicts(self.samples, paired.pairs_of(
            self._compared_by_bootstrap, self.controls))

    @cached_property
    def compared(self) -> pd.DataFrame:
        """Each cell against its baseline (bootstrap.compare) in the report's
        order, with one verdict: its design's (verdict.of_design)."""
        return verdict.of_design(self._compared_by_bootstrap, self.paired)

    @cached_property
    def unmatched(self) -> pd.DataFrame:
        """The cells not compared, with a reason (bootstrap.not_compared)."""
        return not_compared(self.samples, self.baseline, self.medians)

    @cached_property
    def warnings(self) -> pd.DataFrame:
        """bootstrap.stability_warnings of the run."""
        return stability_warnings(self.stats, self.cells, self.saturation)

    @cached_property
    def show_scenario(self) -> bool:
        """Whether the run has more than one scenario and variant (then named)."""
        return len(self.medians[["scenario", "variant"]].drop_duplicates()) > 1

    @cached_property
    def varying(self) -> set:
        """Coordinates a verdict sentence must name: those that vary in the run."""
        return {c for c in ["workers", "threads", "python", "django", "asgiref", "scenario",
                            "variant"] if self.medians[c].nunique() > 1}

    @cached_property
    def unjudged(self) -> list:
        """Scenarios measured but without a p50 to give a verdict on."""
        has_p50 = self.medians.groupby("scenario")["latency_p50"].count()
        return scenarios.scenario_order(has_p50[has_p50 == 0].index)

    # -- the rest of the report -------------------------------------------

    @cached_property
    def tails(self) -> pd.DataFrame:
        """Pooled tails (they need the raw histograms: only with run_dir)."""
        if self.run_dir is None:
            return pd.DataFrame(columns=tails.COLUMNS)
        return tails.pooled_tails(self.run_dir, self.manifest)

    @cached_property
    def health(self) -> str:
        """The window-health check's line (runs.health.health_check)."""
        return health_check(self.samples, self.manifest, self._where)

    @cached_property
    def sections(self) -> list:
        """One Section per scenario (analysis/scenarios/)."""
        return scenarios.scenario_sections(self)

    @cached_property
    def anomalies(self) -> pd.DataFrame:
        """questions.anomalies: values far from their siblings'."""
        return anomalies(self.medians, self.samples)

    @cached_property
    def seed(self):
        """The seed whose matrix the run is (None for any other run)."""
        return seed_of(self.manifest)

    @cached_property
    def _published(self) -> tuple:
        if not self.seed:
            return None, []
        claims = load_claims()
        table = published_vs_measured(self.samples, claims.of(self.seed), size_of(self.manifest))
        return table, section_lines(self.seed, claims, table)

    @property
    def published(self) -> pd.DataFrame | None:
        """A seed's run: its write-up's figures beside the lab's."""
        return self._published[0]

    @property
    def published_lines(self) -> list:
        """The published-vs-measured section's lines ([] for other runs)."""
        return self._published[1]

    @cached_property
    def attribution(self) -> pd.DataFrame:
        """questions.attribution: the ASGI overhead split by view."""
        return attribution(self.samples, self.baseline)

    @cached_property
    def attribution_missing(self) -> list:
        """The views an attribution would need but the run lacks."""
        return missing_views(self.samples)

    @cached_property
    def attribution_asked(self) -> bool:
        """Whether the run has (or half has) the attribution's cells."""
        return not self.attribution.empty or bool(self.attribution_missing)

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The report's display tables by title, in report order (the CLI
        prints them as they are)."""
        tables: dict[str, pd.DataFrame] = {
            VERDICT_TITLE: verdict_table(self.compared, self.varying),
            WARNINGS_TITLE: warnings_table(self.warnings, self.show_scenario),
        }
        if not self.controls.empty:
            tables[CONTROL_TITLE] = control_table(self.controls, self._id_columns())
        if not self.anomalies.empty:
            tables[ANOMALIES_TITLE] = fmt.display(
                self.anomalies, ["cell_id", *CELL_COLUMNS, "scenario", "variant", "axis",
                                 "metric"],
                [("value ms", "value_ms", lambda v: fmt.num(v, 3)),
                 ("siblings ms", "siblings_ms", lambda v: fmt.num(v, 3)),
                 ("ratio", "ratio", lambda v: fmt.num(v, 2))])
        if self.published is not None:   # first: the console prints it first
            tables = {SEEDS_TITLE: display_table(self.published), **tables}
        if not self.attribution.empty:
            tables[ATTRIBUTION_TITLE] = attribution_table(self.attribution)
        for section in self.sections:
            tables.update({title: table for title, _, table in section.tables})
        tables[FAILED_TITLE] = self._failed_table()
        return tables

    def checks(self) -> list[str]:
        """The report's closing checks: repetitions, client saturation,
        window health, request errors."""
        return [self._repetitions_check(), self._saturation_check(),
                self.health, self._errors_check()]

    def _id_columns(self) -> list[str]:
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
    rank = {s: i for i, s in enumerate(scenarios.scenario_order(frame["scenario"]))}
    key = frame.assign(_s=frame["scenario"].map(rank),
                       _v=frame["variant"].map(variant_rank(frame["variant"])))
    return key.sort_values(["_s", "_v"], kind="stable").drop(columns=["_s", "_v"])
