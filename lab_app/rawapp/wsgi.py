"""The raw WSGI app (seed 001): /fast, and /slow that blocks with time.sleep.

Run: gunicorn rawapp.wsgi:application (from lab_app/). See rawapp/__init__.py.
"""
from __future__ import annotations

import time

from rawapp import CONTENT_TYPE, FAST_BODY, SLOW_BODY, bad_sleep_message, sleep_seconds


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    status, body = "404 Not Found", b"not found\n"
    if path == "/fast":
        status, body = "200 OK", FAST_BODY
    elif path == "/slow":
        seconds = sleep_seconds(query)
        if seconds is None:
            status, body = "400 Bad Request", bad_sleep_message(query)
        else:
            time.sleep(seconds)  # blocks this worker, as the article's WSGI app does
            status, body = "200 OK", SLOW_BODY
    start_response(status, [("Content-Type", CONTENT_TYPE),
                            ("Content-Length", str(len(body)))])
    return [body]
