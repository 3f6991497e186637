#!/usr/bin/env python3
"""psutil sampler, copied to every lab host and run there.

  sampler.py tree --pid PID --out FILE [--interval S] [--max-seconds N]
      samples PID and all its descendants until SIGTERM/SIGINT or N seconds;
  sampler.py exec --out FILE --stdout FILE [--interval S] -- CMD ARGS...
      runs CMD (e.g. wrk), samples it until it exits, and exits with its code;
  sampler.py settle [--max-busy 0.1] [--every 1] [--timeout 30]
      waits until the host's CPUs are quiet and prints what it saw (JSON).

Each line of FILE is one sample (JSON) with, per process of the tree: CPU
seconds, RSS and USS (unique set size: the memory freed if that process
exited), threads, voluntary and involuntary context switches and open file
descriptors; and, with --port, the established TCP connections to that local
port (one read of /proc/net/tcp{,6} per sample: psutil's per-process
connection listing parses the whole table once per process and cost 17 % of
a core under Locust's hundreds of connections; `ss` forked every second
cost the measured CPU more than reading the table here). The last line is {"summary": ...} with CPU as
a percentage of one core computed from CPU-time deltas over the wall time (not
from averaging instantaneous readings), and the sampler's own CPU cost so that
the observer's effect is on record. In exec mode the summary also holds the
child's start and end (epoch seconds): the measured window that the runner
cuts the other host's trace to (runner/session/traces.py), and the child's
run-queue delay (`run_delay_s`). Both modes put in the summary the window's
/proc/stat deltas (`cpu_stat`, jiffies) of the CPUs the host may use, read at
the first and last sample: runner/session/health.py reads the window's
health from them.

--no-detail samples CPU, RSS, threads and context switches only (no USS or
fds): the benchmark of the sampler's own cost compares the two.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil


def established(port):
    """Established TCP connections whose local port is `port`, from
    /proc/net/tcp{,6} of this host's namespace, read in this process (no
    `ss` child forked every second on the measured CPU). The lab bounds
    TIME_WAIT (infra/local time_wait_max), so the tables stay short even
    after a minute of a server closing every connection."""
    want, count = f":{port:04X}", 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)                      # the header
                for line in f:
                    fields = line.split(None, 4)
                    # local address "0100007F:1F40", state "01" = ESTABLISHED
                    if len(fields) > 3 and fields[3] == "01" and fields[1].endswith(want):
                        count += 1
        except OSError:
            continue
    return count


# /proc/stat's per-CPU fields (jiffies), in the kernel's order.
STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_stat(cpus):
    """{field: jiffies summed over `cpus`} from /proc/stat: read at the
    window's edges, so the window's busy, softirq and steal time of the CPUs
    the measured processes run on cost two reads, not a trace."""
    want = {f"cpu{c}" for c in cpus}
    total = dict.fromkeys(STAT_FIELDS, 0)
    try:
        with open("/proc/stat") as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] in want:
                    for name, value in zip(STAT_FIELDS, parts[1:]):
                        total[name] += int(value)
    except OSError:
        return None
    return total


def run_delay_s(pid):
    """Seconds the process's threads waited on a run queue (schedstat's
    second field, summed over /proc/PID/task/*): a load generator that
    waits for its CPU sends late, whatever its own CPU use says."""
    waited = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                waited += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return waited / 1e9


class Tree:
    """CPU-time and memory bookkeeping for a process and its descendants."""

    def __init__(self, root_pid, detail=True, port=None, detail_every=2, track_run_delay=False):
        self.root = psutil.Process(root_pid)
        self.track_run_delay = track_run_delay
        self.run_delay_first = run_delay_s(root_pid) if track_run_delay else None
        self.run_delay_last = self.run_delay_first
        self.detail = detail
        self.port = port
        # The dear parts (the tree's membership, USS, fds, connections) are
        # read every `detail_every`-th sample; CPU, RSS, threads and context
        # switches at every one. Keeps the sampler near 1 % of a core.
        self.detail_every = detail_every
        self.tick = 0
        self.known = []
        self.first_cpu = {}   # pid -> cpu seconds when first seen
        self.last_cpu = {}    # pid -> cpu seconds when last seen
        self.peak_rss = 0
        self.rss_sum = 0.0
        self.peak_threads = 0
        self.samples = 0
        self.ctx_first = {}
        self.ctx_last = {}
        self.affinity = set()  # CPUs any process of the tree may run on

    def members(self, refresh):
        if refresh or not self.known:
            try:
                self.known = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                self.known = []
        return self.known

    def sample(self):
        procs, rss, threads = [], 0, 0
        detailed = self.tick % self.detail_every == 0
        self.tick += 1
        for p in self.members(refresh=detailed):
            try:
                with p.oneshot():
                    cpu = p.cpu_times()
                    mem = p.memory_info()
                    nthreads = p.num_threads()
                    ctx = p.num_ctx_switches()
                    name = p.name()
                    ppid = p.ppid()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            seconds = cpu.user + cpu.system
            if p.pid not in self.first_cpu:
                try:
                    self.affinity.update(p.cpu_affinity())
                except (psutil.Error, AttributeError):
                    pass
            self.first_cpu.setdefault(p.pid, seconds)
            self.last_cpu[p.pid] = seconds
            self.ctx_first.setdefault(p.pid, (ctx.voluntary, ctx.involuntary))
            self.ctx_last[p.pid] = (ctx.voluntary, ctx.involuntary)
            rss += mem.rss
            threads += nthreads
            row = {"pid": p.pid, "ppid": ppid, "name": name, "cpu_s": round(seconds, 4),
                   "rss": mem.rss, "threads": nthreads,
                   "ctx_vol": ctx.voluntary, "ctx_invol": ctx.involuntary}
            if self.detail and detailed:
                row.update(self.details(p))
            procs.append(row)
        if procs:
            self.samples += 1
            self.rss_sum += rss
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_threads = max(self.peak_threads, threads)
        if self.track_run_delay:
            waited = run_delay_s(self.root.pid)
            if waited is not None:
                self.run_delay_last = waited
        row = {"t": time.time(), "rss": rss, "threads": threads, "procs": procs}
        if self.port and detailed:
            row["conns"] = established(self.port)
        return row

    @staticmethod
    def details(p):
        """USS and open fds: dearer to read (smaps)."""
        out = {}
        try:
            out["uss"] = p.memory_full_info().uss
            out["fds"] = p.num_fds()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            pass
        return out

    def summary(self, wall_s):
        cpu_s = sum(self.last_cpu[p] - self.first_cpu[p] for p in self.last_cpu)
        vol = sum(self.ctx_last[p][0] - self.ctx_first[p][0] for p in self.ctx_last)
        invol = sum(self.ctx_last[p][1] - self.ctx_first[p][1] for p in self.ctx_last)
        out = {"wall_s": round(wall_s, 4), "cpu_s": round(cpu_s, 4),
                "cpu_percent": round(100.0 * cpu_s / wall_s, 3) if wall_s > 0 else 0.0,
                "rss_mean": self.rss_sum / self.samples if self.samples else 0,
                "rss_peak": self.peak_rss, "threads_peak": self.peak_threads,
                "ctx_voluntary": vol, "ctx_involuntary": invol,
                "processes": len(self.last_cpu), "samples": self.samples,
                "cpu_affinity": sorted(self.affinity)}
        if self.track_run_delay and self.run_delay_first is not None:
            out["run_delay_s"] = round(self.run_delay_last - self.run_delay_first, 6)
        return out


def observe(tree, out, interval, until):
    """Sample `tree` every `interval` s until `until()` is true; return the summary."""
    me = psutil.Process()
    my_start = sum(me.cpu_times()[:2])
    # The CPUs this host's processes may use (its cpuset): the same for the
    # sampler and what it watches.
    cpus = sorted(os.sched_getaffinity(0))
    stat_start = cpu_stat(cpus)
    start = time.monotonic()
    next_tick = start
    while True:
        out.write(json.dumps(tree.sample()) + "\n")
        if until():
            break
        next_tick += interval
        time.sleep(max(0.0, next_tick - time.monotonic()))
    wall = time.monotonic() - start
    stat_end = cpu_stat(cpus)
    summary = tree.summary(wall)
    if stat_start and stat_end:
        summary["cpu_stat"] = {"cpus": cpus, "hz": os.sysconf("SC_CLK_TCK"),
                               **{k: stat_end[k] - stat_start[k] for k in STAT_FIELDS}}
    my_cpu = sum(me.cpu_times()[:2]) - my_start
    summary["sampler_cpu_percent"] = round(100.0 * my_cpu / wall, 3) if wall > 0 else 0.0
    summary["interval_s"] = interval
    return summary


def busy_share(cpus, seconds):
    """Share of `cpus`' time that was busy (not idle or iowait) over `seconds`."""
    first = cpu_stat(cpus)
    time.sleep(seconds)
    last = cpu_stat(cpus)
    delta = {k: last[k] - first[k] for k in STAT_FIELDS}
    total = sum(delta.values())
    return (total - delta["idle"] - delta["iowait"]) / total if total else 0.0


def settle(max_busy, every, timeout):
    """Wait until this host's CPUs are quiet (busy <= max_busy over `every`
    s), at most `timeout` s: what the install left running (compiling,
    writing caches) must not land in the first windows."""
    cpus = sorted(os.sched_getaffinity(0))
    start = time.monotonic()
    readings = []
    while True:
        readings.append(round(busy_share(cpus, every), 4))
        waited = time.monotonic() - start
        if readings[-1] <= max_busy or waited >= timeout:
            return {"settled": readings[-1] <= max_busy, "after_s": round(waited, 2),
                    "cpus": cpus, "max_busy": max_busy, "busy": readings}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("tree")
    t.add_argument("--pid", type=int, required=True)
    t.add_argument("--max-seconds", type=float, default=600)
    t.add_argument("--port", type=int, help="count established connections to this local port")
    e = sub.add_parser("exec")
    e.add_argument("--stdout", required=True)
    e.add_argument("cmd", nargs=argparse.REMAINDER)
    for p in (t, e):
        p.add_argument("--out", required=True)
        p.add_argument("--interval", type=float, default=0.5)
        p.add_argument("--no-detail", action="store_true")
    q = sub.add_parser("settle")
    q.add_argument("--max-busy", type=float, default=0.10)
    q.add_argument("--every", type=float, default=1.0)
    q.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.mode == "settle":
        print(json.dumps(settle(args.max_busy, args.every, args.timeout)))
        return 0

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))

    with open(args.out, "w") as out:
        if args.mode == "tree":
            try:
                tree = Tree(args.pid, detail=not args.no_detail, port=args.port)
            except psutil.NoSuchProcess:
                print(f"no process {args.pid}", file=sys.stderr)
                return 3
            deadline = time.monotonic() + args.max_seconds
            summary = observe(tree, out, args.interval,
                              lambda: stopping or time.monotonic() > deadline
                              or not tree.root.is_running())
            code = 0
        else:
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            with open(args.stdout, "w") as child_out:
                child_start = time.time()
                child = subprocess.Popen(cmd, stdout=child_out, stderr=subprocess.STDOUT)
                # A thread waits on the child so that its end time is exact,
                # not rounded up to the next sampling tick.
                ended = []
                waiter = threading.Thread(target=lambda: (child.wait(), ended.append(time.time())),
                                          daemon=True)
                waiter.start()
                tree = Tree(child.pid, detail=not args.no_detail, track_run_delay=True)
                summary = observe(tree, out, args.interval, lambda: ended or stopping)
                if not ended:
                    child.terminate()
                waiter.join()
                code = child.returncode
                child_end = ended[0]
            summary.update(returncode=code, child_start=child_start, child_end=child_end)
        out.write(json.dumps({"summary": summary}) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
