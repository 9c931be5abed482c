# SPDX-License-Identifier: MIT
"""Calls through a two-worker sipd: a user registered over TCP and one registered over UDP
(two UAs of the Python API) call each other several times both ways, so that requests,
responses and ACKs land on either worker while the TCP user's flow is held by one of them
(RFC 5626 flows, RFC 3261 §18.2.2); and SIPp through it with 10% packet loss on both sides, so
that retransmissions, CANCELs and ACKs reach a worker other than the one holding their
transaction."""
import os
import re
import sys

import pytest

from conftest import DOMAIN, USERS, harness

CALLS = 40


def python(env, name, text, timeout=90):
    """Runs a Python program with the libsip package; returns its output once it exited 0."""
    script = env.work / (name + ".py")
    script.write_text(text)
    penv = dict(os.environ)
    if os.environ.get("SIPD_PY_PRELOAD"):
        # A sanitizer build: its runtime first, and CPython's own allocations not reported.
        penv["LD_PRELOAD"] = os.environ["SIPD_PY_PRELOAD"]
        penv["ASAN_OPTIONS"] = "detect_leaks=0"
    p = harness.Proc(env, name, [sys.executable, str(script)], penv=penv)
    assert p.wait(timeout) == 0, p.log()
    return p.log()


@pytest.mark.parametrize("digest", [False, True], ids=["open", "digest"])
def test_tcp_user_and_udp_user_call_each_other(env, digest):
    d = env.sipd_workers("sipd", users=digest)
    out = python(env, "pair", PAIR % {"port": d.port, "domain": DOMAIN, "alice": USERS["alice"],
                                      "bob": USERS["bob"], "rounds": 4})
    lines = out.splitlines()
    assert "OK" in lines, out
    assert lines.count("bob answered alice over udp") == 4, out
    assert lines.count("alice answered bob over tcp") == 4, out
    log = env.stop_clean(d)
    assert re.search(r"^stopped on signal 15; \d+ bindings$", log, re.M), log


def lossy_ok(p, calls, least):
    """SIPp p ran its calls and at least least of them succeeded; returns how many did."""
    rc = p.rc if p.rc is not None else p.wait(120)
    log = p.log()
    m = re.search(r"Successful call +\| +\d+ +\| +(\d+)", log)
    assert rc in (0, 1) and m, "SIPp %s exited %d:\n%s" % (p.name, rc, log[-3000:])
    assert int(m.group(1)) >= least, "SIPp %s: %s of %d calls" % (p.name, m.group(1), calls)
    return int(m.group(1))


def invite_branches(text):
    """{Call-ID: the set of top Via branches} of the INVITEs in a SIPp message log."""
    out = {}
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip().splitlines()
        start = next((i for i, l in enumerate(lines) if l.startswith("INVITE ")), None)
        if start is None:
            continue
        via = next((l for l in lines[start:] if re.match(r"(?i)^(via|v):", l)), "")
        cid = next((l for l in lines[start:] if re.match(r"(?i)^(call-id|i):", l)), "")
        m = re.search(r"branch=([^;,\s]+)", via)
        if m and cid:
            out.setdefault(cid.split(":", 1)[1].strip(), set()).add(m.group(1))
    return out


def test_sipp_with_loss_through_two_workers(env):
    d = env.sipd_workers("sipd")
    uport = env.port()
    uas = env.sipp_server("uas", "uas.xml", uport, "-lost", "10", calls=CALLS, timeout=120)
    env.register("reg", d, "bob", contact="<sip:bob@127.0.0.1:%d>" % uport)
    uac = env.sipp_client("uac", "uac.xml", d.port, "-s", "bob", "-lost", "10",
                          "-max_retrans", "10", calls=CALLS, rate=20, timeout=120)
    # As through one sipd (tests/interop/sipd/test_sipp.py), through 10% loss a few calls end
    # in SIPp's own scenario limits, and sipd answers none with an error: at most three of
    # forty. Every request of a call goes by the worker owning its Call-ID, so the ACK and the
    # BYE after it leave in the order they came.
    lossy_ok(uac, CALLS, CALLS - 3)
    lossy_ok(uas, CALLS, CALLS - 3)
    assert not re.search(r"^SIP/2\.0 5\d\d ", env.messages(uac), re.M), env.messages(uac)
    # One INVITE downstream per call: a retransmission that reached the other worker went to
    # the transaction's owner (its branch unchanged), never on as a new transaction.
    branches = invite_branches(env.messages(uas))
    assert branches, env.messages(uas)[-3000:]
    assert all(len(b) == 1 for b in branches.values()), branches
    env.stop_clean(d)


PAIR = r'''
import asyncio, libsip
PORT = %(port)d

async def main():
    loop = libsip.Loop()
    a = libsip.Stack(["tcp:127.0.0.1:0"], loop=loop, transactions=True)
    b = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True)
    server = asyncio.ensure_future(loop.serve())
    with libsip.UA(a) as alice, libsip.UA(b) as bob:
        ra = await alice.register("sip:alice@%(domain)s", password="%(alice)s",
                                  registrar="sip:127.0.0.1:%%d;transport=tcp" %% PORT,
                                  expires=120)
        rb = await bob.register("sip:bob@%(domain)s", password="%(bob)s",
                                registrar="sip:127.0.0.1:%%d" %% PORT, expires=120)
        assert ra.expires == 120 and rb.expires == 120, (ra.expires, rb.expires)
        legs = ((alice, bob, "bob", "alice", "udp", "sip:bob@127.0.0.1:%%d;transport=tcp"),
                (bob, alice, "alice", "bob", "tcp", "sip:alice@127.0.0.1:%%d"))
        for _ in range(%(rounds)d):
            for caller, callee, name, cname, over, target in legs:
                answered = asyncio.get_running_loop().create_future()

                @callee.on_invite
                async def incoming(call):
                    await call.answer(sdp=SDP)
                    if not answered.done():
                        answered.set_result(call)

                call = caller.invite(target %% PORT, sdp=SDP)
                await asyncio.wait_for(call.answered(), 10)
                await asyncio.wait_for(answered, 10)
                await call.hangup()
                await asyncio.wait_for(call.ended(), 10)
                print("%%s answered %%s over %%s" %% (name, cname, over), flush=True)
        await asyncio.wait_for(ra.unregister(), 10)
        await asyncio.wait_for(rb.unregister(), 10)
        print("OK", flush=True)
    a.close(); b.close(); loop.stop()
    await asyncio.wait_for(server, 5)
    loop.close()

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
asyncio.run(main())
'''
