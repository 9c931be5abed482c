# SPDX-License-Identifier: MIT
"""Session timers (RFC 4028) from SIPp callers to sip-uas: the negotiation (Session-Expires:
90;refresher=uas granted with Require: timer), the refresh sip-uas sends at half the interval
(about 45 s: 90 s is the least Min-SE allows, so this file takes that long once), by UPDATE
when the caller allows it and by re-INVITE when not (both calls run at once), and 422 with
Min-SE: 90 for Session-Expires: 30."""
import re


def test_sip_uas_refreshes_the_session(env):
    port = env.port()
    uas = env.uas("uas", port, "--session-timer", "1800")
    # Both callers at once: one wait of about 45 s for both refreshes.
    upd = env.sipp_client_bg("timer-update", "uac_timer_update.xml", port, calls=1, timeout=90)
    inv = env.sipp_client_bg("timer-reinvite", "uac_timer_reinvite.xml", port, calls=1,
                             timeout=90)
    env.sipp_ok(upd, 1, timeout=100)
    env.sipp_ok(inv, 1, timeout=100)
    log = env.stop_clean(uas)
    assert re.search(r"^calls 2 answered 2 rejected 0 cancelled 0 acked 2 byes 2 no-ack 0 "
                     r".* failed 0 active 0 expired 0$", log, re.M), log


def test_sip_uas_refuses_a_short_session_with_422(env):
    port = env.port()
    uas = env.uas("uas", port, "--session-timer", "1800")
    sipp = env.sipp_client("timer-422", "uac_timer_422.xml", port, calls=3, rate=10)
    env.sipp_ok(sipp, 3)
    env.stop_clean(uas)
