"""Seed 001's /fast and /slow endpoints as Django views (io-mix scenario).

- /io/sync/fast, /io/sync/slow: plain sync views; /slow blocks with
  time.sleep. Under WSGI the worker is blocked. Under ASGI Django runs a sync
  view through sync_to_async in a thread; its ASGIHandler gives every request
  its own ThreadSensitiveContext, hence its own thread, so slow sync views of
  different requests overlap (tests/test_iomix_apps.py checks it).
- /io/async/fast, /io/async/slow: `async def` views; /slow awaits
  asyncio.sleep. Under ASGI the event loop serves other requests meanwhile;
  under WSGI Django runs each through async_to_sync, blocking the worker.

Bodies are exactly b"fast" / b"slow" (text/plain), as the raw apps in
rawapp/ answer, and the sleep comes from `?s=<seconds>` (default 5 s,
refused with 400 outside 0-60 s), parsed by rawapp's own function so the two
apps cannot drift apart. None of them touches the database.
"""
import asyncio
import time

from django.http import HttpResponse, HttpResponseBadRequest

from rawapp import CONTENT_TYPE, FAST_BODY, SLOW_BODY, bad_sleep_message, sleep_seconds


def _sleep_or_400(request):
    """(seconds, None) or (None, a 400 response) for the request's `s` parameter."""
    query = request.META.get("QUERY_STRING", "")
    seconds = sleep_seconds(query)
    if seconds is None:
        return None, HttpResponseBadRequest(bad_sleep_message(query), content_type=CONTENT_TYPE)
    return seconds, None


def sync_fast(request):
    return HttpResponse(FAST_BODY, content_type=CONTENT_TYPE)


def sync_slow(request):
    seconds, refused = _sleep_or_400(request)
    if refused:
        return refused
    time.sleep(seconds)
    return HttpResponse(SLOW_BODY, content_type=CONTENT_TYPE)


async def async_fast(request):
    return HttpResponse(FAST_BODY, content_type=CONTENT_TYPE)


async def async_slow(request):
    seconds, refused = _sleep_or_400(request)
    if refused:
        return refused
    await asyncio.sleep(seconds)
    return HttpResponse(SLOW_BODY, content_type=CONTENT_TYPE)
