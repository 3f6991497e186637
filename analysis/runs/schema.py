"""What a manifest's schema version changes for a reader, read in one place.

runner/core/model.py keeps the history of the versions and migrates a
version-1 manifest's fields on reading; what remains different for the
analysis is gathered by :func:`read_schema`, so no other module tests a
schema version or an old spelling:

- version 1 before scenarios: one wrk set-up for every cell
  (``protocol.latency_model``, ``connections``, ``threads``) instead of
  ``protocol.scenarios`` and ``protocol.latency_models``;
- before :data:`RAW_LATENCY_SINCE`: wrk's latencies include the synthetic
  samples of its coordinated-omission correction;
- older runs key ``hosts`` by role; newer ones give each host a ``role``.

The samples' old shapes (no ``threads``, no ``variant``) are filled in by
load.py on reading.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from runner.core.model import RAW_LATENCY_SINCE

ROLES = ("server", "client")


@dataclass(frozen=True)
class RunSchema:
    """A manifest as the current schema reads it (:func:`read_schema`)."""

    # The scenarios and their settings; None for a run from before scenarios.
    scenarios: dict | None
    # {"<scenario>" or "<scenario> <variant>": latency model}; {} when not recorded.
    latency_models: dict = field(default_factory=dict)
    # A run from before scenarios: its one latency model (else None).
    latency_model: str | None = None
    # False: wrk's figures include its synthetic samples (older runs).
    raw_latencies: bool = True
    # {role: host} for the server and the client, however the manifest keyed them.
    hosts: dict = field(default_factory=dict)

    def wrk_ran(self) -> bool:
        """Whether any scenario measured with wrk (its latency model says so)."""
        return any(str(m).startswith("wrk")
                   for m in [*self.latency_models.values(), self.latency_model or ""])


def read_schema(manifest: dict) -> RunSchema:
    """The one place that reads a manifest's version-dependent fields."""
    protocol = manifest.get("protocol") or {}
    hosts = manifest.get("hosts") or {}
    return RunSchema(
        scenarios=protocol.get("scenarios"),
        latency_models=protocol.get("latency_models") or {},
        latency_model=protocol.get("latency_model") or None,
        raw_latencies=manifest.get("schema_version", RAW_LATENCY_SINCE) >= RAW_LATENCY_SINCE,
        hosts={role: _host(hosts, role) for role in ROLES},
    )


def _host(hosts: dict, role: str) -> dict:
    """The host of ``role``: keyed by role (older runs) or carrying it."""
    if role in hosts:
        return hosts[role] or {}
    return next((h for h in hosts.values() if isinstance(h, dict) and h.get("role") == role), {})
