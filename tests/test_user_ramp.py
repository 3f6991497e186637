"""The user-ramp scenario without a lab: its settings in matrix files, which
cells run it, the server's database environment, the constants it shares
with the playbooks, and measure()/before_start() against fake hosts: the
figures from a saved real Locust output, and the failures when PostgreSQL,
psycopg or nginx is missing, each naming the service and quoting its log."""
from __future__ import annotations

import shutil
import types
from pathlib import Path

import pytest
import yaml

from runner.scenarios.user_ramp import locust

from runner.session import session as protocol
from runner.core.errors import LabError
from runner.matrix.expand import load_matrix
from runner.scenarios import SCENARIOS, playbook_vars
from runner.scenarios import user_ramp as ur
from runner.core.errors import StepFailed
from runner.lab.host_paths import HostPaths
from runner.session.session import Window

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "data" / "locust" / "loopback_server_killed"

BASE = """
axes:
  python: ["3.12"]
  django: ["5.2.19"]
  server: [gunicorn-sync, uvicorn]
  view: [polls, drf]
pins: {djangorestframework: "3.18.3", gunicorn: "27.0.1", uvicorn: "0.54.0", uvloop: "0.23.0",
       httptools: "0.9.0", psycopg: "3.3.9", psycopg-binary: "3.3.9"}
"""


def role_defaults(role: str) -> dict:
    return yaml.safe_load((REPO / "playbooks" / "roles" / role / "defaults" / "main.yml").read_text())


def test_defaults_are_the_seeds_ramp():
    p = ur.Params()
    assert p.steps == [100, 200, 300, 400, 500, 600, 700]
    assert (p.wait_min_s, p.wait_max_s) == (1.0, 2.0) and p.conn_max_age_s == 0


@pytest.mark.parametrize("section,message", [
    ("{steps: [0, 100]}", "scenarios.user-ramp.steps[0]: must be >= 1, got 0"),
    ("{steps: []}", "scenarios.user-ramp.steps"),
    ("{steps: [200, 100]}", "user counts must increase from step to step"),
    ("{steps: [100, 100]}", "user counts must increase from step to step"),
    ("{step_s: 0}", "scenarios.user-ramp.step_s: must be >= 1, got 0"),
    ("{step_s: 1.5}", "scenarios.user-ramp.step_s"),
    ("{spawn_rate: 0}", "scenarios.user-ramp.spawn_rate: must be > 0"),
    ("{wait_min_s: -1}", "scenarios.user-ramp.wait_min_s: must be >= 0"),
    ("{wait_min_s: 3, wait_max_s: 2}", "wait_min_s (3) is above wait_max_s (2)"),
    ("{questions: 0}", "scenarios.user-ramp.questions: must be >= 1, got 0"),
    ("{timeout_s: 0}", "scenarios.user-ramp.timeout_s: must be > 0"),
    ("{users: [1]}", "scenarios.user-ramp.users: unknown field"),
])
def test_bad_settings_are_rejected_naming_the_field(write_matrix, section, message):
    with pytest.raises(LabError) as err:
        load_matrix(write_matrix(BASE + f"scenarios: {{user-ramp: {section}}}\n"))
    assert message in str(err.value)


def test_only_polls_cells_run_it(write_matrix):
    m = load_matrix(write_matrix(BASE + "scenarios: {user-ramp: {steps: [2, 4], step_s: 3}}\n"))
    assert {c.view for c in m.cells} == {"polls"} and len(m.cells) == 2
    assert all("view must be 'polls', not 'drf'" in e.reason for e in m.excluded)
    assert m.scenarios["user-ramp"].steps == [2, 4]
    [variant] = SCENARIOS["user-ramp"].variants(m.scenarios["user-ramp"], {})
    assert variant.values == {"steps": [2, 4]}


def host(name, address, lab_root="/lab/root"):
    return types.SimpleNamespace(name=name, address=address, traffic_address=address, lab_root=lab_root,
                                 role=name)


