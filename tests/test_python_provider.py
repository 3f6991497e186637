"""The lab_python role's providers, run for real: ansible-playbook applies the
role to this machine (ansible_connection=local) with its folders in tmp_path.

The uv provider really installs a build with `uv python install`, offline: the
test packs /root/.pyenv/versions/3.12.1 as a python-build-standalone
"install_only" archive (top folder python/), made relocatable, and points uv at
it through the role's two offline settings: a downloads JSON (uv's own list
format, our sha256) whose URLs a file:// mirror rewrites. uv's network access
is off (UV_OFFLINE) and any proxy is a closed loopback port, so nothing leaves
the machine."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.network, pytest.mark.needs("ansible-playbook")]

REPO = Path(__file__).resolve().parent.parent
PLAY = Path(__file__).parent / "data" / "python_provider" / "play.yml"
ROLES = REPO / "playbooks" / "roles"
BIN = Path(sys.executable).parent
PYENV = Path("/root/.pyenv/versions")
SOURCE = PYENV / "3.12.1"  # the build the uv test packs and installs
# The prefix UV_PYTHON_INSTALL_MIRROR replaces in a download URL.
PBS_PREFIX = "https://github.com/astral-sh/python-build-standalone/releases/download/"
ARCHIVE = "cpython-3.12.1-x86_64-unknown-linux-gnu-install_only.tar.gz"
NO_EGRESS = {"UV_OFFLINE": "1", "HTTPS_PROXY": "http://127.0.0.1:9",
             "HTTP_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def run_play(tmp_path: Path, hosts: dict, limit: str = "all") -> str:
    """Output of one ansible-playbook run of PLAY with the default callback, over
    one local host per case (each with its own vars and lab_root): the hosts
    run in parallel and one's failure does not stop the others."""
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                 "lab_state_dir": str(tmp_path / "state")},
        "hosts": {name: {"lab_root": str(tmp_path / name / "root"), **hvars}
                  for name, hvars in hosts.items()}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROLES), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_PIPELINING": "1",
           "ANSIBLE_FORKS": "10", **NO_EGRESS}
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), "--limit", limit,
         str(PLAY)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return proc.stdout + proc.stderr


def recap(output: str, host: str) -> dict:
    m = re.search(rf"^{host}\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                  output, re.M)
    assert m, output
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups())))


def facts_file(tmp_path: Path, host: str) -> dict:
    return json.loads((tmp_path / "state" / "facts" / f"pythons-{host}.json").read_text())


def _relocatable_copy(src: Path, dest: Path) -> None:
    """Copy a pyenv build without its tests and caches, and point the absolute
    RUNPATH its ELF files carry (src/lib) at $ORIGIN instead: the same bytes,
    NUL-padded, in place of the string (the new one is shorter)."""
    skip = {"test", "idlelib", "tkinter", "turtledemo", "__pycache__", "site-packages"}
    shutil.copytree(src, dest, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in skip or n.endswith(".a")])
    old = f"{src}/lib".encode() + b"\0"
    patched = 0
    for root, _, files in os.walk(dest):
        for name in files:
            path = Path(root, name)
            if path.is_symlink():
                continue
            data = path.read_bytes()
            if not data.startswith(b"\x7fELF") or data.count(old) != 1:
                continue
            rel = os.path.relpath(dest / "lib", root)
            new = ("$ORIGIN" if rel == "." else f"$ORIGIN/{rel}").encode()
            path.write_bytes(data.replace(old, new.ljust(len(old), b"\0")))
            patched += 1
    assert patched > 1, "no RUNPATH to patch: the build's layout changed"


