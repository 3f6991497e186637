"""The figures of report.html, drawn with matplotlib's Agg canvas.

One function per figure. Each takes frames the report has already computed
(``_Facts`` attributes of analysis/report/markdown.py: ``medians``, ``ci``,
``compared``; and per-repetition values from :func:`repetitions`) and
returns a :class:`matplotlib.figure.Figure`, or None when the run holds no
data for it, so a report never shows an empty plot. Figures are made with
``Figure()`` on a ``FigureCanvasAgg``, never through pyplot: no global
state, no GUI backend, and a figure is freed once the caller drops it.

Every axis names its quantity and unit; titles name the latency model of the
scenario when the manifest records it (``protocol.latency_models``).
"""

from __future__ import annotations

import math
import re
import textwrap

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis.runs.load import DEFAULT_VARIANT
from analysis.runs.schema import read_schema

from analysis.stats.summary import per_repetition, variant_rank

LATENCY = {"latency_p50": ("p50", "o", "tab:blue"), "latency_p90": ("p90", "s", "tab:orange"),
           "latency_p99": ("p99", "^", "tab:red")}
VERSIONS = {"python": "Python", "django": "Django", "asgiref": "asgiref"}
WIDTH = 11.5  # inches; at 100 dpi a figure is 1150 px wide
# Above this many cells a row or line per cell is unreadable (and slow to
# draw: 9 s for 1,100 rows): the figures pool each server's cells instead.
MAX_CELLS = 40


def repetitions(samples: pd.DataFrame, wanted=lambda metric: False) -> pd.DataFrame:
    """One value per repetition of the latency percentiles, and of the
    metrics for which `wanted(metric)` is true (what scenario figures use)."""
    metrics = samples["metric"]
    keep = metrics.isin(list(LATENCY)) | metrics.map(
        {m: bool(wanted(m)) for m in metrics.unique()})
    return per_repetition(samples[keep])


def pooled_by_server(medians: pd.DataFrame, reps: pd.DataFrame):
    """(medians, reps, labels) with each server standing for all its cells:
    its "cell" per scenario and variant holds the median of its cells'
    medians, and every repetition of every one of its cells."""
    key = "server:" + medians["server"].astype(str)
    counts = medians.assign(_k=key).groupby("_k")["cell_id"].nunique()
    pooled = (medians.assign(cell_id=key)
              .groupby(["cell_id", "server", "interface", "scenario", "variant"], as_index=False)
              .median(numeric_only=True))
    reps = reps.assign(cell_id="server:" + reps["server"].astype(str))
    labels = {k: f"{k.removeprefix('server:')} (all {n} cells)" for k, n in counts.items()}
    return pooled, reps, labels


def cell_labels(medians: pd.DataFrame, varying: set[str]) -> dict[str, str]:
    """{cell_id: "uvicorn (asgi, 1w) Python 3.12"}, in the order the figures
    list cells: the coordinates that vary in the run; the cell_id is added
    where two cells would read the same."""
    labels = {}
    records = medians.drop_duplicates("cell_id").to_dict("records")
    # Releases in numeric order (3.9 before 3.10); otherwise the report's order.
    records.sort(key=lambda r: tuple(_version_key(str(r[c])) for c in VERSIONS))
    for r in records:
        text = f"{r['server']} ({r['interface']}, {r['workers']}w"
        text += f" {r['threads']}t)" if "threads" in varying else ")"
        text += "".join(f" {name} {r[c]}" for c, name in VERSIONS.items() if c in varying)
        labels[r["cell_id"]] = text
    seen = pd.Series(list(labels.values())).value_counts()
    return {c: f"{t} [{c}]" if seen[t] > 1 else t for c, t in labels.items()}


def latency_model(manifest: dict, scenario: str, variants=()) -> str | None:
    """The manifest's latency model of ``scenario`` (per variant where one
    has its own, like "single-client close"), shortened for a title."""
    schema = read_schema(manifest)
    models = schema.latency_models
    if not models:
        return _short(schema.latency_model) if schema.latency_model else None
    found = {v: models.get(f"{scenario} {v}") or models.get(scenario) for v in variants or [""]}
    distinct = {_short(m) for m in found.values() if m}
    if len(distinct) <= 1:
        return next(iter(distinct), None)
    return "; ".join(f"{v}: {_short(m)}" for v, m in found.items() if m)


