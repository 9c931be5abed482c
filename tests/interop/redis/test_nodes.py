# SPDX-License-Identifier: MIT
"""Two sipd nodes sharing one location service on Redis (sipd --store redis://HOST:PORT): a
user registered on node A is called through node B. Redis stopped: both nodes still route
calls from what they know, and a REGISTER is answered 503 with Retry-After (RFC 3261
§21.5.4); Redis started again, empty: registrations are taken again and no binding that was
acknowledged is lost (the nodes write back what they know)."""
import re
import socket
import time

from conftest import DOMAIN, harness, redis_cmd

_seq = [0]


def register(port, user, contact, expires=600):
    """One REGISTER over UDP to sipd on port (no digest: sipd runs without --users; no
    Contact when contact is None: a query of the bindings): the response's status and its
    text."""
    _seq[0] += 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        me = s.getsockname()[1]
        lines = [
            "REGISTER sip:%s SIP/2.0" % DOMAIN,
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-redis-%d;rport" % (me, _seq[0]),
            "Max-Forwards: 70",
            "From: <sip:%s@%s>;tag=r%d" % (user, DOMAIN, _seq[0]),
            "To: <sip:%s@%s>" % (user, DOMAIN),
            "Call-ID: redis-%s-%d@127.0.0.1" % (user, _seq[0]),
            "CSeq: 1 REGISTER",
            "Expires: %d" % expires]
        if contact:
            lines.append("Contact: %s" % contact)
        msg = "\r\n".join(lines + ["Content-Length: 0", "", ""]).encode()
        s.sendto(msg, ("127.0.0.1", port))
        end = time.monotonic() + 5
        while time.monotonic() < end:
            data = s.recv(65535).decode(errors="replace")
            m = re.match(r"SIP/2\.0 (\d{3}) ", data)
            if m and int(m.group(1)) >= 200:
                return int(m.group(1)), data
    raise AssertionError("no final response to the REGISTER")


def call(env, name, sipd, user):
    """One call from sip-uac through sipd to user: (exit status, output)."""
    return env.uac(name, "--calls", "1", "--timeout", "20",
                   "sip:%s@127.0.0.1:%d" % (user, sipd.port))


def keys(port):
    return sorted(redis_cmd(port, "KEYS", "libsip:loc:b:*"))


def test_a_user_registered_on_one_node_is_called_from_the_other(env):
    r = env.redis()
    url = "redis://127.0.0.1:%d" % r.port
    a = env.sipd("sipd-a", "--store", url, users=False)
    b = env.sipd("sipd-b", "--store", url, users=False)
    alice_port = env.port()
    uas = env.uas("uas-alice", alice_port)
    status, text = register(a.port, "alice", "<sip:alice@127.0.0.1:%d>" % alice_port)
    assert status == 200, text
    assert keys(r.port) == ["libsip:loc:b:sip:alice@%s c sip:alice@127.0.0.1:%d"
                            % (DOMAIN, alice_port)]
    ttl = redis_cmd(r.port, "TTL", keys(r.port)[0])
    assert 500 < ttl <= 600, ttl
    # B learnt it from the change A published: the call through B reaches alice.
    rc, out = call(env, "uac-b-1", b, "alice")
    assert rc == 0, out
    assert "calls: 1 completed, 0 failed" in out.splitlines(), out

    # Redis goes away: calls still route from what each node knows; a REGISTER gets 503
    # with Retry-After, and the refused refresh does not lose the binding.
    r.kill()
    harness.wait_until(lambda: register(a.port, "alice", "<sip:alice@127.0.0.1:%d>"
                                        % alice_port)[0] == 503, 10, "503 from node A")
    status, text = register(b.port, "bob", "<sip:bob@127.0.0.1:9>")
    assert status == 503, text
    assert re.search(r"^Retry-After: *\d+\r$", text, re.M), text
    rc, out = call(env, "uac-b-2", b, "alice")
    assert rc == 0, out
    rc, out = call(env, "uac-a-2", a, "alice")
    assert rc == 0, out
    a.wait_for(r"location: .*registrations are refused")

    # Redis comes back empty: both nodes reconnect, write back what they know, and take
    # registrations again; alice's acknowledged binding is in Redis again.
    r = env.redis("redis-2", port=r.port)
    harness.wait_until(lambda: register(b.port, "bob", "<sip:bob@127.0.0.1:9>")[0] == 200,
                       15, "200 from node B")
    harness.wait_until(lambda: len(keys(r.port)) == 2, 10, "both bindings in Redis")
    assert "libsip:loc:b:sip:alice@%s c sip:alice@127.0.0.1:%d" % (DOMAIN, alice_port) \
        in keys(r.port)
    rc, out = call(env, "uac-a-3", a, "alice")
    assert rc == 0, out
    # bob, registered on B after the return, is known on A.
    harness.wait_until(lambda: "<sip:bob@127.0.0.1:9>" in register(a.port, "bob", None)[1], 5,
                       "bob's binding listed by node A")
    env.stop_clean(uas)
    env.stop_clean(a)
    env.stop_clean(b)
