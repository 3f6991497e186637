"""Published against measured: each seed write-up's own figures and
statements (matrices/seeds/claims.yaml) beside what a run of the seed's
matrix measured, with a verdict per claim.

A claim names what it measures (`measure`: scenario, variant, metric, the
cell, and for a comparison the other side as overrides of the cell). Every
cell of the run that matches is judged on its own, so a full-size run that
sweeps versions gives one row per version combination.

The verdicts, from bootstrap intervals over repetitions (analysis.stats.bootstrap):

- value: the median's interval overlaps the published band (the figure, or
  its range; a figure the write-up gives as approximate, "~1 ms", is read as
  ±APPROX, an exact one as ±MIN_EFFECT for rounding, unless the claim states its
  own `tolerance`) -> reproduced, else not;
- difference / ratio: the interval of cell minus (over) the other side
  overlaps the band -> reproduced; excludes no-effect on the published side
  -> reproduced in direction only; else not reproduced;
- order ("lower" / "higher"): the ratio's interval lies wholly on the claimed
  side, by at least MIN_EFFECT -> reproduced; wholly on the other side ->
  not reproduced; inside 1 ± MIN_EFFECT -> not reproduced, equivalent; else
  undetermined;
- equivalent: the ratio's interval inside 1 ± margin -> reproduced
  (equivalent within the margin); wholly outside -> not reproduced.

With fewer than MIN_REPETITIONS repetitions there is no interval and the
point estimate alone is judged, which the row says. The rules, the 5 %
(MIN_EFFECT) and the words are analysis/stats/verdict.py's.
"""
from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Literal, Optional, Union

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from analysis.render import formatting as fmt
from analysis.runs.load import load_run
from analysis.stats.bootstrap import difference_interval, median_interval, ratio_interval, twin_sets
from analysis.stats.summary import per_repetition
from analysis.stats.verdict import (DIRECTION_ONLY, MIN_EFFECT, NOT_MEASURED,
                                    NOT_REPRODUCED, REPRODUCED, UNDETERMINED, claim_difference,
                                    claim_equivalent, claim_order, claim_overlap)
from runner.core.model import CELL_COLUMNS

CLAIMS_FILE = Path(__file__).resolve().parents[2] / "matrices" / "seeds" / "claims.yaml"
# A seed's matrices are named seed-<id> (default size) and seed-<id>-full.
SEED_RUN = re.compile(r"seed-(\d{3})(-full)?")
APPROX = 0.25   # "~1 ms", "about 15 ms": read as ±25 %
TITLE = "Published vs measured"
# Each row's figures for the plot: the lab's statistic (value, difference or
# ratio) with its interval, and the published band (NaN where there is none).
NUMBERS = ["value", "low", "high", "band_low", "band_high"]


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str
    variant: str = "default"
    metric: str
    cell: dict[str, Union[int, str]]
    against: Optional[dict[str, Union[int, str]]] = None
    direction: Optional[Literal["lower", "higher"]] = None
    # The lab's figure times this is set beside theirs: seed 003's user
    # counts, scaled to this machine (the run's 100 users stand for 400).
    scale: float = 1.0
    # Only for runs of this size of the seed's matrix (seed 003 measures its
    # users differently at each size); None: both.
    size: Optional[Literal["default", "full"]] = None


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    seed: str
    quote: str
    statement: str
    conditions: str = ""
    kind: Literal["value", "difference", "ratio", "order", "equivalent"]
    statistic: str
    unit: str
    published: Union[float, list[float], None] = None
    approx: bool = False
    margin: Optional[float] = None      # equivalence margin, as a fraction (default MIN_EFFECT)
    tolerance: Optional[float] = None   # the published band's half width, in its unit
    # None: the lab cannot measure it (a comment says why); a list: the same
    # statement tested several ways (seed 002's closed and open loop).
    measure: Union[Measure, list[Measure], None] = None
    not_measured: Optional[str] = None   # with no measure: why the lab cannot measure it

    @property
    def measures(self) -> list[Measure]:
        m = self.measure
        return [] if m is None else m if isinstance(m, list) else [m]

    @model_validator(mode="after")
    def _complete(self):
        if isinstance(self.published, list) and (len(self.published) != 2
                                                 or self.published[0] > self.published[1]):
            raise ValueError(f"{self.id}: published range must be [low, high]")
        if not self.measures and not self.not_measured:
            raise ValueError(f"{self.id}: no measure: say why in not_measured")
        if self.measures and self.kind in ("value", "difference", "ratio") \
                and self.published is None:
            raise ValueError(f"{self.id}: a {self.kind} claim needs a published figure")
        for m in self.measures:
            if self.kind != "value" and not m.against:
                raise ValueError(f"{self.id}: a {self.kind} claim needs measure.against")
            if self.kind == "order" and not m.direction:
                raise ValueError(f"{self.id}: an order claim needs measure.direction")
        return self


