# SPDX-License-Identifier: MIT
"""SDP through the Python package: parse, media list, attributes, build, print, errors."""

import pytest

import libsip

OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 97\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:97 iLBC/8000\r\n"
    "a=fmtp:97 mode=30\r\n"
    "a=ptime:20\r\n"
    "a=sendonly\r\n"
    "m=video 51372 RTP/AVP 31\r\n"
    "c=IN IP4 192.0.2.102\r\n"
    "a=rtpmap:31 H261/90000\r\n"
)


def test_session_fields():
    s = libsip.Sdp.parse(OFFER)
    assert s.origin == ("alice", "2890844526", "2890844527", "IN", "IP4",
                        "host.atlanta.example.com")
    assert s.session_name == "-"
    assert s.connection == ("IN", "IP4", "192.0.2.101", None, 1)
    assert s.direction is libsip.Direction.SENDRECV


def test_media_list():
    s = libsip.Sdp.parse(OFFER.encode())
    audio, video = s.media
    assert (audio.type, audio.port, audio.proto, audio.formats) == (
        "audio", 49170, "RTP/AVP", ["0", "8", "97"])
    assert audio.rtpmap(97) == (97, "iLBC", 8000, 1, "")
    assert audio.rtpmap(5) is None
    assert audio.fmtp("97") == "mode=30"
    assert audio.ptime == 20
    assert audio.direction is libsip.Direction.SENDONLY
    assert audio.connection.address == "192.0.2.101"
    assert audio.attr("sendonly") == "" and audio.attr("rtpmap", 1) == "8 PCMA/8000"
    assert video.connection.address == "192.0.2.102"
    assert video.direction is libsip.Direction.SENDRECV
    assert video.attributes == [("rtpmap", "31 H261/90000")]


def test_print_round_trip():
    s = libsip.Sdp.parse(OFFER)
    assert str(s) == OFFER
    assert bytes(libsip.Sdp.parse(bytes(s))) == OFFER.encode()


def test_build():
    s = libsip.Sdp()
    assert str(s) == "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    s.set_origin("bob", "1", "2", "192.0.2.4")
    s.session_name = "call"
    s.set_connection("192.0.2.4")
    m = s.add_media("audio", 4000, "RTP/AVP", [0, 101])
    m.add_attr("rtpmap", "101 telephone-event/8000")
    m.direction = libsip.Direction.RECVONLY
    assert m.index == 0
    assert str(s) == ("v=0\r\no=bob 1 2 IN IP4 192.0.2.4\r\ns=call\r\nc=IN IP4 192.0.2.4\r\n"
                      "t=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\n"
                      "a=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n")
    m.port = 0
    assert s.media[0].port == 0
    with pytest.raises(libsip.InvalidError):
        s.add_media("audio", 70000, "RTP/AVP", "0")


def test_parse_error():
    with pytest.raises(libsip.SdpError) as ei:
        libsip.Sdp.parse("v=0\r\nx=1\r\n")
    e = ei.value
    assert (e.line, e.column, e.type) == (2, 1, "x")
    assert e.reason == "line 2 (x=): unknown line type"
    assert e.name == "SIP_ESDP"


def test_multipart_round_trip():
    mp = libsip.Multipart("mixed", "xyz")
    assert mp.add_part("application/sdp", OFFER) == 0
    assert mp.add_part("text/plain", b"hi", [("Content-ID", "<a@b>")]) == 1
    assert mp.content_type == "multipart/mixed;boundary=xyz"
    again = libsip.Multipart.parse(mp.content_type, bytes(mp))
    parts = again.parts
    assert [p[0] for p in parts] == ["application/sdp", "text/plain"]
    assert parts[0][2] == OFFER.encode()
    assert ("Content-ID", "<a@b>") in parts[1][1] and parts[1][2] == b"hi"
    with pytest.raises(libsip.BodyError):
        libsip.Multipart.parse("text/plain", b"x")


def test_info_uri_port_count_and_set_time():
    """sdp.info, sdp.uri, media.port_count and sdp.set_time(), as Lua's s.info, s.uri,
    m.port_count and s:set_time() (RFC 8866 §5.4, §5.5, §5.9, §5.14)."""
    s = libsip.Sdp.parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\ni=A seminar\r\n"
                         "u=http://www.example.com/seminars/sdp.pdf\r\nt=0 0\r\n"
                         "m=video 49170/2 RTP/AVP 31\r\n")
    assert s.info == "A seminar"
    assert s.uri == "http://www.example.com/seminars/sdp.pdf"
    assert s.media[0].port_count == 2
    s.set_time(3034423619, 3042462419)
    assert "\r\nt=3034423619 3042462419\r\n" in str(s)
    plain = libsip.Sdp()
    assert (plain.info, plain.uri) == ("", "")
    plain.add_media("audio", 4000, "RTP/AVP", "0")
    assert plain.media[0].port_count == 1
    with pytest.raises(TypeError, match="start must be an int, not str"):
        plain.set_time("0", 0)
    with pytest.raises(libsip.InvalidError, match="stop must not be negative"):
        plain.set_time(0, -1)
    assert "\r\nt=0 0\r\n" in str(plain)


def test_multipart_argument_errors():
    """Multipart() and Multipart.parse() check their arguments and say what did not parse, as
    Lua's sip.Multipart.new and sip.Multipart.parse."""
    with pytest.raises(TypeError, match="subtype must be a str, not int"):
        libsip.Multipart(5)
    with pytest.raises(TypeError, match="body must be str or bytes, not NoneType"):
        libsip.Multipart.parse("multipart/mixed;boundary=x", None)
    with pytest.raises(libsip.BodyError, match="Content-Type 'text/plain'") as ei:
        libsip.Multipart.parse("text/plain", b"x")
    assert ei.value.name == "SIP_EBODY"
    mp = libsip.Multipart("related", "b1")
    assert (mp.subtype, mp.boundary) == ("related", "b1")
    assert mp.add_part(None, b"plain") == 0
    assert mp.parts == [("", [], b"plain")]
    mp.close()
    with pytest.raises(libsip.ClosedError):
        mp.parts


def test_gb28181_y_and_f_lines():
    gb = ("v=0\r\no=34020000002000000001 0 0 IN IP4 192.0.2.10\r\ns=Play\r\n"
          "c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=video 30000 RTP/AVP 96\r\na=recvonly\r\n"
          "a=rtpmap:96 PS/90000\r\ny=0200000001\r\nf=v/2/4/25/1/4096a/1/8/1\r\n")
    s = libsip.Sdp.parse(gb)
    assert s.ssrc == "0200000001"
    assert s.format == "v/2/4/25/1/4096a/1/8/1"
    assert str(s) == gb
    assert libsip.Sdp.parse(OFFER).ssrc == "" and libsip.Sdp.parse(OFFER).format == ""
