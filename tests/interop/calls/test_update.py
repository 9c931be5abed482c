# SPDX-License-Identifier: MIT
"""UPDATE (RFC 3311) between libsip's programs and SIPp: SIPp sends UPDATEs with and without an
offer in a call sip-uas answered, and sip-uac --update sends one in a call SIPp answered."""
import re


def test_sipp_updates_sip_uas(env):
    port = env.port()
    uas = env.uas("uas", port)
    sipp = env.sipp_client("update", "uac_update.xml", port, calls=5, rate=10)
    env.sipp_ok(sipp, 5)
    log = env.stop_clean(uas)
    assert re.search(r"^calls 5 answered 5 rejected 0 cancelled 0 acked 5 byes 5 no-ack 0 "
                     r"reinvites \d+ failed 0 active 0 expired 0$", log, re.M), log
    assert len(re.findall(r"^UPDATE from udp:", log, re.M)) == 10, log


def test_sip_uac_updates_sipp(env):
    """sip-uac --update: SIPp checks the UPDATE is in the dialog with a new offer (o= version
    2) and answers it in its 200."""
    port = env.port()
    sipp = env.sipp_server("uas-update", "uas_update.xml", port, calls=3)
    rc, out = env.uac("uac", "--calls", "3", "--rate", "10", "--update", "-v", "--timeout",
                      "20", "sip:service@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "calls: 3 completed, 0 failed" in out.splitlines(), out
    assert len(re.findall(r"^call \d+: UPDATE 200$", out, re.M)) == 3, out
    env.sipp_ok(sipp, 3)
