"""`lab run --app` end to end, on the shared e2e lab: a Django project made
here with `django-admin startproject` (plus one view and its template) is
shipped by the playbook, checked on the server host, and measured under a
WSGI and an ASGI server. Bad input stops the run before anything is
measured, with one line saying what is wrong."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO
from tests.support.lab import LAB, lab, run_folders, servers_on_host

pytestmark = pytest.mark.e2e

MATRIX = REPO / "tests" / "data" / "matrices" / "own-project.yaml"
DJANGO = "django==5.2.19"
MARKER = "hello from mysite"


def startproject(folder: Path) -> None:
    """django-admin startproject, from uv's cache if it has Django, else PyPI."""
    uv = Path(sys.executable).parent / "uv"
    cmd = [str(uv), "tool", "run", "--from", DJANGO, "django-admin", "startproject", "mysite",
           str(folder)]
    if subprocess.run([*cmd[:3], "--offline", *cmd[3:]], capture_output=True).returncode != 0:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("own") / "mysite-project"
    root.mkdir()
    startproject(root)
    site = root / "mysite"
    (root / "templates").mkdir()
    (root / "templates" / "hello.html").write_text(f"<p>{MARKER}, {{{{ n }}}} polls</p>\n")
    (site / "views.py").write_text(textwrap.dedent("""\
        from django.contrib.auth.models import User
        from django.shortcuts import render

        def hello(request):
            return render(request, "hello.html", {"n": User.objects.count()})
        """))
    urls = (site / "urls.py").read_text()
    urls = urls.replace("from django.urls import path",
                        "from django.urls import path\nfrom mysite.views import hello")
    (site / "urls.py").write_text(urls.replace("urlpatterns = [",
                                               'urlpatterns = [\n    path("hello/", hello),'))
    settings = (site / "settings.py").read_text()
    assert all(s in settings for s in ("DEBUG = True", "ALLOWED_HOSTS = []", "'DIRS': []"))
    settings = settings.replace("DEBUG = True", "DEBUG = False")
    settings = settings.replace("ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = ["*"]')
    (site / "settings.py").write_text(settings.replace("'DIRS': []", "'DIRS': [BASE_DIR / 'templates']"))
    # Settings that do not import, for the bad-input check (same files: same digest).
    (site / "settings_broken.py").write_text("from mysite.settings import *\nimport no_such_module\n")
    return root


def variant(tmp_path: Path, **app) -> Path:
    data = yaml.safe_load(MATRIX.read_text())
    data["app"].update(app)
    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_project_of_ones_own_is_shipped_checked_and_measured(lab_up, project, tmp_path_factory):
    results = tmp_path_factory.mktemp("own-results")
    lab("run", str(MATRIX), "--app", str(project), "--lab", LAB, "--results", str(results))
    (run_dir,) = run_folders(results)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    app = manifest["app"]
    assert (app["source"], app["settings"]) == (str(project), "mysite.settings")
    assert (app["wsgi"], app["asgi"]) == ("mysite.wsgi:application", "mysite.asgi:application")
    # Checked in each environment (gunicorn's, uvicorn's) on the server host:
    # migrated (the view counts users: auth's table), then its URL through
    # Django's client.
    assert len(app["checks"]) == 2
    for check in app["checks"].values():
        assert check["urls"] == [{"path": "/hello/", "status": 200, "ok": True, "has_text": True}]
    cells = {c["server"]: c for c in manifest["cells"]}
    assert {c["status"] for c in cells.values()} == {"ok"}
    assert "mysite.wsgi:application" in cells["gunicorn-sync"]["command"]
    assert "mysite.asgi:application" in cells["uvicorn"]["command"]
    samples = pd.read_parquet(run_dir / "results.parquet")
    rps = samples[samples.metric == "requests_per_s"]
    assert set(rps.view) == {"app:home"} and len(rps) == 2 and (rps.value > 0).all()
    assert servers_on_host("server") == []

    # The project changed: only it is shipped again (the playbook's user_app
    # tasks), and a URL that does not answer as expected stops the run.
    with (project / "mysite" / "views.py").open("a") as f:
        f.write("# changed\n")
    bad_url = variant(tmp_path_factory.mktemp("own-bad"),
                      urls=[{"name": "home", "path": "/nope/", "status": 200}])
    proc = lab("run", str(bad_url), "--app", str(project), "--lab", LAB, "--results",
               str(results), check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "app:home (/nope/) answered 404, expected 200; nothing was measured" in proc.stderr
    assert "configure: only the project was shipped" in proc.stdout + proc.stderr
    failed = [d for d in run_folders(results) if d != run_dir]
    (failed_dir,) = failed
    manifest = json.loads((failed_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "answered 404" in manifest["error"]
    assert not (failed_dir / "results.parquet").exists()


def test_settings_that_do_not_import_stop_the_run_before_it_measures(lab_up, project,
                                                                     tmp_path_factory):
    results = tmp_path_factory.mktemp("own-broken")
    broken = variant(tmp_path_factory.mktemp("own-broken-m"), settings="mysite.settings_broken")
    proc = lab("run", str(broken), "--app", str(project), "--lab", LAB, "--results",
               str(results), check=False)
    assert proc.returncode == 1
    assert "configure: playbook skipped" in proc.stdout + proc.stderr    # nothing changed
    assert ("app.settings 'mysite.settings_broken' does not import: ModuleNotFoundError: "
            "No module named 'no_such_module'") in proc.stderr
    # A folder that is not there is refused before any run folder exists.
    proc = lab("run", str(MATRIX), "--app", str(project / "nope"), "--lab", LAB, "--results",
               str(results), check=False)
    assert proc.returncode == 1 and "app.source: no such folder" in proc.stderr
    assert len(run_folders(results)) == 1
