"""Published vs measured (analysis/questions/seeds.py): the verdict rules on samples
whose answer is known, the claims file against the seeds' matrices, and
finding a seed's matrix."""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from analysis.questions.seeds import (DIRECTION_ONLY, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED,
                            UNDETERMINED, Claim, load_claims, published_vs_measured,
                            seed_of, seed_verdict)
from runner.core.errors import LabError
from runner.matrix.expand import load_matrix
from runner.matrix.seeds import seed_matrices, seed_matrix
from tests.support.runs import edit_manifest, edit_samples

BASE = {"interface": "wsgi", "workers": 1, "threads": 1, "python": "3.12", "django": "5.0.4",
        "asgiref": "3.8.1", "view": "drf", "scenario": "single-client", "variant": "keep-alive",
        "unit": "ms", "run_id": "r1"}


def samples(cells: dict[str, list[float]], metric="latency_mean", **fixed) -> pd.DataFrame:
    """One row per repetition of each cell: {"server/workers": [values]}."""
    rows = []
    for key, values in cells.items():
        server, workers = key.split("/")
        for rep, value in enumerate(values, 1):
            rows.append({**BASE, **fixed, "cell_id": f"{server}{workers}", "server": server,
                         "interface": "wsgi" if server.startswith("gunicorn-sync") else "asgi",
                         "workers": int(workers), "repetition": rep, "metric": metric,
                         "value": value})
    return pd.DataFrame(rows)


def claim(**fields) -> Claim:
    base = {"id": "000-x", "seed": "000", "quote": "q", "statement": "s", "kind": "value",
            "statistic": "mean", "unit": "ms", "published": 1.0, "approx": True,
            "measure": {"scenario": "single-client", "variant": "keep-alive",
                        "metric": "latency_mean", "cell": {"server": "gunicorn-sync",
                                                           "workers": 4}}}
    return Claim.model_validate({**base, **fields})


def verdicts(frame, *claims) -> list[str]:
    return list(published_vs_measured(frame, list(claims))["verdict"])


def test_a_value_is_reproduced_only_when_its_interval_meets_the_published_band():
    near = samples({"gunicorn-sync/4": [1.1, 1.2, 1.15, 1.1, 1.2]})
    far = samples({"gunicorn-sync/4": [2.0, 2.1, 2.05, 2.0, 2.1]})
    assert verdicts(near, claim()) == [REPRODUCED]          # ~1 ms: 0.75-1.25
    table = published_vs_measured(far, [claim()])
    assert list(table["verdict"]) == [NOT_REPRODUCED]
    assert "×2.05" in table["note"][0]
    # An exact figure is read as ±5 %: 1.15 is then too far from 1.0.
    assert verdicts(near, claim(approx=False)) == [NOT_REPRODUCED]
    # A range is read as written.
    assert verdicts(far, claim(published=[1.9, 2.2], approx=False)) == [REPRODUCED]


def test_a_difference_far_from_the_published_one_is_reproduced_in_direction_only():
    asgi = {"cell": {"server": "gunicorn-uvicorn", "workers": 4},
            "against": {"server": "gunicorn-sync"}, "scenario": "single-client",
            "variant": "keep-alive", "metric": "latency_mean"}
    frame = samples({"gunicorn-sync/4": [1.0, 1.1, 0.9, 1.0, 1.05],
                     "gunicorn-uvicorn/4": [6.0, 6.2, 5.9, 6.1, 6.0]})
    gap = claim(kind="difference", published=15, measure=asgi)    # ~15 ms; the lab: ~5 ms
    table = published_vs_measured(frame, [gap])
    assert list(table["verdict"]) == [DIRECTION_ONLY]
    assert table["measured"][0].startswith("+5")
    assert verdicts(frame, claim(kind="difference", published=5, measure=asgi)) == [REPRODUCED]
    # The opposite sign is not reproduced at all.
    assert verdicts(frame, claim(kind="difference", published=-15, measure=asgi)) == \
        [NOT_REPRODUCED]


