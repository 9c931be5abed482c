# SPDX-License-Identifier: MIT
"""SIPp through sipd: a SIPp caller to a SIPp callee that registered behind sipd (sip-uac
--register with digest, its Contact the callee's address), stateful and --stateless, with 10%
packet loss (-lost 10; on both SIPp sides when stateful); forking to two registered SIPp callees, one busy and
one answering, and both answering (then the caller keeps one 2xx and ends the other)."""
import re

import pytest

CALLS = 40


def lossy_ok(p, calls, least):
    """SIPp p ran its calls and at least least of them succeeded; returns how many did."""
    rc = p.rc if p.rc is not None else p.wait(120)
    log = p.log()
    m = re.search(r"Successful call +\| +\d+ +\| +(\d+)", log)
    assert rc in (0, 1) and m, "SIPp %s exited %d:\n%s" % (p.name, rc, log[-3000:])
    assert int(m.group(1)) >= least, "SIPp %s: %s of %d calls" % (p.name, m.group(1), calls)
    print("%s: %s of %d calls" % (p.name, m.group(1), calls))
    return int(m.group(1))


def register_sipp(env, d, port, name="reg"):
    env.register(name, d, "bob", contact="<sip:bob@127.0.0.1:%d>" % port)


@pytest.mark.parametrize("stateless", [False, True], ids=["stateful", "stateless"])
def test_sipp_call_through_sipd_with_loss(env, stateless):
    # Two workers: every request of a call is forwarded by the worker owning its Call-ID (in
    # the order it came), and stateless, a response reaching the other worker verifies there
    # (one secret for the set, RFC 3261 §16.11): the bound is one sipd's (docs/SIPD.md).
    d = env.sipd("sipd", *(["--stateless"] if stateless else []), "--workers", "2")
    uport = env.port()
    # Stateful, the loss is on both SIPp sides. Stateless, on the caller's only: every copy of
    # the caller's INVITE then reaches the callee, and SIPp's callee does not always take a
    # copy that comes while it sends its 200 again for a retransmission.
    uas_loss = [] if stateless else ["-lost", "10"]
    uas = env.sipp_server("uas", "uas.xml", uport, *uas_loss, calls=CALLS, timeout=120)
    register_sipp(env, d, uport)
    # Loss on both SIPp sides; SIPp's retransmissions may take a while to get through it.
    uac = env.sipp_client("uac", "uac.xml", d.port, "-s", "bob", "-lost", "10",
                          "-max_retrans", "10", calls=CALLS, rate=20, timeout=120)
    # Through 10% loss a few calls may end in SIPp's own scenario limits (a late copy of the
    # 200 acknowledged again after the callee's scenario ended, a retransmission limit): at
    # most three of forty; and sipd itself answered none of them with an error.
    ok = lossy_ok(uac, CALLS, CALLS - 3)
    lossy_ok(uas, CALLS, CALLS - 3)
    assert ok >= CALLS - 3
    assert not re.search(r"^SIP/2\.0 5\d\d ", env.messages(uac), re.M), env.messages(uac)
    log = env.stop_clean(d)
    # Every INVITE went on to the registered contact, the ACK and the BYE by the Record-Route
    # sipd put in (the callee's 200 carried it back).
    assert re.search(r"INVITE sip:bob@127\.0\.0\.1:%d from udp:127\.0\.0\.1:" % d.port, log), log
    msgs = env.messages(uas)
    assert re.search(r"^Record-Route: <sip:127\.0\.0\.1:%d;[^>]*lr" % d.port, msgs, re.M), msgs
    assert re.search(r"^BYE sip:bob@127\.0\.0\.1:%d" % uport, msgs, re.M), msgs
    # The loss hit: SIPp's caller sent INVITEs or BYEs again.
    screen = uac.log()
    retrans = sum(int(v) for v in re.findall(r"^ +(?:INVITE|BYE) ---------->\s+\d+\s+(\d+)",
                                             screen, re.M))
    assert retrans > 0, screen


def test_fork_busy_and_answer(env):
    d = env.sipd()
    busy_port, ok_port = env.port(), env.port()
    busy = env.sipp_server("busy", "uas_busy.xml", busy_port, calls=3)
    # The answering callee waits 300 ms after its 180, so the 486 is in first.
    ok = env.sipp_server("ok", "uas_ring.xml", ok_port, "-d", "300", calls=3)
    register_sipp(env, d, busy_port, "reg-busy")
    register_sipp(env, d, ok_port, "reg-ok")
    uac = env.sipp_client("uac", "uac.xml", d.port, "-s", "bob", calls=3, rate=2)
    env.sipp_ok(uac, 3)
    env.sipp_ok(busy, 3)
    env.sipp_ok(ok, 3)
    # §16.7: the 486 stayed at sipd; the caller saw only the 200.
    assert not re.search(r"^SIP/2\.0 486", env.messages(uac), re.M)
    env.stop_clean(d)


def test_fork_both_answer(env):
    # Two workers: the caller's ACK and BYE of the 2xx it does not keep leave at once, and the
    # worker owning their Call-ID forwards both, in that order (docs/SIPD.md, Workers).
    d = env.sipd("sipd", "--workers", "2")
    a_port, b_port = env.port(), env.port()
    a = env.sipp_server("a", "uas_fork.xml", a_port, calls=2)
    b = env.sipp_server("b", "uas_fork.xml", b_port, calls=2)
    register_sipp(env, d, a_port, "reg-a")
    register_sipp(env, d, b_port, "reg-b")
    # libsip's caller acknowledges every 2xx and ends the dialogs it does not keep (RFC 3261
    # §13.2.2.4); sipd forwards each branch's 2xx (§16.7 step 5) and cancels the branches still
    # pending.
    rc, out = env.uac("uac", "--calls", "2", "--rate", "2", "-v", "--timeout", "40",
                      "sip:bob@127.0.0.1:%d" % d.port)
    assert rc == 0, out
    assert "calls: 2 completed, 0 failed" in out.splitlines(), out
    env.sipp_ok(a, 2)
    env.sipp_ok(b, 2)
    env.stop_clean(d)
