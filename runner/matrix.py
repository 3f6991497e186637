"""Matrix files: load, validate and expand to cells.

A matrix is YAML with `axes` (each a list of values; the cartesian product is
the set of cells), exact `pins` for every other package, the `baseline_server`
that ASGI cells are compared with, and the run `protocol`. Everything is
checked before any host is touched, and every error names the file, the field
and what was allowed.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from runner.errors import LabError
from runner.servers import SERVERS, validate_server
from runner.views import VIEWS

AXES_REQUIRED = ("python", "django", "server", "view")
AXES_OPTIONAL = ("asgiref", "workers")
PROTOCOL_DEFAULTS = {"repetitions": 3, "warmup_s": 2.0, "duration_s": 5.0, "seed": 1}
TOP_LEVEL = ("name", "description", "axes", "pins", "baseline_server", "protocol")
EXACT_VERSION = re.compile(r"^\d+(\.\d+)*([a-z]+\d+)?$")
# The lab_app itself needs DRF (the seed's view), whatever the server.
BASE_PACKAGES = ("djangorestframework",)
PYTHON_VERSION = re.compile(r"^3\.\d+(\.\d+)?$")


@dataclass(frozen=True)
class Protocol:
    repetitions: int
    warmup_s: float
    duration_s: float
    seed: int


@dataclass(frozen=True)
class CellSpec:
    """One configuration before its pins are resolved (asgiref may be open)."""

    python: str
    django: str
    asgiref: str | None
    server: str
    workers: int
    view: str

    @property
    def interface(self) -> str:
        return SERVERS[self.server].interface

    def label(self) -> str:
        return (f"{self.server} w{self.workers} py{self.python} dj{self.django} "
                f"asgiref{self.asgiref or '*'} {self.view}")


@dataclass(frozen=True)
class Matrix:
    path: Path
    name: str
    description: str
    raw: dict
    pins: dict[str, str]
    baseline_server: str
    protocol: Protocol
    cells: tuple[CellSpec, ...] = field(default=())


def _fail(path: Path, where: str, message: str) -> LabError:
    return LabError(f"{path}: {where}: {message}")


def _as_list(path: Path, where: str, value) -> list:
    if not isinstance(value, list) or not value:
        raise _fail(path, where, f"expected a non-empty list, got {value!r}")
    return value


def _exact(path: Path, where: str, value) -> str:
    text = str(value)
    if not EXACT_VERSION.match(text):
        raise _fail(path, where, f"expected an exact version like 5.2.19, got {value!r}")
    return text


def _protocol(path: Path, raw) -> Protocol:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise _fail(path, "protocol", f"expected a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(PROTOCOL_DEFAULTS))
    if unknown:
        raise _fail(path, f"protocol.{unknown[0]}",
                    f"unknown setting; allowed: {', '.join(PROTOCOL_DEFAULTS)}")
    values = {**PROTOCOL_DEFAULTS, **raw}
    try:
        protocol = Protocol(repetitions=int(values["repetitions"]),
                            warmup_s=float(values["warmup_s"]),
                            duration_s=float(values["duration_s"]),
                            seed=int(values["seed"]))
    except (TypeError, ValueError) as exc:
        raise _fail(path, "protocol", f"expected numbers: {exc}") from None
    if protocol.repetitions < 1:
        raise _fail(path, "protocol.repetitions", "must be >= 1")
    # wrk takes whole seconds only.
    if protocol.duration_s < 1 or not protocol.duration_s.is_integer():
        raise _fail(path, "protocol.duration_s", "must be a whole number of seconds >= 1")
    if protocol.warmup_s < 0 or not protocol.warmup_s.is_integer():
        raise _fail(path, "protocol.warmup_s", "must be a whole number of seconds >= 0")
    return protocol


def load_matrix(path: str | Path) -> Matrix:
    path = Path(path)
    if not path.is_file():
        raise LabError(f"{path}: matrix file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise LabError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise LabError(f"{path}: expected a mapping at the top level")
    unknown = sorted(set(raw) - set(TOP_LEVEL))
    if unknown:
        raise _fail(path, unknown[0], f"unknown field; allowed: {', '.join(TOP_LEVEL)}")

    axes = raw.get("axes")
    if not isinstance(axes, dict):
        raise _fail(path, "axes", "expected a mapping of axis name to list of values")
    allowed_axes = AXES_REQUIRED + AXES_OPTIONAL
    for name in axes:
        if name not in allowed_axes:
            raise _fail(path, f"axes.{name}", f"unknown axis; allowed: {', '.join(allowed_axes)}")
    for name in AXES_REQUIRED:
        if name not in axes:
            raise _fail(path, f"axes.{name}", "missing; required axes: " + ", ".join(AXES_REQUIRED))

    pythons = [str(v) for v in _as_list(path, "axes.python", axes["python"])]
    for i, v in enumerate(pythons):
        if not PYTHON_VERSION.match(v):
            raise _fail(path, f"axes.python[{i}]", f"expected a version like 3.12, got {v!r}")
    djangos = [_exact(path, f"axes.django[{i}]", v)
               for i, v in enumerate(_as_list(path, "axes.django", axes["django"]))]
    asgirefs = ([_exact(path, f"axes.asgiref[{i}]", v)
                 for i, v in enumerate(_as_list(path, "axes.asgiref", axes["asgiref"]))]
                if "asgiref" in axes else [None])
    servers = [str(v) for v in _as_list(path, "axes.server", axes["server"])]
    for i, s in enumerate(servers):
        if s not in SERVERS:
            raise _fail(path, f"axes.server[{i}]",
                        f"unknown server {s!r}; allowed: {', '.join(sorted(SERVERS))}")
    views = [str(v) for v in _as_list(path, "axes.view", axes["view"])]
    for i, v in enumerate(views):
        if v not in VIEWS:
            raise _fail(path, f"axes.view[{i}]",
                        f"unknown view {v!r}; allowed: {', '.join(sorted(VIEWS))}")
    workers_list = _as_list(path, "axes.workers", axes.get("workers", [1]))
    for i, w in enumerate(workers_list):
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            raise _fail(path, f"axes.workers[{i}]", f"expected a whole number >= 1, got {w!r}")

    pins_raw = raw.get("pins") or {}
    if not isinstance(pins_raw, dict):
        raise _fail(path, "pins", "expected a mapping of package name to exact version")
    pins = {str(k).lower(): _exact(path, f"pins.{k}", v) for k, v in pins_raw.items()}
    for k in ("django", "asgiref"):
        if k in pins:
            raise _fail(path, f"pins.{k}", f"{k} is an axis: put it under axes.{k}")
    for s in servers:
        missing = [p for p in BASE_PACKAGES + SERVERS[s].packages if p not in pins]
        if missing:
            raise _fail(path, "pins", f"server {s!r} needs exact pins for: {', '.join(missing)}")

    baseline = str(raw.get("baseline_server", "gunicorn-sync"))
    if baseline not in SERVERS or SERVERS[baseline].interface != "wsgi":
        wsgi = sorted(n for n, s in SERVERS.items() if s.interface == "wsgi")
        raise _fail(path, "baseline_server", f"{baseline!r} is not a WSGI server; allowed: {', '.join(wsgi)}")

    cells = []
    for py, dj, ar, srv, w, view in itertools.product(pythons, djangos, asgirefs, servers,
                                                     workers_list, views):
        try:
            validate_server(srv, w)
        except ValueError as exc:
            raise _fail(path, "axes.workers", str(exc)) from None
        cells.append(CellSpec(python=py, django=dj, asgiref=ar, server=srv, workers=w, view=view))
    if len(set(cells)) != len(cells):
        raise _fail(path, "axes", "an axis lists the same value twice")

    return Matrix(path=path, name=str(raw.get("name") or path.stem),
                  description=str(raw.get("description") or ""), raw=raw, pins=pins,
                  baseline_server=baseline, protocol=_protocol(path, raw.get("protocol")),
                  cells=tuple(cells))
