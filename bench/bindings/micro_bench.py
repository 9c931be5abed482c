#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python micro-benchmarks of the libsip bindings: parse throughput and C-to-Python callbacks.

Prints one line per figure, "<kind> python <variant> <what> <ns>", the median of 3 timed runs
of about 0.3 s each (wall time, as bench/parse-bench reports; a run during which this process
had less than 97% of the CPU is made again, a few times at most, as parse-bench does).

usage: micro_bench.py CORPUS_DIR [--quick]
"""

import os
import sys
import time

import libsip
from libsip import _core as _c

REPEATS = 3
RETRIES = 5
MIN_CPU_SHARE = 0.97


def timed(fn, n):
    """Wall ns per item of fn(n), retried while the CPU was shared."""
    for _ in range(RETRIES):
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        fn(n)
        dt = time.perf_counter_ns() - t0
        share = (time.process_time_ns() - c0) / dt if dt > 0 else 1.0
        if share >= MIN_CPU_SHARE:
            break
    return dt / n


def calibrate(fn, target_ns):
    """Doubles the count until a run lasts a tenth of the target (warming up); returns the count
    for a run of about target_ns."""
    n = 1
    while True:
        t0 = time.perf_counter_ns()
        fn(n)
        dt = time.perf_counter_ns() - t0
        if dt >= target_ns / 10:
            return max(1, int(target_ns * n / dt))
        n *= 2


def median_ns(fn, target_ns):
    n = calibrate(fn, target_ns)
    runs = sorted(timed(fn, n) for _ in range(REPEATS))
    return runs[REPEATS // 2]


# ---- parse ----------------------------------------------------------------------------------


def parse_core(data):
    """The flat core alone: sip_msg_parse and sip_msg_unref, no Message object."""
    parse, unref = _c.sip_msg_parse, _c.sip_msg_unref

    def run(n):
        for _ in range(n):
            rc, h, _err = parse(data)
            unref(h)
    return run


def parse_only(data):
    parse = libsip.Message.parse

    def run(n):
        for _ in range(n):
            parse(data)
    return run


def parse_fields(data):
    """Parse, then read what a proxy looks at first: method, Call-ID, top Via branch."""
    parse = libsip.Message.parse

    def run(n):
        for _ in range(n):
            m = parse(data)
            m.method
            m.call_id
            m.via.branch
    return run


# ---- callbacks ------------------------------------------------------------------------------


class PostBench:
    """n callbacks posted with sip_loop_post, then run by one loop iteration. The post phase
    (Python into C) and the run phase (C into Python and back, once per callback, plus the
    reference drop of user_free) are timed apart. A sentinel posted last tells that all ran."""

    def __init__(self, public):
        self.public = public
        self.loop = libsip.Loop()
        self.h = self.loop._h
        # The loop's wake-up handle for posts does not keep it alive: with nothing else active,
        # an iteration returns without looking at the posts. A far-off timer keeps it alive.
        self.keep = libsip.Timer(self.loop, 3600, lambda: None)

    def measure(self, n):
        done = []
        if self.public:
            post = self.loop.post

            def noop():
                pass
            t0 = time.perf_counter_ns()
            for _ in range(n):
                post(noop)
            t1 = time.perf_counter_ns()
            post(lambda: done.append(1))
        else:
            post, h = _c.sip_loop_post, self.h

            def noop(_l):
                pass
            t0 = time.perf_counter_ns()
            for _ in range(n):
                post(h, noop)
            t1 = time.perf_counter_ns()
            post(h, lambda _l: done.append(1))
        t2 = time.perf_counter_ns()
        for _ in range(1000):
            if done:
                break
            _c.sip_loop_run_once(self.h, 0)
        if not done:
            raise RuntimeError("the posted callbacks did not run")
        t3 = time.perf_counter_ns()
        return (t1 - t0) / n, (t3 - t2) / n

    def figures(self, n):
        self.measure(min(n, 1000))  # warm-up
        posts, runs = [], []
        for _ in range(REPEATS):
            p, r = self.measure(n)
            posts.append(p)
            runs.append(r)
        return sorted(posts)[REPEATS // 2], sorted(runs)[REPEATS // 2]


def main():
    corpus = sys.argv[1]
    quick = "--quick" in sys.argv[2:]
    target = 2e6 if quick else 3e8
    for kind in ("invite", "options"):
        with open(os.path.join(corpus, kind + ".sip"), "rb") as f:
            data = f.read()
        m = libsip.Message.parse(data)
        assert m.method == kind.upper() and m.via.branch.startswith("z9hG4bK"), kind
        for name, make in (("core", parse_core), ("parse", parse_only),
                           ("parse+fields", parse_fields)):
            print(f"parse python {name} {kind} {median_ns(make(data), target):.1f}", flush=True)

    n = 1000 if quick else 200000
    for public in (False, True):
        b = PostBench(public)
        post_ns, run_ns = b.figures(n)
        variant = "package" if public else "core"
        print(f"callback python {variant} post {post_ns:.1f}", flush=True)
        print(f"callback python {variant} run {run_ns:.1f}", flush=True)
        b.keep.stop()
        b.loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
