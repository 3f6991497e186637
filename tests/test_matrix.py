import pytest

from runner.core.errors import LabError
from runner.matrix.expand import load_matrix

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
    # Blocks of short windows, an A/A twin in each: enough blocks for paired verdicts.
    assert m.protocol.repetitions >= 6 and m.protocol.aa_control


@pytest.mark.parametrize("axes_change, needle", [
    (("gunicorn-sync, uvicorn, daphne", "gunicorn-sync, tornado"), "axes.server[1]: unknown server 'tornado'"),
    (("view: [drf, async]", "view: [drf, graphql]"), "axes.view[1]: unknown view 'graphql'"),
    (('django: ["5.2.19"]', 'django: [">=5.2"]'), "axes.django[0]: expected an exact version"),
    (('python: ["3.12", "3.11"]', 'python: ["py3"]'), "axes.python[0]"),
    (("workers: [1]", "workers: [0]"), "axes.workers[0]: must be >= 1, got 0"),
    (("workers: [1]", "workers: [two]"), "axes.workers[0]: expected a whole number, got 'two'"),
    (("workers: [1]", "wrokers: [1]"), "axes.wrokers: unknown axis; allowed: python, django"),
    (('python: ["3.12", "3.11"]', "python: [3.10]"), "axes.python[0]: got the number 3.1; write versions as quoted"),
    (('python: ["3.12", "3.11"]', 'python: ["3.12", "3.12"]'), "axes.python: lists the same value twice"),
    (('python: ["3.12", "3.11"]', "python: []"), "axes.python: expected a non-empty list"),
    (('python: ["3.12", "3.11"]', "python: 3.12"), "axes.python: Input should be a valid list"),
    (('  view: [drf, async]', ""), "axes.view: missing (required)"),
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
    ("protocol: {duration_s: 0}", "protocol.duration_s: must be >= 1, got 0"),
    ("protocol: {warmup_s: 0.5}", "protocol.warmup_s: expected a whole number, got 0.5"),
    ("protocol: {repetitions: 0}", "protocol.repetitions: must be >= 1"),
    ("protocol: {duraton_s: 3}", "protocol.duraton_s: unknown setting; allowed: repetitions, warmup_s"),
    ("colour: blue", "colour: unknown field; allowed: name, description, axes"),
])
def test_bad_protocol_and_top_level_fields(write_matrix, protocol, needle):
    with pytest.raises(LabError) as err:
        load_matrix(write_matrix(matrix(GOOD_AXES, PINS + protocol + "\n")))
    assert needle in str(err.value)


def test_server_limits_become_exclusions_with_the_reason(write_matrix):
    """A product of servers × workers × threads keeps what each server can run."""
    axes = GOOD_AXES.replace("workers: [1]", "workers: [1, 2]\n  threads: [1, 4]").replace(
        "gunicorn-sync, uvicorn, daphne", "gunicorn-sync, gunicorn-gthread, daphne")
    m = load_matrix(write_matrix(matrix(axes, PINS)))
    runnable = {(c.server, c.workers, c.threads) for c in m.cells}
    assert ("gunicorn-gthread", 2, 4) in runnable and ("gunicorn-sync", 2, 1) in runnable
    assert ("gunicorn-sync", 1, 4) not in runnable and ("daphne", 2, 1) not in runnable
    reasons = {(x.spec.server, x.spec.workers, x.spec.threads): x.reason for x in m.excluded}
    assert "takes no threads" in reasons[("gunicorn-sync", 1, 4)]
    assert "at most 1 worker" in reasons[("daphne", 2, 1)]
    assert len(m.cells) + len(m.excluded) == 2 * 3 * 2 * 2 * 2


RULES_AXES = """  python: ["3.11", "3.12"]
  django: ["4.2.30", "5.2.19"]
  server: [gunicorn-sync, uvicorn]
  view: [drf]"""


def test_exclude_rules_match_whole_values_as_regular_expressions(write_matrix):
    rules = 'exclude:\n  - {python: "3\\\\.11", django: "5\\\\..*"}\n  - {server: uvicorn, django: "4.2"}\n'
    m = load_matrix(write_matrix(matrix(RULES_AXES, PINS + rules)))
    kept = {(c.python, c.django, c.server) for c in m.cells}
    assert ("3.11", "5.2.19", "gunicorn-sync") not in kept      # rule 0
    assert ("3.12", "5.2.19", "gunicorn-sync") in kept
    # "4.2" must match the whole value: it does not drop 4.2.30.
    assert ("3.12", "4.2.30", "uvicorn") in kept
    assert len(m.cells) == 8 - 2
    assert all(x.reason.startswith("matrix rule exclude[0]") for x in m.excluded)


