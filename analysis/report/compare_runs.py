"""Compare two runs cell by cell: do run B's figures agree with run A's?

Used by ``lab compare RUN_A RUN_B`` and by ``lab reproduce`` (A: the
archived run, B: the new one). Pure pandas over two run folders read by
:func:`analysis.runs.load.load_run`, which also does every check (missing folder,
unreadable file, unsupported schema: a ``ValueError`` naming the path).

**Matching.** A cell of A and a cell of B are the same cell when their
coordinates are equal: ``summary.CELL_COLUMNS`` (server, interface, workers,
threads, python, django, asgiref, view), every package axis either run has
(e.g. djangorestframework; a run that pinned the package instead of sweeping
it contributes its installed version), and whether the cell is an A/A twin.
The cell_id is not the key: it also hashes the resolved lock, so runs with
other locks (a package resolved to another version) would never match. Cells
that match but whose ids differ ran from different locks; the table says so
(``same_lock``), and the environment diff lists the package versions that
differ. Within a matched cell, scenario and variant are matched by name.

**Agreement.** For each matched cell, scenario, variant and headline metric
(each scenario's `headline` in analysis/scenarios/: p50 and p99 latency and throughput for the wrk and
k6 scenarios, io-mix's elapsed seconds, user-ramp's largest user count
without failures, memory's USS per worker), each run's median over its
repetitions and its 95 % bootstrap interval come from
:func:`analysis.stats.bootstrap.cell_stats`. The metric **agrees** when the two
intervals overlap: each run's interval holds the values of the median that
its repetitions make plausible, and overlapping intervals mean there is a
value plausible for both, i.e. the two runs give no evidence of a different
figure. Non-overlapping intervals **disagree**. That is a conservative test
(two 95 % intervals can overlap although the difference is significant), so
"disagrees" is strong evidence and "agrees" means "no evidence of a change",
not "equal". A metric is **not judged**, never "agrees", when either side has
no interval: fewer than ``stats.MIN_REPETITIONS`` repetitions (cell_stats
gives no interval below that: a "95 %" interval from 2 values means
nothing), or the metric was not measured on that side.

A cell agrees when every judged metric of every scenario and variant agrees
and at least one was judged; it disagrees when any judged metric disagrees;
otherwise it is not judged. Cells only in one run are listed as such, and a
cell whose manifest status is ``failed`` in either run is listed as failed
with its reason: none is dropped.

**Environment.** :func:`environment_diff` lists every difference between the
two manifests in host facts (CPU model, cores, kernel, OS, memory, governor,
Python builds, ...), CPU sets, tool versions, the lab module, the lab's git
commit, the protocol's repetitions and windows, and per matched cell the
exact packages and Python.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis.render import formatting as fmt
from analysis.runs.load import load_run
from analysis.scenarios import headline_metrics
from analysis.stats.bootstrap import CONFIDENCE, MIN_REPETITIONS, cell_stats
from analysis.stats.summary import CELL_COLUMNS, variant_rank
from analysis.stats.verdict import AGREES, DISAGREES, NOT_JUDGED, runs_agree
from runner.core.model import is_aa_twin


ONLY_A, ONLY_B, FAILED = "only in A", "only in B", "failed"

# Sample-table columns that are not coordinates of a cell.
_NOT_COORDINATES = {"run_id", "cell_id", "scenario", "variant", "repetition", "metric", "value",
                    "unit", *CELL_COLUMNS}
# Host facts that name the host rather than describe the machine.
_HOST_IDENTITY = {"address", "hostname", "role"}
_PROTOCOL_KEYS = ("repetitions", "warmup_s", "duration_s", "seed")
ENVIRONMENT_COLUMNS = ["what", "A", "B"]


@dataclass
class Comparison:
    """What :func:`compare_runs` found. ``cells``: one row per cell (matched
    or not) with its ``verdict`` and ``note``; ``figures``: one row per
    matched cell, scenario, variant and headline metric; ``environment``:
    ``what``, ``A``, ``B`` for every difference between the manifests."""

    run_a: str
    run_b: str
    path_a: Path
    path_b: Path
    extras: list[str]
    cells: pd.DataFrame
    figures: pd.DataFrame
    environment: pd.DataFrame

    def counts(self) -> dict[str, int]:
        verdicts = self.cells["verdict"].value_counts() if len(self.cells) else {}
        return {"agree": int(verdicts.get(AGREES, 0)),
                "disagree": int(verdicts.get(DISAGREES, 0)),
                "not judged": int(verdicts.get(NOT_JUDGED, 0)),
                "only in one run": int(verdicts.get(ONLY_A, 0) + verdicts.get(ONLY_B, 0)),
                "failed": int(verdicts.get(FAILED, 0))}

    @property
    def any_disagree(self) -> bool:
        return self.counts()["disagree"] > 0

    def summary(self) -> str:
        """"N cells agree, M disagree, K not judged, J only in one run"
        (", F failed" when any cell failed)."""
        n = self.counts()
        line = (f"{n['agree']} cell{'' if n['agree'] == 1 else 's'} "
                f"agree{'s' if n['agree'] == 1 else ''}, {n['disagree']} disagree, "
                f"{n['not judged']} not judged, {n['only in one run']} only in one run")
        return line + (f", {n['failed']} failed" if n["failed"] else "")

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """(title, frame of strings): cells, figures, environment."""
        return [("cells", self.cells_display()), ("figures", self.figures_display()),
                ("environment differences", self.environment)]

    def cells_display(self) -> pd.DataFrame:
        columns = [*CELL_COLUMNS, *self.extras, "aa_twin", "cell_id_a", "cell_id_b", "same_lock",
                   "status_a", "status_b", "verdict", "note"]
        return pd.DataFrame({c: [fmt.text(v) for v in self.cells[c]] for c in columns},
                            dtype=object)

    def figures_display(self) -> pd.DataFrame:
        f = self.figures
        ids = [*CELL_COLUMNS, *self.extras, "aa_twin", "scenario", "variant", "metric"]
        out = pd.DataFrame({c: [fmt.text(v) for v in f[c]] for c in ids}, dtype=object)
        level = f"{CONFIDENCE * 100:g}% CI"
        for side in ("A", "B"):
            s = side.lower()
            out[f"reps {side}"] = [fmt.num(v, 0) for v in f[f"repetitions_{s}"]]
            out[f"median {side}"] = [fmt.general(v) for v in f[f"median_{s}"]]
            out[f"{level} {side}"] = [_interval(lo, hi) for lo, hi in
                                      zip(f[f"ci_low_{s}"], f[f"ci_high_{s}"])]
        out["B/A"] = [fmt.num(v, 3) for v in f["ratio"]]
        out["verdict"] = list(f["verdict"])
        out["note"] = list(f["note"])
        return out

    def markdown(self) -> str:
        lines = [
            f"# Comparison: {self.run_b} against {self.run_a}",
            "",
            f"- A: `{self.run_a}` ({self.path_a})",
            f"- B: `{self.run_b}` ({self.path_b})",
            "",
            f"**{self.summary()}.**",
            "",
            f"A figure *agrees* when the {CONFIDENCE * 100:g} % bootstrap intervals of the median"
            " in A and in B overlap (no evidence of a change), and *disagrees* when they do not;"
            f" it is *not judged* when either side has fewer than {MIN_REPETITIONS} repetitions"
            " (no interval) or lacks the metric. A cell agrees when every judged figure agrees."
            " Cells are matched by their coordinates, not their ids; `same_lock` says whether"
            " both ran from the same lock.",
            "",
            "## Cells",
            "",
            *_markdown(self.cells_display()),
            "## Figures",
            "",
            "Medians over repetitions; `B/A` is the ratio of the medians.",
            "",
            *_markdown(self.figures_display()),
            "## Environment differences",
            "",
        ]
        if self.environment.empty:
            lines += ["none: the two manifests record the same hosts, tools, lab and packages.",
                      ""]
        else:
            if self.any_disagree:
                lines += ["Some cells disagree; these differences between the runs may explain"
                          " them.", ""]
            lines += [fmt.markdown_table(self.environment), ""]
        return "\n".join(lines)


def _markdown(frame: pd.DataFrame) -> list[str]:
    """A table's lines, with the columns that hold one value in every row
    said once above it (as ui.table does on the console), then a blank line."""
    constant = [c for c in frame.columns if len(frame) > 1 and frame[c].astype(str).nunique() == 1]
    shared = ", ".join(f"{c} = {frame[c].iloc[0] if str(frame[c].iloc[0]) else '(empty)'}"
                       for c in constant)
    head = [f"All rows: {shared}.", ""] if shared else []
    return [*head, fmt.markdown_table(frame.drop(columns=constant)), ""]


def compare_runs(run_a: str | Path, run_b: str | Path) -> Comparison:
    """Compare the run folders ``run_a`` and ``run_b`` (B against A)."""
    samples_a, manifest_a = load_run(run_a)
    samples_b, manifest_b = load_run(run_b)
    extras = sorted({c for s in (samples_a, samples_b) for c in s.columns} - _NOT_COORDINATES)
    cells_a = _cells(samples_a, manifest_a, extras)
    cells_b = _cells(samples_b, manifest_b, extras)
    wanted = sorted({m for s in (samples_a, samples_b) for sc in s["scenario"].unique()
                     for m in headline_metrics(sc)})
    stats_a = _stats_by_key(samples_a, wanted)
    stats_b = _stats_by_key(samples_b, wanted)

    cell_rows, figure_rows = [], []
    for key in [*cells_a, *(k for k in cells_b if k not in cells_a)]:
        a, b = cells_a.get(key), cells_b.get(key)
        figures = _figures(a, b, stats_a, stats_b) if a and b else []
        figure_rows += [{**_coordinates(a or b, extras), **f} for f in figures]
        cell_rows.append({**_coordinates(a or b, extras), **_cell_verdict(a, b, figures)})

    cells = pd.DataFrame(cell_rows, columns=[*CELL_COLUMNS, *extras, "aa_twin", "cell_id_a",
                                             "cell_id_b", "same_lock", "status_a", "status_b",
                                             "verdict", "note"])
    figures = pd.DataFrame(figure_rows,
                           columns=[*CELL_COLUMNS, *extras, "aa_twin", *_FIGURE_COLUMNS])
    return Comparison(run_a=str(manifest_a.get("run_id", Path(run_a).name)),
                      run_b=str(manifest_b.get("run_id", Path(run_b).name)),
                      path_a=Path(run_a), path_b=Path(run_b), extras=extras, cells=cells,
                      figures=figures,
                      environment=environment_diff(manifest_a, manifest_b, cell_rows, extras))


# --------------------------------------------------------------------------
# Cells and their coordinates


def _text(value) -> str:
    if fmt.is_missing(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cells(samples: pd.DataFrame, manifest: dict, extras: list[str]) -> dict[tuple, dict]:
    """{matching key: cell} for one run. Cells come from the manifest (failed
    ones have no samples); a cell with samples but no manifest entry is taken
    from its samples, so nothing measured is dropped."""
    found: dict[str, dict] = {}
    for cell in manifest.get("cells") or []:
        if isinstance(cell, dict) and cell.get("cell_id") is not None:
            found[str(cell["cell_id"])] = dict(cell)
    if not samples.empty:
        for row in samples.drop_duplicates("cell_id").to_dict("records"):
            found.setdefault(str(row["cell_id"]), {**row, "status": None})
    keyed: dict[tuple, list[dict]] = {}
    for cell_id, cell in found.items():
        cell["cell_id"] = cell_id
        cell["threads"] = cell.get("threads", 1)   # runs from before the threads axis
        cell["aa_twin"] = is_aa_twin(cell)
        packages = cell.get("packages") or {}
        coords = {c: _text(cell.get(c)) for c in CELL_COLUMNS}
        for p in extras:
            # A package axis of one run may be a fixed pin in the other: its
            # installed version is then the coordinate.
            coords[p] = _text(cell.get(p)) or _text(packages.get(p))
        cell["_coords"] = coords
        key = (*coords.values(), cell["aa_twin"])
        keyed.setdefault(key, []).append(cell)
    # Two cells of one run with the same coordinates (which the runner does
    # not make) are told apart by their order of cell_id rather than merged.
    return {(*key, i): cell for key, cells in keyed.items()
            for i, cell in enumerate(sorted(cells, key=lambda c: c["cell_id"]))}


def _coordinates(cell: dict, extras: list[str]) -> dict:
    coords = cell["_coords"]
    return {**{c: coords[c] for c in [*CELL_COLUMNS, *extras]}, "aa_twin": cell["aa_twin"]}


def _label(row: dict, extras: list[str]) -> str:
    threads = f" t{row['threads']}" if str(row.get("threads")) not in ("1", "") else ""
    pinned = "".join(f" {p}{row[p]}" for p in extras if row.get(p))
    twin = " (A/A twin)" if row.get("aa_twin") else ""
    return (f"{row['server']} w{row['workers']}{threads} py{row['python']} dj{row['django']} "
            f"asgiref{row['asgiref']} {row['view']}{pinned}{twin}")


# --------------------------------------------------------------------------
# Figures and verdicts

_FIGURE_COLUMNS = ["scenario", "variant", "metric", "cell_id_a", "cell_id_b",
                   "repetitions_a", "median_a", "ci_low_a", "ci_high_a",
                   "repetitions_b", "median_b", "ci_low_b", "ci_high_b",
                   "ratio", "verdict", "note"]


def _stats_by_key(samples: pd.DataFrame, metrics: list[str]) -> dict[str, dict]:
    """{cell_id: {(scenario, variant, metric): cell_stats row}}."""
    out: dict[str, dict] = {}
    for row in cell_stats(samples, metrics).to_dict("records"):
        out.setdefault(str(row["cell_id"]), {})[(row["scenario"], row["variant"],
                                                 row["metric"])] = row
    return out


def _figures(a: dict, b: dict, stats_a: dict, stats_b: dict) -> list[dict]:
    sa, sb = stats_a.get(a["cell_id"], {}), stats_b.get(b["cell_id"], {})
    units = {(s, v) for s, v, _ in [*sa, *sb]}
    ranks = variant_rank(v for _, v in units)
    rows = []
    for scenario, variant in sorted(units, key=lambda u: (u[0], ranks[u[1]])):
        for metric in headline_metrics(scenario):
            x, y = sa.get((scenario, variant, metric)), sb.get((scenario, variant, metric))
            if x is None and y is None:
                continue
            verdict, note = _judge(x, y)
            rows.append({"scenario": scenario, "variant": variant, "metric": metric,
                         "cell_id_a": a["cell_id"], "cell_id_b": b["cell_id"],
                         **_side(x, "a"), **_side(y, "b"),
                         "ratio": _ratio(x, y), "verdict": verdict, "note": note})
    return rows


def _side(row: dict | None, s: str) -> dict:
    if row is None:
        return {f"repetitions_{s}": 0, f"median_{s}": math.nan, f"ci_low_{s}": math.nan,
                f"ci_high_{s}": math.nan}
    return {f"repetitions_{s}": int(row["repetitions"]), f"median_{s}": float(row["median"]),
            f"ci_low_{s}": float(row["ci_low"]), f"ci_high_{s}": float(row["ci_high"])}


def _ratio(x: dict | None, y: dict | None) -> float:
    if x is None or y is None or not float(x["median"]):
        return math.nan
    return float(y["median"]) / float(x["median"])


def _judge(x: dict | None, y: dict | None) -> tuple[str, str]:
    """(verdict, why) for one metric: see the module's docstring."""
    if x is None or y is None:
        return NOT_JUDGED, f"not measured in {'A' if x is None else 'B'}"
    if any(fmt.is_missing(v) for v in (x["ci_low"], x["ci_high"], y["ci_low"], y["ci_high"])):
        return NOT_JUDGED, (f"{x['repetitions']} and {y['repetitions']} repetitions: no"
                            f" interval below {MIN_REPETITIONS}")
    if runs_agree(x["ci_low"], x["ci_high"], y["ci_low"], y["ci_high"]):
        return AGREES, ""
    return DISAGREES, f"B/A {_ratio(x, y):.3f}, the intervals do not overlap"


