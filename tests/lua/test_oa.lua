-- SPDX-License-Identifier: MIT
-- Offer/answer (RFC 3264) through sip.OfferAnswer: exchanges, hold, streams, errors.
local T = ...
local sip = require "libsip"

local function hdr(addr)
    return ("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"):format(addr, addr)
end
local ALICE = hdr("10.0.0.1") .. "m=audio 4000 RTP/AVP 0 8 101\r\n" ..
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
local BOB = hdr("10.0.0.2") .. "m=audio 5000 RTP/AVP 8\r\n"

local function exchange(offerer, answerer)
    local offer = offerer:create_offer()
    T.eq(offerer.state, "local_offer", "offerer state")
    answerer:set_remote_offer(offer)
    local answer = answerer:create_answer()
    offerer:set_remote_answer(answer)
    return tostring(offer), tostring(answer)
end

local function has(text, line) return text:find(line .. "\r\n", 1, true) ~= nil end

T.case("offer, answer, versions and hold", function()
    local a <close> = sip.OfferAnswer { address = "10.0.0.1", username = "alice",
        session_id = "1000", caps = ALICE }
    local b <close> = sip.OfferAnswer { address = "10.0.0.2", session_id = "2000" }
    b:set_local(sip.Sdp.parse(BOB))
    T.eq(a.state, "idle", "idle at first")
    T.eq(a.local_sdp, nil, "no local description yet")
    T.eq(sip.live_objects().oa >= 2, true, "negotiators counted")
    local offer, answer = exchange(a, b)
    T.ok(has(offer, "o=alice 1000 1000 IN IP4 10.0.0.1"), "o= of the offer")
    T.ok(has(offer, "m=audio 4000 RTP/AVP 0 8 101"), "m= of the offer")
    T.ok(has(answer, "m=audio 5000 RTP/AVP 8"), "m= of the answer")
    T.ok(not answer:find("telephone-event", 1, true), "no events in the answer")
    T.eq(a.state, "done", "done")
    T.eq(tostring(a.local_sdp), offer, "local_sdp")
    T.eq(tostring(a.remote_sdp), answer, "remote_sdp")
    T.eq(a.media_count, 1, "media_count")
    T.eq(a.remote_changed, true, "the first answer is a change")
    local again = exchange(a, b)
    T.eq(again, offer, "an unchanged re-offer keeps its version")
    T.eq(a.remote_changed or b.remote_changed, false, "nothing changed")
    a:set_hold(true)
    T.eq(a.hold, true, "hold")
    local held, ans = exchange(a, b)
    T.ok(has(held, "o=alice 1000 1001 IN IP4 10.0.0.1"), "version + 1")
    T.ok(has(held, "a=sendonly") and has(ans, "a=recvonly"), "hold directions")
    T.eq(b.remote_hold, true, "b sees the hold")
    T.eq(a.remote_hold, false, "a is not held")
    a:close()
    T.eq(a.closed, true, "closed")
    T.raises("SIP_ECLOSED", a.create_offer, a)
end)

T.case("dynamic payload types answer with the offerer's number", function()
    local b <close> = sip.OfferAnswer { address = "10.0.0.2", caps = hdr("10.0.0.2") ..
        "m=audio 5000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n" }
    b:set_remote_offer(hdr("10.0.0.9") .. "m=audio 6000 RTP/AVP 111\r\n" ..
        "a=rtpmap:111 opus/48000/2\r\n")
    local answer = tostring(b:create_answer())
    T.ok(has(answer, "m=audio 5000 RTP/AVP 111"), "111 kept")
    T.ok(has(answer, "a=rtpmap:111 opus/48000/2"), "rtpmap renumbered")
end)

T.case("streams added and removed", function()
    local caps = hdr("10.0.0.1") .. "m=audio 4000 RTP/AVP 0\r\n" ..
        "m=video 4002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
    local a <close> = sip.OfferAnswer { address = "10.0.0.1", caps = caps }
    local b <close> = sip.OfferAnswer { address = "10.0.0.2", caps = caps }
    exchange(a, b)
    a:remove_media(1)
    local offer = exchange(a, b)
    T.ok(has(offer, "m=video 0 RTP/AVP 97"), "port 0")
    T.eq(a:add_media(1), 1, "the port 0 slot is reused")
    T.eq(a:add_media(0), 2, "a new slot at the end")
    T.eq(a.media_count, 3, "three slots")
    T.raises("SIP_EINVAL", a.add_media, a, 9)
    T.raises("SIP_EINVAL", a.remove_media, a, 9)
    T.raises("SIP_EINVAL", a.remove_media, a, "1")
end)

