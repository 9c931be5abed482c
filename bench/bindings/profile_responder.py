#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs examples/python/options_responder.py under cProfile until SIGINT, then writes the
top functions by own time and by cumulative time to stdout. usage: profile_responder.py ARGS

SIGTERM ends the run as Ctrl-C does (a shell starts background jobs with SIGINT ignored)."""

import cProfile
import os
import pstats
import runpy
import signal
import sys
import time

example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                       "python", "options_responder.py")
sys.argv[0] = example


def _interrupt(_sig, _frame):
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _interrupt)
# CPU time, not wall time: the loop's idle wait would otherwise count as time in sip_loop_run.
prof = cProfile.Profile(time.process_time)
prof.enable()
try:
    runpy.run_path(example, run_name="__main__")
except SystemExit:
    pass
finally:
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(18)
    stats.sort_stats("cumulative").print_stats(18)
