"""`lab run --app`: a user's own Django project as the app under test. What
the controller can check is refused before anything starts, with the field
named; the project's views, entry points, settings and requirements reach
the cells. (The lab run itself: tests/test_lab_own_project.py.)"""
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from runner.catalog.servers import SERVERS
from runner.catalog.user_app import current, project_of
from runner.catalog.views import VIEWS
from runner.core.errors import LabError
from runner.lab.host_paths import HostPaths
from runner.matrix.app_source import tree_digest
from runner.matrix.expand import load_matrix
from runner.matrix.locks import requirements_for
from runner.session import server as server_mod
from runner.session.user_app import check_command, failure

MATRIX = """\
name: own
axes: {{python: ["3.12"], django: ["5.2.19"], server: [gunicorn-sync, uvicorn],
        view: {views}}}
pins: {{djangorestframework: "3.18.3", gunicorn: "27.0.1", uvicorn: "0.54.0",
        uvloop: "0.23.0", httptools: "0.9.0"}}
app:
{app}
"""
APP = """\
  urls:
    - {name: home, path: /hello/, status: 200, contains: hello}
    - {name: gone, path: /gone/, status: 404}
"""


@pytest.fixture
def project(tmp_path):
    """The layout `django-admin startproject mysite` makes (Django itself is
    not needed to check it)."""
    root = tmp_path / "proj"
    (root / "mysite").mkdir(parents=True)
    (root / "manage.py").write_text(textwrap.dedent("""\
        import os
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        """))
    for name in ("__init__", "settings", "urls", "wsgi", "asgi"):
        (root / "mysite" / f"{name}.py").write_text(f"# {name}\n")
    return root


def write(tmp_path, views='["app:home", "app:gone"]', app=APP, name="m.yaml"):
    path = tmp_path / name
    path.write_text(MATRIX.format(views=views, app=textwrap.indent(app, "") or "  {}"))
    return path


def test_entry_points_come_from_manage_py_and_urls_become_views(tmp_path, project):
    m = load_matrix(write(tmp_path), str(project))
    assert (m.app.settings, m.app.wsgi, m.app.asgi) == (
        "mysite.settings", "mysite.wsgi:application", "mysite.asgi:application")
    assert m.app.source == str(project) and m.app.digest.startswith("sha256:")
    assert sorted(c.view for c in m.cells) == ["app:gone", "app:gone", "app:home", "app:home"]
    home = VIEWS["app:home"]
    assert (home.path, home.expected_status, home.expected_body, home.match) == (
        "/hello/", 200, b"hello", "contains")
    assert VIEWS["app:gone"].expected_status == 404
    assert current() is m.app
    # The server loads the project's own entry point, from its folder, with its settings.
    argv = SERVERS["uvicorn"].command(HostPaths("/lab").user_app, "/lab/envs/e/venv/bin",
                                      "198.18.1.10", 8000, 1, target=m.app.target("asgi"))
    assert argv[1:4] == ["mysite.asgi:application", "--app-dir", "/lab/userapp"]
    env = server_mod.server_env
    assert env(project_of("app:home"))["DJANGO_SETTINGS_MODULE"] == "mysite.settings"
    assert env(project_of("drf"))["DJANGO_SETTINGS_MODULE"] == "labproject.settings"


def test_named_entry_points_win_over_manage_py(tmp_path, project):
    (project / "mysite" / "prod.py").write_text("")
    (project / "mysite" / "entry.py").write_text("")
    m = load_matrix(write(tmp_path, app="  settings: mysite.prod\n  wsgi: mysite.entry:app\n"
                                         + APP), str(project))
    assert (m.app.settings, m.app.wsgi, m.app.asgi) == (
        "mysite.prod", "mysite.entry:app", "mysite.asgi:application")


@pytest.mark.parametrize("app, source, message", [
    (APP, "missing", "app.source: no such folder"),
    ("  settings: mysite.nope\n" + APP, None, "app.settings: no module 'mysite.nope'"),
    ("  wsgi: mysite.wsgi\n" + APP, None, "app.wsgi: expected \"module:callable\""),
    ("  asgi: other.asgi:application\n" + APP, None, "app.asgi: no module 'other.asgi'"),
    ("  requirements: reqs.txt\n" + APP, None, "app.requirements: no such file"),
    ("  rev: main\n" + APP, None, "app.rev: 'main' is for a git source"),
    ("  urls: [{name: home, path: hello, status: 200}]\n", None, "app.urls[0].path: String should match pattern '^/'"),
])
def test_bad_input_is_refused_naming_the_field(tmp_path, project, app, source, message):
    src = str(tmp_path / source) if source else str(project)
    with pytest.raises(LabError) as err:
        load_matrix(write(tmp_path, views='["app:home"]', app=app), src)
    assert message in str(err.value)


def test_a_project_without_manage_py_must_name_its_settings(tmp_path, project):
    (project / "manage.py").unlink()
    with pytest.raises(LabError, match="app.settings: not given"):
        load_matrix(write(tmp_path), str(project))


def test_views_must_be_urls_of_the_app(tmp_path, project):
    with pytest.raises(LabError, match="view 'app:nope' is not among app.urls: app:home, app:gone"):
        load_matrix(write(tmp_path, views='["app:nope"]'), str(project))
    no_app = tmp_path / "n.yaml"
    no_app.write_text(write(tmp_path, views='["app:home"]').read_text().split("app:\n")[0])
    with pytest.raises(LabError, match="view 'app:home' needs an `app:` section"):
        load_matrix(no_app)
    no_app.write_text(no_app.read_text().replace('"app:home"', "drf"))
    with pytest.raises(LabError, match="--app needs a matrix with an `app:` section"):
        load_matrix(no_app, str(project))


