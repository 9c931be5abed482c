#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""examples/python/options_responder.py with its one log line per request turned off
(logging.disable(INFO)): the same handler and reply, less the cost of logging."""

import logging
import os
import runpy
import sys

logging.disable(logging.INFO)
example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                       "python", "options_responder.py")
sys.argv[0] = example
runpy.run_path(example, run_name="__main__")
