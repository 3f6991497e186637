"""report.html (analysis/report/html.py, figures of analysis/render/plots.py).

Rendered for the small frozen runs of tests/data/runs/ (each copied to
tmp_path first: the frozen folders are never written), plus a copy of the
hand-made frozen run given a second Django release, the only run here where
a version varies (for the ASGI/WSGI ratio by version).

Then opened in headless Chromium: once with a probe script appended (a copy
of the report; the report itself has no script) whose ``--dump-dom`` output
records, for every image, whether it loaded, its natural size, its share of
non-white pixels once drawn on a canvas (so: decoded, and not blank) and its
box on the page; once as it is, for a
screenshot in which each image's box must hold a drawing. Chromium missing
is a failure, not a skip: ``make setup`` installs it (APT_PACKAGES).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from contextlib import suppress
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageStat

from analysis.render import plots
from analysis.report.html import FIGURES, HTML_NAME, build_html, write_html_report
from analysis.runs.load import load_run
from analysis.scenarios.facts import Facts
from analysis.scenarios import wants_repetitions
from analysis.render.verdicts import VERDICT_TITLE
from tests.support.runs import FROZEN, edit_manifest, edit_samples

DATA = Path(__file__).parent / "data" / "runs"
SCENARIOS = DATA / "20261122T193656Z-scenarios-1221"
IOMIX = DATA / "20261122T193908Z-io-mix-small-0354"
RAMP = DATA / "20261122T194413Z-user-ramp-small-d9f0"
ALL_FIGURES = {"fig-latency", "fig-concurrency", "fig-ratio", "fig-memory", "fig-user-ramp"}
# The figures each run has the data for; every other one must be absent.
EXPECTED = {
    "frozen": {"fig-latency"},
    "scenarios": {"fig-latency", "fig-concurrency", "fig-memory"},
    "io-mix": set(),
    "user-ramp": {"fig-user-ramp"},
    "two-djangos": {"fig-latency", "fig-ratio"},
}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-extensions", "--no-first-run", "--hide-scrollbars",
                  "--force-device-scale-factor=1"]
TIMEOUT_S = 60
WIDTH = 1280
# Appended to a copy of the report; its result lands in <body data-probe>.
PROBE = """<script>
window.addEventListener('load', () => {
  const out = [...document.images].map(img => {
    const r = img.getBoundingClientRect();
    // Drawn on a canvas and read back: only a decoded image gives pixels
    // (drawing a broken one throws).
    let inked = 0, error = null;
    try {
      const c = document.createElement('canvas');
      c.width = img.naturalWidth || 1; c.height = img.naturalHeight || 1;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4)
        if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) inked++;
      inked /= d.length / 4;
    } catch (e) { error = String(e); }
    const fig = img.closest('figure');
    return {figure: fig ? fig.id : null, complete: img.complete, width: img.naturalWidth,
            height: img.naturalHeight, inked, error, left: r.left + scrollX,
            top: r.top + scrollY, box_width: r.width, box_height: r.height};
  });
  document.body.setAttribute('data-probe', JSON.stringify(out));
});
</script>"""


@pytest.fixture
def run(tmp_path: Path):
    """A copy of a test run folder, by name (see EXPECTED)."""
    def make(name: str) -> Path:
        if name == "two-djangos":
            return _two_djangos(tmp_path)
        source = {"frozen": FROZEN, "scenarios": SCENARIOS, "io-mix": IOMIX, "user-ramp": RAMP}
        target = tmp_path / name
        shutil.copytree(source[name], target)
        return target
    return make


def _two_djangos(tmp_path: Path) -> Path:
    """The frozen run with each measured cell measured again on Django
    5.2.19 (ASGI latencies x1.5 there), so the version varies."""
    target = tmp_path / "two-djangos"
    shutil.copytree(FROZEN, target)

    def again(frame: pd.DataFrame) -> pd.DataFrame:
        other = frame.assign(cell_id=frame["cell_id"] + "dj", django="5.2.19")
        slower = (other["interface"] == "asgi") & other["metric"].str.startswith("latency")
        other.loc[slower, "value"] *= 1.5
        return pd.concat([frame, other], ignore_index=True)

    def cells(manifest: dict) -> None:
        manifest["cells"] += [{**c, "cell_id": c["cell_id"] + "dj", "django": "5.2.19"}
                              for c in manifest["cells"] if c["status"] == "ok"]

    edit_samples(target, again)
    edit_manifest(target, cells)
    return target


def figure_ids(text: str) -> list[str]:
    return re.findall(r'<figure id="([^"]+)"', text)


def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


# --------------------------------------------------------------------------
# The file


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_figure_is_there_exactly_when_the_run_has_its_data(run, name):
    text = write_html_report(run(name)).read_text(encoding="utf-8")
    ids = figure_ids(text)
    assert set(ids) == EXPECTED[name] and len(ids) == len(set(ids)), ids
    assert ALL_FIGURES >= set(ids)
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(ids) == text.count("<img") == text.count("<figcaption>")
    for data in images:  # each a real, non-blank PNG
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and image.width >= 600 and image.height >= 200
        assert max(ImageStat.Stat(image.convert("L")).stddev) > 10
    if not ids:
        assert "No figure: this run has none of the data" in text
    # Stands alone: nothing fetched, no script.
    assert not re.search(r'(?:src|href)="(?!data:)', text)
    assert "<script" not in text and "<link" not in text and "url(" not in text
    for folder in (FROZEN, SCENARIOS, IOMIX, RAMP):  # the frozen folders stay as they were
        assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "results.parquet"]


def test_verdicts_come_before_the_first_figure(run):
    folder = run("scenarios")
    text = build_html(folder)
    samples, manifest = load_run(folder)
    first = Facts(samples, manifest).tables[VERDICT_TITLE]["finding"].iloc[0]
    assert html.escape(first) in text
    assert (text.index("<h2>Verdict</h2>") < text.index(html.escape(first))
            < text.index("<figure") < text.index("<h2>Scenario: single-client</h2>"))
    assert "<strong>no significant difference</strong>:" in text  # the verdict list, rendered


def test_the_aa_control_table_of_the_verdicts_is_an_html_table(run):
    folder = run("frozen")
    twin = lambda f: pd.concat([f, f[f["cell_id"] == "c0a1gunsync1"].assign(  # noqa: E731
        cell_id="c0a1gunsync2")], ignore_index=True)
    edit_samples(folder, twin)
    text = build_html(folder)
    verdicts = between(text, '<section id="verdicts">', "</section>")
    assert "A/A control (noise floor)" in verdicts
    assert "<th>twin_cell_id</th>" in verdicts and "<td>c0a1gunsync2</td>" in verdicts
    assert "|" not in verdicts  # no markdown table left as text


def test_failed_cell_is_shown_with_its_reason(run):
    text = build_html(run("frozen"))
    failed = between(text, '<h2 id="failed">', "<h2")
    assert "c0a5daphne02" in failed and "server did not answer within 20 s" in failed


def test_every_string_from_the_run_is_escaped(run):
    folder = run("frozen")

    def hostile(manifest: dict) -> None:
        manifest["matrix_name"] = "<script>alert(1)</script>"
        cell = next(c for c in manifest["cells"] if c["status"] == "failed")
        cell.update(status="partial", failures=[{
            "scenario": "single-client", "variant": "default", "repetition": 2,
            "reason": 'exit 1: <Traceback> & "boom"', "raw": "raw/x/<y>"}])

    edit_manifest(folder, hostile)
    text = build_html(folder)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    failed = between(text, '<h2 id="failed">', "<h2")
    assert "exit 1: &lt;Traceback&gt; &amp; &quot;boom&quot;" in failed
    assert "raw/x/&lt;y&gt;" in failed and "<Traceback>" not in text


def test_written_atomically_for_everyone(run):
    folder = run("io-mix")
    path = write_html_report(folder)
    again = write_html_report(folder)
    assert path == again == folder / HTML_NAME
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in folder.iterdir()) == sorted([HTML_NAME, "manifest.json",
                                                               "results.parquet"])


# --------------------------------------------------------------------------
# The figure functions


def facts_of(folder: Path) -> tuple[Facts, pd.DataFrame, dict]:
    samples, manifest = load_run(folder)
    facts = Facts(samples, manifest)
    return (facts, plots.repetitions(samples, wants_repetitions),
            plots.cell_labels(facts.medians, facts.varying))


def figures_of(folder: Path) -> dict:
    """Every figure report.html can show, built by its own spec."""
    f, reps, labels = facts_of(folder)
    return {spec.id: spec.build(f, reps, labels) for spec in FIGURES}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_figure_function_returns_none_without_its_data(run, name):
    made = figures_of(run(name))
    assert {k for k, fig in made.items() if fig is not None} == EXPECTED[name]


@pytest.mark.parametrize("name, model", [
    ("scenarios", "wrk closed loop"), ("user-ramp", "Locust N users"),
    ("two-djangos", "wrk closed loop, 1 connection, keep-alive")])
def test_axes_carry_units_and_titles_the_latency_model(run, name, model):
    for fig_id, fig in figures_of(run(name)).items():
        if fig is None:
            continue
        titles = [fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)]
        assert any(f"latency model: {model}" in t.replace("\n", " ") for t in titles), fig_id
        for ax in fig.axes:
            labels = [ax.get_xlabel(), ax.get_ylabel()]
            assert ax.get_xlabel(), fig_id
            # The value axis names its unit: "(ms, ...)", "(requests/s)", "(MB; ...)".
            assert any(re.search(r"\((ms|requests/s|MB|%|×|version)", x) for x in labels), \
                (fig_id, labels)
        fig.clear()


def test_ratio_figure_shows_each_django_release(run):
    fig = figures_of(run("two-djangos"))["fig-ratio"]
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5.1.4", "5.2.19"]
    assert ax.get_xlabel() == "Django release (version)"


# --------------------------------------------------------------------------
# In a browser


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("chromium not found on PATH: report.html is checked in headless Chromium."
                " `make setup` installs it (Makefile APT_PACKAGES), or: apt-get install -y"
                " chromium")


def browse(tmp_path: Path, page: Path, *args: str) -> str:
    """Run headless Chromium on ``page`` (its own profile, at most
    TIMEOUT_S, its whole process group killed on a timeout); its stdout."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium took more than {TIMEOUT_S} s: {' '.join(cmd)}")
    finally:
        with suppress(ProcessLookupError):  # a helper it left behind, if any
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{err[-2000:]}"
    return out


