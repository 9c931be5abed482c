# SPDX-License-Identifier: MIT
"""URIs through the Python package: fields, parameters, RFC 3261 §19.1.4 equality, printing."""

import pytest

import libsip
from libsip import _core


def test_sip_uri_fields():
    u = libsip.Uri("sips:alice:secret@[2001:db8::1]:5061;lr;maddr=239.1.1.1?subject=hi&x=y")
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips", "alice", "secret", "[2001:db8::1]", 5061)
    assert u.params == {"lr": "", "maddr": "239.1.1.1"}
    assert u.headers == {"subject": "hi", "x": "y"}
    assert u.lr and u.maddr == "239.1.1.1"
    assert u.param("LR") == "" and u.param("maddr") == "239.1.1.1" and u.param("ttl") is None


def test_tel_and_other_schemes():
    t = libsip.Uri("tel:+1-201-555-0123;phone-context=example.com")
    assert (t.scheme, t.user, t.host, t.port) == ("tel", "+1-201-555-0123", "", None)
    assert t.params == {"phone-context": "example.com"}
    o = libsip.Uri("urn:service:sos")
    assert (o.scheme, o.opaque) == ("urn", "service:sos")


# RFC 3261 §19.1.4: equal and unequal pairs.
@pytest.mark.parametrize("a,b", [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
])
def test_equal(a, b):
    assert libsip.Uri(a) == libsip.Uri(b)
    assert hash(libsip.Uri(a)) == hash(libsip.Uri(b))
    assert libsip.Uri(a) == b


@pytest.mark.parametrize("a,b", [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
])
def test_not_equal(a, b):
    assert libsip.Uri(a) != libsip.Uri(b)


def test_print_and_repr():
    u = libsip.Uri("SIP:bob@Biloxi.com:5070;transport=tcp")
    assert str(u) == "sip:bob@Biloxi.com:5070;transport=tcp"
    assert bytes(u) == b"sip:bob@Biloxi.com:5070;transport=tcp"
    assert repr(u) == "Uri('sip:bob@Biloxi.com:5070;transport=tcp')"


def test_bad_uri():
    with pytest.raises(libsip.UriError) as ei:
        libsip.Uri("no scheme here")
    assert ei.value.code == _core.SIP_EURI
    assert libsip.Uri("sip:a@b") != "no scheme here"


def test_core_uri_owns_its_text():
    text = bytearray(b"sip:alice@example.com:5080")
    rc, u = _core.sip_uri_parse(text)
    text[:] = b"X" * len(text)
    del text
    assert rc == 0
    assert (u.host, u.port) == (b"example.com", 5080)
    assert _core.sip_uri_print(u) == [26, b"sip:alice@example.com:5080"]
    assert _core.sip_uri_unescape(b"%61b%63") == [3, b"abc"]
    assert _core.sip_uri_unescape(b"%6")[0] == _core.SIP_EURI


def test_user_method_and_ttl_parameters():
    """uri.user_param, uri.method and uri.ttl read what Lua's u.user_param, u.method and u.ttl
    read (RFC 3261 §19.1.1); absent: "" for the str ones, None for ttl."""
    u = libsip.Uri("sip:+15551234@gw.example.com;user=phone;method=REGISTER;maddr=239.1.1.1;"
                   "ttl=15")
    assert (u.user_param, u.method, u.ttl) == ("phone", "REGISTER", 15)
    bare = libsip.Uri("sip:alice@example.com")
    assert (bare.user_param, bare.method, bare.ttl) == ("", "", None)
