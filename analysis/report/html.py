"""Render one run folder as a single, self-contained report.html.

The same facts as report.md (``Facts`` of analysis/scenarios/facts.py, computed
once), in this order: title and status, the anomaly flags, the verdicts in
plain words and the overhead attribution (the markdown report.md has there:
anomalies.py's, verdicts.py's ``verdict_section`` and attribution.py's
lines, rendered by the small converter below), the figures of
analysis/render/plots.py as PNG images embedded in base64 ``data:`` URLs, how the
run was measured, every other table of ``Facts.tables`` (each scenario's
with its intro and captions, then any other, then the failed cells with
their reasons) and the checks.

The file stands alone: no script, no stylesheet or image fetched from
anywhere. Every string from the run (names, reasons, table cells) is HTML
escaped.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from analysis.questions import seeds
from analysis.render import plots
from analysis.render.formatting import TEXT_COLUMNS
from analysis.questions.attribution import TITLE as ATTRIBUTION_TITLE
from analysis.runs.load import load_run
from analysis.scenarios import FigureSpec, figure_specs, scenario_order, wants_repetitions
from analysis.report.markdown import (
    ANOMALIES_TITLE,
    FAILED_INTRO,
    FAILED_TITLE,
    REPORT_NAME,
    Facts,
    _how_measured,
    head_lines,
    render_markdown,
    top_lines,
    write_file,
)
from analysis.render.verdicts import CONTROL_TITLE, VERDICT_TITLE, WARNINGS_TITLE

HTML_NAME = "report.html"
DPI = 100

# The run's figures: the generic ones, then each scenario's.
FIGURES = [
    FigureSpec(
     "fig-latency", "Latency percentiles of every repetition (p50, p90, p99), one row per cell"
     " and variant, one panel per scenario that records them; log scale.",
     lambda f, reps, labels: plots.latency_distribution(reps, labels, f.manifest, scenario_order)),
    FigureSpec(
     "fig-ratio", "p50 latency of each ASGI cell divided by its WSGI baseline's (same Python,"
     " Django, asgiref, view, scenario and variant), by the release of each package that"
     " varies in the run; bars are the 95 % bootstrap interval of the ratio, the black dash"
     " the median over the comparisons of a release.",
     lambda f, reps, labels: plots.ratio_by_version(f.compared, f.manifest)),
    *figure_specs(),   # each scenario's own (analysis/scenarios/)
]
# Shown at the top as sentences (verdict_section), not again as tables.
_AT_TOP = {VERDICT_TITLE, WARNINGS_TITLE, CONTROL_TITLE, ANOMALIES_TITLE, ATTRIBUTION_TITLE,
           seeds.TITLE}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px;
       margin: 1.5em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
figure { margin: 1.5em 0; } figcaption { font-size: .9em; color: #444; margin-top: .4em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #ddd; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0 1em; }
th, td { border: 1px solid #ddd; padding: .2em .5em; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; white-space: nowrap; }
blockquote { border-left: 4px solid #c33; margin: 1em 0; padding: .2em 1em; background: #fee; }
"""


def build_html(run_dir: str | Path) -> str:
    """Return report.html of the run folder ``run_dir`` as a string."""
    samples, manifest = load_run(run_dir)
    return render_html(Facts(samples, manifest, Path(run_dir).resolve()), samples)


def render_html(facts: Facts, samples: pd.DataFrame) -> str:
    """report.html's text from the run's computed facts (and its samples, for
    the per-repetition figures)."""
    manifest = facts.manifest
    run_id = str(manifest.get("run_id", "?"))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Benchmark report: {_esc(run_id)}</title>",
        f"<style>{CSS}</style></head><body>",
        markdown(head_lines(facts)),
        _published(facts),
        f'<section id="verdicts">{markdown(top_lines(facts, published=False))}</section>',
        f'<section id="figures"><h2>Figures</h2>{_figures(facts, samples)}</section>',
        '<section id="measured"><h2>How this was measured</h2>'
        f"<p>{inline(_how_measured(manifest))}</p></section>",
        f'<section id="tables">{_tables(facts)}</section>',
        '<section id="checks"><h2>Checks</h2><ul>'
        + "".join(f"<li>{inline(line)}</li>" for line in facts.checks()) + "</ul></section>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html_report(run_dir: str | Path) -> Path:
    """Write ``<run_dir>/report.html`` and return its path (atomic, 0644).
    results.parquet and manifest.json are only read."""
    folder = Path(run_dir).resolve()
    return write_file(folder, HTML_NAME, build_html(folder))


def write_reports(run_dir: str | Path) -> tuple[Path, Path, list[tuple[str, pd.DataFrame]]]:
    """Write report.md and report.html of ``run_dir`` from one computation of
    its statistics; return both paths and the report's tables (what
    ``report.console_tables`` gives), for the CLI to print (`lab report`)."""
    folder = Path(run_dir).resolve()
    samples, manifest = load_run(folder)
    facts = Facts(samples, manifest, folder)
    return (write_file(folder, REPORT_NAME, render_markdown(facts)),
            write_file(folder, HTML_NAME, render_html(facts, samples)),
            list(facts.tables.items()))


# --------------------------------------------------------------------------
# Parts