def test_server_env_points_the_app_at_the_db_host():
    server, db = host("server", "198.18.23.11"), host("db", "198.18.23.12")
    params = ur.Params(conn_max_age_s=60)
    env = ur.UserRamp().server_env(types.SimpleNamespace(server_host=server, role_hosts={"db": db}), params)
    assert env == {"LAB_DB": "postgres", "LAB_DB_HOST": "198.18.23.12", "LAB_DB_PORT": "5432",
                   "LAB_DB_NAME": "polls", "LAB_DB_USER": "polls", "LAB_DB_CONN_MAX_AGE": "60"}
    # A lab without a db host (the run puts None in the context): the server host.
    lonely = types.SimpleNamespace(server_host=host("server", "198.18.99.11"), role_hosts={})
    assert ur.UserRamp().server_env(lonely, params)["LAB_DB_HOST"] == "198.18.99.11"


def test_constants_agree_with_the_playbooks():
    pg, ng = role_defaults("lab_postgres"), role_defaults("lab_nginx")
    assert (pg["lab_postgres_port"], pg["lab_postgres_db"], pg["lab_postgres_db_user"]) == (
        ur.DB_PORT, ur.DB_NAME, ur.DB_USER)
    assert pg["lab_postgres_dir"] == "{{ lab_root }}/" + ur.POSTGRES_DIR
    assert pg["lab_postgres_log"] == "{{ lab_postgres_dir }}/postgres.log"
    assert pg["lab_postgres_data_dir"] == "{{ lab_postgres_dir }}/data"
    assert ng["lab_nginx_port"] == ur.NGINX_PORT
    assert ng["lab_nginx_dir"] == "{{ lab_root }}/" + ur.NGINX_DIR
    assert ng["lab_nginx_upstream"] == "{{ lab_address | default(ansible_host) }}:%d" % protocol.PORT
    template = (REPO / "playbooks/roles/lab_nginx/templates/nginx.conf.j2").read_text()
    assert "pid {{ lab_nginx_dir }}/nginx.pid;" in template
    assert "error_log {{ lab_nginx_dir }}/error.log" in template
    shipped = playbook_vars()
    (locustfile,) = [f for f in shipped["lab_scenario_files"] if f["name"] == "locustfile.py"]
    assert Path(locustfile["src"]).is_file()
    assert locust.PACKAGE in shipped["lab_client_tools_packages"]
    site = yaml.safe_load((REPO / "playbooks/site.yml").read_text())
    roles = {(r["role"], r.get("when")) for play in site for r in play.get("roles", [])
             if isinstance(r, dict)}
    assert roles == {
        ("lab_postgres", "'postgres' in (lab_services | default(['postgres']))"),
        ("lab_nginx", "'nginx' in (lab_services | default(['nginx']))")}
    # The services come only with a matrix that runs user-ramp.
    assert shipped["lab_services"] == ["nginx", "postgres"]
    assert playbook_vars(["user-ramp", "single-client"])["lab_services"] == ["nginx", "postgres"]
    assert playbook_vars(["single-client", "instructions"])["lab_services"] == []


def test_the_window_outlasts_locusts_own_bound():
    params = ur.Params(steps=[10, 20, 30], step_s=5, timeout_s=7)
    argv = locust.command("l", "f", "h", "p", params.steps, params.step_s, 1, 1, 2, params.timeout_s)
    assert ur.window_bound_s(params) > int(argv[3].rstrip("s")) + 10   # + timeout's -k 10


# -- measure() and before_start() against fake hosts ---------------------------

class Result:
    def __init__(self, stdout="", return_code=0):
        self.stdout, self.return_code = stdout, return_code


class FakeConn:
    """Answers commands by the first matching substring; records them."""

    def __init__(self, answers: dict):
        self.answers, self.commands = answers, []

    def run(self, cmd, **kwargs):
        self.commands.append(cmd)
        for key, answer in self.answers.items():
            if key in cmd:
                return answer
        return Result()