def make_uv_mirror(root: Path) -> None:
    """root/mirror/lab/ARCHIVE, and root/downloads.json naming it (plus
    root/broken.json naming an archive the mirror does not have)."""
    _relocatable_copy(SOURCE, root / "stage" / "python")
    (root / "mirror" / "lab").mkdir(parents=True)
    archive = root / "mirror" / "lab" / ARCHIVE
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(root / "stage" / "python", "python")
    shutil.rmtree(root / "stage")
    entry = {"name": "cpython", "arch": {"family": "x86_64", "variant": None}, "os": "linux",
             "libc": "gnu", "major": 3, "minor": 12, "patch": 1, "prerelease": "",
             "url": PBS_PREFIX + "lab/" + ARCHIVE,
             "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(), "variant": None}
    (root / "downloads.json").write_text(json.dumps({"cpython-3.12.1-linux-x86_64-gnu": entry}))
    missing = {**entry, "url": PBS_PREFIX + "lab/not-there.tar.gz"}
    (root / "broken.json").write_text(json.dumps({"cpython-3.12.1-linux-x86_64-gnu": missing}))


PY311 = str(PYENV / "3.11.7" / "bin" / "python3")
PY39 = str(PYENV / "3.9.18" / "bin" / "python3.9")


def cases(tmp: Path) -> dict:
    """One inventory host per case: its vars."""
    def uv(versions, downloads_json, **more):
        return {"lab_python_provider": "uv", "lab_python_versions": versions,
                "lab_python_uv_downloads_json": str(tmp / downloads_json),
                "lab_python_uv_mirror": (tmp / "mirror").as_uri(),
                "lab_python_uv_env": {"UV_CACHE_DIR": str(tmp / "uv-cache"), **NO_EGRESS}, **more}
    return {
        "discovery": {"lab_python_provider": "preinstalled", "lab_python_versions": ["3.12", "3.99"]},
        "map": {"lab_python_provider": "preinstalled", "lab_python_versions": ["3.11", "3.9", "3.8"],
                "lab_python_preinstalled_map": {"3.11": PY311, "3.9.18": PY39}},
        "badmap": {"lab_python_provider": "preinstalled", "lab_python_versions": ["3.10"],
                   "lab_python_preinstalled_map": {"3.10": PY311}},
        "uv": uv(["3.12", "3.12.1", "3.99"], "downloads.json"),
        "uvbroken": uv(["3.12"], "broken.json"),
        "nouv": uv(["3.12"], "downloads.json", lab_python_uv=str(tmp / "nowhere" / "uv")),
        "conda": {"lab_python_provider": "conda", "lab_python_versions": ["3.12"]},
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Every case run once, then the cases that succeed run a second time."""
    if not (BIN / "ansible-playbook").exists() or not all(
            (PYENV / v / "bin" / "python3").exists() for v in ("3.12.1", "3.11.7", "3.9.18")):
        pytest.skip("needs ansible-playbook and the CPython builds under /root/.pyenv/versions")
    tmp = tmp_path_factory.mktemp("python-provider")
    make_uv_mirror(tmp)
    for name in ("uv", "uvbroken"):  # where the lab_tools role puts uv
        uv = tmp / name / "root" / "tools" / "venv" / "bin" / "uv"
        uv.parent.mkdir(parents=True)
        uv.symlink_to(BIN / "uv")
    hosts = cases(tmp)
    first = run_play(tmp, hosts)
    second = run_play(tmp, hosts, limit="discovery,map,uv")
    return tmp, first, second


# --- preinstalled ----------------------------------------------------------------

def test_preinstalled_discovery_maps_newest_build_and_missing_to_null(lab):
    tmp, first, second = lab
    assert recap(first, "discovery")["failed"] == 0, first
    assert facts_file(tmp, "discovery") == {"provider": "preinstalled", "builds": {
        "3.12": {"path": str(SOURCE / "bin" / "python3"), "version": "3.12.1"},
        "3.99": None}}
    assert "no build of Python 3.99" in first  # reported, not failed
    assert recap(second, "discovery") == {"ok": recap(first, "discovery")["ok"], "changed": 0,
                                          "unreachable": 0, "failed": 0}, second


def test_preinstalled_map_is_used_as_given_with_the_interpreters_own_version(lab):
    tmp, first, second = lab
    assert recap(first, "map")["failed"] == 0, first
    assert facts_file(tmp, "map")["builds"] == {
        "3.11": {"path": PY311, "version": "3.11.7"},  # the version comes from the interpreter
        "3.9": {"path": PY39, "version": "3.9.18"},
        "3.8": None,  # the map replaces the discovery: 3.8.18 under the root is not used
    }
    assert recap(second, "map")["changed"] == 0, second
    # A map entry whose interpreter is another version is an inventory error.
    assert recap(first, "badmap")["failed"] == 1, first
    assert f"Python 3.10: {PY311} is Python 3.11.7" in first, first


# --- uv --------------------------------------------------------------------------

def test_uv_installs_from_an_offline_mirror_and_reruns_unchanged(lab):
    tmp, first, second = lab
    assert recap(first, "uv")["failed"] == 0, first
    assert re.search(r"changed: \[uv\] => \(item=3\.12\)", first), first  # uv installed it
    install = tmp / "uv" / "root" / "pythons" / "cpython-3.12.1-linux-x86_64-gnu"
    build = {"path": str(install / "bin" / "python3.12"), "version": "3.12.1"}
    assert facts_file(tmp, "uv") == {"provider": "uv",
                                     "builds": {"3.12": build, "3.12.1": build, "3.99": None}}
    assert recap(second, "uv")["changed"] == 0, second

    # The installed interpreter runs from its new home: its prefix and the
    # libpython it loaded are there, not under /root/.pyenv.
    probe = ("import platform, sys; print(platform.python_version()); print(sys.prefix); "
             "print(sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libpython' in l}))")
    lines = subprocess.run([build["path"], "-c", probe], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines == ["3.12.1", str(install), repr([str(install / "lib" / "libpython3.12.so.1.0")])]


def test_uv_failures_carry_uvs_message(lab):
    tmp, first, _ = lab
    # The list names a build whose archive the mirror does not have: uv fails,
    # and so does the play on that host, with uv's own words.
    assert recap(first, "uvbroken")["failed"] == 1, first
    assert "uv python install 3.12 failed on uvbroken: error: Failed to install cpython-3.12.1" in first
    assert "not-there.tar.gz" in first
    # No uv where the role looks for it.
    assert recap(first, "nouv")["failed"] == 1, first
    assert f"uv not found at {tmp / 'nowhere' / 'uv'} on nouv" in first, first


# --- other providers ---------------------------------------------------------------

def test_unknown_provider_fails_naming_it_and_the_allowed_ones(lab):
    _, first, _ = lab
    assert recap(first, "conda")["failed"] == 1, first
    assert "lab_python_provider 'conda' on conda is not supported; allowed: preinstalled, uv" in first
