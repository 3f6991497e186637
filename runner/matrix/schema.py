"""The schema of a matrix file (`matrices/*.yaml`), as pydantic models.

This module is the matrix file's documentation: every field says what it
means, and `lab matrix schema` prints the same as JSON Schema. Loading,
expanding and error wording live in runner/matrix/expand.py.
"""
from __future__ import annotations

import re
from typing import Annotated, Optional, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, Strict, create_model,
                      field_validator, model_validator)

from runner.scenarios import SCENARIOS
from runner.catalog.servers import SERVERS
from runner.catalog.user_app import PREFIX, is_app_view
from runner.catalog.views import SPIN_NAMES, VIEWS

EXACT_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?$")
PYTHON_VERSION = re.compile(r"^3\.\d+(\.\d+)?$")
PACKAGE_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")


def _refuse_float(value):
    # YAML reads 3.10 as the number 3.1: refuse numbers where a version is meant.
    if isinstance(value, float):
        raise ValueError(f"got the number {value!r}; write versions as quoted strings "
                         f"(YAML reads 3.10 as 3.1)")
    return value


def _no_float(value):
    value = _refuse_float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _python(value: str) -> str:
    if not isinstance(value, str) or not PYTHON_VERSION.match(value):
        raise ValueError(f"expected a CPython version like \"3.12\" or \"3.12.1\", got {value!r}")
    return value


def _exact(value: str) -> str:
    if not isinstance(value, str) or not EXACT_VERSION.match(value):
        raise ValueError(f"expected an exact version like \"5.2.19\", got {value!r}")
    return value


def _server(value: str) -> str:
    if not isinstance(value, str) or value not in SERVERS:
        raise ValueError(f"unknown server {value!r}; allowed: {', '.join(sorted(SERVERS))}")
    return value


def _view(value: str) -> str:
    if is_app_view(value):       # the project's own URLs: checked against `app.urls` below
        return value
    if not isinstance(value, str) or value not in VIEWS:
        raise ValueError(f"unknown view {value!r}; allowed: {', '.join(sorted(VIEWS))}, "
                         f"{SPIN_NAMES}")
    return value


def _package(value: str) -> str:
    name = value.lower().replace("_", "-") if isinstance(value, str) else ""
    if not PACKAGE_NAME.match(name):
        raise ValueError(f"expected a PyPI package name, got {value!r}")
    return name


