# SPDX-License-Identifier: MIT
"""Messages through the Python package: parse, fields, headers, errors, build and print."""

import pytest

import libsip
from libsip import _core

INVITE = (
    b"INVITE sip:bob@biloxi.example.com:5070;transport=tcp SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
    b"v: SIP/2.0/TCP 10.0.0.1:5061;branch=z9hG4bKnashds8;received=192.0.2.1\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"f: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"i: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>;expires=60, <sip:a2@h>;q=0.5\r\n"
    b"X-Custom: one\r\n"
    b"x-custom: two\r\n"
    b"c: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def test_parse_request_fields():
    m = libsip.Message.parse(INVITE)
    assert m.is_request
    assert m.method == "INVITE"
    assert m.method_id is libsip.Method.INVITE
    assert m.status == 0
    assert m.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert (m.cseq.seq, m.cseq.method) == (314159, "INVITE")
    assert m.max_forwards == 70
    assert m.expires is None
    assert m.body == b"v=0\n"
    assert str(m.content_type) == "application/sdp"


def test_parse_accepts_str_bytearray_memoryview():
    for data in (INVITE.decode(), bytearray(INVITE), memoryview(INVITE)):
        assert libsip.Message.parse(data).call_id == "a84b4c76e66710@pc33.atlanta.example.com"


def test_request_uri():
    u = libsip.Message.parse(INVITE).uri
    assert (u.scheme, u.user, u.host, u.port) == ("sip", "bob", "biloxi.example.com", 5070)
    assert u.params == {"transport": "tcp"}
    assert u.transport == "tcp"
    assert str(u) == "sip:bob@biloxi.example.com:5070;transport=tcp"


def test_top_via_from_to():
    m = libsip.Message.parse(INVITE)
    v = m.via
    assert (v.transport, v.host, v.port, v.branch, v.rport) == (
        "UDP", "pc33.atlanta.example.com", None, "z9hG4bK776asdhds", 0)
    assert m.from_.display == '"Alice"'
    assert m.from_.tag == "1928301774"
    assert m.from_.uri.user == "alice"
    assert m.to.display == "Bob"
    assert m.to.tag == ""
    assert str(m.to.uri) == "sip:bob@biloxi.example.com"


def test_headers_compact_long_any_case():
    m = libsip.Message.parse(INVITE)
    vias = m.headers["Via"]
    assert [h.name for h in vias] == ["Via", "v"]
    assert [h.branch for h in m.headers["v"]] == ["z9hG4bK776asdhds", "z9hG4bKnashds8"]
    assert m.headers["VIA"][1].received == "192.0.2.1"
    assert m.headers["via"][1].port == 5061
    assert m.headers["From"][0].value == '"Alice" <sip:alice@atlanta.example.com>;tag=1928301774'
    assert m.headers["Call-ID"][0].value == m.headers["i"][0].value
    assert m.headers["CSeq"][0].seq == 314159


def test_headers_unknown_and_lists():
    m = libsip.Message.parse(INVITE)
    assert [h.value for h in m.headers["X-Custom"]] == ["one", "two"]
    contacts = m.headers["Contact"]
    assert len(contacts) == 2
    assert contacts[0].expires == 60 and contacts[0].q is None
    assert contacts[1].q == 500 and str(contacts[1].uri) == "sip:a2@h"
    assert "Max-Forwards" in m.headers
    assert "Route" not in m.headers
    assert m.headers.getall("Route") == []
    with pytest.raises(KeyError):
        m.headers["Route"]
    assert list(m.headers) == ["Via", "Max-Forwards", "To", "From", "Call-ID", "CSeq", "Contact",
                               "X-Custom", "Content-Type", "Content-Length"]
    with pytest.raises(AttributeError):
        m.headers["X-Custom"][0].branch


def test_header_keeps_message_alive():
    h = libsip.Message.parse(INVITE).headers["Via"][1]
    u = libsip.Message.parse(INVITE).from_.uri
    import gc
    gc.collect()
    assert h.branch == "z9hG4bKnashds8"
    assert u.host == "atlanta.example.com"


def test_response_fields():
    m = libsip.Message.parse(b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
                             b"Content-Length: 0\r\n\r\n")
    assert not m.is_request
    assert (m.status, m.reason, m.method, m.uri) == (486, "Busy Here", None, None)
    assert repr(m) == "<Message 486 Busy Here>"


def test_parse_error_fields():
    with pytest.raises(libsip.ParseError) as ei:
        libsip.Message.parse(b"OPTIONS sip:x@y SIP/2.0\r\nVia: bad\r\nCall-ID: 1\r\n\r\n")
    e = ei.value
    assert isinstance(e, libsip.Error)
    assert (e.code, e.name) == (_core.SIP_EPARSE, "SIP_EPARSE")
    assert (e.line, e.column, e.header) == (2, 6, "Via")
    assert (e.status, e.phrase) == (400, "Bad Request (Malformed Via header)")
    assert e.reason == "Via header: malformed sent-protocol"


def test_parse_error_version_and_garbage():
    with pytest.raises(libsip.ParseError) as ei:
        libsip.Message.parse(b"OPTIONS sip:x@y SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                             b"\r\n")
    assert ei.value.code == _core.SIP_EVERSION
    assert ei.value.status == 505
    with pytest.raises(libsip.ParseError) as ei:
        libsip.Message.parse(b"\x00\x01garbage")
    assert ei.value.code == _core.SIP_EPARSE and ei.value.line == 1
    with pytest.raises(TypeError):
        libsip.Message.parse(12)


def test_build_request_and_print():
    m = libsip.Message.request("OPTIONS", "sip:carol@chicago.example.com", headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKopt1"),
        ("Max-Forwards", 70),
        ("To", "<sip:carol@chicago.example.com>"),
        ("From", "<sip:alice@atlanta.example.com>;tag=77"),
        ("Call-ID", "opt1@127.0.0.1"),
        ("CSeq", "1 OPTIONS"),
    ])
    m.set_body(b"hello", "text/plain")
    assert bytes(m) == (
        b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKopt1\r\n"
        b"Max-Forwards: 70\r\n"
        b"To: <sip:carol@chicago.example.com>\r\n"
        b"From: <sip:alice@atlanta.example.com>;tag=77\r\n"
        b"Call-ID: opt1@127.0.0.1\r\n"
        b"CSeq: 1 OPTIONS\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: 5\r\n"
        b"\r\n"
        b"hello")
    assert str(m) == bytes(m).decode()
    again = libsip.Message.parse(bytes(m))
    assert again.body == b"hello" and again.call_id == "opt1@127.0.0.1"


def test_edit_headers_and_uri():
    m = libsip.Message.parse(INVITE)
    m.uri = "sip:carol@chicago.example.com"
    m.prepend_header("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1")
    m.set_header("Max-Forwards", "69")
    assert m.remove_header("X-Custom") == 2
    assert m.remove_header("Contact", 1) == 1
    assert str(m.uri) == "sip:carol@chicago.example.com"
    assert [h.host for h in m.headers["Via"]] == [
        "proxy.example.com", "pc33.atlanta.example.com", "10.0.0.1"]
    assert m.max_forwards == 69
    assert "X-Custom" not in m.headers
    assert len(m.headers["Contact"]) == 1
    with pytest.raises(libsip.NotFoundError):
        m.remove_header("Route", 0)
    with pytest.raises(libsip.ParseError):
        m.add_header("CSeq", "not a number")
    with pytest.raises(libsip.UriError):
        m.set_uri("not a uri")


def test_copy_headers_from_a_template():
    tmpl = libsip.Message.request("OPTIONS", "sip:t.invalid")
    tmpl.add_header("Contact", "<sip:bob@192.0.2.4:5070;transport=tcp>;expires=60")
    tmpl.add_header("Allow", "INVITE, BYE")
    req = libsip.Message.parse(INVITE)
    rsp = req.response(200, to_tag="t1")
    assert rsp.copy_headers(tmpl, "m") == 1
    assert rsp.copy_headers(tmpl, "Allow") == 2
    assert rsp.copy_headers(tmpl, "Route") == 0
    del tmpl
    contact = rsp.headers["Contact"][0]
    assert (contact.uri.host, contact.uri.port, contact.expires) == ("192.0.2.4", 5070, 60)
    assert [h.value for h in rsp.headers["Allow"]] == ["INVITE", "BYE"]
    wire = bytes(rsp)
    assert b"\r\nContact: <sip:bob@192.0.2.4:5070;transport=tcp>;expires=60\r\n" in wire
    assert b"\r\nAllow: INVITE\r\nAllow: BYE\r\n" in wire
    with pytest.raises(libsip.ClosedError):
        closed = libsip.Message.request("OPTIONS", "sip:t.invalid")
        closed.close()
        rsp.copy_headers(closed, "Allow")


def test_response_to_request():
    req = libsip.Message.parse(INVITE)
    rsp = req.response(180, to_tag="abc", headers={"Contact": "<sip:bob@192.0.2.4>"})
    assert (rsp.status, rsp.reason) == (180, "Ringing")
    assert rsp.to.tag == "abc"
    assert [h.branch for h in rsp.headers["Via"]] == ["z9hG4bK776asdhds", "z9hG4bKnashds8"]
    assert rsp.call_id == req.call_id and rsp.cseq.seq == 314159
    assert rsp.headers["Contact"][0].uri.host == "192.0.2.4"
    assert req.response(603, "Nope").reason == "Nope"
    assert libsip.status_phrase(404) == "Not Found"


def test_copy_is_independent():
    a = libsip.Message.parse(INVITE)
    b = a.copy()
    b.set_header("Call-ID", "other")
    assert (a.call_id, b.call_id) == ("a84b4c76e66710@pc33.atlanta.example.com", "other")


def test_closed_message_raises():
    m = libsip.Message.parse(INVITE)
    h = m.headers["Via"][0]
    u = m.uri
    m.close()
    with pytest.raises(libsip.ClosedError):
        m.call_id
    with pytest.raises(libsip.ClosedError):
        bytes(m)
    assert repr(m) == "<Message closed>"
    m.close()
    del m
    # Views hold the Python message, which is closed: they raise too instead of reading freed
    # memory.
    with pytest.raises(libsip.ClosedError):
        h.value
    with pytest.raises(libsip.ClosedError):
        h.branch
    with pytest.raises(libsip.ClosedError):
        u.host


def test_core_is_flat_and_c_shaped():
    rc, h, err = _core.sip_msg_parse(INVITE)
    assert rc == 0 and err is None
    try:
        n, text = _core.sip_msg_print(h)
        assert n == len(text) and text.startswith(b"INVITE sip:bob@")
        assert _core.sip_msg_get_call_id(h) == b"a84b4c76e66710@pc33.atlanta.example.com"
        assert _core.sip_hdr_id_from_name("v") == _core.SIP_HDR_VIA
        assert _core.sip_method_from_str("OPTIONS") == _core.SIP_METHOD_OPTIONS
        assert _core.sip_msg_frame(b"\r\n\r\n" + INVITE + b"junk") == [0, 4, len(INVITE)]
        assert _core.sip_str_copy(b"abc") == [3, b"abc"]
        assert _core.sip_str_to_u32(b"4294967295", 4294967295) == [0, 4294967295]
        assert _core.sip_str_to_u32(b"12x", 100)[0] == _core.SIP_EINVAL
    finally:
        _core.sip_msg_unref(h)
    rc, h, err = _core.sip_msg_parse(b"nonsense\r\n\r\n")
    assert (rc, h) == (_core.SIP_EPARSE, None)
    assert (err.line, err.status) == (1, 400)
