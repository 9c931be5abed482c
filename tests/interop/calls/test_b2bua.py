# SPDX-License-Identifier: MIT
"""Two libsip user agents calling each other through the B2BUA example (examples/c/b2bua.c,
sip_bridge_create): sip-uac calls the b2bua, which bridges each call to sip-uas; the answer
comes back, an INFO goes across, and the caller's BYE ends both legs. With --forward-on-busy
a busy callee's caller is bridged to a second one."""
import re
import subprocess
import time

import pytest

from conftest import Proc, tool


def uac_has(flag):
    return flag in subprocess.run([tool("SIP_UAC"), "--help"], capture_output=True,
                                  text=True).stdout


def counters(log, prefix):
    m = re.search(r"^" + prefix + r" .*$", log, re.M)
    assert m, log
    return m.group(0)


def test_calls_through_b2bua(env):
    callee = env.port()
    uas = env.uas("uas", callee)
    port = env.port()
    b2b = env.b2bua("b2bua", port, "--target", "sip:bob@127.0.0.1:%d" % callee)
    args = ["--calls", "3", "--rate", "10", "--hold", "300", "-v", "--trace", "--timeout", "20"]
    info = uac_has("--info")
    if info:
        args.append("--info")
    rc, out = env.uac("uac", *args, "sip:bob@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "calls: 3 completed, 0 failed" in out.splitlines(), out
    blog = env.stop_clean(b2b)
    ulog = env.stop_clean(uas)
    # Each call answered on both legs; the caller's BYE ended the callee's leg (the bridge's
    # BYE, counted by sip-uas as a BYE from the other side).
    assert counters(blog, "calls") == "calls 3 answered 3 forwarded 0 failed 0 ended 3", blog
    # The caller's BYE went to the callee's leg.
    assert len(re.findall(r"^call \d+: BYE relayed to leg B$", blog, re.M)) == 3, blog
    assert counters(ulog, "calls") == ("calls 3 answered 3 rejected 0 cancelled 0 acked 3 byes 3 "
                                       "no-ack 0 reinvites 0 failed 0 active 0 expired 0"), ulog
    # The callee's leg is the bridge's own call: no Call-ID of the caller reaches sip-uas.
    callee_ids = set(re.findall(r"^INVITE from udp:\S+ Call-ID (\S+)$", ulog, re.M))
    caller_ids = set(re.findall(r"^Call-ID: (\S+)$", out, re.M))
    assert len(callee_ids) == 3 and len(caller_ids) == 3, (ulog, out)
    assert not callee_ids & caller_ids, (callee_ids, caller_ids)
    if info:
        # RFC 6086: the caller's INFO went across the bridge, its DTMF body intact.
        assert len(re.findall(r"^call \d+: INFO relayed to leg B$", blog, re.M)) == 3, blog
        assert len(re.findall(r"^call \S+: INFO application/dtmf-relay Signal=5$", ulog,
                              re.M)) == 3, ulog


def test_forward_on_busy(env):
    busy_port, ok_port, port = env.port(), env.port(), env.port()
    busy = env.uas("uas-busy", busy_port, "--code", "486")
    ok = env.uas("uas-ok", ok_port)
    b2b = env.b2bua("b2bua", port, "--target", "sip:bob@127.0.0.1:%d" % busy_port,
                    "--forward-on-busy", "sip:carol@127.0.0.1:%d" % ok_port)
    rc, out = env.uac("uac", "--calls", "2", "--rate", "10", "--hold", "100", "--timeout", "20",
                      "sip:bob@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "calls: 2 completed, 0 failed" in out.splitlines(), out
    blog = env.stop_clean(b2b)
    assert counters(blog, "calls") == "calls 2 answered 2 forwarded 2 failed 0 ended 2", blog
    assert len(re.findall(r"^call \d+: outgoing leg failed with 486$", blog, re.M)) == 2, blog
    assert counters(env.stop_clean(busy), "calls").startswith("calls 2 answered 0 rejected 2 ")
    assert counters(env.stop_clean(ok), "calls").startswith("calls 2 answered 2 rejected 0 "
                                                            "cancelled 0 acked 2 byes 2 ")


def test_busy_without_forward_reaches_caller(env):
    busy_port, port = env.port(), env.port()
    busy = env.uas("uas-busy", busy_port, "--code", "486")
    b2b = env.b2bua("b2bua", port, "--target", "sip:bob@127.0.0.1:%d" % busy_port)
    rc, out = env.uac("uac", "--calls", "2", "--rate", "10", "-v", "--timeout", "20",
                      "sip:bob@127.0.0.1:%d" % port)
    assert rc == 1, out
    assert "calls: 0 completed, 2 failed" in out.splitlines(), out
    # The callee's status is the caller's answer.
    assert len(re.findall(r"^call \d+ failed: INVITE 486 ", out, re.M)) == 2, out
    blog = env.stop_clean(b2b)
    assert counters(blog, "calls") == "calls 2 answered 0 forwarded 0 failed 2 ended 2", blog
    env.stop_clean(busy)


def test_b2bua_usage():
    b2b = tool("SIP_B2BUA")
    assert subprocess.run([b2b, "--help"], capture_output=True).returncode == 0
    for args in ([], ["--listen", "udp:127.0.0.1:0"], ["--target", "sip:x@127.0.0.1"],
                 ["--listen", "udp:127.0.0.1:0", "--target", "sip:x@127.0.0.1", "extra"],
                 ["--bogus"]):
        assert subprocess.run([b2b, *args], capture_output=True).returncode == 2, args
    r = subprocess.run([b2b, "--listen", "udp:192.0.2.1:5060", "--target", "sip:x@127.0.0.1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "cannot listen" in r.stderr, r.stderr


def test_callee_bye_and_reinvite_cross_b2bua(env):
    """The callee side ends the call (sip-uas --call-timeout 1 sends BYE): the bridge's BYE
    reaches sip-uac, which counts the call completed; before that, sip-uac's hold and resume
    re-INVITEs and its UPDATE (RFC 3311) went across the bridge and came back answered."""
    callee = env.port()
    uas = env.uas("uas", callee, "--call-timeout", "1")
    port = env.port()
    b2b = env.b2bua("b2bua", port, "--target", "sip:bob@127.0.0.1:%d" % callee)
    rc, out = env.uac("uac", "--reinvite", "--update", "--hold", "10000", "-v", "--timeout", "20",
                      "sip:bob@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "call 0 completed: BYE from the peer" in out.splitlines(), out
    assert "calls: 1 completed, 0 failed" in out.splitlines(), out
    assert re.search(r"^call 0: re-INVITE \(hold\) 200$", out, re.M), out
    assert re.search(r"^call 0: re-INVITE \(resume\) 200$", out, re.M), out
    assert re.search(r"^call 0: UPDATE 200$", out, re.M), out
    blog = env.stop_clean(b2b)
    assert counters(blog, "calls") == "calls 1 answered 1 forwarded 0 failed 0 ended 1", blog
    assert re.search(r"^call 1: UPDATE relayed to leg B$", blog, re.M), blog
    assert re.search(r"^call 1: BYE relayed to leg A$", blog, re.M), blog
    ulog = env.stop_clean(uas)
    assert counters(ulog, "calls") == ("calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 0 "
                                       "no-ack 0 reinvites 3 failed 0 active 0 expired 1"), ulog


def test_reliable_provisionals_on_both_legs(env):
    """100rel is hop by hop across the bridge (RFC 3262 §3: PRACK is end to end between the UAs
    of a dialog, and each leg is its own dialog): sip-uac --prack requires it of the b2bua,
    sip-uas --rel100 supported sends its 180 reliably to the b2bua's leg; each side PRACKs its
    own provisional and the call completes."""
    callee = env.port()
    uas = env.uas("uas", callee, "--rel100", "supported", "--ring", "200")
    port = env.port()
    b2b = env.b2bua("b2bua", port, "--target", "sip:bob@127.0.0.1:%d" % callee)
    rc, out = env.uac("uac", "--calls", "2", "--rate", "10", "--prack", "--hold", "100",
                      "--trace", "--timeout", "20", "sip:bob@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "calls: 2 completed, 0 failed" in out.splitlines(), out
    # The b2bua relayed each 180 reliably (its own RSeq), and sip-uac PRACKed it in the A leg.
    assert len(re.findall(r"^PRACK sip:b2bua@127\.0\.0\.1:%d" % port, out, re.M)) >= 2, out
    assert len(re.findall(r"^RAck: \d+ 1 INVITE$", out, re.M)) >= 2, out
    blog = env.stop_clean(b2b)
    assert counters(blog, "calls") == "calls 2 answered 2 forwarded 0 failed 0 ended 2", blog
    ulog = env.stop_clean(uas)
    # The b2bua's leg PRACKed each reliable 180 of sip-uas.
    assert len(re.findall(r"^PRACK from udp:", ulog, re.M)) == 2, ulog
    assert counters(ulog, "calls").startswith("calls 2 answered 2 rejected 0 cancelled 0 "
                                              "acked 2 byes 2 "), ulog


def test_b2bua_hangs_up_its_calls_at_exit(env):
    """SIGTERM during a call: the b2bua ends both legs with BYE (its bridges end, nothing is
    left behind, which an ASan build checks) and exits 0; the caller counts the call completed
    by the peer's BYE, the callee a BYE."""
    callee = env.port()
    uas = env.uas("uas", callee)
    port = env.port()
    b2b = env.b2bua("b2bua", port, "--target", "sip:bob@127.0.0.1:%d" % callee)
    uac = Proc(env, "uac", [tool("SIP_UAC"), "--hold", "10000", "--timeout", "20", "-v",
                            "sip:bob@127.0.0.1:%d" % port])
    b2b.wait_for(r"^call 1: answered$")
    uas.wait_for(r"^ACK from ")
    # The caller's ACK crosses loopback at once; the BYE should find the call confirmed (RFC 3261
    # §15 holds a BYE back until the ACK otherwise, which would make the exit slower only).
    time.sleep(0.3)
    blog = env.stop_clean(b2b)
    assert counters(blog, "calls") == "calls 1 answered 1 forwarded 0 failed 0 ended 1", blog
    assert uac.wait(20) == 0, uac.log()
    assert "call 0 completed: BYE from the peer" in uac.log().splitlines(), uac.log()
    ulog = env.stop_clean(uas)
    assert counters(ulog, "calls").startswith("calls 1 answered 1 rejected 0 cancelled 0 acked 1 "
                                              "byes 1 "), ulog