def test_order_claims_need_the_interval_wholly_on_the_claimed_side():
    lower = {"cell": {"server": "gunicorn-sync", "workers": 1}, "against": {"server": "uvicorn"},
             "scenario": "single-client", "variant": "keep-alive", "metric": "latency_mean",
             "direction": "lower"}
    clear = samples({"gunicorn-sync/1": [1.0, 1.1, 0.9], "uvicorn/1": [5.0, 5.5, 5.2]})
    mixed = samples({"gunicorn-sync/1": [1.0, 3.0, 2.0], "uvicorn/1": [1.5, 2.5, 2.1]})
    same = samples({"gunicorn-sync/1": [2.0, 2.01, 1.99], "uvicorn/1": [2.0, 2.02, 1.98]})
    order = claim(kind="order", published=None, measure=lower)
    assert verdicts(clear, order) == [REPRODUCED]
    higher = claim(kind="order", published=None, measure={**lower, "direction": "higher"})
    assert verdicts(clear, higher) == [NOT_REPRODUCED]
    assert verdicts(mixed, order) == [UNDETERMINED]
    table = published_vs_measured(same, [order])
    assert list(table["verdict"]) == [NOT_REPRODUCED] and "equivalent" in table["note"][0]


def test_every_matching_cell_is_judged_and_a_missing_one_is_named():
    frame = pd.concat([samples({"gunicorn-sync/4": [1.0, 1.0, 1.1]}, python="3.11"),
                       samples({"gunicorn-sync/4": [3.0, 3.1, 3.0]}, python="3.12")
                       .assign(cell_id="other")])
    table = published_vs_measured(frame, [claim()])
    assert list(table["where"]) == ["python 3.11", "python 3.12"]
    assert list(table["verdict"]) == [REPRODUCED, NOT_REPRODUCED]
    assert seed_verdict(table) == "holds in part"
    missing = claim(measure={"scenario": "concurrency", "variant": "c=16",
                             "metric": "latency_p50", "cell": {"server": "daphne"}})
    table = published_vs_measured(frame, [missing])
    assert list(table["verdict"]) == [NOT_MEASURED]
    assert "no concurrency c=16 cell with server daphne" in table["note"][0]


def test_a_claim_with_a_missing_field_is_refused_by_name(tmp_path):
    good = yaml.safe_load((load_claims.__defaults__[0]).read_text())
    bad = dict(good, claims=[dict(good["claims"][0], kind="guess")])
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match=r"claims\.0\.kind"):
        load_claims(path)
    unknown_seed = dict(good, claims=[dict(good["claims"][0], seed="999")])
    path.write_text(yaml.safe_dump(unknown_seed))
    with pytest.raises(ValueError, match="seed '999' is not under seeds"):
        load_claims(path)


def test_every_seed_has_claims_and_each_claim_names_cells_its_matrix_runs():
    """A claim whose cell the seed's matrix never runs could only ever say
    "not measured": catch it here, not after an hour of measuring."""
    claims = load_claims()
    for full in (False, True):
        matrices = seed_matrices(full)
        assert sorted(matrices) == sorted(claims.seeds)
        for seed, path in matrices.items():
            matrix = load_matrix(path)
            assert matrix.name == f"seed-{seed}" + ("-full" if full else "")
            assert claims.of(seed), f"seed {seed} has no claim"
            cells = [{**vars(c), "interface": c.interface} for c in matrix.cells]

            def runs(side: dict) -> bool:
                return any(all(str(cell.get(k)) == str(v) for k, v in side.items())
                           for cell in cells)

            for c in claims.of(seed):
                # One measure per size may be listed: at least one must fit.
                assert not c.measures or any(
                    m.scenario in matrix.scenarios and runs(m.cell)
                    and runs({**m.cell, **(m.against or {})}) for m in c.measures), \
                    (path.name, c.id)


