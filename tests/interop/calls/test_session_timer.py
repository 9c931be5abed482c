# SPDX-License-Identifier: MIT
"""Session timers (RFC 4028) between libsip's programs and SIPp: SIPp callers to sip-uas (the
negotiation, Session-Expires: 90;refresher=uas granted with Require: timer, and the refresh
sip-uas sends at half the interval, by UPDATE when the caller allows it and by re-INVITE when
not), sip-uac --session-timer 90 refreshing toward a SIPp callee by UPDATE, sip-uas ending
with BYE a session its caller does not refresh, and 422 with Min-SE: 90 for Session-Expires:
30. A refresh comes about 45 s into a call and the expiry's BYE at 60 s (90 s is the least
Min-SE allows, §4): those calls run at once, so this file takes about a minute once."""
import re

from conftest import Proc, tool


def test_refresh_and_expiry(env):
    port = env.port()
    uas = env.uas("uas", port, "--session-timer", "1800")
    # A caller that takes the refresher role and never refreshes: sip-uas sends BYE before the
    # session expires (RFC 4028 §10). Its own sip-uas, whose counters are not looked at.
    expiry_port = env.port()
    uas_expiry = env.uas("uas-expiry", expiry_port, "--session-timer", "1800")
    expire = env.sipp_client_bg("timer-expire", "uac_timer_expire.xml", expiry_port, calls=1,
                                timeout=100)
    # Both callers at once: one wait of about 45 s for both refreshes.
    upd = env.sipp_client_bg("timer-update", "uac_timer_update.xml", port, calls=1, timeout=90)
    inv = env.sipp_client_bg("timer-reinvite", "uac_timer_reinvite.xml", port, calls=1,
                             timeout=90)
    # sip-uac refreshing toward SIPp: it holds the call past the refresh, then BYE.
    callee = env.port()
    sipp_uas = env.sipp_server("uas-timer", "uas_timer.xml", callee, calls=1, timeout=90)
    uac = Proc(env, "uac", [tool("SIP_UAC"), "--session-timer", "90", "--hold", "50000",
                            "--timeout", "80", "-v", "sip:service@127.0.0.1:%d" % callee])
    env.sipp_ok(upd, 1, timeout=100)
    env.sipp_ok(inv, 1, timeout=100)
    assert uac.wait(100) == 0, uac.log()
    assert "calls: 1 completed, 0 failed" in uac.log().splitlines(), uac.log()
    env.sipp_ok(sipp_uas, 1, timeout=30)
    env.sipp_ok(expire, 1, timeout=110)
    env.stop_clean(uas_expiry)
    log = env.stop_clean(uas)
    assert re.search(r"^calls 2 answered 2 rejected 0 cancelled 0 acked 2 byes 2 no-ack 0 "
                     r".* failed 0 active 0 expired 0$", log, re.M), log


def test_sip_uas_refuses_a_short_session_with_422(env):
    port = env.port()
    uas = env.uas("uas", port, "--session-timer", "1800")
    sipp = env.sipp_client("timer-422", "uac_timer_422.xml", port, calls=3, rate=10)
    env.sipp_ok(sipp, 3)
    env.stop_clean(uas)
