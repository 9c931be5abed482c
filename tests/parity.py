#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that the Python and Lua packages offer the same features, and that docs/PYTHON.md and
docs/LUA.md describe them in the same order.

usage: parity.py [--lua LUA] [--api-only | --docs-only]

  API   lists the public API of the Python package (libsip: the classes, functions, methods,
        properties and fields __all__ reaches) and of the Lua package (tests/parity_api.lua
        walks the sip table and the class registry of libsip.errors, run with LUA, default
        lua5.4; LUA_PATH and LUA_CPATH must reach the build tree), maps the names with RENAMES
        (the idioms that differ: Python properties vs Lua fields are one kind of feature here),
        and fails on a feature present in one language only unless PYTHON_ONLY or LUA_ONLY
        lists it with its reason. An entry that no longer differs fails too, so the lists stay
        true.
  docs  the "## " headings of both docs, in the same order (the Python "asyncio" section is the
        Lua "Coroutines" one); each API name a doc shows in backquotes as a call or attribute
        (`Message.parse`, `msg.add_header(...)`, `m:add_header(...)`) appears in the other doc too,
        through the same RENAMES, unless it is a one-language feature listed below.

Exits 1 listing every difference.
"""

import argparse
import enum
import inspect
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ---- the explicit tables ------------------------------------------------------------------

# Lua class name -> Python class name.
LUA_CLASSES = {"Signal": "SignalWatch", "SdpMedia": "Media"}

# Python classes whose members Lua keeps on another class.
PY_MERGE = {
    # A request a Stack hands to a handler is a Request (a Message subclass) in Python; in Lua it
    # is a sip.Message whose reply/on_cancel/on_event work once it came from a Stack.
    "Request": "Message",
}

# (Python class, Python member) -> Lua member: names that follow each language's idiom.
RENAMES = {
    ("Message", "from_"): "from",            # `from` is a Python keyword
    ("Message", "copy"): "clone",            # Python's copy-protocol verb; the C verb in Lua
    ("OfferAnswer", "copy"): "clone",        # the same pair of verbs
    ("Message", "netinfo"): "source",        # both carry a NetInfo of the received message
    ("Sdp", "attributes"): "attrs",
    ("Media", "attributes"): "attrs",
    ("Loop", "call_later"): "timer",         # asyncio's name for a one-shot timer
    ("Loop", "set_log_level"): "set_log",    # Lua's set_log(fn, level) also sets the sink
    # Special methods and metamethods.
    ("*", "__enter__"): "__close",           # `with` vs `<close>`
    ("*", "__exit__"): "__close",
    ("*", "__str__"): "__tostring",
    ("*", "__bytes__"): "__tostring",        # Lua strings are bytes
    ("*", "__eq__"): "__eq",
    ("ClientTransaction", "__await__"): "wait",  # asyncio await vs a coroutine's txn:wait()
    ("Call", "answered"): "wait_answered",   # `await call.answered()` vs call:wait_answered()
    ("Call", "ended"): "wait_ended",         # `await call.ended()` vs call:wait_ended()
    ("Bridge", "ended"): "wait_ended",       # `await bridge.ended()` vs br:wait_ended()
    ("AuthCheck", "__await__"): "wait",      # `await check` vs check:wait()
    ("Registration", "registered"): "wait_registered",  # `await reg.registered()`
    ("Subscription", "established"): "wait_established",  # await sub.established()
    ("Subscription", "ended"): "wait_ended",  # `await sub.ended()` vs sub:wait_ended()
}

# Python special methods with no Lua counterpart by design (Lua has no repr; __gc is not a
# feature a script calls).
PY_IGNORED_SPECIAL = {"__repr__", "__del__", "__getattr__", "__format__"}
LUA_IGNORED_META = {"__gc", "__index", "__newindex", "__name", "__call", "__pairs"}

ASYNC = "asyncio (Python) and coroutines (Lua) are each language's own concurrency"
ENUM = ("an IntEnum in Python; Lua passes these as strings or numbers and gives the name as a "
        "string (docs/LUA.md: Errors)")
VALUE = ("a typed header value in Python (Header.parsed); Lua reads the value as a string "
         "with m:header(), or a table for Via, Address and NetInfo")
ERRORS = ("Python raises an exception class per category; Lua raises one sip.Error whose name "
          "field is the category (SIP_EPARSE ...): docs/LUA.md Errors gives the mapping")

# Python features Lua does not have, with the reason. Keys: "Class" (a whole class or enum),
# "Class.member", or a module function's name.
PYTHON_ONLY = {
    "TRACE": "a log level constant; Lua names the level \"trace\"",
    "Direction": ENUM, "HeaderKind": ENUM, "LogLevel": ENUM, "Method": ENUM,
    "TransportType": ENUM, "TxnEvent": ENUM, "TxnState": ENUM,
    "HandlerPriority": ENUM + " (\"first\", \"txn\", \"ua\", \"app\")",
    "BodyError": ERRORS, "ClosedError": ERRORS, "InvalidError": ERRORS,
    "NotFoundError": ERRORS, "ParseError": ERRORS, "SdpError": ERRORS,
    "TransactionError": ERRORS, "UriError": ERRORS,
    "OaState": ENUM, "NotAcceptableError": ERRORS,
    "Auth": VALUE, "CSeq": VALUE, "MediaType": VALUE, "Number": VALUE, "RAck": VALUE,
    "Token": VALUE, "Header": VALUE, "Headers": "m.headers is a read-only table in Lua (name -> "
    "list of strings), not a class with methods",
    "Origin": "a plain table in Lua (sdp.origin); Python's is a NamedTuple",
    "Connection": "a plain table in Lua (sdp.connection); Python's is a NamedTuple",
    "RtpMap": "a plain table in Lua (media:rtpmap()); Python's is a NamedTuple",
    "SendOp": ASYNC + ": Lua's stack:send and transport:send wait for the status inside a "
    "task and return 0 once queued outside one",
    "ResolveOp": ASYNC + ": Lua's Resolver:resolve() waits inside a task",
    "NetInfo.parse": "Lua takes a destination as a string or table where one is needed",
    "NetInfo.local": "Python's \"ip:port\" shorthands; Lua reads local_ip/local_port",
    "NetInfo.remote": "Python's \"ip:port\" shorthands; Lua reads remote_ip/remote_port",
    "Loop.serve": ASYNC, "Stack.serve": ASYNC,
    "Loop.backend_fd": "asyncio integration (libsip._aio)",
    "Loop.backend_timeout": "asyncio integration (libsip._aio)",
    "Message.method_id": ENUM,
    "Message.stack": "Lua keeps a request's stack private (req:reply() uses it)",
    "Timer.cancel": "asyncio's TimerHandle name; Lua's timer:stop() is the same call",
    "ClientTransaction.result": ASYNC + " (a Future's result())",
    "ClientTransaction.response": "Lua's txn.response is a field set when a response arrives: "
    "the transaction the walk reads has none yet (docs/LUA.md: Transactions)",
    "ServerTransaction.cancelled": "Lua's txn.cancelled is a field of the transaction, which "
    "needs a received request to sample (req.cancelled reads it)",
    "Loop.strict": "Python's strict mode re-raises a callback's exception from run(); Lua "
    "reports callback errors through sip.on_error(fn)",
    "Stack.address": "Python's one-address shorthand; Lua's stack:listeners()",
    "Stack.addresses": "Lua's stack:listeners()",
    "Resolver.bind": "a Lua Resolver binds to the stack's loop when a Stack takes it",
    "CallState": ENUM, "DialogState": ENUM, "CallFailed": ERRORS,
    "Call.__await__": ASYNC + ": `await call` is `await call.answered()` (Lua's "
    "call:wait_answered())",
    "BridgeLeg": ENUM + " (\"a\", \"b\")",
    "Bridge.answered": ASYNC + ": Lua's ua:bridge() waits for B inside its task; Python's "
    "ua.bridge() returns at once and `await` waits",
    "Bridge.__await__": ASYNC + ": `await bridge` is `await bridge.answered()`",
    "Algorithm": ENUM + " (\"SHA-256\", \"MD5-sess\"...; libsip.auth's algorithm_name and "
    "algorithm_from_name in both)",
    "Verdict": ENUM + " (\"ok\", \"challenge\", \"stale\", \"failed\", \"replay\", "
    "\"malformed\", \"pending\")",
    "AuthError": ERRORS,
    "RegEvent": ENUM, "RegState": ENUM, "RegistrationFailed": ERRORS,
    "Registration.__await__": ASYNC + ": `await reg` is `await reg.registered()` (Lua's "
    "ua:register() waits inside its task, reg:wait_registered() too)",
    "SubState": ENUM, "SubscriptionFailed": ERRORS,
    "Notify": "a plain table in Lua with the same fields (sub:next_notify())",
    "Subscription.__await__": ASYNC + ": `await sub` is `await sub.established()`",
    "Subscription.__aiter__": ASYNC + ": `async for n in sub` (Lua's sub:notifies())",
    "Subscription.__anext__": ASYNC + ": `async for n in sub` (Lua's sub:notifies())",
    "Registration.__aiter__": ASYNC + ": `async for ev, status, rsp in reg` (Lua's "
    "reg:events())",
    "Registration.__anext__": ASYNC + ": `async for ev, status, rsp in reg` (Lua's "
    "reg:events())",
    "Outcome": "a plain table in Lua with the same fields (req:proxy()'s result; Python's ok "
    "is status 2xx)",
    "Branch": "a plain table in Lua with the same fields (outcome.branches, req.branches)",
    # The configuration and the server (libsip.server, libsip/server.lua).
    "ConfigError": ERRORS,
    "Error.key": "the key at fault of a ConfigError; Lua's SIP_ECONFIG error table has it too "
                 "(e.key), beside the fields every error has",
    "Config.__getitem__": "cfg[key] in Python; Lua reads cfg:get(key)",
    "Config.__setitem__": "cfg[key] = value in Python; Lua writes cfg:set(key, value)",
    "Config.__contains__": "key in cfg in Python; Lua asks cfg:keys()",
    "Config.__iter__": "iterating a Config in Python; Lua walks cfg:keys()",
    "Server.serve": ASYNC + " (await server.serve())",
}

# Lua features Python does not have, with the reason.
LUA_ONLY = {
    "is_error": "Lua has no exception classes: sip.is_error(e, name) is its `except`",
    "on_error": "Python sends callback errors to logging.getLogger(\"libsip\")",
    "sleep": ASYNC + " (asyncio.sleep)",
    "Loop.spawn": ASYNC, "Loop.sleep": ASYNC, "Stack.spawn": ASYNC,
    "Message.address": "Python reads msg.headers[name][i].parsed",
    "Message.addresses": "Python reads [h.parsed for h in msg.headers[name]]",
    "Message.header": "Python reads msg.headers[name][i].value",
    "Message.header_count": "Python reads len(msg.headers.getall(name))",
    "Message.header_list": "Python reads msg.headers.all()",
    "Message.print": "Python's bytes(msg)",
    "Message.cseq_method": "Python reads msg.cseq.method (a CSeq value)",
    "Stack.listeners": "Python's stack.addresses",
    "Stack.send_response": "Python's Request.reply or Transport.send_response",
    "Sdp.new": "Python's Sdp() constructor",
    "Multipart.new": "Python's Multipart() constructor",
    "Multipart.print": "Python's bytes(mp)",
    "Sdp.set_session_name": "Python assigns sdp.session_name",
    "Sdp.set_direction": "Python assigns sdp.direction",
    "Sdp.print": "Python's bytes(sdp)",
    "Media.set_port": "Python assigns media.port",
    "Media.set_direction": "Python assigns media.direction",
    "Uri.raw": "Python's str(uri)",
    "Uri.header": "Python reads uri.headers[name]",
    "Uri.parse": "Python's Uri(text) constructor",
    "Resolver.__tostring": "Python's repr(resolver)",
    "Error.__tostring": "Python's str(e), which every exception has",
    "Subscription.notifies": "Python's `async for n in sub`",
    "Registration.events": "Python's `async for ev, status, rsp in reg`",
    # The configuration and the server (libsip.server, libsip/server.lua).
    "Server.__tostring": "Python's repr(server)",
    # Workers (libsip.worker, libsip/worker.lua).
    "Hub.__tostring": "Python's repr(hub)",
    "Worker.__tostring": "Python's repr(worker)",
}


# ---- the two API lists --------------------------------------------------------------------

_SKIP_ATTRS = {
    "__slots__", "__module__", "__doc__", "__init__", "__dict__", "__weakref__",
    "__annotations__", "__qualname__", "__hash__", "__orig_bases__", "__parameters__",
    "__abstractmethods__", "__class_getitem__", "__match_args__", "__new__", "__getnewargs__",
    "__field_defaults__", "__firstlineno__", "__static_attributes__", "__replace__",
    "_abc_impl", "_fields", "_field_defaults",
}


def _sample_error(cls):
    """An instance of an exception class of the package, every field set."""
    import libsip
    if issubclass(cls, libsip.ParseError):
        return cls(-22, "reason", 1, 1, "header", 400, "phrase")
    if issubclass(cls, libsip.SdpError):
        return cls(-22, "reason", 1, 1, "v")
    if issubclass(cls, libsip.TransactionError):
        return cls(408)
    return cls(-22)


def _instance_fields(out):
    """Attributes a constructor sets on the object itself (stack.loop, stack.transport)."""
    import signal
    import libsip
    with libsip.Stack() as stack:
        samples = {"Stack": stack, "Loop": stack.loop}
        timer = stack.loop.call_later(1, lambda: None)
        watch = stack.loop.on_signal(signal.SIGUSR1, lambda signum: None)
        samples.update(Timer=timer, SignalWatch=watch)
        for cname, obj in samples.items():
            for attr in getattr(obj, "__dict__", {}):
                if not attr.startswith("_"):
                    out[f"{cname}.{attr}"] = "member"
        watch.stop()
        timer.stop()


def python_api():
    """{feature key: kind}: "Name" for a class or function of __all__, "Class.member" for a
    member (a method, property, field or special method)."""
    import libsip
    out = {}
    _instance_fields(out)
    for name in libsip.__all__:
        obj = getattr(libsip, name)
        if not inspect.isclass(obj):
            out[name] = "fn" if callable(obj) else "const"
            continue
        if issubclass(obj, enum.Enum):
            out[name] = "enum"
            continue
        if issubclass(obj, BaseException):
            # One Error in Lua, with a name per category: the classes are in PYTHON_ONLY and
            # the fields of all of them are the fields of Lua's sip.Error.
            out[name] = "error"
            out["Error"] = "class"
            for attr in vars(_sample_error(obj)):
                if not attr.startswith("_"):
                    out[f"Error.{attr}"] = "member"
            continue
        cname = PY_MERGE.get(name, name)
        out[cname] = "class"
        for base in obj.__mro__:
            if not (base.__module__ or "").startswith("libsip"):
                continue
            members = dict(vars(base))
            for s in vars(base).get("__slots__", ()):
                members[s] = None
            for f in getattr(base, "_fields", ()):
                members[f] = None
            for attr, v in members.items():
                if attr in _SKIP_ATTRS or attr in PY_IGNORED_SPECIAL:
                    continue
                special = attr.startswith("__") and attr.endswith("__")
                if attr.startswith("_") and not special:
                    continue
                out[f"{cname}.{attr}"] = "special" if special else "member"
    return out


def lua_api(lua):
    """{feature key: kind} from tests/parity_api.lua, in Python's class names."""
    res = subprocess.run([lua, os.path.join(HERE, "parity_api.lua")], capture_output=True,
                         text=True, timeout=60, check=False)
    if res.returncode != 0:
        sys.exit(f"parity_api.lua failed:\n{res.stderr}")
    out = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if parts[0] == "fn":
            out[parts[1]] = "fn"
        elif parts[0] == "class":
            out[LUA_CLASSES.get(parts[1], parts[1])] = "class"
        else:
            cname = LUA_CLASSES.get(parts[1], parts[1])
            if parts[2] in LUA_IGNORED_META:
                continue
            out[f"{cname}.{parts[2]}"] = "special" if parts[2].startswith("__") else "member"
    return out