def test_a_seed_run_is_known_by_its_matrix_name_and_its_matrix_found_by_number():
    assert seed_of({"matrix_name": "seed-003"}) == "003"
    assert seed_of({"matrix_name": "seed-000-full"}) == "000"
    assert seed_of({"matrix_name": "demo"}) is None
    assert seed_matrix("3").name.startswith("003-")
    assert "full" in seed_matrix("000", full=True).parts
    with pytest.raises(LabError, match="no seed '042'; known: 000, 001"):
        seed_matrix("042")


def test_a_seed_runs_report_opens_with_its_published_vs_measured_table(run_copy):
    """The frozen run, relabelled as seed 000's (its gunicorn-sync cell as the
    seed's 4-worker DRF cell, mean 1.1 ms): the report's first section sets
    the write-up's "avg ~ 1ms" beside it."""
    from analysis.report.markdown import build_report
    run = run_copy
    edit_manifest(run, lambda m: m.update(matrix_name="seed-000"))

    def as_seed(frame):
        frame["view"], frame["variant"] = "drf", "keep-alive"
        frame.loc[frame["server"] == "gunicorn-sync", "workers"] = 4
        return frame
    edit_samples(run, as_seed)
    text = build_report(run)
    first = text.index("## Published vs measured: seed 000")
    assert first < text.index("## Anomalies")
    assert first < text.index("## Verdict")
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| 000-")}
    assert "| reproduced |" in rows["000-wsgi-mean"] and "1.1 ms" in rows["000-wsgi-mean"]
    assert "| not measured |" in rows["000-profiler-same"]
    # Its gunicorn-uvicorn cell was never run: named, not guessed.
    assert "no single-client keep-alive cell with server gunicorn-uvicorn" in \
        rows["000-asgi-mean"]


def test_the_figure_places_each_claim_where_its_numbers_say(run_copy):
    """Value claims land at the lab's figure over theirs; order claims at the
    measured ratio; claims the lab does not measure are left out."""
    from analysis.questions.seeds import figure

    frame = samples({"gunicorn-sync/4": [2.0, 2.1, 2.05], "gunicorn-uvicorn/4": [6.0, 6.1, 6.2]})
    order = claim(id="000-o", kind="order", published=None,
                  measure={"scenario": "single-client", "variant": "keep-alive",
                           "metric": "latency_mean", "direction": "lower",
                           "cell": {"server": "gunicorn-sync", "workers": 4},
                           "against": {"server": "gunicorn-uvicorn"}})
    unmeasured = claim(id="000-u", measure=None, not_measured="a profiler reading")
    table = published_vs_measured(frame, [claim(), order, unmeasured])
    fig = figure(table)
    top, bottom = fig.axes
    assert [t.get_text() for t in top.get_yticklabels()] == ["000-x"]
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["000-o"]
    (x_top,) = top.collections[-1].get_offsets()[:, 0]
    (x_bottom,) = bottom.collections[-1].get_offsets()[:, 0]
    assert x_top == pytest.approx(2.05)              # 2.05 ms against their ~1 ms
    assert x_bottom == pytest.approx(2.05 / 6.1)     # this side over the other
    assert figure(published_vs_measured(frame, [unmeasured])) is None


def test_a_measure_for_one_size_is_judged_only_in_runs_of_that_size():
    """Seed 003's scaled ramp: at the default size its 100 users stand for
    their 400, even though the run also has a 100-user step."""
    frame = samples({"gunicorn-sync/1": [0.0, 0.0, 0.0]}, metric="failure_pct@100",
                    scenario="user-ramp", variant="ramp", view="polls")
    both = claim(published=5, approx=False, tolerance=2, measure=[
        {"scenario": "user-ramp", "variant": "ramp", "metric": "failure_pct@100",
         "size": "default", "cell": {"server": "gunicorn-sync"}},
        {"scenario": "user-ramp", "variant": "ramp", "metric": "failure_pct@400",
         "size": "full", "cell": {"server": "gunicorn-sync"}}])
    assert len(published_vs_measured(frame, [both], "default")) == 1
    assert verdicts(frame, both) == [NOT_REPRODUCED]   # 0 % against 5 ± 2
    full = published_vs_measured(frame, [both], "full")
    assert list(full["verdict"]) == [NOT_MEASURED]
