"""Resolve asked Python versions to interpreters and read their exact versions.

argv[1] is JSON: {"asked": ["3.12", "3.9.18"], "candidates": {"3.12.1": "/p/bin/python3", ...},
"under": "/optional/root"}. A candidate's label answers an asked version when it
is that version, or when the asked X.Y is a prefix of the label's X.Y.Z (the
newest such label wins). Each chosen interpreter is run to read its exact version.

Prints {"builds": {asked: {"path": ..., "version": ...} or null},
"missing": {asked: reason}, "errors": [...]}. A missing or broken build is
null with a reason (not an error: the runner excludes its cells); an
interpreter that reports another version than the one asked for, or a path
outside "under", is an error: the inventory or the provider is wrong."""
import json
import os
import re
import subprocess
import sys

VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(.*)$")
PROBE = "import platform; print(platform.python_version())"


def key(label):
    m = VERSION.match(label)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or -1), m.group(4) == "", m.group(4))


def answers(asked, label):
    return label == asked or (VERSION.match(label) is not None and label.startswith(asked + "."))


def exact_version(path):
    """(version, None) or (None, why not)."""
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        return None, "%s is not an executable file" % path
    try:
        out = subprocess.run([path, "-E", "-c", PROBE], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=60, universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, "%s does not run: %s" % (path, exc)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["exit %d" % out.returncode])[-1]
        return None, "%s does not run: %s" % (path, last)
    return out.stdout.strip(), None


def main():
    request = json.loads(sys.argv[1])
    candidates = {k: v for k, v in (request.get("candidates") or {}).items() if v}
    under = request.get("under")
    builds, missing, errors = {}, {}, []
    for asked in request["asked"]:
        builds[asked] = None
        labels = sorted((lb for lb in candidates if answers(asked, lb)), key=key)
        if asked in candidates:
            labels.append(asked)
        if not labels:
            missing[asked] = "no build of Python %s" % asked
            continue
        path = os.path.abspath(candidates[labels[-1]])
        if under and not os.path.realpath(path).startswith(os.path.realpath(under) + os.sep):
            errors.append("Python %s: %s is not under %s" % (asked, path, under))
            continue
        version, why = exact_version(path)
        if version is None:
            missing[asked] = why
        elif not answers(asked, version):
            errors.append("Python %s: %s is Python %s" % (asked, path, version))
        else:
            builds[asked] = {"path": path, "version": version}
    print(json.dumps({"builds": builds, "missing": missing, "errors": errors}))


main()
