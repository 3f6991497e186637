"""Build every locked environment on this host, several at a time.

    install_envs.py SPEC.json               ->  prints one JSON report on stdout
    install_envs.py --if-complete ENVS_DIR ENVS.json
                                            ->  the same report, or exit 3 and build nothing

SPEC: {"uv", "uv_cache", "envs_dir", "find_links" (or null), "jobs",
       "pythons": {asked: {"path", "version"} or null (the host lacks it)},
       "skip": {env_id: {"error": why the wheels are missing}},
       "envs": [{"env_id", "python", "lock_text", "lock_sha256", ...}]}

Each environment is <envs_dir>/<env_id>/venv, built with `uv venv` and
`uv pip sync` of <envs_dir>/<env_id>/requirements.lock (written from
lock_text), so it holds exactly the lock. Its marker `venv/.lab-complete` (lock sha256, interpreter, exact
version) is written last: an environment whose marker matches is left
alone in well under a second, and one whose build fails or is cut short is
deleted, so no later run can take a half-built venv as good.

Report: {"jobs": N, "envs": {env_id: {"status": "installed" | "unchanged"
| "failed" | "no-python", "seconds", "python_exact", "freeze", "error"}}}.
The script itself exits 0 unless its input is unusable. While it works it
appends one line per finished environment to <envs_dir>/install-progress.txt
("<done>/<total> <env_id> <status>"), which the runner shows as progress.

Each run keeps its SPEC without the envs in <envs_dir>/last-spec.json. With
--if-complete the runner's fast path (runner/lab/configure.py) gives only the
envs ([{env_id, python, lock_text, lock_sha256}]); the rest of the spec is
that kept one. If every environment whose Python the host has is complete
(its marker matches), the report is what a full run would print (all
"unchanged" or "no-python"); otherwise the script exits 3 having built
nothing, and the runner runs the whole playbook.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

MARKER = ".lab-complete"
LAST_SPEC = "last-spec.json"
NOT_COMPLETE = 3
STEP_TIMEOUT_S = 900  # a build from an sdist (uwsgi) on one CPU takes minutes


def run(argv, env):
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=STEP_TIMEOUT_S)
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).split())[-1500:]
        raise RuntimeError(f"{os.path.basename(argv[0])} {argv[1]} exited {proc.returncode}: {tail}")
    return proc.stdout


def read_marker(venv):
    try:
        with open(os.path.join(venv, MARKER)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def freeze(spec, venv, env):
    out = run([spec["uv"], "pip", "freeze", "--python", os.path.join(venv, "bin", "python")], env)
    return sorted(line for line in out.splitlines() if "==" in line)


def write_lock(home, text):
    path = os.path.join(home, "requirements.lock")
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        os.makedirs(home, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def complete_marker(spec, item, python_path):
    """The env's marker if it matches this lock and interpreter, else None."""
    venv = os.path.join(spec["envs_dir"], item["env_id"], "venv")
    marker = read_marker(venv)
    want = {"lock_sha256": item["lock_sha256"], "python_path": python_path}
    if marker and all(marker.get(k) == v for k, v in want.items()) \
            and os.access(os.path.join(venv, "bin", "python"), os.X_OK):
        return marker
    return None


def build(spec, item, python_path, env):
    home = os.path.join(spec["envs_dir"], item["env_id"])
    venv = os.path.join(home, "venv")
    write_lock(home, item["lock_text"])
    want = {"lock_sha256": item["lock_sha256"], "python_path": python_path}
    marker = complete_marker(spec, item, python_path)
    if marker:
        return "unchanged", marker["python_exact"]
    shutil.rmtree(venv, ignore_errors=True)
    try:
        run([spec["uv"], "venv", "--quiet", "--python", python_path, venv], env)
        source = (["--offline", "--no-index", "--find-links", spec["find_links"]]
                  if spec.get("find_links") else [])
        run([spec["uv"], "pip", "sync", "--quiet", "--python", os.path.join(venv, "bin", "python"),
             *source, os.path.join(home, "requirements.lock")], env)
        exact = run([os.path.join(venv, "bin", "python"), "-c",
                     "import platform; print(platform.python_version())"], env).strip()
        tmp = os.path.join(venv, MARKER + ".tmp")
        with open(tmp, "w") as f:
            json.dump({**want, "python_exact": exact}, f)
        os.rename(tmp, os.path.join(venv, MARKER))
        return "installed", exact
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise


def one(spec, item, env):
    started = time.monotonic()
    result = {"status": None, "python_exact": None, "freeze": [], "error": None}
    build_info = (spec.get("pythons") or {}).get(item["python"])
    skipped = (spec.get("skip") or {}).get(item["env_id"])
    if not build_info:
        result.update(status="no-python", error=f"no Python {item['python']} on this host")
    elif skipped:
        result.update(status="failed", error=skipped["error"])
    else:
        try:
            result["status"], result["python_exact"] = build(spec, item, build_info["path"], env)
            result["freeze"] = freeze(spec, os.path.join(spec["envs_dir"], item["env_id"], "venv"), env)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            result.update(status="failed", error=str(exc))
    result["seconds"] = round(time.monotonic() - started, 3)
    return item["env_id"], result


def all_complete(spec):
    pythons = spec.get("pythons") or {}
    return all(complete_marker(spec, item, pythons[item["python"]]["path"])
               for item in spec["envs"] if pythons.get(item["python"]))


def load_spec(argv):
    """(spec, reused): the given SPEC, or the kept one with the given envs."""
    if argv[1] == "--if-complete":
        with open(argv[3]) as f:
            envs = json.load(f)
        with open(os.path.join(argv[2], LAST_SPEC)) as f:
            return {**json.load(f), "skip": {}, "envs": envs}, True
    with open(argv[1]) as f:
        return json.load(f), False


def keep_spec(spec):
    kept = {k: v for k, v in spec.items() if k not in ("envs", "skip")}
    path = os.path.join(spec["envs_dir"], LAST_SPEC)
    with open(path + ".tmp", "w") as f:
        json.dump(kept, f)
    os.rename(path + ".tmp", path)


def main():
    try:
        spec, reused = load_spec(sys.argv)
    except FileNotFoundError as exc:       # no full run yet: the runner falls back
        print(f"not complete: {exc}", file=sys.stderr)
        sys.exit(NOT_COMPLETE)
    if reused and not all_complete(spec):
        print("not complete: an environment's marker is missing or stale", file=sys.stderr)
        sys.exit(NOT_COMPLETE)
    env = {**os.environ, "UV_CACHE_DIR": spec["uv_cache"], "UV_PYTHON_DOWNLOADS": "never",
           "UV_NO_PROGRESS": "1"}
    jobs = max(1, int(spec.get("jobs") or 1))
    os.makedirs(spec["envs_dir"], exist_ok=True)
    progress_path = os.path.join(spec["envs_dir"], "install-progress.txt")
    total, done, lock = len(spec["envs"]), [0], threading.Lock()
    with open(progress_path, "w", buffering=1) as progress:
        progress.write(f"0/{total}\n")

        def tracked(item):
            env_id, result = one(spec, item, env)
            with lock:
                done[0] += 1
                progress.write(f"{done[0]}/{total} {env_id} {result['status']}\n")
            return env_id, result
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = dict(pool.map(tracked, spec["envs"]))
    if not reused:
        keep_spec(spec)
    json.dump({"jobs": jobs, "envs": results}, sys.stdout)


if __name__ == "__main__":
    main()
