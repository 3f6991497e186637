"""The Scenario interface: what a scenario says (its settings, variants,
latency model, host files and client packages, what it needs from an earlier
phase) and how it measures one variant against a server that the run has
already started fresh, checked and warmed up (runner/execute/repetition.py),
through a Session (runner/session/session.py).

Failures are `StepFailed(reason)`; the run records the reason, stops the
server and goes on with the next unit.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from runner.catalog.views import VIEWS
from runner.core.errors import StepFailed
from runner.core.model import DEFAULT_VARIANT, Variant
from runner.session.session import Session

__all__ = ["AptPackage", "NoParams", "Scenario", "Session", "StepFailed", "Variant"]


@dataclass(frozen=True)
class AptPackage:
    """A Debian package a scenario uses on the hosts of one role ("client",
    "server"). `make setup` installs every scenario's packages on the
    controller (`lab apt-packages`); the playbooks install those with
    `playbook_installs` on the hosts of their role (a service's package is
    only checked by its role: lab_postgres, lab_nginx). A package with a
    `version` argv (whose first line of output is the version) is a tool the
    manifest records: its `executable`'s path, sha256, version and package,
    from every host that has it (session/host/loadgens.py)."""

    package: str
    role: str
    executable: str | None = None
    version: tuple[str, ...] | None = None
    playbook_installs: bool = True


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scenario:
    """Base class: override what differs. Params is validated at load time."""

    name: ClassVar[str] = ""
    # Where it comes in the registry (lower first; then by name): the matrix
    # schema's order, and the order a matrix's scenarios run in.
    order: ClassVar[int] = 100
    Params: ClassVar[type[BaseModel]] = NoParams
    # Run with its default settings when a matrix names no scenario.
    matrix_default: ClassVar[bool] = False
    # What `lab matrix show` says of a scenario whose variants come from an
    # earlier scenario's results (its variants() is empty before the run).
    variants_later: ClassVar[str] = "decided during the run"
    # Its variant whose latency_p50 is one request at a time on a kept-alive
    # connection: the one `lab calibrate` measures (None: it cannot calibrate).
    calibration_variant: ClassVar[str | None] = None
    # A scenario whose variants need another's results in the same run
    # (fixed-rate needs the peak that `concurrency` measured) runs after it.
    after: ClassVar[tuple[str, ...]] = ()
    warmup: ClassVar[bool] = True   # run the protocol's wrk warm-up first
    # A window flagged disturbed (runner/session/health.py) is measured
    # again on the same warm server, up to the protocol's bound: only for
    # scenarios whose window leaves the server as it found it.
    remeasure_disturbed: ClassVar[bool] = False
    # A server under an instrument that counts its work (instructions): the
    # readiness probe's one request may wait this many seconds for the slow
    # start (runner/session/server.py wait_ready), and the stop signals the
    # main process alone, so that start and stop are alike in every run.
    # None: the protocol's probe and stop.
    instrument_ready_s: ClassVar[float | None] = None

    def exclusion(self, spec, params) -> str | None:
        # A view whose app needs a service this scenario does not set up.
        missing = [s for s in VIEWS[spec.view].services if s not in self.services]
        if missing:
            return f"view {spec.view!r} needs {', '.join(missing)}, which {self.name} does not set up"
        return None

    # Files this scenario ships to every host's tools folder (from its own
    # host/ folder), and exact pins it adds to the client hosts' tools venv.
    host_files: ClassVar[tuple[str, ...]] = ()
    client_packages: ClassVar[tuple[str, ...]] = ()
    # The lab's services it needs (site.yml's plays: "postgres", "nginx"),
    # set up only for a matrix that runs a scenario naming them.
    services: ClassVar[tuple[str, ...]] = ()
    # Hosts of other roles it uses when the lab has them (e.g. "db"): the
    # session's context holds them (Context.role_hosts).
    host_roles: ClassVar[tuple[str, ...]] = ()
    # Debian packages it uses on the hosts (AptPackage).
    apt_packages: ClassVar[tuple[AptPackage, ...]] = ()
    # How its latencies are measured, as the manifest and the report state it.
    latency_model: ClassVar[str] = ""

    @property
    def summary(self) -> str:
        """The first paragraph of its module's docstring: "[name] what it does"."""
        doc = sys.modules[type(self).__module__].__doc__ or ""
        return " ".join(doc.strip().split("\n\n")[0].split())

    def latency_models(self) -> dict[str, str]:
        """{label: latency model}; a scenario whose variants measure
        differently names each (single-client: "single-client close")."""
        return {self.name: self.latency_model}

    def variants(self, params, prior: dict) -> list[Variant]:
        """`prior`: what the scenarios this one runs `after` provided for the
        same cell (their `provides`)."""
        return [Variant(DEFAULT_VARIANT)]

    def provides(self, samples) -> dict[str, dict]:
        """{cell_id: facts} for scenarios that run after this one, from the
        samples measured so far (a DataFrame of this scenario's rows)."""
        return {}

    def server_env(self, ctx, params) -> dict:
        return {}

    def server_wrapper(self, session: "Session", params) -> list[str]:
        """An argv the server's own argv runs under (an instrument such as
        valgrind), or [] to start it as it is."""
        return []

    def before_start(self, session: "Session", params) -> None:
        pass

    def after_stop(self, session: "Session", params, variant: Variant) -> dict:
        """Metrics read from what the server left when it exited (an
        instrument's output files); called only when the unit has not failed."""
        return {}

    def measure(self, session: "Session", params, variant: Variant) -> dict:
        raise NotImplementedError


