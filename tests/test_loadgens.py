"""runner/session/host/loadgens.py: where each load generator comes from.
Go's build information is read from a blob laid out as the Go linker lays
it out, and the script runs for real against this test's own venv."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "runner" / "session" / "host" / "loadgens.py"
sys.path.insert(0, str(SCRIPT.parent))
import loadgens  # noqa: E402

pytestmark = [pytest.mark.integration]

MODINFO = (b"path\tgo.k6.io/k6\nmod\tgo.k6.io/k6\tv1.1.0\t\n"
           b"build\t-trimpath=true\nbuild\tCGO_ENABLED=0\n"
           b"build\tvcs.revision=0e3fb953be73a968cbbe7f98ba796515254f6ea4\n"
           b"build\tvcs.time=2025-06-25T13:56:55Z\nbuild\tvcs.modified=false\n")


def go_binary(tmp_path: Path) -> Path:
    """An ELF-free stand-in with Go's build-info header: magic, pointer size,
    flags (2: strings inline), padding to 32 bytes, then the varint-length
    version string and the module information."""
    header = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16)
    version = b"go1.24.4"
    blob = (b"\x00" * 64 + header + bytes([len(version)]) + version
            + bytes([len(MODINFO)]) + MODINFO + b"\x00" * 64)
    path = tmp_path / "k6"
    path.write_bytes(blob)
    return path


def test_go_build_information_ties_a_binary_to_its_source_commit(tmp_path):
    info = loadgens.go_build_info(go_binary(tmp_path))
    assert info == {"module": "go.k6.io/k6", "module_version": "v1.1.0", "trimpath": "true",
                    "CGO_ENABLED": "0", "go": "go1.24.4",
                    "vcs.revision": "0e3fb953be73a968cbbe7f98ba796515254f6ea4",
                    "vcs.time": "2025-06-25T13:56:55Z", "vcs.modified": "false"}
    plain = tmp_path / "plain"
    plain.write_bytes(b"#!/bin/sh\necho hi\n")
    assert loadgens.go_build_info(plain) == {}


def test_the_script_describes_the_executables_of_a_venv_package():
    venv = Path(sys.executable).parent.parent
    pin = f"pytest=={metadata.version('pytest')}"
    out = subprocess.run([sys.executable, str(SCRIPT), "--venv", str(venv), "--package", pin],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    pytest_bin = report["pytest"]
    assert pytest_bin["origin"] == f"PyPI {pin}"
    assert pytest_bin["sha256"] == hashlib.sha256(Path(pytest_bin["path"]).read_bytes()).hexdigest()
    assert metadata.version("pytest") in pytest_bin["version"]
    if "wrk" in report:   # Debian's wrk where make setup installed it
        assert report["wrk"]["origin"].startswith("Debian package wrk ")
    if "valgrind" in report:   # the instructions scenario's instrument
        assert report["valgrind"]["origin"].startswith("Debian package valgrind ")
        assert report["valgrind"]["version"].startswith("valgrind-3.")
