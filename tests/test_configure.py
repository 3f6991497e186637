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