T.case("errors name the stream, as in Python", function()
    local b <close> = sip.OfferAnswer { address = "10.0.0.2", caps = BOB }
    b:set_remote_offer(hdr("10.0.0.9") .. "m=audio 6000 RTP/AVP 0\r\n")
    local e = T.raises("SIP_ENOTACCEPTABLE", b.create_answer, b)
    T.eq(e.status, 488, "status")
    T.eq(e.stream, 0, "stream")
    T.ok(e.reason:find("stream 0 (m=audio)", 1, true), "reason names the stream")
    T.eq(b.state, "idle", "offer dropped")

    local a <close> = sip.OfferAnswer { address = "10.0.0.1", caps = ALICE }
    a:create_offer()
    e = T.raises("SIP_ESDP", a.set_remote_answer, a, hdr("10.0.0.2") ..
        "m=video 5000 RTP/AVP 31\r\n")
    T.eq(e.stream, 0, "stream")
    T.ok(e.reason:find("stream 0 (m=audio): answered as m=video", 1, true), e.reason)
    e = T.raises("SIP_EINVAL", a.set_remote_offer, a, BOB)
    T.ok(e.reason:find("491", 1, true), "glare")
    a:cancel_offer()
    T.raises("SIP_ENOENT", a.cancel_offer, a)
    e = T.raises("SIP_ESDP", a.set_local, a, hdr("10.0.0.1") .. "m=audio 4000 RTP/AVP 96\r\n")
    T.ok(e.reason:find("format 96 has no valid a=rtpmap", 1, true), e.reason)
    T.raises("SIP_EINVAL", a.set_local, a, 42)
    T.raises("SIP_EINVAL", sip.OfferAnswer, { address = "10.0.0.1", session_id = "abc" })
    T.raises("SIP_EINVAL", sip.OfferAnswer, { address = "10.0.0.1", bogus = 1 })
    T.raises("SIP_EINVAL", sip.OfferAnswer, {})
    T.raises("SIP_EINVAL", sip.OfferAnswer, { address = "10.0.0.1", version = -5 })
    T.raises("SIP_EINVAL", sip.OfferAnswer, { address = "10.0.0.1", version = "7" })
    local v <close> = sip.OfferAnswer { address = "2001:db8::1", session_id = "42", version = 7,
        session_name = "talk", caps = ALICE }
    local offer = tostring(v:create_offer())
    T.ok(has(offer, "o=- 42 7 IN IP6 2001:db8::1") and has(offer, "s=talk"), offer)
end)

T.case("a B2BUA relays an answer", function()
    local a <close> = sip.OfferAnswer { address = "10.0.0.1", caps = ALICE }
    local leg <close> = sip.OfferAnswer { address = "10.0.0.2" }
    leg:set_remote_offer(a:create_offer())
    local relayed = sip.Sdp.parse("v=0\r\no=carol 77 5 IN IP4 10.0.0.5\r\ns=-\r\n" ..
        "c=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n")
    local fork <close> = leg:clone()
    T.eq(fork.state, "remote_offer", "a copy keeps the offer awaiting")
    leg:set_local_answer(relayed)
    a:set_remote_answer(relayed)
    T.eq(leg.local_sdp.origin.username, "carol", "relayed o=")
    T.eq(a.remote_sdp.media[1].port, 7000, "relayed port")
end)

T.case("a B2BUA relays an offer", function()
    local leg <close> = sip.OfferAnswer { address = "10.0.0.2" }
    local c <close> = sip.OfferAnswer { address = "10.0.0.3", caps = ALICE }
    leg:set_local_offer("v=0\r\no=alice 55 9 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n" ..
        "t=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n")
    T.eq(leg.state, "local_offer", "state")
    c:set_remote_offer(leg.offer)
    leg:set_remote_answer(c:create_answer())
    T.eq(leg.local_sdp.origin.sess_id, "55", "relayed o=")
    local e = T.raises("SIP_ESDP", leg.set_local_offer, leg, hdr("10.0.0.1"))
    T.ok(e.reason:find("the offer has 0 m= lines, the session 1", 1, true), e.reason)
end)
