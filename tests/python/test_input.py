# SPDX-License-Identifier: MIT
"""Strict input: header values of the wrong type raise TypeError instead of being printed with
str(), a body needs a content type, listen= takes one string, and every error names what was
wrong (the header and value, the missing header, the status range, the missing Via)."""

import socket

import pytest

import libsip
from libsip import Message

REQ = (b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKinput1\r\n"
       b"Max-Forwards: 70\r\n"
       b"From: <sip:alice@127.0.0.1>;tag=a1\r\n"
       b"To: <sip:bob@127.0.0.1>\r\n"
       b"Call-ID: input-1@127.0.0.1\r\n"
       b"CSeq: 1 OPTIONS\r\n"
       b"Content-Length: 0\r\n\r\n")


def _msg():
    return Message.parse(REQ)


@pytest.mark.parametrize("value", [None, ["a", "b"], b"bytes", 3.5, True, {"a": 1}])
def test_header_values_of_the_wrong_type_raise_type_error(value):
    m = _msg()
    for edit in (m.add_header, m.prepend_header, m.set_header):
        with pytest.raises(TypeError, match="X-Thing header value must be a str"):
            edit("X-Thing", value)
    with pytest.raises(TypeError, match="CSeq header value must be a str"):
        m.headers["CSeq"][0].replace(value)
    # In headers=, a list or tuple gives one header per item: each item is checked.
    with pytest.raises(TypeError, match="X-Thing header value"):
        Message.request("OPTIONS", "sip:a@example.com", headers={"X-Thing": [value]})
    with pytest.raises(TypeError, match="X-Thing header value"):
        m.response(200, headers=[("X-Thing", [value])])
    assert b"X-Thing" not in bytes(m) and b"None" not in bytes(m)


def test_ints_for_numeric_headers_and_addresses_for_address_headers():
    m = _msg()
    m.set_header("Max-Forwards", 69)
    m.add_header("Expires", 300)
    assert (m.max_forwards, m.expires) == (69, 300)
    with pytest.raises(TypeError, match="Subject header value must be a str, not int"):
        m.add_header("Subject", 5)
    with pytest.raises(TypeError, match="Max-Forwards header value must be a str or an int"):
        m.set_header("Max-Forwards", True)
    m.add_header("Contact", m.from_)
    m.add_header("Route", libsip.Uri("sip:proxy.example.com;lr"))
    assert str(m.headers["Contact"][0]) == "<sip:alice@127.0.0.1>;tag=a1"
    assert m.headers["Route"][0].uri.host == "proxy.example.com"
    with pytest.raises(TypeError, match="Subject header value must be a str, not Uri"):
        m.add_header("Subject", libsip.Uri("sip:a@b"))
    with pytest.raises(TypeError, match="header name must be a str"):
        m.add_header(b"Subject", "x")
    m.headers["Max-Forwards"][0].replace(10)
    assert m.max_forwards == 10
    with pytest.raises(TypeError, match="Max-Forwards header value"):
        m.headers["Max-Forwards"][0].replace(None)


def test_errors_name_the_header_and_value():
    m = _msg()
    with pytest.raises(libsip.Error, match=r"bad CSeq header value 'x'"):
        m.add_header("CSeq", "x")
    with pytest.raises(libsip.Error, match=r"bad Max-Forwards header value 'many'"):
        m.set_header("Max-Forwards", "many")


def test_a_body_needs_a_content_type():
    with pytest.raises(libsip.InvalidError, match="a body needs a content type"):
        Message.request("MESSAGE", "sip:a@example.com", body=b"hello")
    m = Message.request("MESSAGE", "sip:a@example.com", body=b"hello", content_type="text/plain")
    assert (m.body, str(m.content_type)) == (b"hello", "text/plain")
    m.body = b"again"  # keeps the Content-Type
    assert str(m.content_type) == "text/plain"
    with pytest.raises(libsip.InvalidError, match="a body needs a content type"):
        m.set_body(b"x")
    m.set_body(b"")  # an empty body without a type: removed
    assert m.body == b"" and m.content_type is None
    with pytest.raises(libsip.InvalidError, match="a body needs a content type"):
        m.body = b"no type now"
    with pytest.raises(TypeError, match="body must be bytes or str"):
        m.set_body(None)
    with pytest.raises(libsip.InvalidError, match="a body needs a content type"):
        _msg().response(200, body="x")


def test_status_range_and_type():
    req = _msg()
    for bad in (99, 700, -1):
        with pytest.raises(libsip.InvalidError, match=f"status must be 100-699, not {bad}"):
            req.response(bad)
    with pytest.raises(TypeError, match="status must be an int, not str"):
        req.response("200")
    rsp = req.response(200)
    with pytest.raises(libsip.InvalidError, match="status must be 100-699, not 99"):
        rsp.set_status(99)


