"""Matrix files: load, validate and expand to cells.

The schema (every field documented) is in runner/matrix/schema.py. Here the
file is read, every error is worded as `<file>: <path.inside[0]>: <what was
expected>`, and the axes are expanded: the cartesian product, minus the
`exclude` rules, plus the `include` entries (asv's matrix rules), minus the
combinations a server cannot run (reported as exclusions with the reason,
not errors, so a product of servers × threads stays writable). Nothing here
touches a host, and only a project's git source the network
(runner/matrix/app_source.py); pins are resolved in runner/matrix/locks.py.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from runner.catalog.views import VIEWS
from runner.catalog.user_app import UserApp, register
from runner.core.errors import LabError
from runner.matrix.app_source import load_app
from runner.matrix.schema import IncludeEntry, MatrixFile, Protocol, scenario_settings
from runner.scenarios import SCENARIOS
from runner.catalog.servers import SERVERS, validate_server

# The lab_app itself needs DRF (the seed's view), whatever the server.
BASE_PACKAGES = ("djangorestframework",)
CORE_AXES = ("python", "django", "asgiref", "server", "workers", "threads", "view")
ALL_SERVER_PACKAGES = frozenset(p for s in SERVERS.values() for p in s.packages)
__all__ = ["CellSpec", "Exclusion", "Matrix", "Protocol", "load_matrix", "BASE_PACKAGES"]


@dataclass(frozen=True)
class CellSpec:
    """One configuration before its pins are resolved (asgiref may be open).

    `extras` holds the values of package axes (pins given as a list), as
    sorted (package, version) pairs.
    """

    python: str
    django: str
    asgiref: str | None
    server: str
    workers: int
    view: str
    threads: int = 1
    extras: tuple[tuple[str, str], ...] = ()

    @property
    def interface(self) -> str:
        return SERVERS[self.server].interface

    def value(self, axis: str):
        return dict(self.extras).get(axis) if axis not in CORE_AXES else getattr(self, axis)

    def label(self) -> str:
        threads = f" t{self.threads}" if self.threads != 1 else ""
        extras = "".join(f" {p}{v}" for p, v in self.extras)
        return (f"{self.server} w{self.workers}{threads} py{self.python} dj{self.django} "
                f"asgiref{self.asgiref or '*'} {self.view}{extras}")


@dataclass(frozen=True)
class Exclusion:
    spec: CellSpec
    reason: str


@dataclass(frozen=True)
class Matrix:
    path: Path
    name: str
    description: str
    raw: dict
    pins: dict[str, str]                 # fixed pins (one version each)
    package_axes: dict[str, list[str]]   # pins given as a list of versions
    baseline_server: str
    protocol: Protocol
    cells: tuple[CellSpec, ...] = field(default=())
    excluded: tuple[Exclusion, ...] = field(default=())
    scenarios: dict = field(default_factory=dict)   # scenario name -> its validated Params
    app: UserApp | None = None           # a user's own project (`app:`, `lab run --app`)

    def scenarios_for(self, spec: CellSpec) -> dict:
        """{scenario: params} this cell runs (a scenario may exclude some cells)."""
        return {name: params for name, params in self.scenarios.items()
                if SCENARIOS[name].exclusion(spec, params) is None}


def _where(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _fields_at(loc) -> list[str] | None:
    """The field names the schema allows at `loc`, for 'unknown field' errors."""
    model: type[BaseModel] = MatrixFile
    for part in loc:
        info = model.model_fields.get(str(part).replace("-", "_")) if isinstance(part, str) else None
        sub = getattr(info, "annotation", None) if info else None
        sub = next((a for a in getattr(sub, "__args__", ()) if isinstance(a, type)
                    and issubclass(a, BaseModel)), sub)   # Optional[Model] -> Model
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return None
        model = sub
    return [info.alias or name for name, info in model.model_fields.items()]


def _message(path: Path, error: dict) -> str:
    loc = error["loc"]
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1]) or []
        noun = {"axes": "axis", "protocol": "setting", "scenarios": "scenario"}.get(
            str(loc[0]) if len(loc) == 2 else "", "field")
        text = f"unknown {noun}; allowed: {', '.join(allowed)}"
    elif kind == "missing":
        text = "missing (required)"
    elif kind == "greater_than_equal":
        text = f"must be >= {error['ctx']['ge']}, got {error['input']!r}"
    elif kind == "greater_than":
        text = f"must be > {error['ctx']['gt']}, got {error['input']!r}"
    elif kind in ("less_than_equal", "less_than"):
        bound = error["ctx"].get("le", error["ctx"].get("lt"))
        text = f"must be {'<=' if kind == 'less_than_equal' else '<'} {bound}, got {error['input']!r}"
    elif kind == "too_short":
        text = f"expected a non-empty list, got {error['input']!r}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        text = f"expected a whole number, got {error['input']!r}"
    else:
        text = error["msg"].removeprefix("Value error, ")
        if kind in ("list_type", "dict_type", "model_type", "string_type"):
            text += f", got {error['input']!r}"
    return f"{path}: {_where(loc)}: {text}"


def _validate(path: Path, model: type[BaseModel], raw, prefix=()) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = [{**errors[0], "loc": (*prefix, *errors[0]["loc"])}]
        more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        raise LabError(_message(path, first[0]) + more) from None


# Parsing is bounded: a 50 MB file took 11 s and 300 MB of memory.
MAX_MATRIX_BYTES = 1_000_000


def _read(path: Path) -> dict:
    if path.is_dir():
        raise LabError(f"{path}: is a directory, not a matrix file")
    if not path.is_file():
        raise LabError(f"{path}: matrix file not found")
    size = path.stat().st_size
    if size > MAX_MATRIX_BYTES:
        raise LabError(f"{path}: {size} bytes; a matrix file may hold at most "
                       f"{MAX_MATRIX_BYTES} (a matrix is a few axes, not data)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise LabError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise LabError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def _compile_rules(path: Path, rules: list[dict], kind: str, axes: tuple[str, ...]) -> list[dict]:
    compiled = []
    for i, rule in enumerate(rules):
        if not rule:
            raise LabError(f"{path}: {kind}[{i}]: an empty rule would match every cell")
        patterns = {}
        for key, value in rule.items():
            if key not in axes:
                raise LabError(f"{path}: {kind}[{i}].{key}: unknown axis; allowed: {', '.join(axes)}")
            try:
                patterns[key] = re.compile(str(value))
            except re.error as exc:
                raise LabError(f"{path}: {kind}[{i}].{key}: not a valid regular expression "
                               f"{value!r}: {exc}") from None
        compiled.append(patterns)
    return compiled


def _matches(rule: dict, spec: CellSpec) -> bool:
    return all(p.fullmatch("" if spec.value(k) is None else str(spec.value(k)))
               for k, p in rule.items())


def _include(path: Path, i: int, entry: dict, package_axes: dict[str, list[str]]) -> CellSpec:
    checked = _validate(path, IncludeEntry, entry, prefix=("include", i))
    extras = dict(checked.model_extra or {})
    for key in extras:
        if key not in package_axes:
            allowed = [*CORE_AXES, *package_axes]
            raise LabError(f"{path}: include[{i}].{key}: unknown axis; allowed: {', '.join(allowed)}")
    values = {p: str(extras.get(p, versions[0])) for p, versions in package_axes.items()}
    for p, v in values.items():
        if v not in package_axes[p]:
            raise LabError(f"{path}: include[{i}].{p}: {v!r} is not one of pins.{p}: {package_axes[p]}")
    return CellSpec(python=checked.python, django=checked.django, asgiref=checked.asgiref,
                    server=checked.server, workers=checked.workers, threads=checked.threads,
                    view=checked.view, extras=tuple(sorted(values.items())))


def _check_pins(path: Path, servers, fixed: dict, package_axes: dict) -> None:
    for key in ("django", "asgiref"):
        if key in fixed or key in package_axes:
            raise LabError(f"{path}: pins.{key}: {key} is an axis: put it under axes.{key}")
    pinned = set(fixed) | set(package_axes)
    for server in dict.fromkeys(servers):
        missing = [p for p in BASE_PACKAGES + SERVERS[server].packages if p not in pinned]
        if missing:
            raise LabError(f"{path}: pins: server {server!r} needs exact pins for: {', '.join(missing)}")


def expand(path: Path, spec: MatrixFile, package_axes: dict[str, list[str]]):
    """(cells, exclusions): product − exclude + include − what a server cannot run."""
    axes = spec.axes
    axis_names = (*CORE_AXES, *package_axes)
    excludes = _compile_rules(path, spec.exclude, "exclude", axis_names)
    packages = sorted(package_axes)
    product = itertools.product(axes.python, axes.django, axes.asgiref or [None], axes.server,
                                axes.workers, axes.threads, axes.view,
                                *(package_axes[p] for p in packages))
    candidates, excluded = [], []
    for py, dj, ar, srv, w, t, view, *versions in product:
        cell = CellSpec(python=py, django=dj, asgiref=ar, server=srv, workers=w, threads=t,
                        view=view, extras=tuple(zip(packages, versions)))
        rule = next((i for i, r in enumerate(excludes) if _matches(r, cell)), None)
        if rule is None:
            candidates.append(cell)
        else:
            shown = ", ".join(f"{k}: {v}" for k, v in spec.exclude[rule].items())
            excluded.append(Exclusion(cell, f"matrix rule exclude[{rule}] {{{shown}}}"))
    for i, entry in enumerate(spec.include):
        cell = _include(path, i, entry, package_axes)
        excluded = [x for x in excluded if x.spec != cell]   # include wins, as in asv
        if cell not in candidates:
            candidates.append(cell)
    cells = []
    for cell in candidates:
        try:
            validate_server(cell.server, cell.workers, cell.threads)
        except ValueError as exc:
            excluded.append(Exclusion(cell, str(exc)))
            continue
        cells.append(cell)
    return cells, excluded


def load_matrix(path: str | Path, app_source: str | None = None) -> Matrix:
    """The matrix file at `path`, validated and expanded; `app_source`
    (`lab run --app`) is the project its `app:` section measures."""
    path = Path(path)
    raw = _read(path)
    if app_source is not None:
        if not isinstance(raw.get("app"), dict):
            raise LabError(f"{path}: --app needs a matrix with an `app:` section "
                           f"(matrices/byo.yaml is one)")
        raw = {**raw, "app": {**raw["app"], "source": app_source}}
    spec = _validate(path, MatrixFile, raw)
    app = None
    if spec.app is not None:
        try:
            app = load_app(spec.app, path.parent, app_source)
        except LabError as exc:
            raise LabError(f"{path}: {exc}") from None
        register(app)
    fixed = {p: v for p, v in spec.pins.items() if isinstance(v, str)}
    package_axes = {p: list(v) for p, v in spec.pins.items() if isinstance(v, list)}
    for p, versions in package_axes.items():
        if not versions:
            raise LabError(f"{path}: pins.{p}: expected an exact version or a non-empty list")
        if len(set(versions)) != len(versions):
            raise LabError(f"{path}: pins.{p}: lists the same version twice")
    for name, values in spec.axes.model_dump().items():
        if values and len(set(values)) != len(values):
            raise LabError(f"{path}: axes.{name}: lists the same value twice: {values}")
    servers = [*spec.axes.server, *(e["server"] for e in spec.include
                                     if isinstance(e.get("server"), str) and e["server"] in SERVERS)]
    _check_pins(path, servers, fixed, package_axes)
    cells, excluded = expand(path, spec, package_axes)
    scenarios = scenario_settings(spec.scenarios)
    if not scenarios:
        raise LabError(f"{path}: scenarios: names no scenario to run; allowed: {', '.join(SCENARIOS)}")
    _check_services(path, cells, scenarios)
    cells, excluded = _scenario_exclusions(cells, excluded, scenarios)
    if not cells:
        raise LabError(f"{path}: every cell is excluded ({len(excluded)} excluded); "
                       f"first reason: {excluded[0].reason if excluded else 'none'}")
    return Matrix(path=path, name=spec.name or path.stem, description=spec.description,
                  raw=raw, pins=fixed, package_axes=package_axes,
                  baseline_server=spec.baseline_server, protocol=spec.protocol,
                  cells=tuple(cells), excluded=tuple(excluded), scenarios=scenarios, app=app)


def _check_services(path, cells, scenarios) -> None:
    """A view whose app needs a service (a view's `services`) that none of
    the matrix's scenarios sets up (a scenario's `services`) is refused."""
    provided = {service for name in scenarios for service in SCENARIOS[name].services}
    for view in dict.fromkeys(cell.view for cell in cells):
        for service in getattr(VIEWS.get(view), "services", ()):
            if service not in provided:
                providers = [n for n, s in SCENARIOS.items() if service in s.services]
                raise LabError(
                    f"{path}: view {view!r} needs the service {service}, which none of the "
                    f"matrix's scenarios ({', '.join(scenarios)}) sets up; scenarios that do: "
                    f"{', '.join(providers) or 'none'}")


def _scenario_exclusions(cells, excluded, scenarios):
    """A cell that can run none of the matrix's scenarios is an exclusion, with
    each scenario's reason (e.g. io-mix needs a view with a slow path)."""
    keep = []
    for cell in cells:
        reasons = {n: SCENARIOS[n].exclusion(cell, p) for n, p in scenarios.items()}
        if all(reasons.values()):
            excluded.append(Exclusion(cell, "; ".join(f"{n}: {r}" for n, r in reasons.items())))
        else:
            keep.append(cell)
    return keep, excluded
