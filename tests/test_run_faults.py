"""Storage faults and lost hosts stop a run with one clear error and keep
what was measured (runner/execute/run.py, runner/core/errors.py)."""
import errno
import json
import subprocess
from types import SimpleNamespace

import pytest
from paramiko.ssh_exception import NoValidConnectionsError

from runner.core.errors import HostUnreachable, StorageFault, storage_fault
from runner.execute.run import check_hosts, save_or_rescue


def test_only_a_failed_write_under_the_run_folder_is_a_storage_fault(tmp_path):
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "raw" / "x.json"))
    assert "No space left on device" in str(storage_fault(full, tmp_path))
    assert storage_fault(full, tmp_path / "other") is None
    assert storage_fault(FileNotFoundError(errno.ENOENT, "gone", str(tmp_path / "a")), tmp_path) is None
    lost = NoValidConnectionsError({("198.18.0.11", 22): ConnectionRefusedError(111, "refused")})
    assert storage_fault(lost, tmp_path) is None


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 256 KiB tmpfs: writes past it fail with ENOSPC."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fake_save(measured: dict):
    def save(status, folder, error=None):
        (folder / "results.json").write_text(json.dumps(measured))
        (folder / "manifest.json").write_text(json.dumps({"status": status, "error": error}))
    return save


def test_a_full_run_folder_sends_the_manifest_elsewhere_and_says_where(tmp_path, tiny_disk):
    run_dir = tiny_disk / "20261203T000000Z-x-0000"
    run_dir.mkdir()
    with open(tiny_disk / "filler", "wb") as f:          # fill the disk to the last byte
        with pytest.raises(OSError):
            f.write(b"\0" * 400_000)
            f.flush()
    measured = {"latency_p50": [0.4] * 2000}
    with pytest.raises(StorageFault) as err:
        save_or_rescue(fake_save(measured), "interrupted", run_dir, tmp_path / "state")
    rescue = tmp_path / "state" / "rescued" / run_dir.name
    assert f"{run_dir} cannot be written" in str(err.value) and str(rescue) in str(err.value)
    manifest = json.loads((rescue / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "No space left on device" in manifest["error"]
    assert json.loads((rescue / "results.json").read_text()) == measured


def test_a_writable_run_folder_is_used_as_is(tmp_path):
    save_or_rescue(fake_save({"a": 1}), "complete", tmp_path, tmp_path / "state")
    assert json.loads((tmp_path / "manifest.json").read_text())["status"] == "complete"
    assert not (tmp_path / "state").exists()


class DeadConn:
    def __init__(self):
        self.calls = 0

    def close(self):
        pass

    def run(self, command, **kwargs):
        self.calls += 1
        raise NoValidConnectionsError({("198.18.0.11", 22): ConnectionRefusedError(111, "refused")})


class LiveConn(DeadConn):
    def run(self, command, **kwargs):
        self.calls += 1
        return SimpleNamespace(stdout="", return_code=0)


def test_a_host_that_stays_down_stops_the_run_naming_it():
    ui = SimpleNamespace(info=lambda *_: None)
    server, client = SimpleNamespace(name="server", address="198.18.0.11"), \
        SimpleNamespace(name="client", address="198.18.0.10")
    dead = DeadConn()
    ctx = SimpleNamespace(server_host=server, client_host=client, server_conn=dead,
                          client_conn=LiveConn())
    with pytest.raises(HostUnreachable, match=r"host server \(198.18.0.11\) is unreachable "
                                              r"over SSH after 3 tries \(NoValidConnectionsError"):
        check_hosts(ctx, ui, tries=3, wait_s=0)
    assert dead.calls == 3
    ctx.server_conn = LiveConn()
    check_hosts(ctx, ui, tries=3, wait_s=0)           # both answer: the run goes on
