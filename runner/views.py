"""The benchmarked endpoints of lab_app and the exact bytes each returns.

The runner checks every server's answer against this registry byte for byte
before it measures anything: a server that answers with an error page, a
redirect or a different body is a broken cell, not a fast one.

The two JSON encoders differ, and the bytes say so:

- DRF's JSONRenderer is compact by default (COMPACT_JSON: separators
  ``(",", ":")``): ``{"message":"Test Message"}``, 26 bytes;
- Django's JsonResponse uses json.dumps' default separators, with a space
  after the colon: ``{"message": "Test Message"}``, 27 bytes.

DRF picks JSONRenderer for a request with no Accept header or ``*/*`` (what
wrk, locust and urllib send); a browser asking for text/html would get the
browsable API instead. lab_app/bench/views.py and lab_app/labproject/urls.py
hold the views themselves; tests/test_servers_loopback.py checks these bytes
against every server.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """One endpoint: where it is and exactly what a GET returns."""

    name: str
    path: str
    expected_status: int
    expected_body: bytes
    description: str
    expected_content_type: str = "application/json"


VIEWS: dict[str, View] = {
    v.name: v
    for v in (
        View(
            name="drf",
            path="/drf/",
            expected_status=200,
            expected_body=b'{"message":"Test Message"}',
            description="the seed's DRF APIView (sync; JSONRenderer, compact JSON)",
        ),
        View(
            name="sync",
            path="/sync/",
            expected_status=200,
            expected_body=b'{"message": "Test Message"}',
            description="plain sync function view returning JsonResponse",
        ),
        View(
            name="async",
            path="/async/",
            expected_status=200,
            expected_body=b'{"message": "Test Message"}',
            description="async def view returning JsonResponse",
        ),
    )
}