def _exchange(uas_handler, send_via=True):
    """One OPTIONS to a stateless Stack whose handler is uas_handler(req); gives what the
    handler raised (or None) and the responses the client saw."""
    outcome = []
    loop = libsip.Loop()
    with libsip.Stack("udp:127.0.0.1:0", loop=loop) as uas, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(2)

        @uas.on_request("OPTIONS")
        def options(req):
            try:
                uas_handler(req)
                outcome.append(None)
            except Exception as e:  # noqa: BLE001 - the test looks at it
                outcome.append(e)
            loop.stop()

        port = int(uas.address().rsplit(":", 1)[1])
        cport = client.getsockname()[1]
        client.sendto(REQ.replace(b"127.0.0.1:5999", b"127.0.0.1:%d" % cport),
                      ("127.0.0.1", port))
        guard = loop.call_later(5, loop.stop)
        loop.run()
        guard.stop()
        got = []
        client.settimeout(0.2)
        try:
            while True:
                got.append(client.recv(65536))
        except socket.timeout:
            pass
    loop.close()
    assert outcome, "the request did not arrive"
    return outcome[0], got


def test_reply_checks_its_arguments():
    err, got = _exchange(lambda req: req.reply(99))
    assert isinstance(err, libsip.InvalidError) and "status must be 100-699, not 99" in str(err)
    err, got = _exchange(lambda req: req.reply(200, headers={"X-None": None}))
    assert isinstance(err, TypeError) and "X-None header value must be a str" in str(err)
    assert got == []
    err, got = _exchange(lambda req: req.reply(200, body=b"text"))
    assert isinstance(err, libsip.InvalidError) and "needs a content type" in str(err)
    err, got = _exchange(lambda req: req.reply("200"))
    assert isinstance(err, TypeError) and "status must be an int" in str(err)
    # Address values and ints go through the fast path's second try.
    err, got = _exchange(lambda req: req.reply(200, headers={"Contact": req.from_,
                                                             "Expires": 60}))
    assert err is None
    assert b"\r\nContact: <sip:alice@127.0.0.1>;tag=a1\r\n" in got[0]
    assert b"\r\nExpires: 60\r\n" in got[0]


def test_errors_name_a_missing_header_or_via():
    with libsip.Stack("udp:127.0.0.1:0", transactions=True) as stack:
        req = Message.request("OPTIONS", "sip:a@127.0.0.1:5999", headers=[
            ("From", "<sip:a@x>;tag=1"), ("Call-ID", "c1"), ("CSeq", "1 OPTIONS")])
        with pytest.raises(libsip.InvalidError, match="To header missing"):
            stack.request(req, "udp:127.0.0.1:5999")
        ack = Message.request("ACK", "sip:a@127.0.0.1:5999", headers=[
            ("From", "<sip:a@x>;tag=1"), ("To", "<sip:a@x>"), ("Call-ID", "c1"),
            ("CSeq", "1 ACK")])
        with pytest.raises(libsip.InvalidError, match="ACK is not sent in a client transaction"):
            stack.request(ack, "udp:127.0.0.1:5999")
        with pytest.raises(libsip.NotFoundError, match="the ACK request has no Via"):
            stack.send(ack, "udp:127.0.0.1:5999")
        with pytest.raises(TypeError, match="msg must be a libsip.Message"):
            stack.request("OPTIONS sip:a@b SIP/2.0")


def test_validate_names_the_header():
    m = Message.parse(REQ)
    m.validate()
    twice = Message.parse(REQ.replace(b"Max-Forwards: 70\r\n",
                                      b"Max-Forwards: 70\r\nMax-Forwards: 69\r\n"))
    with pytest.raises(libsip.ParseError) as e:
        twice.validate()
    assert (e.value.header, e.value.status) == ("Max-Forwards", 400)
    no_to = Message.parse(REQ.replace(b"To: <sip:bob@127.0.0.1>\r\n", b""))
    with pytest.raises(libsip.ParseError, match="To"):
        no_to.validate()


def test_listen_takes_a_single_string():
    with libsip.Stack("udp:127.0.0.1:0") as stack:
        assert len(stack.addresses) == 1 and stack.addresses[0].startswith("udp:127.0.0.1:")
    with pytest.raises(TypeError, match="a listening point is a str"):
        libsip.Stack([("udp", "127.0.0.1", 0)])


def test_options_are_checked_and_named():
    with pytest.raises(TypeError, match="unknown transport option 'transaction'"):
        libsip.Stack(transaction=True)
    with pytest.raises(TypeError, match="transport option mtu must be an int, not str"):
        libsip.Stack(mtu="1500")
    with pytest.raises(TypeError, match="unknown parse option 'max_bytes'"):
        libsip.Stack(parse={"max_bytes": 10})
    with pytest.raises(TypeError, match="t1_ms must be an int"):
        libsip.Stack(transactions=True, t1_ms="500")
    with libsip.Stack(parse={"max_size": 4096, "max_line": 1024}, cancel_keeps_invite=True) as s:
        assert s.transactions is not None


def test_multipart_part_headers_are_checked():
    mp = libsip.Multipart()
    with pytest.raises(TypeError, match="Content-ID header value must be a str"):
        mp.add_part("text/plain", b"hi", [("Content-ID", None)])
    with pytest.raises(TypeError, match="body must be bytes or str"):
        mp.add_part("text/plain", 5)
    assert mp.add_part(None, b"plain text") == 0
