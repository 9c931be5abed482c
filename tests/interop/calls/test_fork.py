# SPDX-License-Identifier: MIT
"""A caller whose INVITE forks (RFC 3261 §13.2.2.4): SIPp answers sip-uac's INVITE as two
forks with their own To tags (180 A, 180 B, 200 A, 200 B); sip-uac must acknowledge both 200s
in their own dialogs, end fork B with a BYE at once and keep fork A until its own BYE."""


def test_two_forks_answer(env):
    port = env.port()
    sipp = env.sipp_server("uas-fork", "uas_fork.xml", port, calls=2)
    rc, out = env.uac("uac", "--calls", "2", "--rate", "10", "--hold", "500", "-v",
                      "--timeout", "20", "sip:service@127.0.0.1:%d" % port)
    assert rc == 0, out
    # One call each, completed on fork A; fork B's dialog is the core's business.
    assert "calls: 2 completed, 0 failed" in out.splitlines(), out
    env.sipp_ok(sipp, 2)
    msgs = env.messages(sipp)
    # The ACK of fork B's 200 goes before the BYE that ends that dialog (no BYE before ACK).
    ack_b = msgs.find("ACK sip:fork-b@")
    bye_b = msgs.find("BYE sip:fork-b@")
    assert 0 <= ack_b < bye_b, msgs[-4000:]
