#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that every public C function (SIP_EXTERN in libsip/include/sip/*.h) is reachable from
the script bindings, that every field of every options struct (sip_*_opts_t) can be set from
them, and that the Python package documents everything public.

usage: bindings_coverage.py [--python] [--names FILE]... [--each] [--headers DIR]

  --python      the names of libsip._core (import it: PYTHONPATH must reach the package); also
                checks the package: a docstring on every public class, function, method and
                property, and every options field writable on the core's struct and taken by
                the package call that fills it (PACKAGE_OPTIONS)
  --names FILE  a file with one bound name per line (the Lua test writes its core's names)
  --each        every source must bind every function (default: each function must be bound
                by at least one source)

Every run also checks bindings/libsip.i, which both languages share: each options field is
made writable there (SIP_MUTABLE), so scripts in either language can set it.

Exits 1 and lists what is missing: a function bound nowhere (or, with --each, missing from one
source), unless it is in EXCLUDED below with its reason; an options field not writable or not
taken, unless in EXCLUDED_FIELDS; a public Python name without a docstring.
"""

import argparse
import os
import re
import sys

# Functions no binding exposes, and why. Keep this short: every entry is a hole in the API.
EXCLUDED = {
    "sip_log": "varargs with a format string; scripts call its twin sip_log_write",
}

# Options fields no script sets, and why.
EXCLUDED_FIELDS = {
    "sip_txn_opts_t.clock": "C function pointers for tests that drive time by hand; scripts "
                            "use the loop's timers",
}

# Where the Python package takes each options struct's fields: an object whose parameters
# (or OPTIONS attribute, for **options) name them.
PACKAGE_OPTIONS = {
    "sip_parse_opts_t": "Message.parse",
    "sip_transport_opts_t": "Transport",
    "sip_resolver_opts_t": "Resolver",
    "sip_txn_opts_t": "Stack",
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


_STRUCT = re.compile(r"typedef\s+struct\s+(sip_\w+_opts)\s*\{(.*?)\}\s*(sip_\w+_opts_t)\s*;",
                     re.S)
_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]]*\])?\s*;")


def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def options_fields(include_dir):
    """{typedef name: (struct tag, [field, ...])} for every sip_*_opts_t in the headers."""
    found = {}
    for name in sorted(os.listdir(include_dir)):
        if not name.endswith(".h"):
            continue
        with open(os.path.join(include_dir, name), encoding="utf-8") as f:
            text = _strip_comments(f.read())
        for m in _STRUCT.finditer(text):
            fields = []
            for decl in m.group(2).split(";"):
                decl = decl.strip()
                if not decl:
                    continue
                fm = _FIELD.search(decl + ";")
                if fm:
                    fields.append(fm.group(1))
            found[m.group(3)] = (m.group(1), fields)
    return found


def shared_interface_problems(opts, interface):
    """Options fields that bindings/libsip.i does not make writable (SIP_MUTABLE)."""
    with open(interface, encoding="utf-8") as f:
        text = f.read()
    mutable = set(re.findall(r"^\s*SIP_MUTABLE\(\s*(\w+)\s*,\s*(\w+)\s*\)", text, re.M))
    out = []
    for typedef, (tag, fields) in sorted(opts.items()):
        for field in fields:
            if f"{typedef}.{field}" in EXCLUDED_FIELDS:
                continue
            if (tag, field) not in mutable:
                out.append(f"{typedef}.{field}: not writable from scripts (add "
                           f"SIP_MUTABLE({tag}, {field}) to bindings/libsip.i)")
    return out


def _accepted(obj):
    import inspect
    names = set(getattr(obj, "OPTIONS", ()))
    try:
        names |= set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        pass
    return names


def python_option_problems(opts):
    """Options fields the core's struct refuses to set, or the package does not take."""
    import libsip
    import libsip._core as core
    out = []
    for typedef, (_tag, fields) in sorted(opts.items()):
        cls = getattr(core, typedef, None)
        if cls is None:
            out.append(f"{typedef}: not in libsip._core")
            continue
        where = PACKAGE_OPTIONS.get(typedef)
        target = libsip
        for part in (where or "").split("."):
            target = getattr(target, part, None) if part else None
        if target is None:
            out.append(f"{typedef}: no entry in PACKAGE_OPTIONS naming the package call that "
                       "takes it")
            continue
        taken = _accepted(target)
        for field in fields:
            if f"{typedef}.{field}" in EXCLUDED_FIELDS:
                continue
            o = cls()
            try:
                setattr(o, field, getattr(o, field))
            except AttributeError:
                out.append(f"{typedef}.{field}: read-only in libsip._core")
            except Exception:  # noqa: BLE001 - a value type SWIG refuses is still writable
                pass
            if field not in taken:
                out.append(f"{typedef}.{field}: libsip.{where} does not take {field}")
    return out


def missing_docstrings():
    """Public names of the libsip package without a docstring: every class and function in
    __all__, and every public method, property, classmethod and staticmethod of the classes
    (their own and what they inherit from the package), enum members and exceptions'
    inherited parts aside."""
    import enum
    import inspect
    import libsip
    out = []

    def doc_of(v):
        if isinstance(v, (staticmethod, classmethod)):
            v = v.__func__
        return (getattr(v, "__doc__", None) or "").strip()

    for name in libsip.__all__:
        obj = getattr(libsip, name)
        if inspect.isclass(obj):
            if not (obj.__doc__ or "").strip():
                out.append(name)
            seen = set()
            for base in obj.__mro__:
                if not (base.__module__ or "").startswith("libsip"):
                    continue
                for k, v in vars(base).items():
                    if k.startswith("_") or k in seen:
                        continue
                    seen.add(k)
                    if isinstance(obj, enum.EnumMeta) and k in obj.__members__:
                        continue
                    if isinstance(v, (property, staticmethod, classmethod)) or \
                            inspect.isfunction(v):
                        if not doc_of(v):
                            out.append(f"{name}.{k}")
        elif callable(obj) and not doc_of(obj):
            out.append(name)
    return out


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

    problems = []
    opts = options_fields(args.headers)
    if len(opts) < 4:
        print(f"bindings_coverage: only {len(opts)} options structs found in {args.headers}",
              file=sys.stderr)
        return 1
    stale_fields = sorted(k for k in EXCLUDED_FIELDS
                          if k.split(".")[1] not in opts.get(k.split(".")[0], ("", ()))[1])
    if stale_fields:
        problems.append(f"excluded but not an options field any more: {', '.join(stale_fields)}")
    problems += shared_interface_problems(
        opts, os.path.join(here, "..", "bindings", "libsip.i"))
    if args.python:
        problems += python_option_problems(opts)
        problems += [f"no docstring: libsip.{n}" for n in missing_docstrings()]
    if problems:
        print(f"bindings_coverage: {len(problems)} problems:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1

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
