"""Seed 001's raw apps: a WSGI and an ASGI callable with no framework at all.

Both serve the article's two endpoints (seed 001, the article "Understanding WSGI vs ASGI: Performance and Concurrency": "speedcheck"):

- GET /fast answers b"fast" at once;
- GET /slow sleeps, then answers b"slow": `time.sleep` in the WSGI app (the
  worker is blocked), `await asyncio.sleep` in the ASGI app (the event loop
  serves other requests meanwhile). That difference is what io-mix measures.

The sleep comes from the query string, `?s=<seconds>` (default 5 s, the
article's), so tests can use a fraction of a second. Anything that is not a
finite number from 0 to MAX_SLEEP_S is refused with 400 instead of tying up a
worker for an arbitrary time. Any other path is 404. The Django views in
bench/io_views.py use the same parser, so both apps accept the same queries.

This package must not import Django: its point is the cost of the server
alone, without a framework.
"""
from __future__ import annotations

import math
from urllib.parse import parse_qs

DEFAULT_SLEEP_S = 5.0
MAX_SLEEP_S = 60.0
FAST_BODY = b"fast"
SLOW_BODY = b"slow"
CONTENT_TYPE = "text/plain"


def sleep_seconds(query: str) -> float | None:
    """The sleep asked for by a query string ("s=0.3"), or None if it is invalid.

    No `s`: DEFAULT_SLEEP_S. Invalid: not a number, not finite, negative,
    above MAX_SLEEP_S, or given more than once.
    """
    values = parse_qs(query, keep_blank_values=True).get("s")
    if values is None:
        return DEFAULT_SLEEP_S
    if len(values) != 1:
        return None
    try:
        seconds = float(values[0])
    except ValueError:
        return None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SLEEP_S:
        return None
    return seconds


def bad_sleep_message(query: str) -> bytes:
    return (f"bad sleep in query {query!r}: s must be a number of seconds "
            f"from 0 to {MAX_SLEEP_S:g}\n").encode()