def latency_distribution(reps: pd.DataFrame, labels: dict, manifest: dict,
                         order=sorted) -> Figure | None:
    """p50, p90 and p99 of every repetition, one row per cell and variant,
    one panel per scenario (in `order(scenarios)`), log scale."""
    data = reps[reps["metric"].isin(list(LATENCY))]
    if data.empty:
        return None
    scenarios = order(data["scenario"].unique())
    rows = {s: _rows(data[data["scenario"] == s], labels) for s in scenarios}
    heights = [max(len(r), 2) for r in rows.values()]
    row_in = max(0.12, min(0.3, 30 / sum(heights)))
    fig = new_figure(sum(h * row_in + 1.2 for h in heights))
    axes = fig.subplots(len(scenarios), 1, squeeze=False,
                        gridspec_kw={"height_ratios": [h * row_in + 1.2 for h in heights]})[:, 0]
    for ax, scenario in zip(axes, scenarios):
        order = rows[scenario]
        part = data[data["scenario"] == scenario]
        y = [order[(c, v)] for c, v in zip(part["cell_id"], part["variant"])]
        part = part.assign(_y=y)
        for metric, (name, marker, color) in LATENCY.items():
            one = part[part["metric"] == metric]
            ax.scatter(one["value"], one["_y"], marker=marker, color=color, s=18, alpha=0.7,
                       label=name)
        ax.set_xscale("log")
        plain_log(ax.xaxis)
        ax.set_yticks(range(len(order)), [row_label(k, labels) for k in order],
                      fontsize=max(5, min(9, 260 * row_in / 9)))
        ax.set_ylim(len(order) - 0.5, -0.5)
        ax.grid(True, axis="x", which="both", alpha=0.3)
        ax.set_xlabel("latency per request (ms, log scale)")
        ax.set_ylabel("cell [variant]")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="a repetition")
        model = latency_model(manifest, scenario, sorted(set(part["variant"])))
        ax.set_title(figure_title(f"Latency percentiles per repetition: {scenario}", model), fontsize=10)
    return fig


