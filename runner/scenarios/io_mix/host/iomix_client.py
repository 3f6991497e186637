#!/usr/bin/env python3
"""io-mix load client (seed 001), run on the client host by the tools venv's python.

It does what the article's benchmark.py does, with its counts as defaults:
n_slow GETs of the slow path (with ?s=<slow_s>) and n_fast GETs of the fast
path, with httpx (0.28.1 in the tools venv, as the article used httpx):

- sequential: one httpx.Client, the slow requests first, then the fast ones,
  one at a time (the article's "Sync" rows);
- concurrent: one httpx.AsyncClient and asyncio.gather of all of them, slow
  ones created first (the article's "Async" rows). The client's pool limits
  are httpx's defaults, as in the article (max_connections=100, so 18
  requests open up to 18 connections at once); they are passed explicitly
  and printed, so a change of httpx default would show.

Elapsed time runs from the first request to the last answer
(time.perf_counter, after the client is created, as the article times it).
The whole run is bounded by --timeout: each request's httpx timeout is what
is left of it, and a timer stops a sequential run that overruns anyway; what
had no answer by then is counted as an error of type OverallTimeout (never
sent: NotSent).

Prints ONE JSON line: the parameters, httpx version and pool limits,
elapsed_s, requests, ok (2xx with the expected body b"fast"/b"slow"),
non_2xx, wrong_body, errors and error_types, and per request its kind,
start offset, seconds, status and error. Exit status 0 whenever that line
was printed, even if requests failed (the line says which and why; the
io-mix scenario fails the repetition then), 2 for bad arguments.
"""
import argparse
import asyncio
import json
import math
import signal
import sys
import time

import httpx
import httpx._config  # DEFAULT_LIMITS, see main()

EXPECTED_BODY = {"slow": b"slow", "fast": b"fast"}
MAX_SLOW_S = 60.0  # the apps refuse more with 400


class OverallTimeout(BaseException):
    """Raised by the timer of a sequential run (BaseException: httpx must not wrap it)."""


def plan(args):
    """[(kind, url)] in the article's order: every slow request, then every fast one."""
    base = args.base.rstrip("/")
    slow_url = f"{base}{args.slow_path}?s={args.slow_s!r}"
    return ([("slow", slow_url)] * args.n_slow) + ([("fast", f"{base}{args.fast_path}")] * args.n_fast)


def outcome(kind, index, offset, seconds, response=None, error=None):
    status = response.status_code if response is not None else None
    body_ok = (response.content == EXPECTED_BODY[kind]) if response is not None else None
    return {"kind": kind, "index": index, "start_s": round(offset, 6),
            "seconds": round(seconds, 6), "status": status, "body_ok": body_ok, "error": error}


