# SPDX-License-Identifier: MIT
"""re-INVITE hold and resume (RFC 3261 §14, RFC 3264 §8.4) between libsip's programs and SIPp:
SIPp holds and resumes a call sip-uas answered, and sip-uac --reinvite holds and resumes a
call SIPp answered."""
import re


def test_sipp_holds_and_resumes_sip_uas(env):
    port = env.port()
    uas = env.uas("uas", port)
    sipp = env.sipp_client("hold", "uac_hold.xml", port, calls=5, rate=10)
    env.sipp_ok(sipp, 5)
    log = env.stop_clean(uas)
    # Each call: answered, acknowledged, two re-INVITEs, ended by the caller's BYE.
    assert re.search(r"^calls 5 answered 5 rejected 0 cancelled 0 acked 5 byes 5 no-ack 0 "
                     r"reinvites 10 failed 0 active 0 expired 0$", log, re.M), log


def test_sipp_holds_and_resumes_sip_uas_media_engine(env, tmp_path):
    """The same against the offer/answer engine (--media): its answer to a=sendonly is
    a=recvonly, to a=sendrecv again without a direction."""
    media = tmp_path / "media.sdp"
    media.write_text("v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
                     "m=audio 40000 RTP/AVP 0 8\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n")
    port = env.port()
    uas = env.uas("uas-media", port, "--media", str(media))
    sipp = env.sipp_client("hold-media", "uac_hold.xml", port, calls=3, rate=10)
    env.sipp_ok(sipp, 3)
    log = env.stop_clean(uas)
    assert re.search(r"^calls 3 answered 3 .* byes 3 no-ack 0 reinvites 6 failed 0 active 0 ",
                     log, re.M), log


def test_sip_uac_holds_and_resumes_sipp(env):
    """sip-uac --reinvite: SIPp checks the hold offer (a=sendonly, o= version 2) and the resume
    offer (a=sendrecv, version 3) in the dialog, and that each 200 is acknowledged."""
    port = env.port()
    sipp = env.sipp_server("uas-hold", "uas_hold.xml", port, calls=3)
    rc, out = env.uac("uac", "--calls", "3", "--rate", "10", "--reinvite", "-v", "--timeout",
                      "20", "sip:service@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "calls: 3 completed, 0 failed" in out.splitlines(), out
    assert len(re.findall(r"^call \d+: re-INVITE \(hold\) 200$", out, re.M)) == 3, out
    assert len(re.findall(r"^call \d+: re-INVITE \(resume\) 200$", out, re.M)) == 3, out
    env.sipp_ok(sipp, 3)
