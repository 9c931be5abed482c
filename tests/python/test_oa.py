# SPDX-License-Identifier: MIT
"""Offer/answer (RFC 3264) through the Python package: OfferAnswer, its states and errors."""

import gc

import pytest

import libsip


def hdr(addr):
    return f"v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n"


ALICE = (hdr("10.0.0.1") + "m=audio 4000 RTP/AVP 0 8 101\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")
BOB = hdr("10.0.0.2") + "m=audio 5000 RTP/AVP 8\r\n"


def exchange(offerer, answerer):
    offer = offerer.create_offer()
    assert offerer.state == libsip.OaState.LOCAL_OFFER
    answerer.set_remote_offer(offer)
    answer = answerer.create_answer()
    offerer.set_remote_answer(answer)
    return offer, answer


def test_offer_answer_and_state():
    a = libsip.OfferAnswer("10.0.0.1", username="alice", session_id="1000", caps=ALICE)
    b = libsip.OfferAnswer("10.0.0.2", session_id="2000")
    b.set_local(libsip.Sdp.parse(BOB))
    assert a.state == libsip.OaState.IDLE and a.local_sdp is None and a.offer is None
    assert libsip.live_objects()["oa"] == 2
    offer, answer = exchange(a, b)
    assert "o=alice 1000 1000 IN IP4 10.0.0.1\r\n" in str(offer)
    assert "m=audio 4000 RTP/AVP 0 8 101\r\n" in str(offer)
    assert "m=audio 5000 RTP/AVP 8\r\n" in str(answer)
    assert "telephone-event" not in str(answer)
    assert a.state == b.state == libsip.OaState.DONE
    assert str(a.local_sdp) == str(offer) and str(a.remote_sdp) == str(answer)
    assert a.media_count == 1
    assert "done" in repr(a)
    # An unchanged re-offer keeps its version; hold changes it.
    assert a.remote_changed
    again, _ = exchange(a, b)
    assert str(again) == str(offer)
    assert not a.remote_changed and not b.remote_changed
    a.set_hold(True)
    assert a.hold
    held, answer = exchange(a, b)
    assert "o=alice 1000 1001 " in str(held) and "a=sendonly\r\n" in str(held)
    assert "a=recvonly\r\n" in str(answer)
    assert b.remote_hold and not a.remote_hold
    a.close()
    b.close()
    assert a.closed
    with pytest.raises(libsip.ClosedError):
        a.create_offer()
    a.close()
    del offer, again, held, answer
    gc.collect()
    assert libsip.live_objects()["oa"] == 0


def test_dynamic_payload_type_and_text_input():
    b = libsip.OfferAnswer("10.0.0.2", caps=hdr("10.0.0.2") + "m=audio 5000 RTP/AVP 96\r\n"
                           "a=rtpmap:96 opus/48000/2\r\n")
    b.set_remote_offer(hdr("10.0.0.9") + "m=audio 6000 RTP/AVP 111\r\n"
                       "a=rtpmap:111 opus/48000/2\r\n")
    answer = b.create_answer()
    assert "m=audio 5000 RTP/AVP 111\r\n" in str(answer)
    assert "a=rtpmap:111 opus/48000/2\r\n" in str(answer)


def test_streams_added_and_removed():
    caps = (hdr("10.0.0.1") + "m=audio 4000 RTP/AVP 0\r\n"
            "m=video 4002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n")
    with libsip.OfferAnswer("10.0.0.1", caps=caps) as a, \
            libsip.OfferAnswer("10.0.0.2", caps=caps) as b:
        exchange(a, b)
        a.remove_media(1)
        offer, answer = exchange(a, b)
        assert "m=video 0 RTP/AVP 97\r\n" in str(offer)
        assert a.add_media(1) == 1
        assert a.add_media(0) == 2
        assert a.media_count == 3
        with pytest.raises(libsip.InvalidError):
            a.add_media(9)
        with pytest.raises(libsip.InvalidError):
            a.remove_media(9)
        with pytest.raises(TypeError):
            a.remove_media("1")


