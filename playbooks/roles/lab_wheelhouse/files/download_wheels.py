"""Fill the offline wheelhouse for every locked environment, several at a time.

    download_wheels.py SPEC.json   ->  prints one JSON report on stdout

SPEC: {"wheelhouse", "jobs", "build_packages": [...],
       "pythons": {asked: {"path", "version"} or null},
       "envs": [{"env_id", "python", "lock_text", ...}]}

Each lock is downloaded with pip run by the environment's own interpreter,
so the wheels match that Python's tags (`--require-hashes --no-deps`: the
lock is complete and every file is checked against it). Packages that only
ship an sdist (uwsgi) are built on the host from it, so the build backend
(`build_packages`) is downloaded too, once per Python. Markers per Python and
per environment make a second run free. A failed download fails only the
environments that needed it.

Report: {"envs": {env_id: {"status": "downloaded" | "present" | "failed"
| "skipped", "seconds", "error"}}}.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

TIMEOUT_S = 900


def pip_download(python, wheelhouse, args):
    proc = subprocess.run([python, "-m", "pip", "download", "--disable-pip-version-check", "-q",
                           "-d", wheelhouse, *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(" ".join((proc.stderr or proc.stdout).split())[-1500:])


def build_backend(spec, python):
    """Download the build backend for one Python; None or the error."""
    build = spec.get("pythons", {}).get(python)
    packages = spec.get("build_packages") or []
    tag = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:12]
    marker = os.path.join(spec["wheelhouse"], f".build-{build['version'] if build else python}-{tag}")
    if not build or not packages or os.path.exists(marker):
        return None
    try:
        pip_download(build["path"], spec["wheelhouse"], ["--only-binary", ":all:", *packages])
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"pip download of the build backend: {exc}"
    open(marker, "w").close()
    return None


def one(spec, item, backend_error):
    started = time.monotonic()
    result = {"status": "present", "error": None}
    build = spec.get("pythons", {}).get(item["python"])
    marker = os.path.join(spec["wheelhouse"], f".env-{item['env_id']}")
    try:
        if not build:
            result.update(status="skipped", error=f"no Python {item['python']} to download with")
        elif backend_error:
            result.update(status="failed", error=backend_error)
        elif not os.path.exists(marker):
            with tempfile.NamedTemporaryFile("w", suffix=".txt") as lock:
                lock.write(item["lock_text"])
                lock.flush()
                pip_download(build["path"], spec["wheelhouse"],
                             ["--require-hashes", "--no-deps", "-r", lock.name])
            open(marker, "w").close()
            result["status"] = "downloaded"
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        result.update(status="failed", error=f"pip download: {exc}")
    result["seconds"] = round(time.monotonic() - started, 3)
    return item["env_id"], result


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    os.makedirs(spec["wheelhouse"], exist_ok=True)
    pythons = sorted({item["python"] for item in spec["envs"]})
    with ThreadPoolExecutor(max_workers=max(1, int(spec.get("jobs") or 1))) as pool:
        backend = dict(zip(pythons, pool.map(lambda py: build_backend(spec, py), pythons)))
        results = dict(pool.map(lambda item: one(spec, item, backend[item["python"]]),
                                spec["envs"]))
    json.dump({"envs": results}, sys.stdout)


if __name__ == "__main__":
    main()