def _figures(facts: Facts, samples: pd.DataFrame) -> str:
    reps = plots.repetitions(samples, wants_repetitions)
    labels = plots.cell_labels(facts.medians, facts.varying)
    cells = facts.medians["cell_id"].nunique()
    note = ""
    if cells > plots.MAX_CELLS:
        # The ratio figure plots comparisons, not cells: it keeps every one.
        medians, reps, labels = plots.pooled_by_server(facts.medians, reps)
        facts = SimpleNamespace(medians=medians, ci={}, manifest=facts.manifest,
                                compared=facts.compared)
        note = (f" This run has {cells} cells, too many for a row or line each: except for the"
                " ratios, each server stands for all its cells (the median of their medians,"
                " every repetition of every cell; no intervals). The tables below give every"
                " cell.")
    out = []
    for spec in FIGURES:
        fig_id, caption = spec.id, spec.caption
        fig = spec.build(facts, reps, labels)
        if fig is None:
            continue  # no data for it in this run: no empty plot
        caption += note
        out.append(f'<figure id="{fig_id}"><img src="data:image/png;base64,{png(fig)}"'
                   f' alt="{_esc(caption)}"><figcaption>{_esc(caption)}</figcaption></figure>')
    return "\n".join(out) or "<p>No figure: this run has none of the data the figures show.</p>"


def _published(facts: Facts) -> str:
    """A seed's run: its published-vs-measured table, then the same as a figure."""
    if facts.published is None:
        return ""
    fig = seeds.figure(facts.published)
    image = "" if fig is None else (
        f'<figure id="fig-published"><img src="data:image/png;base64,{png(fig)}"'
        f' alt="{_esc(seeds.FIGURE_CAPTION)}"><figcaption>{_esc(seeds.FIGURE_CAPTION)}'
        "</figcaption></figure>")
    return f'<section id="published">{markdown(facts.published_lines)}{image}</section>'


def png(fig) -> str:
    """The figure as base64 PNG; the figure is cleared afterwards (it is not
    registered with pyplot, so nothing else holds it)."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    finally:
        fig.clear()
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _tables(facts: Facts) -> str:
    """The tables of ``facts.tables`` not shown at the top, in their order:
    a scenario's under its heading and intro, with their captions."""
    placed = {title: (s, caption) for s in facts.sections for title, caption, _ in s.tables}
    out, current = [], None
    for title, table in facts.tables.items():
        if title in _AT_TOP:
            continue
        if title == FAILED_TITLE:
            out.append(f'<h2 id="failed">{_esc(FAILED_TITLE)}</h2>')
            out.append("<p>none</p>" if table.empty else
                       f"<p>{inline(FAILED_INTRO)}</p>" + table_html(table))
            continue
        section, caption = placed.get(title, (None, ""))
        if section is not None and section is not current:
            out.append(f"<h2>Scenario: {_esc(section.scenario)}</h2><p>{inline(section.intro)}</p>")
        current = section
        out.append(f"<h3>{_esc(title)}</h3>" if section else f"<h2>{_esc(title)}</h2>")
        out.append((f"<p>{inline(caption)}</p>" if caption else "") + table_html(table))
    return "\n".join(out)


def table_html(frame: pd.DataFrame) -> str:
    """A display frame (strings) as an escaped HTML table; numbers (any
    column not in formatting.TEXT_COLUMNS) right-aligned, as report.md."""
    if frame.empty:
        return "<p>(no rows)</p>"
    num = [c not in TEXT_COLUMNS for c in frame.columns]
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_esc(v)}</td>' if n else f"<td>{_esc(v)}</td>"
                         for v, n in zip(row, num)) + "</tr>"
        for row in frame.itertuples(index=False))
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


# --------------------------------------------------------------------------
# The markdown the report's text is written in: headings, paragraphs,
# "- " lists, "> " quotes, pipe tables, **bold** and `code`.


def markdown(lines: list[str]) -> str:
    """HTML of markdown ``lines`` (an item may hold several, as a table does)."""
    out: list[str] = []
    block: list[str] = []
    kind = None

    def flush() -> None:
        nonlocal kind
        if kind == "p":
            out.append(f"<p>{inline(' '.join(block))}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{inline(b)}</li>" for b in block) + "</ul>")
        elif kind == "quote":
            out.append(f"<blockquote><p>{inline(' '.join(block))}</p></blockquote>")
        elif kind == "table":
            out.append(_markdown_table(block))
        block.clear()
        kind = None

    for line in (part for item in lines for part in str(item).split("\n")):
        heading = re.match(r"(#{1,4}) (.*)", line)
        this = ("ul" if line.startswith("- ") else "quote" if line.startswith("> ")
                else "table" if line.startswith("|") else "p" if line.strip() else None)
        if heading or this != kind:
            flush()
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif this:
            kind = this
            block.append(line[2:] if this in ("ul", "quote") else line)
    flush()
    return "\n".join(out)


def inline(text: str) -> str:
    """Escape ``text``, then `code` spans and **bold** outside them."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: keep it as text
        parts[-2:] = [parts[-2] + "`" + parts[-1]]
    return "".join(f"<code>{_esc(p)}</code>" if i % 2 else
                   re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _esc(p))
                   for i, p in enumerate(parts))


def _markdown_table(lines: list[str]) -> str:
    rows = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            for line in lines]
    rows = [r for r in rows if not all(re.fullmatch(r":?-+:?", c) for c in r)]
    if not rows:
        return ""
    return table_html(pd.DataFrame(rows[1:], columns=rows[0], dtype=object))


def _esc(value) -> str:
    return html.escape(str(value), quote=True)
