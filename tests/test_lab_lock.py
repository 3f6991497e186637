"""One run per lab at a time (runner/lab/lock.py), with real processes."""
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from runner.core.errors import LabError
from runner.lab import lock
from tests.conftest import REPO

pytestmark = [pytest.mark.integration]

LAB_CMD = [str(REPO / ".venv" / "bin" / "lab")]


def holder_process(state_dir, what="lab run matrices/demo.yaml"):
    """Another process that takes the lab's lock and keeps it (at most 120 s)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from runner.lab import lock
            with lock.hold({str(state_dir)!r}, "other", {what!r}):
                print("held", flush=True)
                time.sleep(120)
        """)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_naming_the_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    proc = holder_process(tmp_path / "a")
    try:
        with pytest.raises(LabError) as err:
            with lock.hold(tmp_path / "a", "a", "lab run x.yaml"):
                pytest.fail("took a lock another process holds")
        assert "lab 'a' is busy: lab run matrices/demo.yaml (pid " in str(err.value)
        assert str(proc.pid) in str(err.value)
        # Another lab (another state dir) is not held up.
        with lock.hold(tmp_path / "b", "b", "lab run y.yaml"):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)    # a crash: no clean-up code runs
        proc.wait(timeout=30)
    with lock.hold(tmp_path / "a", "a", "lab run x.yaml"):
        pass


def test_lab_run_refuses_a_busy_lab_before_writing_anything(tmp_path):
    name = f"locktest{tmp_path.name[-6:]}".replace("_", "")
    inventory = REPO / "inventory" / name / "hosts.yml"
    inventory.parent.mkdir(parents=True)
    state = tmp_path / "state"
    inventory.write_text(textwrap.dedent(f"""
        all:
          vars: {{lab_state_dir: {state}}}
          children:
            server: {{hosts: {{server: {{ansible_host: 198.18.9.11, lab_role: server, lab_cpus: "1",
              lab_root: {tmp_path}/s, ansible_user: root, ansible_ssh_private_key_file: k,
              lab_known_hosts: kh}}}}}}
            client: {{hosts: {{client: {{ansible_host: 198.18.9.10, lab_role: client, lab_cpus: "0",
              lab_root: {tmp_path}/c, ansible_user: root, ansible_ssh_private_key_file: k,
              lab_known_hosts: kh}}}}}}
    """))
    proc = holder_process(state)
    try:
        out = subprocess.run(LAB_CMD + ["run", str(REPO / "tests/data/matrices/faults.yaml"),
                                        "--lab", name, "--results", str(tmp_path / "results")],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        shutil.rmtree(inventory.parent)
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode != 0
    assert f"lab '{name}' is busy: lab run matrices/demo.yaml (pid {proc.pid}" in text, text
    assert "Traceback" not in text
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