def _cell_verdict(a: dict | None, b: dict | None, figures: list[dict]) -> dict:
    out = {"cell_id_a": a["cell_id"] if a else None, "cell_id_b": b["cell_id"] if b else None,
           "status_a": a.get("status") if a else None,
           "status_b": b.get("status") if b else None,
           "same_lock": None}
    if a is None or b is None:
        present, side = (a, "A") if a else (b, "B")
        reason = f": {present['reason']}" if present.get("reason") else ""
        return {**out, "verdict": ONLY_A if a else ONLY_B,
                "note": f"{present.get('status') or 'status unknown'} in {side}{reason}"}
    notes = []
    same = a["cell_id"] == b["cell_id"]
    out["same_lock"] = "yes" if same else "no"
    if not same:
        notes.append("locks differ (another cell_id: other resolved packages)")
    failed = [f"failed in {side}: {cell.get('reason') or 'no reason recorded'}"
              for side, cell in (("A", a), ("B", b)) if cell.get("status") == "failed"]
    if failed:
        return {**out, "verdict": FAILED, "note": "; ".join(failed + notes)}
    notes += [f"partial in {side}: {cell.get('reason') or 'some repetitions failed'}"
              for side, cell in (("A", a), ("B", b)) if cell.get("status") == "partial"]
    verdicts = [f["verdict"] for f in figures]
    if DISAGREES in verdicts:
        verdict = DISAGREES
        notes.insert(0, "disagrees on " + ", ".join(
            f"{f['scenario']} {f['variant']} {f['metric']} (B/A {f['ratio']:.3f})"
            for f in figures if f["verdict"] == DISAGREES))
    elif AGREES in verdicts:
        verdict = AGREES
        if NOT_JUDGED in verdicts:
            notes.append(f"{verdicts.count(NOT_JUDGED)} figure(s) not judged")
    else:
        verdict = NOT_JUDGED
        notes.insert(0, figures[0]["note"] if figures else "no headline metric measured")
    return {**out, "verdict": verdict, "note": "; ".join(notes)}