@pytest.mark.parametrize("name", ["scenarios", "user-ramp", "two-djangos"])
def test_chromium_shows_every_figure(run, tmp_path, name):
    report = write_html_report(run(name))
    text = report.read_text(encoding="utf-8")
    probe = tmp_path / f"probe-{name}.html"
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    # --dump-dom serialises the DOM once the load event's handlers have run.
    dom = browse(tmp_path, probe, f"--window-size={WIDTH},2000", "--dump-dom")
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe did not run; DOM starts: {dom[:500]}"
    images = json.loads(html.unescape(found.group(1)))
    assert sorted(i["figure"] for i in images) == sorted(EXPECTED[name])
    for image in images:
        assert image["complete"] and image["error"] is None, image
        assert image["width"] > 0 and image["height"] > 0, image
        assert image["box_width"] > 300 and image["box_height"] > 100, image
        assert image["left"] + image["box_width"] <= WIDTH, image  # not cut off on the right
        assert image["inked"] > 0.01, image  # decoded, and a drawing, not a blank image

    # The report as it is (no probe), tall enough to hold every figure.
    bottom = max(i["top"] + i["box_height"] for i in images)
    height = int(bottom) + 40
    shot = tmp_path / f"report-{name}.png"
    browse(tmp_path, report, f"--window-size={WIDTH},{height}", f"--screenshot={shot}")
    if os.environ.get("LAB_TEST_ARTIFACTS"):
        artifacts = Path(os.environ["LAB_TEST_ARTIFACTS"])
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, artifacts / f"report-html-{name}.png")
    picture = Image.open(shot).convert("L")
    assert picture.size == (WIDTH, height)
    assert ImageStat.Stat(picture).stddev[0] > 10, "the screenshot is blank"
    for image in images:  # where the layout put each image, the screenshot shows a plot
        box = (int(image["left"]) + 2, int(image["top"]) + 2,
               int(image["left"] + image["box_width"]) - 2,
               int(image["top"] + image["box_height"]) - 2)
        region = picture.crop(box)
        dark = sum(region.histogram()[:200]) / (region.width * region.height)
        assert ImageStat.Stat(region).stddev[0] > 10 and dark > 0.01, (image["figure"], dark)


def test_a_run_with_many_cells_pools_each_servers_cells(run, monkeypatch):
    """Above MAX_CELLS the figures show a row or line per server (all its
    cells), and say so; the ratio figure keeps every comparison."""
    folder = run("two-djangos")
    few = build_html(folder)
    monkeypatch.setattr("analysis.render.plots.MAX_CELLS", 2)
    many = build_html(folder)
    assert "each server stands for all its cells" in many
    assert "each server stands for all its cells" not in few
    assert set(figure_ids(many)) == set(figure_ids(few)) == EXPECTED["two-djangos"]
    samples, manifest = load_run(folder)
    facts = Facts(samples, manifest)
    medians, reps, labels = plots.pooled_by_server(facts.medians, plots.repetitions(samples, wants_repetitions))
    assert set(labels) == {f"server:{s}" for s in samples["server"].unique()}
    assert labels["server:uvicorn"] == "uvicorn (all 2 cells)"
    uvicorn = medians[(medians["cell_id"] == "server:uvicorn")]["latency_p50"].iloc[0]
    cells = facts.medians[facts.medians["server"] == "uvicorn"]["latency_p50"]
    assert uvicorn == pytest.approx(cells.median())
