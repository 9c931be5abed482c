#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that every public C function (SIP_EXTERN in libsip/include/sip/*.h) is reachable from
the script bindings, that every field of every options struct (sip_*_opts_t) and of sip_netinfo_t
can be set from them, that every callback typedef has its entry in the bindings' callback table,
and that the Python package documents everything public.

usage: bindings_coverage.py [--python] [--names FILE]... [--each] [--lua-fields FILE]
                            [--headers DIR]

  --python      the names of libsip._core (import it: PYTHONPATH must reach the package); also
                checks the package: a docstring on every public class, function, method and
                property, and every options field writable on the core's struct and taken by
                the package call that fills it (PACKAGE_OPTIONS)
  --names FILE  a file with one bound name per line (the Lua test writes its core's names)
  --each        every source must bind every function (default: each function must be bound
                by at least one source)
  --lua-fields FILE  the fields the Lua core lets a script set, "struct.field" a line
                (tests/lua/list_writable.lua writes it): each options and netinfo field must
                be there

Every run also checks bindings/callbacks.i, which both languages share: SIPBIND_CALLBACKS has one
entry, and the file one trampoline, per callback typedef of the headers (`typedef ...
(*sip_*_cb)(...)`, `..._fn`; sip_free_fn aside), and nothing else. The field list is
bindings/sipapi.py's, the one the build makes writable (mutable.i).

Exits 1 and lists what is missing: a function bound nowhere (or, with --each, missing from one
source), unless it is in EXCLUDED below with its reason; an options field not writable or not
taken, unless in EXCLUDED_FIELDS; a callback typedef without its table entry or trampoline (or
an entry without a typedef); a public Python name without a docstring.
"""

import argparse
import keyword
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
    "sip_ua_opts_t.clock": "the same clock as sip_txn_opts_t.clock, for the UA's timers",
    "sip_auth_server_opts_t.clock": "the same clock, for C tests of nonce expiry; scripts use "
                                    "the wall clock (the default)",
    "sip_location_opts_t.now": "a C clock for tests that drive binding expiry by hand; scripts "
                               "use the wall clock (the default)",
    "sip_location_opts_t.clock_user": "the user pointer of that C clock",
    "sip_proxy_relay_opts_t.on_branch": "a C hook whose user is the relay outcome's; scripts "
                                        "give their per-branch hook to the thin layer's relay",
}

# Where the Python package takes each options struct's fields: an object whose parameters
# (or OPTIONS attribute, for **options) name them.
PACKAGE_OPTIONS = {
    "sip_netinfo_t": "NetInfo",
    "sip_parse_opts_t": "Message.parse",
    "sip_transport_opts_t": "Transport",
    "sip_resolver_opts_t": "Resolver",
    "sip_txn_opts_t": "Stack",
    "sip_oa_opts_t": "OfferAnswer",
    "sip_ua_opts_t": "UA",
    # UA.invite.OPTIONS: `from` is the keyword from_, timeout_ms the keyword timeout (seconds).
    "sip_call_opts_t": "UA.invite",
    "sip_bridge_opts_t": "UA.bridge",   # `from` as from_, timeout_ms as timeout (seconds)
    "sip_auth_cred_t": "UA.add_credential",
    "sip_auth_server_opts_t": "AuthServer",
    # UA.register.OPTIONS: `from` as from_, keepalive_s/retry_s/max_retry_s as keepalive, retry,
    # max_retry (seconds).
    "sip_reg_opts_t": "UA.register",
    "sip_sub_opts_t": "UA.subscribe",  # status, state: UA.accept_subscription's keywords
    "sip_location_opts_t": "Location",
    "sip_registrar_opts_t": "Registrar",
    "sip_proxy_opts_t": "Proxy",  # timer_c_ms as timer_c (seconds)
    # ProxyRequest.proxy.OPTIONS: timeout_ms as timeout (seconds), on_branch as on_request and
    # on_response, keep_final always set (the route decides what a kept outcome becomes).
    "sip_proxy_relay_opts_t": "ProxyRequest.proxy",
    "sip_metrics_opts_t": "Metrics",
    "sip_guard_opts_t": "Guard",
    "sip_hub_opts_t": "Hub",
    "sip_worker_opts_t": "Worker",
}

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings"))
import sipapi  # noqa: E402 - bindings/sipapi.py, the build's reader of the headers

public_functions = sipapi.public_functions
callback_typedefs = sipapi.callback_typedefs


def options_fields(include_dir):
    """{typedef name: (struct tag, [field, ...])} for every sip_*_opts_t and sip_netinfo_t in
    the headers: the structs a script fills in."""
    return sipapi.mutable_structs(include_dir)


def excluded_field_problems(opts, interface):
    """EXCLUDED_FIELDS must be exactly the fields libsip.i %ignores: the build makes every other
    field writable, so an exclusion without its %ignore is stale and an %ignore without its
    reason here is a hole nobody reviewed."""
    by_tag = {tag: typedef for typedef, (tag, _fields) in opts.items()}
    ignored = {f"{by_tag[tag]}.{field}" for tag, field in sipapi.ignored_members(interface)
               if tag in by_tag}
    out = [f"{k}: in EXCLUDED_FIELDS but not %ignored by bindings/libsip.i (it is writable)"
           for k in sorted(set(EXCLUDED_FIELDS) - ignored)]
    out += [f"{k}: %ignored by bindings/libsip.i without a reason in EXCLUDED_FIELDS"
            for k in sorted(ignored - set(EXCLUDED_FIELDS))]
    return out


def callback_problems(include_dir, callbacks_i):
    """Callback typedefs without their SIPBIND_CALLBACKS entry or trampoline in callbacks.i, and
    entries or trampolines without a typedef."""
    typedefs = callback_typedefs(include_dir)
    table = [t for t, _name in sipapi.callback_table(callbacks_i)]
    tramps = sipapi.trampolines(callbacks_i)
    out = []
    for t in sorted(typedefs):
        if t not in table:
            out.append(f"{t} ({typedefs[t]}): no entry X({t}, <parameter name>) in "
                       "SIPBIND_CALLBACKS (bindings/callbacks.i)")
        if t not in tramps:
            out.append(f"{t} ({typedefs[t]}): no trampoline sipbind_tramp_{t} in "
                       "bindings/callbacks.i")
    for t in sorted(set(table) - set(typedefs)):
        out.append(f"{t}: in SIPBIND_CALLBACKS but no such callback typedef in the headers")
    for t in sorted(set(tramps) - set(typedefs)):
        out.append(f"sipbind_tramp_{t}: a trampoline for no callback typedef of the headers")
    for t in sorted({t for t in table if table.count(t) > 1}):
        out.append(f"{t}: more than one entry in SIPBIND_CALLBACKS")
    return out


def lua_field_problems(opts, path):
    """Options and netinfo fields missing from the Lua core's list of writable fields."""
    writable = file_names(path)
    return [f"{typedef}.{field}: read-only in the Lua core"
            for typedef, (_tag, fields) in sorted(opts.items()) for field in fields
            if f"{typedef}.{field}" not in EXCLUDED_FIELDS and
            f"{typedef}.{field}" not in writable]


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
            # SWIG names a field that is a Python keyword (`from`) with a leading underscore.
            attr = f"_{field}" if keyword.iskeyword(field) else field
            try:
                setattr(o, attr, getattr(o, attr))
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
    inherited parts aside. Public classes and functions of the package's public modules that
    __all__ leaves out (libsip.message.Warning, which Header.parsed returns) count too."""
    import enum
    import importlib
    import inspect
    import pkgutil
    import libsip
    out = []
    named = [(name, getattr(libsip, name)) for name in libsip.__all__]
    exported = {id(obj) for _, obj in named}
    for info in pkgutil.iter_modules(libsip.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"libsip.{info.name}")
        for k, v in vars(mod).items():
            if not k.startswith("_") and id(v) not in exported and \
                    (inspect.isclass(v) or inspect.isfunction(v)) and \
                    getattr(v, "__module__", None) == mod.__name__:
                named.append((f"{info.name}.{k}", v))

    def doc_of(v):
        if isinstance(v, (staticmethod, classmethod)):
            v = v.__func__
        return (getattr(v, "__doc__", None) or "").strip()

    for name, obj in named:
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
    here = HERE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="store_true")
    ap.add_argument("--names", action="append", default=[])
    ap.add_argument("--each", action="store_true")
    ap.add_argument("--lua-fields")
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
    if len(opts) < 5 or "sip_netinfo_t" not in opts:
        print(f"bindings_coverage: only {len(opts)} options structs found in {args.headers}",
              file=sys.stderr)
        return 1
    stale_fields = sorted(k for k in EXCLUDED_FIELDS
                          if k.split(".")[1] not in opts.get(k.split(".")[0], ("", ()))[1])
    if stale_fields:
        problems.append(f"excluded but not an options field any more: {', '.join(stale_fields)}")
    problems += excluded_field_problems(opts, sipapi.INTERFACE)
    problems += callback_problems(args.headers, sipapi.CALLBACKS)
    if args.lua_fields:
        problems += lua_field_problems(opts, args.lua_fields)
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
