"""Which Pythons a Django release declares, read from its own metadata.

Compatibility comes from package metadata, not a hand-kept table. Requires-Python is the resolver's business (runner/matrix/locks.py); this
module adds the other half, the Trove classifiers ("Programming Language ::
Python :: 3.12"): Django lists only the Pythons it supports, while its
Requires-Python is an open lower bound.

The metadata comes from the package index the way installers read it: the
simple API's JSON form (PEP 691) names the release's wheel, and its core
metadata file (PEP 658, `<wheel url>.metadata`) holds the classifiers; if
the index does not serve that file, the wheel itself is read. Results are
cached per release under the lock cache, so this costs one request per
Django release, once.
"""
from __future__ import annotations

import io
import json
import os
import re
import urllib.request
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from runner.core.files import write_atomic

DEFAULT_INDEX = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
CLASSIFIER = re.compile(r"^Programming Language :: Python :: (3\.\d+)$")
TIMEOUT_S = 30


def index_url() -> str:
    # The same variables uv reads, so both look at one index.
    return (os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL")
            or DEFAULT_INDEX).rstrip("/")


def _get(url: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "djlab"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return response.read()


def _wheel_metadata(project: str, version: str) -> str:
    page = json.loads(_get(f"{index_url()}/{project}/", SIMPLE_JSON))
    prefix = f"{project.replace('-', '_')}-{version}-".lower()
    wheels = [f for f in page.get("files", [])
              if f["filename"].lower().startswith(prefix) and f["filename"].endswith(".whl")]
    if not wheels:
        raise LookupError(f"no wheel of {project} {version} on {index_url()}")
    url = wheels[0]["url"]
    try:
        return _get(url + ".metadata").decode()
    except OSError:
        with zipfile.ZipFile(io.BytesIO(_get(url))) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            return wheel.read(name).decode()


def declared_pythons(project: str, version: str, cache_dir: Path) -> list[str]:
    """The X.Y versions `project` `version` lists in its Trove classifiers.

    Raises OSError or LookupError when the metadata cannot be read.
    """
    cached = cache_dir / "classifiers" / f"{project}-{version}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    metadata = HeaderParser().parsestr(_wheel_metadata(project, version))
    found = sorted({m.group(1) for c in metadata.get_all("Classifier") or []
                    if (m := CLASSIFIER.match(c.strip()))}, key=lambda v: int(v.split(".")[1]))
    write_atomic(cached, json.dumps(found))
    return found


def unsupported_reason(django: str, python: str, cache_dir: Path) -> str | None:
    """Why Django `django` cannot be run on `python`, or None when it declares it."""
    minor = ".".join(python.split(".")[:2])
    try:
        declared = declared_pythons("django", django, cache_dir)
    except (OSError, LookupError, ValueError, StopIteration) as exc:
        return f"cannot read Django {django}'s metadata from {index_url()}: {exc}"
    if minor in declared:
        return None
    return (f"Django {django} does not declare Python {minor} in its Trove classifiers "
            f"(it declares {', '.join(declared) or 'none'})")