# Before-validators run last-listed first: numbers are refused before the check.
PythonVersion = Annotated[str, BeforeValidator(_python), BeforeValidator(_no_float)]
ExactVersion = Annotated[str, BeforeValidator(_exact), BeforeValidator(_no_float)]
ServerName = Annotated[str, BeforeValidator(_server)]
ViewName = Annotated[str, BeforeValidator(_view)]
PackageName = Annotated[str, BeforeValidator(_package)]
Count = Annotated[int, Strict(), Field(ge=1)]
def _one_value(value):
    # A rule holds one value per axis; a list here is a common slip.
    value = _refuse_float(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected one value (text or a whole number), got {value!r}")
    return value


RuleValue = Annotated[Union[Annotated[int, Strict()], str], BeforeValidator(_one_value)]


class Axes(BaseModel):
    """Each axis is a list of values; the cells are their cartesian product."""

    model_config = ConfigDict(extra="forbid")

    python: list[PythonVersion] = Field(
        min_length=1, description='CPython versions: "3.12" (newest 3.12.x the host has) or "3.12.1".')
    django: list[ExactVersion] = Field(min_length=1, description="Exact Django releases.")
    asgiref: Optional[list[ExactVersion]] = Field(
        default=None, min_length=1,
        description="Exact asgiref releases; omit it to let the resolver pick what Django allows.")
    server: list[ServerName] = Field(
        min_length=1, description="Server configurations, by name (runner/catalog/servers.py).")
    workers: list[Count] = Field(default=[1], min_length=1, description="Worker processes.")
    threads: list[Count] = Field(
        default=[1], min_length=1,
        description="Threads per worker, for servers that take one (gunicorn-gthread, uwsgi).")
    view: list[ViewName] = Field(min_length=1, description="Views, by name (runner/catalog/views.py).")


# What the scenarios declare (runner/scenarios/base.py) that the schema states.
REMEASURING = ", ".join(n for n, s in SCENARIOS.items() if s.remeasure_disturbed)
DEFAULT_SCENARIOS = {n: {} for n, s in SCENARIOS.items() if s.matrix_default}
DEFAULT_DESCRIPTION = "; ".join(
    f"{n}, {', '.join(v.label for v in SCENARIOS[n].variants(SCENARIOS[n].Params(), {}))}"
    for n in DEFAULT_SCENARIOS)


class Protocol(BaseModel):
    """How each cell is measured (the run protocol)."""

    model_config = ConfigDict(extra="forbid")

    repetitions: Count = Field(default=3, description="Fresh server starts per cell.")
    warmup_s: Annotated[int, Strict(), Field(ge=0)] = Field(
        default=2, description="Whole seconds of load before the measured window (wrk takes whole seconds).")
    duration_s: Count = Field(default=5, description="Whole seconds in the measured window.")
    seed: Annotated[int, Strict()] = Field(default=1, description="Seed of the shuffled order.")
    window_attempts: Annotated[int, Strict(), Field(ge=1, le=10)] = Field(
        default=3,
        description="How many times at most a window flagged disturbed (window health) is "
                    f"measured, in scenarios that re-measure ({REMEASURING}); 1: "
                    "never again, the window is only flagged.")
    aa_control: Annotated[bool, Strict()] = Field(
        default=False,
        description="Also run every baseline-server cell a second time as its own cell (an "
                    "A/A twin, interleaved like the others): the report reads the difference "
                    "between the twins as the run's noise floor.")


def _empty_means_defaults(cls, value):
    # `memory:` with nothing after it (YAML null) means: run it with defaults.
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


# One optional field per registered scenario, named as in the file
# ("single-client"); each scenario's own Params model validates its settings.
ScenarioSet = create_model(
    "ScenarioSet",
    __config__=ConfigDict(extra="forbid"),
    __doc__="The workloads to run on every cell, with their settings (runner/scenarios/).",
    __validators__={"_empty": model_validator(mode="before")(_empty_means_defaults)},
    **{name.replace("-", "_"): (Optional[s.Params], Field(
        default=None, alias=name, description=s.summary))
       for name, s in SCENARIOS.items()},
)


def scenario_settings(scenarios: BaseModel) -> dict:
    """{scenario name: its validated Params}, in registry order, only those asked for."""
    return {name: params for name in SCENARIOS
            if (params := getattr(scenarios, name.replace("-", "_"))) is not None}


class AppUrlEntry(BaseModel):
    """One URL of the project to measure, and the answer it must give."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")] = Field(
        description="Its view name in axes.view is `app:<name>`.")
    path: Annotated[str, Field(pattern=r"^/")] = Field(description="The path, with any query.")
    status: Annotated[int, Strict(), Field(ge=100, le=599)] = Field(
        default=200, description="The status it must answer with.")
    contains: str = Field(default="", description="Text the body must contain (none: any body).")


class AppSection(BaseModel):
    """A Django project of your own as the app under test (docs/byo.md)."""

    model_config = ConfigDict(extra="forbid")

    source: Optional[str] = Field(
        default=None,
        description="A folder (relative to this file) or a git URL; `lab run --app` overrides it.")
    rev: Optional[str] = Field(default=None, description="For a git source: the branch, tag or commit.")
    settings: Optional[str] = Field(
        default=None, description="Its settings module; default: what manage.py sets.")
    wsgi: Optional[str] = Field(
        default=None, description='Its WSGI entry point "module:callable"; default: <project>.wsgi:application.')
    asgi: Optional[str] = Field(
        default=None, description='Its ASGI entry point; default: <project>.asgi:application.')
    requirements: Optional[str] = Field(
        default=None, description="A requirements file in the project, installed into every "
                                  "cell's environment beside the cell's own pins.")
    migrate: Annotated[bool, Strict()] = Field(
        default=True, description="Run `migrate` before the first measurement.")
    fixtures: list[str] = Field(default_factory=list, description="Fixtures to `loaddata` after migrating.")
    urls: list[AppUrlEntry] = Field(
        default_factory=lambda: [AppUrlEntry(name="root", path="/")], min_length=1,
        description="The URLs to measure; default: `root`, / answering 200.")


class MatrixFile(BaseModel):
    """A matrix file: which cells to run, pinned how, measured how."""

    model_config = ConfigDict(extra="forbid")

    name: Optional[str] = Field(default=None, description="Run name; defaults to the file's stem.")
    description: str = ""
    axes: Axes
    pins: dict[PackageName, Union[ExactVersion, list[ExactVersion]]] = Field(
        default_factory=dict,
        description="Exact versions of every other package a cell installs (DRF, the servers' "
                    "packages, any extra). A list of versions makes that package an axis.")
    exclude: list[dict[str, RuleValue]] = Field(
        default_factory=list,
        description="Rules in the style of asv's matrix.exclude: a cell is dropped when every "
                    "key of one rule matches; values are regular expressions matched against "
                    "the whole value (\"5\\\\.0\\\\..*\").")
    include: list[dict[str, RuleValue]] = Field(
        default_factory=list,
        description="Extra cells, one exact value per axis (python, django, server and view "
                    "required); added even when an exclude rule matches them.")
    baseline_server: ServerName = Field(
        default="gunicorn-sync", description="The WSGI server that ASGI cells are compared with.")
    protocol: Protocol = Field(default_factory=Protocol)
    app: Optional[AppSection] = Field(
        default=None, description="Your own Django project instead of lab_app: its views are "
                                  "`app:<name>` in axes.view (docs/byo.md).")
    scenarios: ScenarioSet = Field(
        default_factory=lambda: ScenarioSet.model_validate(DEFAULT_SCENARIOS),
        description=f"Workloads to run, each with its settings; default: {DEFAULT_DESCRIPTION}.")

    @field_validator("baseline_server")
    @classmethod
    def _wsgi_baseline(cls, value: str) -> str:
        if SERVERS[value].interface != "wsgi":
            wsgi = sorted(n for n, s in SERVERS.items() if s.interface == "wsgi")
            raise ValueError(f"{value!r} is not a WSGI server; allowed: {', '.join(wsgi)}")
        return value

    @model_validator(mode="after")
    def _app_views_are_its_urls(self):
        asked = [v for v in [*self.axes.view, *(e.get("view") for e in self.include)]
                 if is_app_view(v)]
        names = [f"{PREFIX}{u.name}" for u in self.app.urls] if self.app else []
        for view in asked:
            if not self.app:
                raise ValueError(f"view {view!r} needs an `app:` section (your project)")
            if view not in names:
                raise ValueError(f"view {view!r} is not among app.urls: {', '.join(names)}")
        if self.app and len(set(names)) != len(names):
            raise ValueError("app.urls: two URLs have the same name")
        return self


class IncludeEntry(BaseModel):
    """One `include` entry: a single cell, validated like the axes."""

    model_config = ConfigDict(extra="allow")

    python: PythonVersion
    django: ExactVersion
    asgiref: Optional[ExactVersion] = None
    server: ServerName
    workers: Count = 1
    threads: Count = 1
    view: ViewName