class FakeSession:
    def __init__(self, tmp_path, server_answers, client_answers):
        lab_root = "/lab/server/root"
        self.server_conn, self.client_conn = FakeConn(server_answers), FakeConn(client_answers)
        self.ctx = types.SimpleNamespace(
            server_host=host("server", "198.18.23.11", lab_root), port=protocol.PORT,
            server_conn=self.server_conn, client_conn=self.client_conn,
            role_hosts={})
        self.ctx.role_hosts["db"] = self.ctx.server_host
        self.cell = types.SimpleNamespace(env_id="env1")
        self.server_paths = types.SimpleNamespace(app=f"{lab_root}/app",
                                                  venv_bin=lambda env: f"{lab_root}/envs/{env}/venv/bin")
        self.view = types.SimpleNamespace(path="/polls/", expected_status=200,
                                          expected_body=b'id="polls-index"', match="contains")
        self.client_bin, self.client_python = "/lab/client/tools/venv/bin", "/lab/client/tools/venv/bin/python"
        self.client_paths = HostPaths("/lab/client")
        self.client_dir, self.local_dir = "/lab/client/runs/x", tmp_path
        self.windows = []

    def client_tool(self, name):
        return f"/lab/client/tools/{name}"

    def run_client(self, cmd, timeout):
        return self.client_conn.run(cmd)

    def run_server(self, cmd, timeout):
        return self.server_conn.run(cmd)

    def fetch(self, conn, remote_dir, names):
        for name in names:
            if (SAMPLE / name).exists():
                shutil.copy(SAMPLE / name, self.local_dir / name)

    def measure_window(self, tag, argv, timeout_s, capacity_cores=1.0):
        self.windows.append((argv, timeout_s))
        rows = locust.parse_steps((SAMPLE / "locust_steps.csv").read_text())
        start, end = rows[0].start_epoch - 1, rows[-1].end_epoch + 1
        samples = [{"t": start + 0.2 * k, "rss": 1, "threads": 1,
                    "procs": [{"pid": 7, "ppid": 1, "name": "gunicorn", "cpu_s": 0.1 * k, "rss": 1,
                               "threads": 1, "ctx_vol": k, "ctx_invol": 0}]}
                   for k in range(int((end - start) / 0.2) + 1)]
        return Window(stdout="", server={}, client={}, start=start, end=end, server_samples=samples)

    def window_metrics(self, window):
        return {"client_cpu_percent": (12.0, "%")}


def test_measure_reports_every_step_from_locusts_files(tmp_path, monkeypatch):
    for name in ("locust_steps.csv", "locust.json"):
        assert (SAMPLE / name).exists()
    snapshots = iter(['{"t": 100.0, "postgres": 10.0, "nginx": 1.0}',
                      '{"t": 110.0, "postgres": 12.5, "nginx": 1.5}'])
    session = FakeSession(tmp_path, {}, {"probe.py": Result('{"ready": true, "body_ok": true}')})
    session.server_conn.run = lambda cmd, **kw: Result(next(snapshots)) if "psutil" in cmd else Result()
    params = ur.Params(steps=[2, 4, 8], step_s=3, wait_min_s=0.1, wait_max_s=0.2)
    metrics = ur.UserRamp().measure(session, params, None)
    # nginx, not the app server's own port, is what Locust loads.
    [(argv, timeout)] = session.windows
    assert argv[argv.index("--host") + 1] == "http://198.18.23.11:8080"
    assert argv[argv.index("--lab-steps") + 1] == "2,4,8" and timeout == ur.window_bound_s(params)
    assert metrics["failure_pct@4"] == (100.0, "%") and metrics["max_users_without_failures"][0] == 2
    assert metrics["postgres_cpu_percent"] == pytest.approx((25.0, "%"))
    assert metrics["nginx_cpu_percent"] == pytest.approx((5.0, "%"))
    # The app server's CPU per step, from its trace: 0.1 s of CPU per 0.2 s.
    assert metrics["server_cpu_percent@4"][0] == pytest.approx(50.0)
    assert metrics["client_cpu_percent"] == (12.0, "%")


