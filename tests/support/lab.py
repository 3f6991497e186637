"""What the end-to-end lab tests share: the lab's name and subnet, the `lab`
CLI as a user calls it, and the checks that nothing of the lab is left."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LAB, SUBNET = "e2e", "198.18.1.0/24"
LAB_CMD = [str(Path(sys.executable).parent / "lab")]


def lab(*args, check=True, timeout=900, env_extra: dict | None = None):
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run(LAB_CMD + list(args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check and proc.returncode != 0:
        pytest.fail(f"lab {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def lab_processes() -> list[str]:
    """Processes that belong to this lab: its sshds, servers and samplers."""
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if f"/.lab/{LAB}/" in line and "ps -eo" not in line]


def run_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())


def servers_on_host(host: str) -> list[int]:
    """Pids of the app servers running in a host's namespace (gunicorn
    retitles its processes, so their command lines name no lab path)."""
    pids = subprocess.run(["ip", "netns", "pids", f"djlab-{LAB}-{host}"], capture_output=True,
                          text=True).stdout.split()
    found = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if any(name in cmdline for name in (b"gunicorn", b"uvicorn", b"labproject")):
            found.append(int(pid))
    return found


def namespace_processes() -> dict[int, str]:
    """pid -> command name of every process in this lab's namespaces."""
    found = {}
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    for ns in (n for n in names if n.startswith(f"djlab-{LAB}-")):
        for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split():
            try:
                found[int(pid)] = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                pass
    return found
