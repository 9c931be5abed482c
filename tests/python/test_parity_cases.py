# SPDX-License-Identifier: MIT
"""The behaviour cases Python shares with Lua (tests/parity_cases.json, run in Lua by
tests/lua/test_parity_cases.lua): the same bad input fails in the same category, with the same
key words in the message, and the same reads give the same values."""

import json
import os

import pytest

import libsip

CASES_FILE = os.path.join(os.path.dirname(__file__), "..", "parity_cases.json")
with open(CASES_FILE, encoding="utf-8") as f:
    SPEC = json.load(f)

EXCEPTIONS = {"TypeError": TypeError, "InvalidError": libsip.InvalidError,
              "ParseError": libsip.ParseError, "UriError": libsip.UriError,
              "SdpError": libsip.SdpError, "ClosedError": libsip.ClosedError,
              "NotFoundError": libsip.NotFoundError}


def message_text(spec):
    text = "\r\n".join(SPEC["messages"][spec["name"]])
    if "replace" in spec:
        old, new = spec["replace"]
        assert old in text, f"{spec['name']} has no {old!r}"
        text = text.replace(old, new, 1)
    return text


def value(v):
    """A JSON argument as a Python value."""
    if isinstance(v, dict) and "$" in v:
        kind = v["$"]
        if kind == "message":
            return message_text(v)
        return {"nil": None, "list": ["a", "b"], "table": {"a": 1}, "bool": True,
                "fn": lambda *a: None}[kind]
    return v


def obj(spec, keep):
    if isinstance(spec, dict):
        m = libsip.Message.parse(message_text(spec))
    elif spec == "sdp":
        m = libsip.Sdp()
    elif spec == "loop":
        m = libsip.Loop()
    elif spec.endswith("_uri"):
        msg = libsip.Message.parse(message_text({"name": spec[:-4]}))
        keep.append(msg)
        m = msg.uri
    else:
        m = libsip.Message.parse(message_text({"name": spec}))
    keep.append(m)
    return m


def name(n):
    if isinstance(n, dict):
        return n["python"]
    return SPEC["python_names"].get(n, n)


def run(case, keep):
    op = case["op"]
    args = [value(a) for a in case.get("args", [])]
    opts = dict(case.get("opts", {}))
    if isinstance(opts.get("headers"), list):
        opts["headers"] = [tuple(pair) for pair in opts["headers"]]
    if op == "call":
        return getattr(obj(case["obj"], keep), name(case["method"]))(*args, **opts)
    if op == "fn":
        return getattr(libsip, case["name"])(*args, **opts)
    if op == "new":
        made = getattr(libsip, case["class"])(*args, **opts)
        keep.append(made)
        return made
    if op == "static":
        return getattr(getattr(libsip, case["class"]), case["name"])(*args, **opts)
    if op == "closed":
        m = obj(case["obj"], keep)
        m.close()
        return getattr(m, name(case["attr"]))
    if op == "get":
        v = obj(case["obj"], keep)
        for step in case["path"]:
            if isinstance(v, dict):
                v = v.get(step)
            elif isinstance(step, str):
                v = getattr(v, name(step))
            else:
                v = v[step]
        return v
    if op in ("send", "request"):
        msg = libsip.Message.parse(value(case["msg"]))
        with libsip.Stack(listen=["udp:127.0.0.1:0"],
                          transactions=case.get("transactions", False)) as stack:
            if op == "send":
                return stack.send(msg, case["dst"])
            return stack.request(msg, "udp:127.0.0.1:9")
    if op == "reply":
        return reply(args, opts, case.get("after_close", False), case.get("transactions", False))
    if op == "nested":
        got = []
        with libsip.Loop() as loop:
            def inner():
                try:
                    getattr(loop, case["method"])()
                    got.append(None)
                except Exception as e:  # noqa: BLE001 - handed to the test
                    got.append(e)
                loop.stop()
            loop.call_later(0, inner)
            guard = loop.call_later(5, loop.stop)
            loop.run()
            guard.stop()
        assert got, "the callback did not run in 5 s"
        if got[0] is not None:
            raise got[0]
        return True
    if op == "stop_then_run":
        with libsip.Stack(listen=["udp:127.0.0.1:0"]) as stack:
            fired = []
            guard = stack.loop.call_later(5, lambda: (fired.append(1), stack.stop()))
            stack.stop()
            stack.run()
            guard.stop()
            return not fired
    raise AssertionError(f"unknown op {op}")


