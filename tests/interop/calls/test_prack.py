# SPDX-License-Identifier: MIT
"""Reliable provisional responses (RFC 3262) in both roles: a SIPp caller that Requires 100rel
against sip-uas (a reliable 180, SIPp's PRACK, then 200, ACK and BYE), and sip-uac --prack
against a SIPp callee sending a reliable 183 with SDP (sip-uac must PRACK it with the right
RAck)."""
import re


def test_sipp_requires_100rel_from_sip_uas(env):
    port = env.port()
    # The 200 after 300 ms: the PRACK's 200 comes first, whatever the order in which a UAS
    # releases a 2xx held for a PRACK (RFC 3262 §3).
    uas = env.uas("uas", port, "--rel100", "supported", "--ring", "300")
    sipp = env.sipp_client("100rel", "uac_100rel.xml", port, calls=5, rate=10)
    env.sipp_ok(sipp, 5)
    log = env.stop_clean(uas)
    assert re.search(r"^calls 5 answered 5 rejected 0 cancelled 0 acked 5 byes 5 no-ack 0 ",
                     log, re.M), log
    assert len(re.findall(r"^PRACK from udp:", log, re.M)) == 5, log


def test_sip_uac_pracks_a_reliable_183(env):
    port = env.port()
    sipp = env.sipp_server("uas-183", "uas_183_rel.xml", port, calls=3)
    rc, out = env.uac("uac", "--calls", "3", "--rate", "10", "--prack", "-v", "--timeout", "20",
                      "sip:service@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "calls: 3 completed, 0 failed" in out.splitlines(), out
    env.sipp_ok(sipp, 3)


def test_sip_uas_refuses_or_requires_100rel(env):
    """Without --rel100, a Require of 100rel gets 420 with Unsupported; with --rel100 required,
    an INVITE without 100rel gets 421 with Require: 100rel."""
    port = env.port()
    uas = env.uas("uas-none", port)
    env.sipp_ok(env.sipp_client("refused", "uac_100rel_refused.xml", port, calls=2, rate=10), 2)
    env.stop_clean(uas)
    port = env.port()
    uas = env.uas("uas-required", port, "--rel100", "required")
    env.sipp_ok(env.sipp_client("missing", "uac_no_100rel.xml", port, calls=2, rate=10), 2)
    env.stop_clean(uas)
