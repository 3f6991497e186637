"""`lab matrix show` and `lab matrix schema` as a user calls them (the real
command, real uv and the real package index; no host is touched)."""
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LAB = str(Path(sys.executable).parent / "lab")


def lab(*args):
    return subprocess.run([LAB, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_show_prints_cells_and_exclusions_with_reasons(write_matrix):
    path = write_matrix("""
name: show
axes:
  python: ["3.11", "3.13"]
  django: ["4.2.30", "5.2.19"]
  asgiref: ["3.6.0"]
  server: [gunicorn-sync, daphne]
  workers: [1, 2]
  view: [drf]
pins: {djangorestframework: "3.16.1", gunicorn: "23.0.0", daphne: "4.2.3"}
exclude:
  - {python: "3\\\\.11", server: daphne}
""")
    res = lab("matrix", "show", str(path))
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    # Runnable: Django 4.2 on 3.11 with gunicorn (1 and 2 workers) only.
    assert "show: 2 cells" in out
    assert "matrix rule exclude[0]" in out
    assert "server 'daphne' allows at most 1 worker" in out
    assert "Django 4.2.30 does not declare Python 3.13 in its Trove classifiers" in out
    assert "pins do not resolve" in out and "asgiref" in out   # 5.2 needs asgiref >= 3.8.1
    # No scenarios section: the default workload, one variant.
    assert "scenario single-client: keep-alive" in out


def test_show_lists_each_scenarios_variants(write_matrix):
    path = write_matrix("""
name: sc
axes: {python: ["3.12"], django: ["5.2.19"], asgiref: ["3.13.0"], server: [gunicorn-sync], view: [drf]}
pins: {djangorestframework: "3.18.3", gunicorn: "27.0.1"}
scenarios: {concurrency: {levels: [16, 1]}, single-client: {connection: [close]}}
""")
    res = lab("matrix", "show", str(path))
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "scenario single-client: close" in out
    assert "scenario concurrency: c=1, c=16" in out


def test_show_refuses_a_bad_file_in_one_line(write_matrix):
    path = write_matrix("name: bad\naxes: {python: [3.10], django: ['5.2.19'], server: [x], view: [drf]}\n")
    res = lab("matrix", "show", str(path))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr + res.stdout
    assert f"{path}: axes.python[0]: got the number 3.1; write versions as quoted strings" in \
        " ".join(res.stderr.split())


def test_schema_is_json_schema_with_documented_fields():
    res = lab("matrix", "schema")
    schema = json.loads(res.stdout)
    axes = schema["$defs"]["Axes"]["properties"]
    assert {"python", "django", "asgiref", "server", "workers", "threads", "view"} <= set(axes)
    assert all(field.get("description") for field in axes.values())


def test_show_takes_the_project_of_a_byo_matrix(tmp_path):
    project = tmp_path / "proj"
    (project / "mysite").mkdir(parents=True)
    (project / "manage.py").write_text(
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n')
    for name in ("__init__", "settings", "wsgi", "asgi"):
        (project / "mysite" / f"{name}.py").write_text("")
    refused = lab("matrix", "show", "matrices/byo.yaml")
    assert refused.returncode == 1
    assert "app.source: no project given" in refused.stderr
    shown = lab("matrix", "show", "matrices/byo.yaml", "--app", str(project))
    assert shown.returncode == 0, shown.stderr
    assert "app:root" in shown.stdout and "gunicorn-sync" in shown.stdout
