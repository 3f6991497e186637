from pathlib import Path

from runner.lab.configure import failure_summary

DATA = Path(__file__).parent / "data" / "ansible"


def test_failure_summary_names_hosts_and_ansible_messages():
    summary = failure_summary(DATA / "failures.log")
    assert "server: Task failed: Data could not be sent" in summary
    assert "Permission denied (publickey)" in summary
    assert "does not exist" in summary          # the per-item failure form
    assert '"changed"' not in summary           # not a page of JSON


def test_failure_summary_without_recognisable_lines(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("PLAY RECAP\nserver : ok=1 changed=0 unreachable=0 failed=1\n")
    assert failure_summary(log) == "see the log"


def test_the_fingerprint_follows_what_the_hosts_get_but_not_the_environments(tmp_path):
    from runner.lab.configure import fast_path, inputs_fingerprint
    from runner.lab.inventory import Lab

    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    lab = Lab("t", inventory, {"lab_state_dir": str(tmp_path)}, {})
    files = {"lab_scenario_files": [{"src": "a.js", "name": "a.js"}]}
    base = inputs_fingerprint(lab, {**files, "lab_envs": [{"env_id": "a"}]})
    # Other environments are checked on the host, not here.
    assert inputs_fingerprint(lab, {**files, "lab_envs": [{"env_id": "b"}]}) == base
    # Nor is the project under test (lab run --app): its digest is checked there.
    assert inputs_fingerprint(lab, {**files, "lab_envs": [],
                                    "lab_user_app": {"src": "/p", "digest": "sha256:x"}}) == base
    assert inputs_fingerprint(lab, {"lab_scenario_files": [], "lab_envs": []}) != base
    inventory.write_text("all: {hosts: {}}\n")
    changed = inputs_fingerprint(lab, {**files, "lab_envs": []})
    assert changed != base
    # Without a record of a successful playbook run there is no fast path,
    # and a record of other inputs does not count.
    assert "no successful playbook run" in fast_path(lab, files, changed)
    (tmp_path / "configured.json").write_text('{"fingerprint": "%s", "token": "t"}' % base)
    assert "changed" in fast_path(lab, files, changed)
