"""Locks: real `uv pip compile` against the package index, and the cache."""

import pytest

from runner.matrix import locks

from runner.matrix import compat
from runner.matrix.locks import parse_lock, requirements_for, resolve_cells, resolve_matrix
from runner.matrix.expand import load_matrix

pytestmark = [pytest.mark.network]   # resolution asks the package index (uv pip compile)


def test_requirements_pin_exactly_what_the_cell_needs():
    m = load_matrix("matrices/demo.yaml")
    cell = next(c for c in m.cells if c.server == "daphne")
    req = requirements_for(cell, m.pins).split()
    assert "django==5.2.19" in req and "asgiref==3.13.0" in req and "daphne==4.2.3" in req
    assert not any(r.startswith("gunicorn") for r in req)


def test_extra_pins_go_into_every_cell(write_matrix):
    text = open("matrices/demo.yaml").read().replace(
        'granian: "2.8.7"', 'granian: "2.8.7"\n  sqlparse: "0.5.3"\n  djangorestframework: ["3.18.3", "3.16.1"]'
    ).replace('  djangorestframework: "3.18.3"\n', "")
    m = load_matrix(write_matrix(text))
    reqs = {requirements_for(c, m.pins) for c in m.cells if c.server == "gunicorn-sync"}
    assert all("sqlparse==0.5.3" in r for r in reqs)
    assert {r for r in reqs if "djangorestframework==3.16.1" in r}
    assert {r for r in reqs if "djangorestframework==3.18.3" in r}


def test_parse_lock_reads_pins_and_skips_hashes():
    text = ("asgiref==3.13.0 \\\n    --hash=sha256:aa\nDjango==5.2.19 \\\n    --hash=sha256:bb\n"
            "sqlparse==0.5.3\n")
    assert parse_lock(text) == (("asgiref", "3.13.0"), ("django", "5.2.19"), ("sqlparse", "0.5.3"))


def test_resolution_gives_stable_ids_and_excludes_the_impossible(tmp_path, write_matrix):
    text = open("matrices/demo.yaml").read().replace(
        'python: ["3.12"]', 'python: ["3.12", "3.9"]').replace(
        "server: [gunicorn-sync, gunicorn-uvicorn, uvicorn, daphne, granian-wsgi, granian-asgi]",
        "server: [gunicorn-sync, daphne]")
    m = load_matrix(write_matrix(text))
    cells, excluded = resolve_cells(m.cells, m.pins, tmp_path / "cache")
    # Django 5.2 requires Python >= 3.10: the 3.9 cells cannot exist.
    assert {c.spec.python for c in cells} == {"3.12"}
    assert {x.spec.python for x in excluded} == {"3.9"}
    assert all("do not resolve" in x.reason and "Python>=3.10" in x.reason for x in excluded)
    again, _ = resolve_cells(m.cells, m.pins, tmp_path / "cache2")
    assert [c.cell_id for c in cells] == [c.cell_id for c in again]
    assert len({c.cell_id for c in cells}) == len(cells)
    assert all(c.asgiref == "3.13.0" for c in cells)
    # Each lock is stored under its cell's id, with hashes.
    for c in cells:
        stored = (tmp_path / "cache" / "cells" / f"{c.cell_id}.txt").read_text()
        assert stored == c.lock_text and "--hash=sha256:" in stored


def test_a_second_resolution_reuses_the_locks_without_uv(tmp_path, write_matrix, monkeypatch):
    m = load_matrix(write_matrix(open("matrices/demo.yaml").read()))
    first, _ = resolve_cells(m.cells[:2], m.pins, tmp_path / "cache")

    def no_uv(*args, **kwargs):
        raise AssertionError(f"uv called although the lock is cached: {args}")
    monkeypatch.setattr(locks.subprocess, "run", no_uv)
    second, excluded = resolve_cells(m.cells[:2], m.pins, tmp_path / "cache")
    assert not excluded
    assert [(c.cell_id, c.lock_text) for c in first] == [(c.cell_id, c.lock_text) for c in second]


def test_a_version_that_does_not_exist_is_an_exclusion(tmp_path, write_matrix):
    text = open("matrices/demo.yaml").read().replace('django: ["5.2.19"]', 'django: ["5.2.19", "5.2.999"]')
    m = load_matrix(write_matrix(text))
    cells, excluded = resolve_matrix(m, tmp_path / "cache")
    assert {c.spec.django for c in cells} == {"5.2.19"}
    assert excluded and all(x.spec.django == "5.2.999" for x in excluded)
    assert all("5.2.999" in x.reason for x in excluded)


def test_django_classifiers_exclude_an_undeclared_python(tmp_path, write_matrix):
    """Django 4.2 resolves on 3.13 (Requires-Python >=3.8) but does not declare it."""
    m = load_matrix(write_matrix("""
name: t
axes: {python: ["3.12", "3.13"], django: ["4.2.30"], server: [gunicorn-sync], view: [drf]}
pins: {djangorestframework: "3.16.1", gunicorn: "23.0.0"}
"""))
    assert compat.declared_pythons("django", "4.2.30", tmp_path / "cache") == \
        ["3.8", "3.9", "3.10", "3.11", "3.12"]
    cells, excluded = resolve_matrix(m, tmp_path / "cache")
    assert [c.spec.python for c in cells] == ["3.12"]
    assert [x.spec.python for x in excluded] == ["3.13"]
    assert "Django 4.2.30 does not declare Python 3.13 in its Trove classifiers" in excluded[0].reason


def test_unreachable_metadata_is_an_exclusion_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple")    # nothing listens there
    reason = compat.unsupported_reason("5.2.19", "3.12", tmp_path / "empty-cache")
    assert reason.startswith("cannot read Django 5.2.19's metadata from http://127.0.0.1:9/simple")


@pytest.mark.parametrize("python", ["3.12", "3.12.1"])
def test_python_patch_versions_use_their_minor_for_classifiers(tmp_path, python):
    assert compat.unsupported_reason("5.2.19", python, tmp_path / "cache") is None