def reply(args, opts, after_close=False, transactions=False):
    """req.reply(*args, **opts) in the handler of an OPTIONS the stack sends itself (after_close:
    on the request kept, once the stack closed); True when it returned, else what it raised is
    raised here."""
    msg = libsip.Message.parse(message_text({"name": "options"}).replace(
        "host.example.com;", "127.0.0.1:9;"))
    got = []
    kept = []
    with libsip.Stack(listen=["udp:127.0.0.1:0"], transactions=transactions) as stack:
        @stack.on_request("OPTIONS")
        def handler(req):
            if after_close:
                kept.append(req)
                got.append(None)
            else:
                try:
                    req.reply(*args, **opts)
                    got.append(None)
                except Exception as e:  # noqa: BLE001 - handed to the test
                    got.append(e)
            stack.stop()

        timer = stack.loop.call_later(5, stack.stop)
        stack.send(msg, stack.address("udp"))
        stack.run()
        timer.stop()
    msg.close()
    assert got, "the request did not arrive in 5 s"
    if after_close:
        return kept[0].reply(*args, **opts)
    if got[0] is not None:
        raise got[0]
    return True


@pytest.mark.parametrize("case", SPEC["cases"], ids=[c["id"] for c in SPEC["cases"]])
def test_parity_case(case):
    keep = []
    try:
        if "error" in case:
            cls = EXCEPTIONS[SPEC["categories"][case["error"]]["python"]]
            with pytest.raises(Exception) as info:
                run(case, keep)
            # The category exactly: a TypeError case must not pass on an InvalidError (a
            # ValueError) or the other way round.
            assert isinstance(info.value, cls), \
                f"{case['id']}: expected {cls.__name__}, got {type(info.value).__name__}: " \
                f"{info.value}"
            if cls is TypeError:
                assert not isinstance(info.value, libsip.Error)
            text = str(info.value).lower()
            for word in case["words"]:
                assert word.lower() in text, f"{case['id']}: {word!r} not in {str(info.value)!r}"
        elif "prints" in case:
            got = run(case, keep)
            keep.append(got)
            assert str(got) == case["prints"]
        else:
            want = case["equals"]
            if isinstance(want, dict):
                want = want["python"]
            got = run(case, keep)
            assert got == want and type(got) is type(want), \
                f"{case['id']}: expected {want!r}, got {got!r}"
    finally:
        for o in reversed(keep):
            close = getattr(o, "close", None)
            if close is not None:
                close()


def test_every_category_maps_to_an_exception():
    for cat in SPEC["categories"].values():
        assert cat["python"] in EXCEPTIONS


def test_with_closes_what_lua_closes_with_close():
    """Every object Lua's <close> closes, Python's with closes: Sdp, Multipart and both
    transactions too (tests/lua/test_parity_cases.lua checks the Lua side)."""
    with libsip.Sdp() as sdp:
        sdp.session_name = "x"
    assert sdp.closed
    with pytest.raises(libsip.ClosedError):
        bytes(sdp)
    with libsip.Multipart() as mp:
        pass
    assert mp.closed
    req = libsip.Message.parse(message_text({"name": "options"}))
    with libsip.Stack(listen=["udp:127.0.0.1:0"], transactions=True) as stack:
        with stack.request(req, "udp:127.0.0.1:9") as txn:
            pass
        assert txn.done
        with pytest.raises(libsip.ClosedError):
            txn.result()
        assert not stack.closed
    assert stack.closed
    req.close()