def run_sequential(args, requests, limits):
    results = [None] * len(requests)
    sent_at = {}
    # The timer backs up the per-request timeouts: httpx's timeout applies to
    # each connect/read/write separately, so one request could outlast it.
    signal.signal(signal.SIGALRM, _raise_overall_timeout)
    with httpx.Client(timeout=args.timeout, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + args.timeout
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            for i, (kind, url) in enumerate(requests):
                sent = time.perf_counter()
                left = deadline - sent
                if left <= 0:
                    raise OverallTimeout
                sent_at[i] = sent
                try:
                    response = client.get(url, timeout=left)
                    results[i] = outcome(kind, i, sent - start, time.perf_counter() - sent, response)
                except httpx.HTTPError as exc:
                    results[i] = outcome(kind, i, sent - start, time.perf_counter() - sent,
                                         error=type(exc).__name__)
        except OverallTimeout:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - start
    return elapsed, _fill_missing(results, requests, start, elapsed, sent_at)


def _raise_overall_timeout(signum, frame):
    raise OverallTimeout


async def run_concurrent(args, requests, limits):
    results = [None] * len(requests)
    sent_at = {}

    async def one(client, start, i, kind, url):
        sent = sent_at[i] = time.perf_counter()
        try:
            response = await client.get(url)
            results[i] = outcome(kind, i, sent - start, time.perf_counter() - sent, response)
        except httpx.HTTPError as exc:
            results[i] = outcome(kind, i, sent - start, time.perf_counter() - sent,
                                 error=type(exc).__name__)

    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as client:
        start = time.perf_counter()
        tasks = [one(client, start, i, kind, url) for i, (kind, url) in enumerate(requests)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.timeout)
        except asyncio.TimeoutError:
            pass  # gather's children are cancelled; _fill_missing records them
        elapsed = time.perf_counter() - start
    return elapsed, _fill_missing(results, requests, start, elapsed, sent_at)


def _fill_missing(results, requests, start, elapsed, sent_at):
    """An outcome for each request the overall timeout cut off (sent or not)."""
    filled = []
    for i, result in enumerate(results):
        if result is None:
            kind = requests[i][0]
            if i in sent_at:
                result = outcome(kind, i, sent_at[i] - start, start + elapsed - sent_at[i],
                                 error="OverallTimeout")
            else:
                result = outcome(kind, i, elapsed, 0.0, error="NotSent")
        filled.append(result)
    return filled


def summary(args, elapsed, results, limits):
    error_types = {}
    for r in results:
        if r["error"]:
            error_types[r["error"]] = error_types.get(r["error"], 0) + 1
    answered = [r for r in results if r["status"] is not None]
    ok = sum(1 for r in answered if 200 <= r["status"] < 300 and r["body_ok"])
    non_2xx = sum(1 for r in answered if not 200 <= r["status"] < 300)
    return {
        "tool": "iomix_client", "format": 1,
        "httpx": httpx.__version__, "python": sys.version.split()[0],
        "mode": args.mode, "base": args.base, "fast_path": args.fast_path,
        "slow_path": args.slow_path, "slow_s": args.slow_s, "n_slow": args.n_slow,
        "n_fast": args.n_fast, "timeout_s": args.timeout,
        "pool_limits": {"max_connections": limits.max_connections,
                        "max_keepalive_connections": limits.max_keepalive_connections,
                        "keepalive_expiry": limits.keepalive_expiry},
        "elapsed_s": round(elapsed, 6), "requests": len(results), "ok": ok,
        "non_2xx": non_2xx, "wrong_body": len(answered) - ok - non_2xx,
        "errors": sum(error_types.values()), "error_types": error_types,
        "per_request": results,
    }


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="http://host:port")
    parser.add_argument("--fast-path", required=True)
    parser.add_argument("--slow-path", required=True)
    parser.add_argument("--slow-s", type=float, default=5.0)
    parser.add_argument("--n-slow", type=int, default=3)
    parser.add_argument("--n-fast", type=int, default=15)
    parser.add_argument("--mode", choices=["sequential", "concurrent"], required=True)
    parser.add_argument("--timeout", type=float, required=True,
                        help="seconds for the whole run (and at most that per request)")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.slow_s) and 0 <= args.slow_s <= MAX_SLOW_S):
        parser.error(f"--slow-s must be from 0 to {MAX_SLOW_S:g}, got {args.slow_s}")
    if args.n_slow < 0 or args.n_fast < 0 or args.n_slow + args.n_fast < 1:
        parser.error("--n-slow and --n-fast must be >= 0 and send at least one request")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        parser.error(f"--timeout must be > 0, got {args.timeout}")
    for name in ("fast_path", "slow_path"):
        if not getattr(args, name).startswith("/"):
            parser.error(f"--{name.replace('_', '-')} must start with /")
    return args


def main(argv=None):
    args = parse_args(argv)
    requests = plan(args)
    # What httpx.Client()/AsyncClient() use when given no limits (the article's
    # case); httpx.Limits() with no arguments would mean "no limit" instead.
    limits = httpx._config.DEFAULT_LIMITS
    if args.mode == "sequential":
        elapsed, results = run_sequential(args, requests, limits)
    else:
        elapsed, results = asyncio.run(run_concurrent(args, requests, limits))
    report = summary(args, elapsed, results, limits)
    print(json.dumps(report, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
