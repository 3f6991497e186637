from runner.locks import parse_lock, requirements_for, resolve_cells
from runner.matrix import load_matrix


def test_requirements_pin_exactly_what_the_cell_needs():
    m = load_matrix("matrices/demo.yaml")
    cell = next(c for c in m.cells if c.server == "daphne")
    req = requirements_for(cell, m.pins).split()
    assert "django==5.2.19" in req and "asgiref==3.13.0" in req and "daphne==4.2.3" in req
    assert not any(r.startswith("gunicorn") for r in req)


def test_parse_lock_reads_pins_and_skips_hashes():
    text = ("asgiref==3.13.0 \\\n    --hash=sha256:aa\nDjango==5.2.19 \\\n    --hash=sha256:bb\n"
            "sqlparse==0.5.3\n")
    assert parse_lock(text) == (("asgiref", "3.13.0"), ("django", "5.2.19"), ("sqlparse", "0.5.3"))


def test_resolution_gives_stable_ids_and_excludes_the_impossible(tmp_path, write_matrix):
    """Real uv pip compile against the package index."""
    text = open("matrices/demo.yaml").read().replace(
        'python: ["3.12"]', 'python: ["3.12", "3.9"]').replace(
        "server: [gunicorn-sync, gunicorn-uvicorn, uvicorn, daphne, granian-wsgi, granian-asgi]",
        "server: [gunicorn-sync, daphne]")
    m = load_matrix(write_matrix(text))
    cells, excluded = resolve_cells(m.cells, m.pins, tmp_path / "cache")
    # Django 5.2 requires Python >= 3.10: the 3.9 cells cannot exist.
    assert {c.spec.python for c in cells} == {"3.12"}
    assert {x.spec.python for x in excluded} == {"3.9"}
    assert all("do not resolve" in x.reason for x in excluded)
    again, _ = resolve_cells(m.cells, m.pins, tmp_path / "cache2")
    assert [c.cell_id for c in cells] == [c.cell_id for c in again]
    assert len({c.cell_id for c in cells}) == len(cells)
    assert all(c.asgiref == "3.13.0" for c in cells)
