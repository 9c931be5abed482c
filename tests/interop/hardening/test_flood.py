# SPDX-License-Identifier: MIT
"""A scripted UDP flood from 127.0.0.1 (thousands of REGISTER, INVITE and OPTIONS a second for
a few seconds) while legitimate users on 127.0.0.2 and 127.0.0.3 keep registering and placing
calls through sipd: the flooding source is blocked (limits.rate, one warning line), every call
of the legitimate users completes and every registration succeeds."""
import re
import socket
import threading
import time

from conftest import ATTACKER, sip_request, tool

FLOOD_SECONDS = 3.0
FLOOD_RATE = 4000  # datagrams a second
CALLS = 20


def flood(port, src_port, stop, sent):
    """REGISTER, INVITE and OPTIONS for ever new users and Call-IDs at FLOOD_RATE a second,
    until stop is set or FLOOD_SECONDS passed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ATTACKER, src_port))
    s.setblocking(False)
    methods = ("REGISTER", "INVITE", "OPTIONS")
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        elapsed = time.monotonic() - start
        if elapsed >= FLOOD_SECONDS:
            break
        # Keep to the rate: send what is due, then sleep a little.
        due = int(elapsed * FLOOD_RATE)
        while n < due:
            data = sip_request(methods[n % 3], "user%d" % (n % 5000), ATTACKER, src_port, port,
                               n=n)
            try:
                s.sendto(data, ("127.0.0.1", port))
            except BlockingIOError:
                pass
            n += 1
        time.sleep(0.002)
    sent.append(n)
    s.close()


def test_calls_complete_during_a_flood(env):
    sipd = env.sipd({"rate": 150, "rate_window": 2, "rate_block": 30, "auth_failures": 10})
    # bob answers on 127.0.0.3, registered before the flood.
    bob = env.uas("bob", "bob", "127.0.0.3", sipd)
    stop, sent = threading.Event(), []
    t = threading.Thread(target=flood, args=(sipd.port, env.port(), stop, sent))
    t.start()
    try:
        time.sleep(0.3)
        # During the flood: alice registers from 127.0.0.2 and calls bob, CALLS calls.
        rc, out = env.register("alice-register-1", sipd, "alice", "127.0.0.2")
        assert rc == 0 and re.search(r"^REGISTER: 200 ", out, re.M), out
        caller = env.proc("alice-calls", [
            tool("SIP_UAC"), "-n", str(CALLS), "-r", "10", "--timeout", "30",
            "-l", "udp:127.0.0.2:%d" % env.port(), "sip:bob@127.0.0.1:%d" % sipd.port])
        rc2, out2 = env.register("alice-register-2", sipd, "alice", "127.0.0.2")
        assert rc2 == 0 and re.search(r"^REGISTER: 200 ", out2, re.M), out2
        rc = caller.wait(60)
        out = caller.log()
        assert rc == 0, out
        assert re.search(r"^calls: %d completed, 0 failed" % CALLS, out, re.M), out
    finally:
        stop.set()
        t.join(10)
    assert sent and sent[0] >= FLOOD_RATE, "the flood sent %s" % sent
    log = sipd.log()
    # The flooder was blocked, with one warning line; the users never were.
    assert re.search(r"blocked 127\.0\.0\.1 for 30 s: \d+ requests in 2 s", log), log
    assert len(re.findall(r"^sipd warn guard: blocked ", log, re.M)) == 1, log
    assert not re.search(r"blocked 127\.0\.0\.[23]", log), log
    # After the flood: alice still registers and calls.
    rc, out = env.register("alice-register-3", sipd, "alice", "127.0.0.2")
    assert rc == 0 and re.search(r"^REGISTER: 200 ", out, re.M), out
    env.stop_clean(bob)
    env.stop_clean(sipd)