# --------------------------------------------------------------------------
# Environment


def _flat(prefix: str, value) -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, sub in value.items():
            out.update(_flat(f"{prefix}.{key}" if prefix else str(key), sub))
        return out
    if isinstance(value, (list, tuple)):
        return {prefix: json.dumps(value)}
    return {prefix: "(none)" if value is None else str(value)}


def _differences(what: str, a, b) -> list[dict]:
    fa, fb = _flat("", a or {}), _flat("", b or {})
    return [{"what": f"{what}: {key}" if key else what,
             "A": fa.get(key, "(none)"), "B": fb.get(key, "(none)")}
            for key in dict.fromkeys([*fa, *fb]) if fa.get(key) != fb.get(key)]


def environment_diff(manifest_a: dict, manifest_b: dict, cells: list[dict] = (),
                     extras: list[str] = ()) -> pd.DataFrame:
    """Every difference between two manifests that can change a figure: one
    row (``what``, ``A``, ``B``) each, "(none)" for a value one side lacks.
    ``cells`` are :func:`compare_runs`'s cell rows: each cell matched in both
    runs adds its packages and exact Python (``extras``: the package axes,
    to name the cell)."""
    rows: list[dict] = []
    hosts_a, hosts_b = manifest_a.get("hosts") or {}, manifest_b.get("hosts") or {}
    for name in dict.fromkeys([*hosts_a, *hosts_b]):
        ha, hb = hosts_a.get(name) or {}, hosts_b.get(name) or {}

        def facts(host: dict) -> dict:
            kept = {k: v for k, v in (host.get("facts") or {}).items() if k not in _HOST_IDENTITY}
            return {"cpus": host.get("cpus"), **kept}
        rows += _differences(f"host {name}", facts(ha), facts(hb))
    for section in ("cpu_sets", "tools"):
        rows += _differences(section, manifest_a.get(section), manifest_b.get(section))
    rows += _differences("lab module", (manifest_a.get("lab") or {}).get("module"),
                         (manifest_b.get("lab") or {}).get("module"))
    rows += _differences("lab git", manifest_a.get("lab_git"), manifest_b.get("lab_git"))

    def protocol(m: dict) -> dict:
        return {k: (m.get("protocol") or {}).get(k) for k in _PROTOCOL_KEYS}
    rows += _differences("protocol", protocol(manifest_a), protocol(manifest_b))

    by_id_a = {str(c.get("cell_id")): c for c in manifest_a.get("cells") or []}
    by_id_b = {str(c.get("cell_id")): c for c in manifest_b.get("cells") or []}
    for row in cells:
        a, b = by_id_a.get(str(row["cell_id_a"])), by_id_b.get(str(row["cell_id_b"]))
        if a is None or b is None:
            continue
        label = _label(row, extras)
        rows += _differences(f"cell {label}: packages", a.get("packages"), b.get("packages"))
        rows += _differences(f"cell {label}: python_exact", a.get("python_exact"),
                             b.get("python_exact"))
    return pd.DataFrame(rows, columns=ENVIRONMENT_COLUMNS)


def _interval(low, high) -> str:
    if fmt.is_missing(low) or fmt.is_missing(high):
        return "n/a"
    return f"[{fmt.general(low)}, {fmt.general(high)}]"
