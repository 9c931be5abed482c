# SPDX-License-Identifier: MIT
"""The header grammar where libsip once stood alone against Sofia-SIP and oSIP2: repeated tags,
folded Date, addr-spec with ';', Via rport values and bracketed Via hosts."""

import pytest

import libsip


def request(via_host="pc33.atlanta.example.com", via_params="",
            from_="<sip:alice@atlanta.example.com>;tag=9fxced76sl",
            to="<sip:bob@example.com>", extra=""):
    return (
        "OPTIONS sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via_host};branch=z9hG4bK74bf9{via_params}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {from_}\r\n"
        f"To: {to}\r\n"
        "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"{extra}"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


def refused(data, header):
    """Parses data expecting a 400 that names header; returns the error."""
    with pytest.raises(libsip.ParseError) as ei:
        libsip.Message.parse(data)
    e = ei.value
    assert e.status == 400
    assert e.header == header
    assert header in e.phrase
    return e


@pytest.mark.parametrize("from_", [
    "<sip:alice@atlanta.example.com>;tag=a1;tag=evil",
    "<sip:alice@atlanta.example.com>;tag=a1;tag",
    "sip:alice@atlanta.example.com;tag=a1;x=1;TAG=a1",
])
def test_repeated_from_tag_is_400(from_):
    e = refused(request(from_=from_), "From")
    assert "repeated tag" in e.reason


def test_repeated_to_tag_is_400_and_one_tag_parses():
    e = refused(request(to="Bob <sip:bob@example.com>;tag=b1;tag=b2"), "To")
    assert e.reason == "To header: repeated tag parameter"
    m = libsip.Message.parse(request(from_="<sip:a@example.com;tag=u>;tag=a1",
                                     to="<sip:bob@example.com>;tag=b1"))
    assert (m.from_.tag, m.to.tag) == ("a1", "b1")


@pytest.mark.parametrize("date", [
    "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n",
    "Date: Sat, 13 Nov 2010\r\n 23:29:00 GMT\r\n",
    "Date: Sat,\r\n 13\r\n\tNov 2010 23:29:00\r\n   GMT\r\n",
])
def test_folded_date_gives_the_time(date):
    m = libsip.Message.parse(request(extra=date))
    assert m.headers["Date"][0].time == 1289690940  # 2010-11-13T23:29:00Z


def test_date_folded_inside_a_field_is_400():
    refused(request(extra="Date: Sat, 13 Nov 20\r\n 10 23:29:00 GMT\r\n"), "Date")


def test_addr_spec_semicolon_ends_the_uri():
    # RFC 3261 §20.10: without brackets the first ';' ends the URI; "b@example.com" is no param.
    e = refused(request(from_="sip:a;b@example.com;tag=t1"), "From")
    assert "unexpected character" in e.reason
    m = libsip.Message.parse(request(from_="<sip:a;b@example.com>;tag=t1"))
    assert (m.from_.uri.user, m.from_.uri.host, m.from_.tag) == ("a;b", "example.com", "t1")
    m = libsip.Message.parse(request(from_="sip:alice@atlanta.example.com;tag=t1;x=y"))
    assert (m.from_.uri.user, m.from_.tag) == ("alice", "t1")
    assert str(m.from_.uri) == "sip:alice@atlanta.example.com"


@pytest.mark.parametrize("params", [";rport=abc", ";rport=70000", ";rport=65536", ";rport=5060x"])
def test_via_rport_not_a_port_is_400(params):
    e = refused(request(via_params=params), "Via")
    assert e.reason == "Via header: malformed rport parameter"


@pytest.mark.parametrize("params,rport", [("", None), (";rport", 0), (";rport=5060", 5060)])
def test_via_rport_values(params, rport):
    assert libsip.Message.parse(request(via_params=params)).via.rport == rport


@pytest.mark.parametrize("host", ["[example.com]", "[192.0.2.1]", "[]", "[1:2]"])
def test_via_bracketed_host_must_be_ipv6(host):
    e = refused(request(via_host=host), "Via")
    assert "IPv6" in e.reason
    with pytest.raises(libsip.UriError):
        libsip.Uri(f"sip:{host}")


@pytest.mark.parametrize("host", ["192.0.2.300", "-a.example.com", "a..example.com", "1.2.3"])
def test_via_host_follows_the_uri_grammar(host):
    e = refused(request(via_host=host), "Via")
    assert e.reason == "Via header: malformed host"
    with pytest.raises(libsip.UriError):
        libsip.Uri(f"sip:{host}")


def test_via_ipv6_reference_parses():
    v = libsip.Message.parse(request(via_host="[2001:db8::10]:5070")).via
    assert (v.host, v.port) == ("[2001:db8::10]", 5070)