def ratio_by_version(compared: pd.DataFrame, manifest: dict) -> Figure | None:
    """The ASGI/WSGI p50 ratio of each comparison, by the release of each
    of Python, Django and asgiref that varies in it, with its interval."""
    asgi = compared[compared["interface"] == "asgi"] if not compared.empty else compared
    axes_of = [c for c in VERSIONS if not asgi.empty and asgi[c].nunique() > 1]
    if not axes_of:
        return None
    asgi = asgi.assign(series=[f"{s} [{v}]" if v != DEFAULT_VARIANT else s
                               for s, v in zip(asgi["server"], asgi["variant"])])
    fig = new_figure(4.4, width=max(WIDTH, 3.6 * len(axes_of)))
    axes = fig.subplots(1, len(axes_of), sharey=True, squeeze=False)[0]
    series = list(dict.fromkeys(asgi["series"]))
    for ax, column in zip(axes, axes_of):
        versions = sorted(set(map(str, asgi[column])), key=_version_key)
        where = {v: i for i, v in enumerate(versions)}
        for k, name in enumerate(series):
            part = asgi[asgi["series"] == name]
            offset = (k - (len(series) - 1) / 2) * 0.8 / len(series)
            # A release's comparisons spread evenly side by side around its place.
            by = part[column].astype(str)
            nth, count = by.groupby(by).cumcount(), by.map(by.value_counts())
            spread = 0.3 / len(series) * ((nth + 0.5) / count - 0.5)
            x = [where[v] + offset for v in by] + spread.to_numpy()
            ax.errorbar(x, part["p50_ratio"], yerr=error_bars(part["p50_ratio"], part["p50_ratio_low"],
                        part["p50_ratio_high"]), fmt="o", ms=4, alpha=0.6, capsize=2,
                        color=f"C{k}", label=f"{name} (one comparison)")
            med = part.groupby(part[column].astype(str))["p50_ratio"].median()
            ax.scatter([where[v] + offset for v in med.index], med, marker="_", s=400,
                       color="black", zorder=3, label="median per release" if k == 0 else None)
        ax.axhline(1, color="grey", lw=1, ls="--")
        ax.set_xticks(range(len(versions)), versions)
        ax.set_xlabel(f"{VERSIONS[column]} release (version)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("p50 latency ratio ASGI / WSGI (×; 1 = same)")
    axes[0].set_ylim(bottom=0)
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    models = {latency_model(manifest, s, [v]) for s, v in zip(asgi["scenario"], asgi["variant"])}
    fig.suptitle(figure_title("ASGI/WSGI p50 ratio by version (95 % bootstrap interval)",
                        "; ".join(sorted(m for m in models if m)) or None), fontsize=10)
    return fig


# --------------------------------------------------------------------------
# Helpers


def new_figure(height: float, width: float = WIDTH) -> Figure:
    """A blank matplotlib Figure of ``height`` inches (the report's width by
    default), laid out by matplotlib and drawable without pyplot."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _rows(part: pd.DataFrame, labels: dict) -> dict[tuple, int]:
    """{(cell_id, variant): row}: variants in their natural order, cells in
    the report's order (``labels`` follows ``medians``)."""
    rank = variant_rank(part["variant"])
    cells = {c: i for i, c in enumerate(labels)}
    keys = sorted(set(zip(part["cell_id"], part["variant"])),
                  key=lambda k: (rank[str(k[1])], cells.get(k[0], len(cells))))
    return {k: i for i, k in enumerate(keys)}


def row_label(key: tuple, labels: dict) -> str:
    """A figure row's label for ``(cell_id, variant)``: the cell's label
    (``labels``, from cell_labels) and the variant unless it is the default."""
    cell_id, variant = key
    name = labels.get(cell_id, cell_id)
    return name if variant == DEFAULT_VARIANT else f"{name} [{variant}]"


def _short(model: str, limit: int = 240) -> str:
    """A latency model up to its first ';' outside parentheses, at most
    ``limit`` characters ("How this was measured" gives it in full)."""
    depth = 0
    for i, ch in enumerate(model):
        depth += (ch == "(") - (ch == ")")
        if ch == ";" and depth == 0:
            model = model[:i]
            break
    model = model.strip()
    return model if len(model) <= limit else model[:limit - 1].rstrip() + "…"


def figure_title(what: str, model: str | None) -> str:
    """A figure's title: ``what`` and, when known, the latency model
    (:func:`latency_model`) on a second line, wrapped to the figure's width."""
    text = f"{what}\nlatency model: {model}" if model else what
    return "\n".join(textwrap.fill(line, 105, break_on_hyphens=False)
                     for line in text.split("\n"))


def plain_log(axis) -> None:
    """Log-scale ticks as plain numbers (0.5, 2, 30, not 2×10^0); on a short
    axis some minor ticks too (2 and 5 over 1-2.5 decades, more below)."""
    def minor(value: float, _) -> str:
        low, high = sorted(axis.get_view_interval())
        decades = math.log10(high / low) if low > 0 else math.inf
        mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
        keep = mantissa in (2, 5) if decades > 1 else mantissa in (2, 3, 4, 5, 6, 8)
        return f"{value:g}" if keep and decades <= 2.5 else ""
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def error_bars(values, low, high) -> np.ndarray:
    """Error-bar lengths below and above; 0 where there is no interval."""
    values, low, high = (np.asarray(list(x), dtype=float) for x in (values, low, high))
    below = np.nan_to_num(values - low, nan=0.0).clip(min=0)
    above = np.nan_to_num(high - values, nan=0.0).clip(min=0)
    return np.vstack([below, above])


def _version_key(version: str) -> tuple:
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (math.inf,)