def to_lua_key(key):
    """A Python feature key in Lua's names."""
    if "." not in key:
        return key
    cname, member = key.split(".", 1)
    lua = RENAMES.get((cname, member)) or RENAMES.get(("*", member))
    return f"{cname}.{lua}" if lua else key


def api_problems(lua):
    py = python_api()
    lu = lua_api(lua)
    py_in_lua = {}
    for key in py:
        py_in_lua.setdefault(to_lua_key(key), key)
    problems = []
    only_py = {py_in_lua[k] for k in py_in_lua if k not in lu}
    only_lua = {k for k in lu if k not in py_in_lua}

    def listed(key, table):
        # A member of a class listed whole is listed with it.
        return key in table or ("." in key and key.split(".", 1)[0] in table)

    for key in sorted(only_py):
        if not listed(key, PYTHON_ONLY):
            problems.append(f"Python only: {key} (add it to Lua, or to PYTHON_ONLY with a reason)")
    for key in sorted(only_lua):
        if not listed(key, LUA_ONLY):
            problems.append(f"Lua only: {key} (add it to Python, or to LUA_ONLY with a reason)")
    for key in sorted(PYTHON_ONLY):
        if key not in only_py:
            problems.append(f"PYTHON_ONLY lists {key}, which is not a Python-only feature now")
    for key in sorted(LUA_ONLY):
        if key not in only_lua:
            problems.append(f"LUA_ONLY lists {key}, which is not a Lua-only feature now")
    return problems


