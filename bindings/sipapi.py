#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the script bindings need to know about the public C API, read from the headers and the
SWIG interface files, for the build (bindings/mutable.i) and tests/bindings_coverage.py alike.

usage: sipapi.py mutable-i --headers DIR --interface libsip.i -o OUT

  mutable-i   writes the SWIG lines that make every field of every options struct
              (typedef struct sip_*_opts) and of sip_netinfo writable from scripts, minus the
              fields the interface %ignores (libsip.i includes the result as "mutable.i")
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HEADERS = os.path.join(HERE, "..", "libsip", "include", "sip")
INTERFACE = os.path.join(HERE, "libsip.i")
CALLBACKS = os.path.join(HERE, "callbacks.i")

# Structs scripts fill in: the options structs and the address of a message or destination.
_MUTABLE_STRUCT = re.compile(
    r"typedef\s+struct\s+(sip_\w+_opts|sip_netinfo|sip_auth_cred)\s*\{(.*?)\}\s*(sip_\w+_t)\s*;",
    re.S)
# The declared name of one member: `type name`, `type name[N]`, `type (*name)(args)`.
_MEMBER = re.compile(r"(?:\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\(.*\)|([A-Za-z_]\w*)\s*(?:\[[^\]]*\])*)"
                     r"\s*$", re.S)
_DECL = re.compile(r"\bSIP_EXTERN\b[^;{}()]*?\b(sip_[A-Za-z0-9_]+)\s*\(")
_CALLBACK_TYPEDEF = re.compile(r"\btypedef\b[^;{}]*?\(\s*\*\s*(sip_\w+_(?:cb|fn))\s*\)\s*\(")
# Not a callback type of its own: the user_free of every registration.
NOT_CALLBACKS = {"sip_free_fn"}


def strip_comments(text):
    """C text without its comments (which may mention anything)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _headers(include_dir):
    for name in sorted(os.listdir(include_dir)):
        if name.endswith(".h"):
            with open(os.path.join(include_dir, name), encoding="utf-8") as f:
                yield name, strip_comments(f.read())


def public_functions(include_dir=HEADERS):
    """{function: header} for every function declared with SIP_EXTERN in the public headers."""
    found = {}
    for name, text in _headers(include_dir):
        for m in _DECL.finditer(text):
            found.setdefault(m.group(1), name)
    return found


def mutable_structs(include_dir=HEADERS):
    """{typedef name: (struct tag, [field, ...])} for every sip_*_opts_t and sip_netinfo_t, the
    fields in declaration order."""
    found = {}
    for _name, text in _headers(include_dir):
        for m in _MUTABLE_STRUCT.finditer(text):
            fields = []
            for decl in m.group(2).split(";"):
                fm = _MEMBER.search(decl.strip()) if decl.strip() else None
                if fm:
                    fields.append(fm.group(1) or fm.group(2))
            found[m.group(3)] = (m.group(1), fields)
    return found


def options_fields(include_dir=HEADERS):
    """mutable_structs() restricted to the options structs (sip_*_opts_t)."""
    return {k: v for k, v in mutable_structs(include_dir).items() if v[0].endswith("_opts")}


def callback_typedefs(include_dir=HEADERS):
    """{callback typedef: header} for every `typedef ... (*sip_*_cb|fn)(...)` but sip_free_fn."""
    found = {}
    for name, text in _headers(include_dir):
        for m in _CALLBACK_TYPEDEF.finditer(text):
            if m.group(1) not in NOT_CALLBACKS:
                found.setdefault(m.group(1), name)
    return found


def callback_table(callbacks_i=CALLBACKS):
    """[(typedef, parameter name), ...]: the entries of SIPBIND_CALLBACKS in callbacks.i."""
    with open(callbacks_i, encoding="utf-8") as f:
        text = strip_comments(f.read())
    m = re.search(r"%define\s+SIPBIND_CALLBACKS\s*\(\s*X\s*\)(.*?)%enddef", text, re.S)
    if not m:
        return []
    return re.findall(r"\bX\(\s*(\w+)\s*,\s*(\w+)\s*\)", m.group(1))


def trampolines(callbacks_i=CALLBACKS):
    """The callback typedefs callbacks.i defines a trampoline (sipbind_tramp_<typedef>) for."""
    with open(callbacks_i, encoding="utf-8") as f:
        text = strip_comments(f.read())
    return re.findall(r"\bstatic\s+(?:void|int)\s+sipbind_tramp_(\w+)\s*\(", text)


def ignored_members(interface=INTERFACE):
    """{(struct tag, field)} the interface hides with `%ignore tag::field;`."""
    with open(interface, encoding="utf-8") as f:
        text = strip_comments(f.read())
    return set(re.findall(r"^\s*%ignore\s+(\w+)::(\w+)\s*;", text, re.M))


def mutable_lines(include_dir=HEADERS, interface=INTERFACE):
    """The %feature lines of mutable.i, one per writable field."""
    ignored = ignored_members(interface)
    lines = []
    for _typedef, (tag, fields) in sorted(mutable_structs(include_dir).items()):
        for field in fields:
            if (tag, field) not in ignored:
                lines.append(f'%feature("immutable", "0") {tag}::{field};')
    return lines


def write_mutable_i(out, include_dir=HEADERS, interface=INTERFACE):
    lines = mutable_lines(include_dir, interface)
    structs = mutable_structs(include_dir)
    if not any(tag == "sip_netinfo" for tag, _ in structs.values()) or len(structs) < 5:
        raise SystemExit(f"sipapi.py: only {len(structs)} structs to make writable found in "
                         f"{include_dir}")
    text = ("/* Generated by bindings/sipapi.py from libsip/include/sip/*.h: do not edit. */\n"
            "/* Every field of the options structs and sip_netinfo is writable from scripts\n"
            " * (convention 7 of libsip.i), but those libsip.i %ignores. */\n"
            + "\n".join(lines) + "\n")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["mutable-i"])
    ap.add_argument("--headers", default=HEADERS)
    ap.add_argument("--interface", default=INTERFACE)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    write_mutable_i(args.output, args.headers, args.interface)
    return 0


if __name__ == "__main__":
    sys.exit(main())
