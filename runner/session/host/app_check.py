#!/usr/bin/env python3
"""A user's project checked in one of its environments on the server host,
before anything is measured (`lab run --app`): its settings import, its
migrations and fixtures load, and each URL answers with the status (and the
text) the matrix expects, through Django's test client with the Host header
the real requests will send. Run with the environment's Python, in the
project's folder, DJANGO_SETTINGS_MODULE set. Prints one JSON line; exits 0
only when every check passed."""
import argparse
import json
import os
import sys
import traceback


def last_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def check(args) -> dict:
    sys.path.insert(0, os.getcwd())
    step = "settings"
    try:
        import django
        django.setup()
        from django.core.management import call_command
        if args.migrate:
            step = "migrate"
            call_command("migrate", interactive=False, verbosity=0)
        if args.fixtures:
            step = "loaddata"
            call_command("loaddata", *args.fixtures, verbosity=0)
    except BaseException as exc:  # noqa: BLE001 - any failure is the answer
        return {"ok": False, "step": step, "error": last_line(exc)}
    from django.test import Client
    client = Client(raise_request_exception=False, HTTP_HOST=args.host)
    urls = []
    for spec in args.url:
        path, status, contains = json.loads(spec)
        try:
            resp = client.get(path)
            body = b"".join(resp) if resp.streaming else resp.content
            ok = resp.status_code == status and contains.encode() in body
            seen = {"path": path, "status": resp.status_code, "ok": ok,
                    "has_text": contains.encode() in body}
            # What a 500 raised (the test client keeps it when it does not re-raise).
            if getattr(resp, "exc_info", None):
                seen["error"] = last_line(resp.exc_info[1])
            urls.append(seen)
        except BaseException as exc:  # noqa: BLE001
            urls.append({"path": path, "status": None, "ok": False, "error": last_line(exc)})
    return {"ok": all(u["ok"] for u in urls), "step": "urls", "urls": urls,
            "django": django.get_version()}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True, help="the Host header: the server's address:port")
    parser.add_argument("--migrate", action="store_true")
    parser.add_argument("--fixtures", nargs="*", default=[])
    parser.add_argument("--url", action="append", default=[],
                        help='JSON ["/path", status, "text it must contain"]')
    result = check(parser.parse_args(argv))
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
