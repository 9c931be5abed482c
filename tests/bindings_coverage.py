#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that every public C function (SIP_EXTERN in libsip/include/sip/*.h) is reachable from
the script bindings.

usage: bindings_coverage.py [--python] [--names FILE]... [--each] [--headers DIR]

  --python      the names of libsip._core (import it: PYTHONPATH must reach the package)
  --names FILE  a file with one bound name per line (the Lua test writes its core's names)
  --each        every source must bind every function (default: each function must be bound
                by at least one source)

Exits 1 and lists the missing functions when one is bound nowhere (or, with --each, missing
from one source), unless it is in EXCLUDED below with its reason.
"""

import argparse
import os
import re
import sys

# Functions no binding exposes, and why. Keep this short: every entry is a hole in the API.
EXCLUDED = {
    "sip_log": "varargs with a format string; scripts call its twin sip_log_write",
}

_DECL = re.compile(r"\bSIP_EXTERN\b[^;{}()]*?\b(sip_[A-Za-z0-9_]+)\s*\(")


def public_functions(include_dir):
    """Every function declared with SIP_EXTERN in the public headers, with its header."""
    found = {}
    for name in sorted(os.listdir(include_dir)):
        if not name.endswith(".h"):
            continue
        with open(os.path.join(include_dir, name), encoding="utf-8") as f:
            text = f.read()
        # Comments may mention SIP_EXTERN; drop them first.
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        for m in _DECL.finditer(text):
            found.setdefault(m.group(1), name)
    return found


def python_names():
    import libsip._core as core  # noqa: WPS433 - imported only when asked for
    return set(dir(core))


def file_names(path):
    with open(path, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip()}


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="store_true")
    ap.add_argument("--names", action="append", default=[])
    ap.add_argument("--each", action="store_true")
    ap.add_argument("--headers", default=os.path.join(here, "..", "libsip", "include", "sip"))
    args = ap.parse_args(argv)

    sources = {}
    if args.python:
        sources["python"] = python_names()
    for path in args.names:
        sources[path] = file_names(path)
    if not sources:
        ap.error("give --python and/or --names FILE")

    public = public_functions(args.headers)
    if len(public) < 50:
        print(f"bindings_coverage: only {len(public)} functions found in {args.headers}",
              file=sys.stderr)
        return 1
    stale = sorted(n for n in EXCLUDED if n not in public)
    if stale:
        print(f"bindings_coverage: excluded but not public any more: {', '.join(stale)}",
              file=sys.stderr)
        return 1

    wanted = [n for n in public if n not in EXCLUDED]
    missing = {}
    if args.each:
        for src, names in sources.items():
            for n in wanted:
                if n not in names:
                    missing.setdefault(n, []).append(src)
    else:
        everything = set().union(*sources.values())
        for n in wanted:
            if n not in everything:
                missing[n] = sorted(sources)

    if missing:
        print(f"bindings_coverage: {len(missing)} of {len(wanted)} public functions are not "
              "bound:", file=sys.stderr)
        for n in sorted(missing):
            print(f"  {n} ({public[n]}) missing from {', '.join(missing[n])}", file=sys.stderr)
        return 1
    print(f"bindings_coverage: {len(wanted)} public functions bound "
          f"({len(EXCLUDED)} excluded) in {', '.join(sorted(sources))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