def test_include_adds_cells_even_when_excluded(write_matrix):
    extra = ('exclude:\n  - {server: uvicorn}\ninclude:\n'
             '  - {python: "3.12", django: "5.2.19", server: uvicorn, view: drf, workers: 2}\n'
             '  - {python: "3.12", django: "5.2.19", server: uvicorn, view: drf}\n')
    m = load_matrix(write_matrix(matrix(RULES_AXES, PINS + extra)))
    uvicorn = {(c.python, c.django, c.workers) for c in m.cells if c.server == "uvicorn"}
    assert uvicorn == {("3.12", "5.2.19", 2), ("3.12", "5.2.19", 1)}
    assert not any(x.spec.server == "uvicorn" and x.spec.python == "3.12" and
                   x.spec.django == "5.2.19" and x.spec.workers == 1 for x in m.excluded)


@pytest.mark.parametrize("rules, needle", [
    ("exclude:\n  - {pyhton: '3.11'}\n", "exclude[0].pyhton: unknown axis; allowed: python, django"),
    ("exclude:\n  - {python: '3.(11'}\n", "exclude[0].python: not a valid regular expression"),
    ("exclude:\n  - {}\n", "exclude[0]: an empty rule would match every cell"),
    ("include:\n  - {django: 5.2.19, server: uvicorn, view: drf}\n", "include[0].python: missing (required)"),
    ("include:\n  - {python: '3.12', django: 5.2.19, server: hypercorm, view: drf}\n",
     "include[0].server: unknown server 'hypercorm'"),
    ("include:\n  - {python: '3.12', django: 5.2.19, server: [uvicorn], view: drf}\n",
     "include[0].server: expected one value (text or a whole number), got ['uvicorn']"),
    ("include:\n  - {python: '3.12', django: 5.2.19, server: uvicorn, view: drf, colour: red}\n",
     "include[0].colour: unknown axis"),
])
def test_bad_rules_are_named(write_matrix, rules, needle):
    with pytest.raises(LabError) as err:
        load_matrix(write_matrix(matrix(RULES_AXES, PINS + rules)))
    assert needle in str(err.value)


def test_a_list_of_versions_in_pins_is_an_axis(write_matrix):
    pins = PINS.replace('djangorestframework: "3.18.3"', 'djangorestframework: ["3.18.3", "3.16.1"]')
    m = load_matrix(write_matrix(matrix(RULES_AXES, pins + 'exclude:\n  - {djangorestframework: "3.16.1", python: "3.11"}\n')))
    assert m.package_axes == {"djangorestframework": ["3.18.3", "3.16.1"]}
    assert {c.value("djangorestframework") for c in m.cells} == {"3.18.3", "3.16.1"}
    assert len(m.cells) == 8 * 2 - 4
    assert "djangorestframework" not in m.pins


def test_every_cell_excluded_is_an_error(write_matrix):
    with pytest.raises(LabError, match="every cell is excluded"):
        load_matrix(write_matrix(matrix(RULES_AXES, PINS + "exclude:\n  - {view: drf}\n")))


def test_versions_matrix_is_valid():
    m = load_matrix("matrices/versions.yaml")
    assert {c.python for c in m.cells} == {"3.9", "3.10", "3.11", "3.12", "3.13"}
    assert {c.django.rsplit(".", 1)[0] if c.django.count(".") == 2 else c.django
            for c in m.cells} == {"4.2", "5.0", "5.2", "6.0", "6.1"}
    assert {c.server for c in m.cells} == {"gunicorn-sync", "gunicorn-uvicorn"}


def test_baseline_must_be_wsgi(write_matrix):
    with pytest.raises(LabError, match="baseline_server: 'uvicorn' is not a WSGI server"):
        load_matrix(write_matrix(matrix(GOOD_AXES, PINS + "baseline_server: uvicorn\n")))


def test_missing_file_and_bad_yaml(tmp_path, write_matrix):
    with pytest.raises(LabError, match="matrix file not found"):
        load_matrix(tmp_path / "nope.yaml")
    with pytest.raises(LabError, match="not valid YAML"):
        load_matrix(write_matrix("axes: [unclosed"))


def test_a_directory_and_an_oversized_file_are_refused_before_parsing(tmp_path):
    with pytest.raises(LabError, match=f"{tmp_path}: is a directory, not a matrix file"):
        load_matrix(tmp_path)
    big = tmp_path / "big.yaml"
    # Valid YAML, so only the size can refuse it; refused without being read.
    big.write_text("name: big\n" + "# padding\n" * 200_000)
    with pytest.raises(LabError, match=r"big.yaml: 2000010 bytes; a matrix file may hold at most 1000000"):
        load_matrix(big)
