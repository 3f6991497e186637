#!/usr/bin/env python3
"""Send exactly --count GET requests to --url, one at a time, on one
keep-alive connection (http.client opens a new one whenever the server
closes it), and check every answer's status and exact body. Prints one JSON
line: {"sent", "ok", "reconnects", "seconds" (pauses excluded), "error"}; exits 0 only when
every answer was the expected one. Standard library only: this is the
instructions instrument's client, whose cost is not measured."""
import argparse
import http.client
import json
import sys
import time
import urllib.parse


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--expect-status", type=int, required=True)
    parser.add_argument("--expect-body-hex", required=True)
    parser.add_argument("--match", choices=["exact", "contains"], default="exact")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--pause-ms", type=float, default=0.0,
                        help="wait this long before each request, so that it meets an idle server")
    args = parser.parse_args(argv)
    url = urllib.parse.urlsplit(args.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    expected = bytes.fromhex(args.expect_body_hex)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=args.timeout)
    out = {"sent": 0, "ok": 0, "reconnects": 0, "seconds": 0.0, "error": None}
    started = time.monotonic()
    try:
        for _ in range(args.count):
            time.sleep(args.pause_ms / 1000)
            if conn.sock is None and out["sent"]:
                out["reconnects"] += 1
            conn.request("GET", path)
            out["sent"] += 1
            resp = conn.getresponse()
            body = resp.read()
            good = body == expected if args.match == "exact" else expected in body
            if resp.status != args.expect_status or not good:
                out["error"] = (f"request {out['sent']}: status {resp.status}, body {body[:200]!r}; "
                                f"expected {args.expect_status} {expected[:200]!r}")
                break
            out["ok"] += 1
    except (OSError, http.client.HTTPException) as exc:
        out["error"] = f"request {out['sent']}: {type(exc).__name__}: {exc}"
    out["seconds"] = round(time.monotonic() - started - args.count * args.pause_ms / 1000, 4)
    print(json.dumps(out))
    return 0 if out["ok"] == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