def test_nginx_not_passing_the_page_through_fails_with_its_log(tmp_path):
    session = FakeSession(
        tmp_path, {"error.log": Result("connect() failed (111: Connection refused) while connecting "
                                       "to upstream")},
        {"probe.py": Result('{"ready": false, "error": "ConnectionRefusedError(111)"}', 1)})
    with pytest.raises(StepFailed) as err:
        ur.UserRamp().measure(session, ur.Params(steps=[2], step_s=1), None)
    text = str(err.value)
    assert "nginx at http://198.18.23.11:8080 does not pass /polls/ through" in text
    assert "nginx on server: connect() failed (111: Connection refused)" in text
    assert session.windows == [], "Locust must not run"


def test_postgresql_missing_fails_before_the_server_starts_with_its_log(tmp_path):
    refused = Result('psycopg.OperationalError: connection failed: connection to server at '
                     '"198.18.23.11", port 5432 failed: Connection refused', 1)
    session = FakeSession(tmp_path, {
        "seed_polls": refused,
        "postgres.log": Result("Start PostgreSQL: non-zero return code\nFATAL:  could not create "
                               "lock file \"postmaster.pid\": No space left on device")}, {})
    with pytest.raises(StepFailed) as err:
        ur.UserRamp().before_start(session, ur.Params())
    text = str(err.value)
    assert "cannot migrate and seed the polls database at 198.18.23.11:5432" in text
    assert "Connection refused" in text and "postgres on server:" in text
    assert "No space left on device" in text
    # Migrate and seed ran with the cell's venv and the server's own environment.
    [cmd] = [c for c in session.server_conn.commands if "seed_polls" in c]
    assert "/lab/server/root/envs/env1/venv/bin/python" in cmd and "LAB_DB=postgres" in cmd
    assert "env -i" in cmd and "DJANGO_SETTINGS_MODULE=labproject.settings" in cmd
    assert f"timeout -k 5 {ur.PREPARE_TIMEOUT_S} " in cmd


def test_a_database_that_never_answers_fails_the_unit_not_the_run(tmp_path):
    # Bounded on the host by `timeout` (exit 124) ...
    session = FakeSession(tmp_path, {"seed_polls": Result("", 124),
                                     "postgres.log": Result("LOG:  database system is ready")}, {})
    with pytest.raises(StepFailed, match=r"took over 90 s .*not answering.*database system is ready"):
        ur.UserRamp().before_start(session, ur.Params())

    # ... and an SSH-level timeout becomes this unit's failure too.
    class Hanging(FakeConn):
        def run(self, cmd, **kwargs):
            if "seed_polls" in cmd or "postgres.log" in cmd:
                raise TimeoutError("Command did not complete within 120 seconds")
            return Result()
    session.server_conn = session.ctx.server_conn = Hanging({})
    session.run_server = lambda cmd, timeout: session.server_conn.run(cmd)
    with pytest.raises(StepFailed) as err:
        ur.UserRamp().before_start(session, ur.Params())
    assert "did not finish: TimeoutError" in str(err.value)
    assert "its log could not be read (TimeoutError)" in str(err.value)


def test_a_cell_without_psycopg_is_told_to_pin_it(tmp_path):
    session = FakeSession(tmp_path, {"seed_polls": Result(
        "django.core.exceptions.ImproperlyConfigured: Error loading psycopg2 or psycopg module", 1)}, {})
    with pytest.raises(StepFailed, match="pin psycopg and psycopg-binary"):
        ur.UserRamp().before_start(session, ur.Params())
