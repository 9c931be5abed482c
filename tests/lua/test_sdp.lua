-- SPDX-License-Identifier: MIT
-- SDP basics: parse an offer, read media and attributes, build and print, errors.
local T = ...
local sip = require "libsip"

local OFFER = table.concat({
    "v=0",
    "o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com",
    "s=-",
    "c=IN IP4 192.0.2.101",
    "t=0 0",
    "a=sendonly",
    "m=audio 49170 RTP/AVP 0 8 97 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:97 opus/48000/2",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=ptime:20",
    "m=video 0 RTP/AVP 31",
    "c=IN IP4 192.0.2.102",
    "a=recvonly",
    "",
}, "\r\n")

T.case("session fields of a parsed offer", function()
    local s = sip.Sdp.parse(OFFER)
    T.eq(s.origin.username, "alice", "origin.username")
    T.eq(s.origin.sess_version, "2890844527", "origin.sess_version")
    T.eq(s.origin.address, "host.atlanta.example.com", "origin.address")
    T.eq(s.session_name, "-", "session_name")
    T.eq(s.connection.address, "192.0.2.101", "connection.address")
    T.eq(s.connection.count, 1, "connection.count")
    T.eq(s.direction, "sendonly", "session direction")
    T.eq(#s.media, 2, "media count")
end)

T.case("media: formats, rtpmap, fmtp, ptime, direction, connection", function()
    local s = sip.Sdp.parse(OFFER)
    local a, v = s.media[1], s.media[2]
    T.eq(a.type, "audio", "type")
    T.eq(a.port, 49170, "port")
    T.eq(a.proto, "RTP/AVP", "proto")
    T.eq(table.concat(a.formats, " "), "0 8 97 101", "formats")
    local opus = a:rtpmap(97)
    T.eq(opus.encoding, "opus", "encoding")
    T.eq(opus.clock_rate, 48000, "clock_rate")
    T.eq(opus.channels, 2, "channels")
    T.eq(a:rtpmap(8), nil, "static type without rtpmap")
    T.eq(a:fmtp(101), "0-15", "fmtp")
    T.eq(a.ptime, 20, "ptime")
    T.eq(a.direction, "sendonly", "inherits the session direction")
    T.eq(a.connection.address, "192.0.2.101", "session connection applies")
    T.eq(v.port, 0, "rejected stream")
    T.eq(v.direction, "recvonly", "own direction")
    T.eq(v.connection.address, "192.0.2.102", "own connection")
    T.eq(#a.attrs, 5, "media attributes")
    T.eq(a.attrs[1].name, "rtpmap", "first attribute name")
end)

T.case("building a session and printing it", function()
    local s = sip.Sdp.new()
    s:set_origin { username = "-", sess_id = 42, sess_version = 1, address = "192.0.2.1" }
    s:set_connection("192.0.2.1")
    local m = s:add_media("audio", 5004, "RTP/AVP", { 0, 101 })
    m:add_attr("rtpmap", "101 telephone-event/8000"):set_direction("sendrecv")
    T.eq(tostring(s), table.concat({
        "v=0", "o=- 42 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
        "m=audio 5004 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv", "",
    }, "\r\n"), "wire form")
    m:set_port(0)
    T.eq(sip.Sdp.parse(tostring(s)).media[1].port, 0, "port edited")
    T.raises("SIP_EINVAL", s.add_media, s, "audio", 70000, "RTP/AVP", "0")
    T.raises("SIP_EINVAL", m.set_direction, m, "sideways")
end)

T.case("SDP errors carry the line", function()
    local e = T.raises("SIP_ESDP", sip.Sdp.parse, "v=0\r\no=bad\r\ns=-\r\nt=0 0\r\n")
    T.eq(e.line, 2, "line")
    T.ok(e.reason:find("o=", 1, true), "reason names the line type")
    local s = sip.Sdp.parse(OFFER)
    s:close()
    T.raises("SIP_ECLOSED", function() return s.origin end)
end)

T.case("info, uri, port_count and set_time (as Python's)", function()
    local s <close> = sip.Sdp.parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\ni=A seminar\r\n"
        .. "u=http://www.example.com/seminars/sdp.pdf\r\nt=0 0\r\nm=video 49170/2 RTP/AVP 31\r\n")
    T.eq(s.info, "A seminar", "info")
    T.eq(s.uri, "http://www.example.com/seminars/sdp.pdf", "uri")
    T.eq(s.media[1].port_count, 2, "port_count")
    s:set_time(3034423619, 3042462419)
    T.ok(tostring(s):find("\r\nt=3034423619 3042462419\r\n", 1, true), "t= replaced")
    local plain <close> = sip.Sdp.new()
    T.eq(plain.info, nil, "no i=")
    T.eq(plain.uri, nil, "no u=")
    plain:add_media("audio", 4000, "RTP/AVP", "0")
    T.eq(plain.media[1].port_count, 1, "port_count without /n")
    local e = T.raises("SIP_EINVAL", plain.set_time, plain, "0", 0)
    T.ok(e.reason:find("start must be integer, got string", 1, true), e.reason)
    -- A negative time was sent as 18446744073709551615 before.
    e = T.raises("SIP_EINVAL", plain.set_time, plain, 0, -1)
    T.ok(e.reason:find("stop must not be negative", 1, true), e.reason)
    T.ok(tostring(plain):find("\r\nt=0 0\r\n", 1, true), "t= kept")
end)

T.case("Multipart: build, parse back, parts with their headers (as Python's)", function()
    local mp <close> = sip.Multipart.new("mixed", "xyz")
    T.eq(mp:add_part("application/sdp", OFFER), 1, "first part's index")
    T.eq(mp:add_part("text/plain", "hi", { { "Content-ID", "<a@b>" } }), 2, "second")
    T.eq(mp.content_type, "multipart/mixed;boundary=xyz", "content_type")
    T.eq(mp.subtype, "mixed", "subtype")
    T.eq(mp.boundary, "xyz", "boundary")
    local again <close> = sip.Multipart.parse(mp.content_type, tostring(mp))
    local parts = again.parts
    T.eq(#parts, 2, "two parts")
    T.eq(parts[1].content_type, "application/sdp", "part 1 type")
    T.eq(parts[1].body, OFFER, "part 1 body")
    T.eq(parts[2].content_type, "text/plain", "part 2 type")
    T.eq(parts[2].body, "hi", "part 2 body")
    local found = false
    for _, h in ipairs(parts[2].headers) do
        if h[1] == "Content-ID" and h[2] == "<a@b>" then found = true end
    end
    T.ok(found, "Content-ID of part 2")
    T.eq(tostring(again), mp:print(), "prints back the same")
end)

T.case("Multipart: the errors Python raises", function()
    local e = T.raises("SIP_EBODY", sip.Multipart.parse, "text/plain", "x")
    T.ok(e.reason:find('Content-Type "text/plain"', 1, true), e.reason)
    e = T.raises("SIP_EINVAL", sip.Multipart.parse, "multipart/mixed;boundary=x", nil)
    T.ok(e.reason:find("body must be a string, got nil", 1, true), e.reason)
    T.raises("SIP_EINVAL", sip.Multipart.new, 5)
    local mp = sip.Multipart.new("related", "b1")
    e = T.raises("SIP_EINVAL", mp.add_part, mp, "text/plain", "hi", { { "Content-ID", nil } })
    T.ok(e.reason:find("Content-ID header value must be", 1, true), e.reason)
    T.raises("SIP_EINVAL", mp.add_part, mp, "text/plain", 5)
    T.eq(mp:add_part(nil, "plain text"), 1, "a part without a content type")
    T.eq(mp.parts[1].content_type, nil, "none read back")
    mp:close()
    mp:close()
    T.eq(mp.closed, true, "closed")
    T.raises("SIP_ECLOSED", function() return mp.parts end)
end)

T.case("GB28181's y= and f= lines are kept and read", function()
    local gb = table.concat({
        "v=0", "o=34020000002000000001 0 0 IN IP4 192.0.2.10", "s=Play",
        "c=IN IP4 192.0.2.10", "t=0 0", "m=video 30000 RTP/AVP 96", "a=recvonly",
        "a=rtpmap:96 PS/90000", "y=0200000001", "f=v/2/4/25/1/4096a/1/8/1", "",
    }, "\r\n")
    local s = sip.Sdp.parse(gb)
    T.eq(s.ssrc, "0200000001", "y=")
    T.eq(s.format, "v/2/4/25/1/4096a/1/8/1", "f=")
    T.eq(tostring(s), gb, "printed back")
    T.eq(sip.Sdp.parse(OFFER).ssrc, nil, "absent")
end)
