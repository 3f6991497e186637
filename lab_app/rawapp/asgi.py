"""The raw ASGI app (seed 001): /fast, and /slow that waits with asyncio.sleep.

Run: uvicorn rawapp.asgi:application (from lab_app/). See rawapp/__init__.py.
Lifespan events are acknowledged (servers then log nothing about it); other
scope types are ignored.
"""
from __future__ import annotations

import asyncio

from rawapp import CONTENT_TYPE, FAST_BODY, SLOW_BODY, bad_sleep_message, sleep_seconds


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    status, body = 404, b"not found\n"
    if path == "/fast":
        status, body = 200, FAST_BODY
    elif path == "/slow":
        seconds = sleep_seconds(query)
        if seconds is None:
            status, body = 400, bad_sleep_message(query)
        else:
            await asyncio.sleep(seconds)  # the loop serves other requests meanwhile
            status, body = 200, SLOW_BODY
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", CONTENT_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