def test_without_a_source_the_run_says_how_to_give_one(tmp_path, project):
    with pytest.raises(LabError, match="--app PATH_OR_GIT_URL"):
        load_matrix(write(tmp_path))


def test_a_git_source_is_cloned_at_its_rev(tmp_path, project):
    def git(*args):
        return subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True,
                              text=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                              "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                                              "HOME": str(tmp_path)}).stdout.strip()
    git("init", "--quiet", "-b", "main")
    git("add", ".")
    git("commit", "--quiet", "-m", "first")
    first = git("rev-parse", "HEAD")
    (project / "mysite" / "views.py").write_text("# second\n")
    git("add", ".")
    git("commit", "--quiet", "-m", "second")
    url = f"file://{project}"
    m = load_matrix(write(tmp_path, app=f"  rev: {first}\n" + APP), url)
    assert m.app.digest == f"git:{first}" and m.app.source == url
    assert not (Path(m.app.local_dir) / "mysite" / "views.py").exists()   # the first commit's tree
    with pytest.raises(LabError, match="git checkout nope failed"):
        load_matrix(write(tmp_path, app="  rev: nope\n" + APP), url)
    with pytest.raises(LabError, match="git clone failed"):
        load_matrix(write(tmp_path, app=APP), f"file://{tmp_path}/none.git")


def test_the_digest_follows_the_files_not_the_bytecode(project):
    before = tree_digest(project)
    (project / "mysite" / "__pycache__").mkdir()
    (project / "mysite" / "__pycache__" / "settings.cpython-312.pyc").write_bytes(b"x")
    assert tree_digest(project) == before
    (project / "mysite" / "urls.py").write_text("# changed\n")
    assert tree_digest(project) != before


def test_the_project_requirements_go_into_its_cells_locks_only(tmp_path, project):
    (project / "requirements.txt").write_text("whitenoise==6.9.0\n")
    path = write(tmp_path, views='["app:home", drf]', app="  requirements: requirements.txt\n" + APP)
    m = load_matrix(path, str(project))
    reqs = {c.view: requirements_for(c, m.pins, m.app.requirements) for c in m.cells}
    assert "whitenoise==6.9.0" in reqs["app:home"].split()
    assert "whitenoise==6.9.0" not in reqs["drf"].split()


def test_the_check_on_the_host_runs_in_the_project_with_its_settings(tmp_path, project):
    m = load_matrix(write(tmp_path, app="  fixtures: [polls.json]\n" + APP), str(project))
    cmd = check_command(HostPaths("/lab"), m.app, "abc", "198.18.1.10:8000")
    assert cmd.startswith("cd /lab/userapp && env -i ")
    assert "DJANGO_SETTINGS_MODULE=mysite.settings" in cmd
    assert "/lab/envs/abc/venv/bin/python /lab/tools/app_check.py --host 198.18.1.10:8000" in cmd
    assert "--migrate --fixtures polls.json" in cmd
    assert """--url '["/hello/", 200, "hello"]'""" in cmd


def test_what_the_host_check_found_is_said_in_one_line(tmp_path, project):
    m = load_matrix(write(tmp_path), str(project))
    host = "198.18.1.10:8000"
    assert failure(m.app, {"ok": True}, host) is None
    said = failure(m.app, {"ok": False, "step": "settings", "error": "ImportError: no x"}, host)
    assert said == "app.settings 'mysite.settings' does not import: ImportError: no x"
    urls = [{"path": "/hello/", "status": 400, "ok": False},
            {"path": "/gone/", "status": 404, "ok": True}]
    said = failure(m.app, {"ok": False, "step": "urls", "urls": urls}, host)
    assert said == ("app:home (/hello/) answered 400, expected 200 "
                    "(is 198.18.1.10 in ALLOWED_HOSTS?)")
    urls[0] = {"path": "/hello/", "status": 500, "ok": False, "error": "TemplateDoesNotExist: x"}
    assert failure(m.app, {"ok": False, "urls": urls}, host) == (
        "app:home (/hello/) answered 500, expected 200 (it raised TemplateDoesNotExist: x)")
    urls[0] = {"path": "/hello/", "status": 200, "ok": False}
    assert "answered without 'hello'" in failure(m.app, {"ok": False, "urls": urls}, host)
    assert json.loads(json.dumps(m.app.record()))["urls"][0]["contains"] == "hello"


def test_a_lost_server_host_during_the_check_is_one_line(tmp_path, project, monkeypatch):
    from paramiko.ssh_exception import SSHException

    from runner.session import user_app

    def lost(*args, **kwargs):
        raise SSHException("No existing session")

    m = load_matrix(write(tmp_path), str(project))
    monkeypatch.setattr(user_app, "connect", lambda host: type("Conn", (), {"close": lambda s: None})())
    monkeypatch.setattr(user_app, "run", lost)
    host = type("H", (), {"name": "server", "address": "198.18.1.10", "traffic_address": "198.18.1.10", "lab_root": "/lab"})()
    with pytest.raises(LabError, match="the check on server failed .*No existing session.*"
                                       "nothing was measured"):
        user_app.check_project(host, m.app, ["abc"])
