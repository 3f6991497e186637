import pytest

from runner.errors import LabError
from runner.matrix import load_matrix

PINS = """
pins:
  djangorestframework: "3.18.3"
  gunicorn: "27.0.1"
  uvicorn: "0.54.0"
  uvicorn-worker: "0.4.0"
  uvloop: "0.23.0"
  httptools: "0.9.0"
  daphne: "4.2.3"
  granian: "2.8.7"
"""


def matrix(axes: str, extra: str = PINS) -> str:
    return f"name: t\naxes:\n{axes}\n{extra}"


GOOD_AXES = """  python: ["3.12", "3.11"]
  django: ["5.2.19"]
  server: [gunicorn-sync, uvicorn, daphne]
  workers: [1]
  view: [drf, async]"""


def test_expands_the_cartesian_product(write_matrix):
    m = load_matrix(write_matrix(matrix(GOOD_AXES)))
    assert len(m.cells) == 2 * 1 * 3 * 1 * 2
    assert {c.interface for c in m.cells} == {"wsgi", "asgi"}
    assert {(c.python, c.view) for c in m.cells} == {("3.12", "drf"), ("3.12", "async"),
                                                     ("3.11", "drf"), ("3.11", "async")}
    assert all(c.asgiref is None for c in m.cells)  # left to the resolver
    assert m.protocol.repetitions == 3 and m.baseline_server == "gunicorn-sync"


def test_demo_matrix_is_valid():
    m = load_matrix("matrices/demo.yaml")
    assert {c.server for c in m.cells} >= {"gunicorn-sync", "gunicorn-uvicorn", "uvicorn",
                                           "daphne", "granian-wsgi", "granian-asgi"}
    assert m.protocol.repetitions == 3


@pytest.mark.parametrize("axes_change, needle", [
    (("gunicorn-sync, uvicorn, daphne", "gunicorn-sync, tornado"), "axes.server[1]: unknown server 'tornado'"),
    (("view: [drf, async]", "view: [drf, graphql]"), "axes.view[1]: unknown view 'graphql'"),
    (('django: ["5.2.19"]', 'django: [">=5.2"]'), "axes.django[0]: expected an exact version"),
    (('python: ["3.12", "3.11"]', 'python: ["py3"]'), "axes.python[0]"),
    (("workers: [1]", "workers: [0]"), "axes.workers[0]"),
    (("workers: [1]", "workers: [2]"), "daphne"),
    (("workers: [1]", "wrokers: [1]"), "axes.wrokers: unknown axis; allowed: python, django"),
])
def test_bad_axes_name_file_field_and_allowed_values(write_matrix, axes_change, needle):
    path = write_matrix(matrix(GOOD_AXES.replace(*axes_change)))
    with pytest.raises(LabError) as err:
        load_matrix(path)
    assert str(path) in str(err.value)
    assert needle in str(err.value)


def test_unknown_server_lists_allowed(write_matrix):
    with pytest.raises(LabError, match="allowed: .*daphne.*gunicorn-sync"):
        load_matrix(write_matrix(matrix(GOOD_AXES.replace("daphne]", "nginx-unit]"))))


def test_missing_pin_for_a_server_is_named(write_matrix):
    with pytest.raises(LabError, match="pins: server 'daphne' needs exact pins for: daphne"):
        load_matrix(write_matrix(matrix(GOOD_AXES, PINS.replace('  daphne: "4.2.3"\n', ""))))


@pytest.mark.parametrize("protocol, needle", [
    ("protocol: {duration_s: 0}", "protocol.duration_s: must be a whole number of seconds >= 1"),
    ("protocol: {warmup_s: 0.5}", "protocol.warmup_s: must be a whole number of seconds"),
    ("protocol: {repetitions: 0}", "protocol.repetitions: must be >= 1"),
    ("protocol: {duraton_s: 3}", "protocol.duraton_s: unknown setting"),
])
def test_bad_protocol(write_matrix, protocol, needle):
    with pytest.raises(LabError, match=needle.replace(".", r"\.")):
        load_matrix(write_matrix(matrix(GOOD_AXES, PINS + protocol + "\n")))


def test_baseline_must_be_wsgi(write_matrix):
    with pytest.raises(LabError, match="baseline_server: 'uvicorn' is not a WSGI server"):
        load_matrix(write_matrix(matrix(GOOD_AXES, PINS + "baseline_server: uvicorn\n")))


def test_missing_file_and_bad_yaml(tmp_path, write_matrix):
    with pytest.raises(LabError, match="matrix file not found"):
        load_matrix(tmp_path / "nope.yaml")
    with pytest.raises(LabError, match="not valid YAML"):
        load_matrix(write_matrix("axes: [unclosed"))