class Seed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    setup: str


class Claims(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seeds: dict[str, Seed]
    claims: list[Claim]

    @model_validator(mode="after")
    def _consistent(self):
        ids = [c.id for c in self.claims]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"claim ids used twice: {', '.join(twice)}")
        for c in self.claims:
            if c.seed not in self.seeds:
                raise ValueError(f"{c.id}: seed {c.seed!r} is not under seeds:")
        return self

    def of(self, seed: str) -> list[Claim]:
        return [c for c in self.claims if c.seed == seed]


def load_claims(path: Path = CLAIMS_FILE) -> Claims:
    """The claims file, validated; a ValueError names the file and the field at fault."""
    try:
        return Claims.model_validate(yaml.safe_load(Path(path).read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']}") from None


def size_of(manifest: dict) -> str:
    """"full" for a seed's full-size run, else "default"."""
    found = SEED_RUN.fullmatch(str(manifest.get("matrix_name") or ""))
    return "full" if found and found[2] else "default"


def seed_of(manifest: dict) -> Optional[str]:
    """The seed a run settles, from its matrix name ("seed-000"), or None."""
    found = SEED_RUN.fullmatch(str(manifest.get("matrix_name") or ""))
    return found[1] if found else None


# --------------------------------------------------------------------------
# Judging


def published_vs_measured(samples: pd.DataFrame, claims: list[Claim],
                          size: Optional[str] = None) -> pd.DataFrame:
    """One row per (claim, matching cell): claim, statement, published,
    measured, verdict, where (the cell's varying coordinates), note."""
    reps = per_repetition(samples) if not samples.empty else samples
    twins = {c for ids in twin_sets(samples) for c in ids[1:]} if not samples.empty else set()
    rows = []
    for claim in claims:
        for judged in _judge_claim(claim, reps, twins, size):
            rows.append({"claim": claim.id, "statement": claim.statement,
                         "published": published_text(claim), **judged})
    return pd.DataFrame(rows, columns=["claim", "statement", "published", "measured",
                                       "verdict", "where", "note", *NUMBERS])


def published_text(claim: Claim) -> str:
    p = claim.published
    if p is None:
        return f"{claim.statistic}: no figure"
    figure = f"{p[0]:g}-{p[1]:g}" if isinstance(p, list) else f"{p:g}"
    if claim.kind == "ratio":   # a ratio has no unit of its own: name what it divides
        return f"{'~' if claim.approx else ''}×{figure} ({claim.statistic}, {claim.unit})"
    return f"{'~' if claim.approx else ''}{figure} {claim.unit} ({claim.statistic})"


def _judge_claim(claim: Claim, reps: pd.DataFrame, twins: set, size=None) -> list[dict]:
    measures = [m for m in claim.measures if size is None or m.size in (None, size)]
    if not measures:
        return [_row("-", NOT_MEASURED, "", claim.not_measured or f"nothing at the {size} size")]
    many = len(measures) > 1
    metrics = {m.metric for m in measures}
    judged = []
    for m in measures:
        rows = _judge(claim, m, reps, twins)
        for row in rows:
            if many:   # name the workload each row was measured under
                named = f"{m.scenario} {m.variant}" + (f" {m.metric}" if len(metrics) > 1 else "")
                row["where"] = ", ".join(filter(None, [named, row["where"]]))
        judged.append(rows)
    # A claim may list one measure per size of its matrix (seed 003's users
    # at the default and the full size): those this run has no cell for go.
    measured = [rows for rows in judged if any(r["verdict"] != NOT_MEASURED for r in rows)]
    return [row for rows in (measured or judged) for row in rows]


def _judge(claim: Claim, m: Measure, reps: pd.DataFrame, twins: set) -> list[dict]:
    mine = reps[(reps["scenario"] == m.scenario) & (reps["variant"] == m.variant)
                & (reps["metric"] == m.metric) & ~reps["cell_id"].isin(twins)] \
        if not reps.empty else reps
    cells = _cells(mine)
    matched = cells[_matches(cells, m.cell)]
    if matched.empty:
        return [_row("-", NOT_MEASURED, "", f"no {m.scenario} {m.variant} cell with "
                     f"{_spec(m.cell)} measured {m.metric} in this run")]
    varying = [c for c in ("python", "django", "asgiref", "workers", "threads", "view", "server")
               if cells[c].nunique() > 1 and c not in m.cell]
    out = []
    for _, cell in matched.iterrows():
        where = ", ".join(f"{c} {cell[c]}" for c in varying)
        x = _values(mine, cell["cell_id"]) * m.scale
        if m.against is None:
            out.append({**_value(claim, x), "where": where})
            continue
        other = cells[_matches(cells, {**_identity(cell), **m.against})]
        if len(other) != 1:
            out.append(_row("-", NOT_MEASURED, where, f"{len(other)} cells match the other "
                            f"side ({_spec({**_identity(cell), **m.against})})"))
            continue
        y = _values(mine, other.iloc[0]["cell_id"]) * m.scale
        out.append({**_compared(claim, m, x, y), "where": where})
    return out


def _value(claim: Claim, x: np.ndarray) -> dict:
    point, (low, high) = float(np.median(x)), median_interval(x)
    band = _band(claim)
    measured = f"{fmt.general(point)} {claim.unit} {_ci(low, high)}"
    verdict, note = claim_overlap(point, low, high, band, len(x))
    if verdict == NOT_REPRODUCED and _middle(band):
        note = f"the lab measures ×{point / _middle(band):.2f} the published figure"
    return _row(measured, verdict, "", note, (point, low, high, *band))


def _compared(claim: Claim, m: Measure, x: np.ndarray, y: np.ndarray) -> dict:
    kind, n = claim.kind, min(len(x), len(y))
    if kind == "difference":
        point = float(np.median(x) - np.median(y))
        low, high = difference_interval(x, y)
        null, measured = 0.0, f"{point:+.3g} {claim.unit} {_ci(low, high, signed=True)}"
    else:
        point = float(np.median(x) / np.median(y)) if np.median(y) else math.nan
        low, high = ratio_interval(x, y)
        null, measured = 1.0, f"×{point:.3g} {_ci(low, high)}"
    sides = f"{fmt.general(float(np.median(x)))} vs {fmt.general(float(np.median(y)))}"
    band = _band(claim) if kind in ("difference", "ratio") else (math.nan, math.nan)
    numbers = (point, low, high, *band)
    if kind == "order":
        verdict, note = claim_order(m.direction, point, low, high)
    elif kind == "equivalent":
        verdict, note = claim_equivalent(claim.margin or MIN_EFFECT, point, low, high)
    else:
        verdict, note = claim_difference(point, low, high, _band(claim), n, null)
    return _row(measured, verdict, "", "; ".join(filter(None, [f"medians {sides}", note])),
                numbers)


def _band(claim: Claim) -> tuple[float, float]:
    p = claim.published
    if isinstance(p, list):
        return float(p[0]), float(p[1])
    if claim.kind == "ratio" and p is not None:
        p = float(p)
    half = claim.tolerance if claim.tolerance is not None else \
        abs(p) * (APPROX if claim.approx else MIN_EFFECT)
    return p - half, p + half


def _middle(band) -> float:
    return (band[0] + band[1]) / 2


def _ci(low, high, signed=False) -> str:
    return fmt.ci((low, high), signed) if not math.isnan(low) else "[no interval]"


def _row(measured, verdict, where, note, numbers=(math.nan,) * len(NUMBERS)) -> dict:
    return {"measured": measured, "verdict": verdict, "where": where, "note": note,
            **dict(zip(NUMBERS, map(float, numbers)))}


def _cells(reps: pd.DataFrame) -> pd.DataFrame:
    return reps[["cell_id", *CELL_COLUMNS]].drop_duplicates("cell_id").reset_index(drop=True)


def _identity(cell) -> dict:
    # The interface follows from the server: an `against` that changes the
    # server must not be held to the first side's interface.
    return {c: cell[c] for c in CELL_COLUMNS if c != "interface"}


def _matches(cells: pd.DataFrame, spec: dict) -> pd.Series:
    keep = pd.Series(True, index=cells.index)
    for column, value in spec.items():
        if column not in cells.columns:
            raise ValueError(f"measure names {column!r}, not a cell column")
        keep &= cells[column].astype(str) == str(value)
    return keep


def _values(reps: pd.DataFrame, cell_id: str) -> np.ndarray:
    return reps.loc[reps["cell_id"] == cell_id, "value"].dropna().to_numpy(float)


def _spec(spec: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in spec.items())


# --------------------------------------------------------------------------
# Words


def section_lines(seed: str, claims: Claims, table: pd.DataFrame) -> list[str]:
    """The report's first section for a seed run."""
    info = claims.seeds[seed]
    lines = [f"## {TITLE}: seed {seed}", "", f"**{info.title}.** {info.setup}", "",
             "Their figure, the lab's figure for the same statistic with its 95 % bootstrap"
             " interval over repetitions, and a verdict. A figure the write-up gives as"
             f" approximate is read as ±{APPROX * 100:g} %, an exact one as"
             f" ±{MIN_EFFECT * 100:g} %; an order claim needs at least a {MIN_EFFECT * 100:g} %"
             " effect. Absolute times come from this machine, not theirs: ratios carry"
             " over, absolute figures only roughly.", "",
             fmt.markdown_table(display_table(table)), ""]
    return lines + [f"- **{seed_verdict(table)}** overall ({_counts(table)}).", ""]


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.drop(columns=NUMBERS)
    if not shown["where"].astype(bool).any():
        shown = shown.drop(columns="where")
    return shown.drop(columns="statement")


def seed_verdict(table: pd.DataFrame) -> str:
    """One word for a seed: every measured claim reproduced, none, or some."""
    judged = table[~table["verdict"].isin([NOT_MEASURED, UNDETERMINED])]
    if judged.empty:
        return UNDETERMINED
    if (judged["verdict"] == REPRODUCED).all():
        return "holds"
    if (judged["verdict"] == NOT_REPRODUCED).all():
        return "does not hold"
    return "holds in part"


def _counts(table: pd.DataFrame) -> str:
    return ", ".join(f"{n} {v}" for v, n in table["verdict"].value_counts().items())


def seeds_summary(runs: dict, results_root: Path) -> tuple[Path, list[str]]:
    """`lab seeds`' summary: results/seeds-<UTC time>.md with every seed's
    section (never over an existing file), and one line per seed."""
    claims = load_claims()
    text, lines = ["# The seeds, published vs measured", ""], []
    for seed, run_dir in runs.items():
        samples, manifest = load_run(run_dir)
        table = published_vs_measured(samples, claims.of(seed), size_of(manifest))
        lines.append(f"seed {seed}: {seed_verdict(table)} ({_counts(table)}); run "
                     f"{manifest.get('run_id')}")
        text += section_lines(seed, claims, table) + [f"Run: `{run_dir}`", ""]
    path = Path(results_root) / f"seeds-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.md"
    with path.open("x", encoding="utf-8") as f:
        f.write("\n".join(text))
    return path, lines


# --------------------------------------------------------------------------
# The figure

FIGURE_CAPTION = (
    "Each measured claim: above, the lab's figure divided by the write-up's (value,"
    " difference and ratio claims; 1 is their figure, the grey band how it is read);"
    " below, the ratio of the two sides of each order or equivalence claim (1 is no"
    " difference). Log scale; bars are 95 % bootstrap intervals over repetitions; green"
    " reproduced, orange in direction only, red not reproduced, grey undetermined.")
COLOURS = {REPRODUCED: "#2a7d2a", DIRECTION_ONLY: "#d08a00", NOT_REPRODUCED: "#c0392b",
           UNDETERMINED: "#888888"}


def figure(table: pd.DataFrame):
    """Two panels: the lab's figure divided by the published one (value,
    difference and ratio claims: 1 is their figure, the grey band their
    figure's reading), and the measured ratio of the two sides of each order
    or equivalence claim (1 is no difference). Log scale; dots coloured by
    verdict; bars the 95 % intervals. None when no claim was measured."""
    from matplotlib.figure import Figure

    judged = table[table["verdict"] != NOT_MEASURED]
    mid = (judged["band_low"] + judged["band_high"]) / 2
    figures = judged[mid.notna() & (mid > 0)].assign(mid=mid)
    sides = judged[judged["band_low"].isna() & (judged["value"] > 0)]
    panels = [(f, t) for f, t in ((figures, "the lab's figure ÷ theirs (1: their figure)"),
                                  (sides, "this side ÷ the other (1: no difference)"))
              if not f.empty]
    if not panels:
        return None
    heights = [max(1.2, 0.28 * len(f) + 0.8) for f, _ in panels]
    fig = Figure(figsize=(10, sum(heights) + 0.4))
    axes = fig.subplots(len(panels), 1, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (rows, title) in zip(axes, panels):
        scale = rows["mid"] if "mid" in rows else 1.0
        y = np.arange(len(rows))[::-1]
        x, low, high = (rows[c] / scale for c in ("value", "low", "high"))
        if "mid" in rows:
            for yi, lo, hi in zip(y, rows["band_low"] / scale, rows["band_high"] / scale):
                ax.fill_betweenx([yi - 0.35, yi + 0.35], max(lo, 1e-3), hi, color="#ddd")
        positive = (x > 0).to_numpy()
        colours = [COLOURS.get(v, "#888") for v in rows["verdict"]]
        err = np.array([(x - low).clip(lower=0).fillna(0), (high - x).clip(lower=0).fillna(0)])
        ax.errorbar(x[positive], y[positive], xerr=err[:, positive], fmt="none", ecolor="#555",
                    capsize=2, lw=1)
        ax.scatter(x[positive], y[positive], c=np.array(colours)[positive], zorder=3, s=22)
        ax.axvline(1, color="#333", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels([f"{c} ({w})" if w else c for c, w in zip(rows["claim"], rows["where"])],
                           fontsize=7)
        ax.set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    return fig
