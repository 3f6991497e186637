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

Besides the seed's JSON views there are the io-mix views of seed 001 (a fast
path and a slow path that sleeps ``?s=`` seconds: ``time.sleep`` in sync code,
``asyncio.sleep`` in async code), served either by Django or by the raw
WSGI/ASGI apps in lab_app/rawapp (``app="raw"``: no framework at all), and the
polls app of seed 003, whose HTML depends on the database's content, so its
check is a marker the page must contain rather than the exact bytes.
"""
from __future__ import annotations

import re
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
    app: str = "django"             # which application serves it (runner/servers.TARGETS)
    slow_path: str | None = None    # io-mix: the path that sleeps ?s= seconds
    match: str = "exact"            # "exact" bytes, or "contains" for pages with data in them
    # The lab's services its app needs (e.g. "postgres"): it runs only under
    # scenarios that set them up (a scenario's `services`).
    services: tuple[str, ...] = ()


# Views sized by their name, one family per kind of work: any size is a
# valid view name, made on demand. `spin-<µs>` is the calibration's view
# (lab_app's spin_view busy-waits ?us= microseconds); the others are seed
# 002's CPU-bound async view and its I/O-bound views (io-mix's slow paths,
# sleeping <ms> milliseconds: time.sleep in sync code, asyncio.sleep in async).
@dataclass(frozen=True)
class SizedFamily:
    prefix: str
    unit: str
    path: str           # with {n} (the size) or {s} (the size in seconds)
    body: bytes
    description: str    # with {n}


SIZED = {f.prefix: f for f in (
    SizedFamily("spin", "µs", "/spin/?us={n}", b"spin",
                "plain sync view holding the CPU {n} µs per request (lab calibrate's planted cost)"),
    SizedFamily("spin-async", "µs", "/spin/async/?us={n}", b"spin",
                "async def view holding the CPU {n} µs per request (seed 002's CPU-bound view)"),
    SizedFamily("loop", "iterations", "/loop/?n={n}", b"loop",
                "plain sync view running a fixed Python loop {n} times per request (the "
                "instruction-counting instrument's planted cost: the same work at any speed)"),
    SizedFamily("sleep-sync", "ms", "/io/sync/slow?s={s}", b"slow",
                "sync view waiting {n} ms in time.sleep (seed 002's I/O-bound view)"),
    SizedFamily("sleep-async", "ms", "/io/async/slow?s={s}", b"slow",
                "async def view waiting {n} ms in asyncio.sleep (seed 002's I/O-bound view)"),
)}
SIZED_NAME = re.compile(r"(spin|spin-async|loop|sleep-sync|sleep-async)-(\d{1,6})")
SPIN_NAMES = ", ".join(f"{f.prefix}-<{f.unit}>" for f in SIZED.values())


def sized_view(name: str) -> View | None:
    """The view a sized name stands for ("sleep-async-50"); None for other names."""
    found = SIZED_NAME.fullmatch(name) if isinstance(name, str) else None
    if not found:
        return None
    family, n = SIZED[found[1]], int(found[2])
    seconds = f"{n / 1000:g}" if family.unit == "ms" else ""
    return View(name=name, path=family.path.format(n=n, s=seconds), expected_status=200,
                expected_body=family.body, expected_content_type="text/plain",
                description=family.description.format(n=n))


def spin_view(us: int) -> View:
    return sized_view(f"spin-{us}")


def spin_us(name: str) -> int | None:
    """The planted cost of a `spin-<µs>` view's name, in µs; None for other views."""
    found = SIZED_NAME.fullmatch(name) if isinstance(name, str) else None
    return int(found[2]) if found and found[1] == "spin" else None


class Views(dict):
    """The registered views by name, and every sized view made on demand."""

    def __missing__(self, name):
        view = sized_view(name)
        if view is None:
            raise KeyError(name)
        return view

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name) or sized_view(name) is not None

    def get(self, name, default=None):
        return self[name] if name in self else default


VIEWS: Views = Views({
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
        View(
            name="drf-debug",
            path="/drf/",
            app="django-debug",
            expected_status=200,
            expected_body=b'{"message":"Test Message"}',
            description="the seed's DRF APIView with DEBUG on (settings_debug; seed 000 "
                        "measured with and without DEBUG)",
        ),
        # The same two views under labproject.settings_bare: no middleware.
        # With raw below, they split a view's per-request cost into server,
        # Django handler, middleware and sync/async hand-off
        # (analysis/questions/attribution.py).
        View(
            name="sync-bare",
            path="/sync/",
            app="django-bare",
            expected_status=200,
            expected_body=b'{"message": "Test Message"}',
            description="the sync view with no middleware (settings_bare)",
        ),
        View(
            name="async-bare",
            path="/async/",
            app="django-bare",
            expected_status=200,
            expected_body=b'{"message": "Test Message"}',
            description="the async view with no middleware (settings_bare)",
        ),
        View(
            name="raw",
            path="/fast",
            slow_path="/slow",
            app="raw",
            expected_status=200,
            expected_body=b"fast",
            expected_content_type="text/plain",
            description="raw WSGI/ASGI app, no framework (seed 001): /fast and /slow",
        ),
        View(
            name="io-sync",
            path="/io/sync/fast",
            slow_path="/io/sync/slow",
            expected_status=200,
            expected_body=b"fast",
            expected_content_type="text/plain",
            description="Django sync views (seed 001's shape): the slow one calls time.sleep",
        ),
        View(
            name="io-async",
            path="/io/async/fast",
            slow_path="/io/async/slow",
            expected_status=200,
            expected_body=b"fast",
            expected_content_type="text/plain",
            description="Django async views: the slow one awaits asyncio.sleep",
        ),
        View(
            name="static",
            path="/static-page/",
            expected_status=200,
            expected_body=b'id="static-page"',
            match="contains",
            expected_content_type="text/html",
            description="a static HTML page rendered by a sync TemplateView (seed 004); "
                        "the page must contain its marker",
        ),
        View(
            name="polls",
            path="/polls/",
            expected_status=200,
            expected_body=b'id="polls-index"',
            match="contains",
            services=("postgres",),
            expected_content_type="text/html",
            description="the polls tutorial app on PostgreSQL (seed 003); the index page "
                        "must contain its marker",
        ),
    )
})

# The JSON views of the full Django project (one server start serves them all).
JSON_VIEWS = tuple(name for name, v in VIEWS.items()
                   if v.expected_content_type == "application/json" and v.app == "django")
