#!/usr/bin/env python3
"""Readiness probe, run on the client host: poll URL until it answers (bounded
by --timeout seconds, one request per --every seconds), then verify status and
exact body (or, with --match contains, a marker in it). Prints one JSON line; exits 0 only when the response is exactly
what was expected. Standard library only."""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def fetch(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=0.05)
    parser.add_argument("--request-timeout", type=float, default=2.0,
                        help="how long one request may wait for its answer")
    parser.add_argument("--expect-status", type=int, required=True)
    parser.add_argument("--expect-body-hex", required=True)
    parser.add_argument("--match", choices=["exact", "contains"], default="exact")
    args = parser.parse_args(argv)

    start = time.monotonic()
    last_error = "no attempt"
    while time.monotonic() - start < args.timeout:
        try:
            status, body = fetch(args.url, timeout=args.request_timeout)
        except (OSError, urllib.error.URLError) as exc:
            last_error = repr(exc)
            time.sleep(args.every)
            continue
        want = bytes.fromhex(args.expect_body_hex)
        ok = status == args.expect_status and (body == want if args.match == "exact" else want in body)
        print(json.dumps({"ready": True, "ready_after_s": round(time.monotonic() - start, 3),
                          "status": status, "body_ok": ok, "body": body[:500].decode("utf-8", "replace")}))
        return 0 if ok else 2
    print(json.dumps({"ready": False, "ready_after_s": None, "error": last_error}))
    return 1


if __name__ == "__main__":
    sys.exit(main())