# ---- the docs -----------------------------------------------------------------------------

# Sections that are each language's own under another name: Python's heading -> Lua's.
DOC_SECTION_PAIRS = {"asyncio": "Coroutines"}


def headings(path):
    with open(path, encoding="utf-8") as f:
        return [line[3:].strip() for line in f if line.startswith("## ")]


def doc_heading_problems():
    py = headings(os.path.join(ROOT, "docs", "PYTHON.md"))
    lu = headings(os.path.join(ROOT, "docs", "LUA.md"))
    py_as_lua = [DOC_SECTION_PAIRS.get(h, h) for h in py]
    if py_as_lua == lu:
        return []
    return ["docs/PYTHON.md and docs/LUA.md sections differ:\n  PYTHON.md: " +
            " | ".join(py) + "\n  LUA.md:    " + " | ".join(lu)]


_CODE = re.compile(r"`([^`]+)`")  # Markdown code spans may wrap a line
_MEMBER = re.compile(r"[.:]([A-Za-z_]\w*)")


def documented(path):
    """The names a doc shows after a "." or ":" in code (inline or fenced): `msg.add_header(...)`,
    `m:add_header(...)`, `libsip.branch()`, `sip.Message.parse`. Scripts name their objects as
    they like, so a member counts whatever its receiver is called."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    inline = _CODE.findall(re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    out = set()
    for code in inline + blocks:
        out.update(_MEMBER.findall(code))
    return out


def doc_name_problems(lua):
    """A feature both languages have, documented in one doc and not in the other."""
    py_api = python_api()
    lu_api = lua_api(lua)
    py_doc = documented(os.path.join(ROOT, "docs", "PYTHON.md"))
    lu_doc = documented(os.path.join(ROOT, "docs", "LUA.md"))
    problems = []
    for key in sorted(py_api):
        lkey = to_lua_key(key)
        if lkey not in lu_api or key.split(".")[-1].startswith("__"):
            continue
        pname, lname = key.split(".")[-1], lkey.split(".")[-1]
        if pname in py_doc and lname not in lu_doc:
            problems.append(f"docs/PYTHON.md shows {key}; docs/LUA.md does not show {lname}")
        if lname in lu_doc and pname not in py_doc:
            problems.append(f"docs/LUA.md shows {lkey}; docs/PYTHON.md does not show {pname}")
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lua", default="lua5.4")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--api-only", action="store_true")
    g.add_argument("--docs-only", action="store_true")
    args = ap.parse_args(argv)
    problems = []
    if not args.docs_only:
        problems += api_problems(args.lua)
    if not args.api_only:
        problems += doc_heading_problems()
        problems += doc_name_problems(args.lua)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} parity problem(s)")
        return 1
    print("Python and Lua offer the same features, documented in the same order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
