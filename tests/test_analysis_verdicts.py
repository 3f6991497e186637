"""The verdict section of report.md, rendered from the frozen run folder.

Frozen per-repetition p50 values (tests/test_analysis.py): gunicorn-sync
1.2/0.9/1.0, granian-wsgi 0.8/0.7/0.9, uvicorn 1.5/1.4/1.6, daphne
2.0/2.2/1.9. uvicorn and daphne are clearly above the baseline (slower);
granian-wsgi's repetitions touch the baseline's (no significant difference).
"""

from __future__ import annotations

import pandas as pd

from analysis.render.formatting import markdown_table
from analysis.report.markdown import build_report, console_tables
from analysis.render.verdicts import CONTROL_TITLE, VERDICT_TITLE, WARNINGS_TITLE
from tests.support.runs import FROZEN, edit_manifest, edit_samples

UVICORN = (
    "- **slower**: Under these conditions ASGI (uvicorn) adds +0.500 ms [+0.200, +0.700] per"
    " request to the plaintext view compared with WSGI (gunicorn-sync) (p50, 3 vs 3"
    " repetitions); throughput ×0.700 [0.591, 0.889]."
)
GRANIAN = (
    "- **no significant difference**: Under these conditions WSGI (granian-wsgi) changes each"
    " request to the plaintext view by -0.200 ms [-0.500, +0.000] compared with WSGI"
    " (gunicorn-sync) (p50, 3 vs 3 repetitions); throughput ×1.250 [1.091, 1.444]."
    " Not significant: the interval includes 0."
)


def section(text: str, start: str, end: str) -> str:
    return text.split(start)[1].split(end)[0]


def test_verdict_lines_come_first():
    text = build_report(FROZEN)
    assert text.index(f"## {VERDICT_TITLE}") < text.index("## How this was measured")
    verdict = section(text, f"## {VERDICT_TITLE}", "## How this was measured")
    assert UVICORN in verdict
    assert GRANIAN in verdict
    assert "- **slower**: Under these conditions ASGI (daphne) adds +1.000 ms" in verdict
    assert "at least 5 %" in verdict  # the rule is stated
    assert "No A/A control in this run" in verdict


def test_stability_warnings_are_listed():
    warnings = section(build_report(FROZEN), f"### {WARNINGS_TITLE}", "## How this was measured")
    lines = [line for line in warnings.splitlines() if line.startswith("- ")]
    assert lines == [
        "- `c0a5daphne02` daphne (asgi, 2w): failed: server did not answer within 20 s",
        "- `c0a1gunsync1` gunicorn-sync (wsgi, 1w): p50 latency varies 14.8 % between"
        " repetitions (std/mean; warn at 10 %)",
        "- `c0a1gunsync1` gunicorn-sync (wsgi, 1w): throughput (req/s) varies 10.0 % between"
        " repetitions (std/mean; warn at 10 %)",
        "- `c0a2granwsgi` granian-wsgi (wsgi, 1w): p50 latency varies 12.5 % between"
        " repetitions (std/mean; warn at 10 %)",
        "- `c0a3uvicorn1` uvicorn (asgi, 1w): throughput (req/s) varies 10.7 % between"
        " repetitions (std/mean; warn at 10 %)",
    ]


def test_console_shows_what_the_report_shows():
    text = build_report(FROZEN)
    tables = dict(console_tables(FROZEN))
    for title, frame in tables.items():
        if title == VERDICT_TITLE:
            for row in frame.itertuples():
                assert f"- **{row.verdict}**: {row.finding}" in text
        elif title == WARNINGS_TITLE:
            for row in frame.itertuples():
                assert f"`{row.cell_id}` {row.server} ({row.interface}, {row.workers}w):" \
                       f" {row.warning}" in text
        elif not frame.empty:
            assert markdown_table(frame) in text, title
    assert list(tables[VERDICT_TITLE]["verdict"]) == [
        "no significant difference", "slower", "slower",
    ]


def test_few_repetitions_say_no_interval(run_copy):
    edit_samples(run_copy, lambda f: f[~((f["server"] == "uvicorn") & (f["repetition"] == 2))])
    text = build_report(run_copy)
    assert (
        "- **no significant difference**: Under these conditions ASGI (uvicorn) changes each"
        " request to the plaintext view by +0.450 ms (no interval) compared with WSGI"
        " (gunicorn-sync) (p50, 2 vs 3 repetitions); throughput ×0.675 (no interval)."
        " Not significant: no interval: fewer than 3 repetitions."
    ) in text
    assert "`c0a3uvicorn1` uvicorn (asgi, 1w): only 2 repetition(s): no confidence interval" in text
    medians = dict(console_tables(run_copy))["single-client: median per cell"].set_index("server")
    assert medians.loc["uvicorn", "p50 95% CI"] == "n/a"
    assert medians.loc["daphne", "p50 95% CI"] == "[1.900, 2.200]"


def test_aa_control_is_reported(run_copy):
    def add_twin(frame: pd.DataFrame) -> pd.DataFrame:
        twin = frame[frame["server"] == "gunicorn-sync"].assign(cell_id="c0a6gunsync2")
        return pd.concat([frame, twin], ignore_index=True)

    edit_samples(run_copy, add_twin)
    text = build_report(run_copy)
    tables = dict(console_tables(run_copy))
    assert CONTROL_TITLE in tables
    control = tables[CONTROL_TITLE]
    assert list(control["cell_id"]) == ["c0a1gunsync1"]
    assert list(control["twin_cell_id"]) == ["c0a6gunsync2"]
    assert list(control["p50 diff ms"]) == ["+0.000"]
    assert "and by more than the A/A noise floor" in text
    assert markdown_table(control) in text
    # identical twins: noise floor 0, so the verdicts stand, and the twin
    # does not make the baseline ambiguous
    assert UVICORN in text
    assert "Not compared" not in text


def test_sentence_names_coordinates_that_vary(run_copy):
    def second_python(frame: pd.DataFrame) -> pd.DataFrame:
        other = frame.assign(python="3.13", cell_id=frame["cell_id"] + "-313")
        return pd.concat([frame, other], ignore_index=True)

    edit_samples(run_copy, second_python)
    text = build_report(run_copy)
    assert "ASGI (uvicorn) adds +0.500 ms [+0.200, +0.700] per request to the plaintext view" \
           " (Python 3.12) compared with WSGI (gunicorn-sync)" in text
    assert "to the plaintext view (Python 3.13) compared with" in text


def test_run_without_comparisons_says_so(run_copy):
    edit_samples(run_copy, lambda f: f[f["interface"] == "asgi"])
    edit_manifest(run_copy, lambda m: None)
    verdict = section(build_report(run_copy), f"## {VERDICT_TITLE}", "### ")
    assert "No cell could be compared with a WSGI baseline" in verdict