def test_errors_name_the_stream():
    with libsip.OfferAnswer("10.0.0.2", caps=BOB) as b:
        with pytest.raises(libsip.NotAcceptableError) as ei:
            b.set_remote_offer(hdr("10.0.0.9") + "m=audio 6000 RTP/AVP 0\r\n")
            b.create_answer()
        e = ei.value
        assert e.name == "SIP_ENOTACCEPTABLE" and e.status == 488 and e.stream == 0
        assert "stream 0 (m=audio)" in e.reason and "488" in str(e)
        assert b.state == libsip.OaState.IDLE

    with libsip.OfferAnswer("10.0.0.1", caps=ALICE) as a:
        a.create_offer()
        with pytest.raises(libsip.SdpError) as ei:
            a.set_remote_answer(hdr("10.0.0.2") + "m=video 5000 RTP/AVP 31\r\n")
        assert ei.value.stream == 0
        assert "stream 0 (m=audio): answered as m=video" in str(ei.value)
        with pytest.raises(libsip.InvalidError) as ei:
            a.set_remote_offer(BOB)
        assert "491" in str(ei.value)
        a.cancel_offer()
        with pytest.raises(libsip.NotFoundError):
            a.cancel_offer()
        with pytest.raises(libsip.SdpError) as ei:
            a.set_local(hdr("10.0.0.1") + "m=audio 4000 RTP/AVP 96\r\n")
        assert "format 96 has no valid a=rtpmap" in str(ei.value)
        with pytest.raises(TypeError):
            a.set_local(42)

    with pytest.raises(libsip.InvalidError):
        libsip.OfferAnswer("10.0.0.1", session_id="abc")
    with pytest.raises(TypeError):
        libsip.OfferAnswer(None)
    with pytest.raises(libsip.InvalidError):
        libsip.OfferAnswer("10.0.0.1", version=-5)
    with pytest.raises(TypeError):
        libsip.OfferAnswer("10.0.0.1", version="7")
    with libsip.OfferAnswer("2001:db8::1", session_id="42", version=7, session_name="talk",
                            caps=ALICE) as v:
        offer = str(v.create_offer())
        assert "o=- 42 7 IN IP6 2001:db8::1\r\n" in offer and "s=talk\r\n" in offer


def test_b2bua_relays_an_answer():
    with libsip.OfferAnswer("10.0.0.1", caps=ALICE) as a, \
            libsip.OfferAnswer("10.0.0.2") as leg:
        leg.set_remote_offer(a.create_offer())
        relayed = libsip.Sdp.parse("v=0\r\no=carol 77 5 IN IP4 10.0.0.5\r\ns=-\r\n"
                                   "c=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n")
        fork = leg.copy()
        assert fork.state == libsip.OaState.REMOTE_OFFER
        fork.close()
        leg.set_local_answer(relayed)
        a.set_remote_answer(relayed)
        assert leg.local_sdp.origin.username == "carol"
        assert a.remote_sdp.media[0].port == 7000


def test_b2bua_relays_an_offer():
    with libsip.OfferAnswer("10.0.0.2") as leg, \
            libsip.OfferAnswer("10.0.0.3", caps=ALICE) as c:
        relayed = ("v=0\r\no=alice 55 9 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n"
                   "t=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n")
        leg.set_local_offer(relayed)
        assert leg.state == libsip.OaState.LOCAL_OFFER
        c.set_remote_offer(leg.offer)
        leg.set_remote_answer(c.create_answer())
        assert leg.local_sdp.origin.sess_id == "55"
        with pytest.raises(libsip.SdpError) as ei:
            leg.set_local_offer(hdr("10.0.0.1"))
        assert "the offer has 0 m= lines, the session 1" in ei.value.reason
