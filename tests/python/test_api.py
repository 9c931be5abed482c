# SPDX-License-Identifier: MIT
"""The package's surface: identifier generators as in Lua, repr() of every public class in
odd states, enums printed by name, docstrings everywhere."""

import re

import libsip


def test_branch_tag_and_call_id_generators():
    b = libsip.branch()
    assert re.fullmatch(r"z9hG4bK[0-9a-f]{16}", b)  # RFC 3261 §8.1.1.7 magic cookie
    assert libsip.branch() != b
    t = libsip.tag()
    assert re.fullmatch(r"[0-9a-f]{16}", t) and libsip.tag() != t
    c = libsip.call_id()
    assert re.fullmatch(r"[0-9a-f]{32}", c) and libsip.call_id() != c
    assert re.fullmatch(r"[0-9a-f]{32}@host\.example", libsip.call_id("host.example"))
    # Each works in a message as it stands.
    m = libsip.Message.request("OPTIONS", "sip:a@example.com", headers=[
        ("Via", f"SIP/2.0/UDP h.example;branch={b}"), ("From", f"<sip:b@example.com>;tag={t}"),
        ("Call-ID", c)])
    assert (m.via.branch, m.from_.tag, m.call_id) == (b, t, c)


MSG = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKapi1\r\n"
       b"From: Alice <sip:alice@example.com>;tag=a1\r\n"
       b"To: <sip:bob@example.com>\r\n"
       b"Call-ID: api-1@example.com\r\n"
       b"CSeq: 1 INVITE\r\n"
       b"Content-Length: 0\r\n\r\n")


def _odd_objects():
    """Objects of every public class in odd states: closed, never initialised, empty."""
    out = []
    for name in libsip.__all__:
        cls = getattr(libsip, name)
        if isinstance(cls, type) and not issubclass(cls, (int, tuple)):
            try:
                out.append(cls.__new__(cls))  # __init__ never ran
            except TypeError:
                pass
    m = libsip.Message.parse(MSG)
    hdr, via_h, uri, addr, headers = m.headers["From"][0], m.headers["Via"][0], m.uri, \
        m.from_, m.headers
    m.close()
    out += [m, hdr, via_h, uri, addr, headers]
    sdp = libsip.Sdp()
    media = sdp.add_media("audio", 4000, "RTP/AVP", [0])
    out.append(libsip.Sdp())
    sdp.close()
    out += [sdp, media]
    mp = libsip.Multipart()
    out.append(libsip.Multipart())
    mp.close()
    out.append(mp)
    loop = libsip.Loop()
    timer = libsip.Timer(loop, 10, lambda: None)
    watch = loop.on_signal("USR2", lambda s: None)
    stack = libsip.Stack("udp:127.0.0.1:0", loop=loop, transactions=True)
    ct = stack.request(libsip.Message.request("OPTIONS", "sip:a@127.0.0.1:9", headers=[
        ("From", "<sip:a@x>;tag=1"), ("To", "<sip:a@x>"), ("Call-ID", libsip.call_id()),
        ("CSeq", "1 OPTIONS")]), "udp:127.0.0.1:9")
    unbound = libsip.Resolver(servers="127.0.0.1:5353")
    out += [stack, stack.transport, stack.transactions, stack.resolver, ct, unbound, timer, watch,
            libsip.SendOp(), libsip.ResolveOp(), libsip.NetInfo()]
    out += [repr(o) for o in list(out)]  # the open ones first, then closed below
    ct.close()
    stack.close()
    timer.stop()
    watch.stop()
    unbound.close()
    loop.close()
    out += [loop, libsip.Loop.__new__(libsip.Loop)]
    return out


def test_repr_never_raises():
    for obj in _odd_objects():
        text = repr(obj)
        assert isinstance(text, str) and text, type(obj)


def test_enums_print_as_names():
    assert repr(libsip.TxnState.COMPLETED) == "TxnState.COMPLETED"
    assert str(libsip.TxnState.COMPLETED) == "TxnState.COMPLETED"
    assert f"{libsip.Method.INVITE}" == "Method.INVITE"
    assert f"{libsip.Method.INVITE:d}" == str(int(libsip.Method.INVITE))
    assert libsip.TxnState.COMPLETED == int(libsip.TxnState.COMPLETED)
    for name in libsip.__all__:
        cls = getattr(libsip, name)
        if isinstance(cls, type) and issubclass(cls, int) and hasattr(cls, "__members__"):
            for member in cls:
                assert repr(member) == str(member) == f"{name}.{member.name}"
    n = libsip.NetInfo("udp", "127.0.0.1", 5060)
    assert "transport=TransportType.UDP" in repr(n)


def test_set_header_replaces_in_place_and_add_header_appends():
    m = libsip.Message.parse(MSG.replace(b"Content-Length: 0\r\n",
                                         b"Max-Forwards: 70\r\nSubject: a\r\nSubject: b\r\n"
                                         b"Content-Length: 0\r\n"))
    assert bytes(m) == bytes(libsip.Message.parse(bytes(m)))
    m.set_header("Max-Forwards", 69)
    m.set_header("Subject", "c")
    m.add_header("X-Last", "z")
    names = [h.name for h in m.headers.all()]
    assert names == ["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Subject",
                     "Content-Length", "X-Last"]
    assert m.max_forwards == 69 and [h.value for h in m.headers["Subject"]] == ["c"]
    text = bytes(m)
    assert text.index(b"Max-Forwards: 69") < text.index(b"Content-Length")
