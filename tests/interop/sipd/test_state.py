# SPDX-License-Identifier: MIT
"""sipd --state DIR keeps the bindings across restarts: registrations made, sipd stopped with
SIGTERM and started again, and calls reach the registered users; and a burst of digest
registrations with SIGKILL in the middle: after the restart every registration that got a 200
is still bound (the 200 goes out only once the binding is committed to DIR/location.sqlite).
The burst is driven over one UDP socket here, so that which REGISTER got a 200 is known
exactly; after the restart sipd --redirect answers each AOR with 302 and its contacts."""
import hashlib
import re
import socket
import time

from conftest import DOMAIN

BURST = 400


def test_bindings_survive_a_clean_restart(env):
    state = env.work / "state"
    d = env.sipd("sipd-1", "--state", str(state))
    bob_port = env.port()
    env.register("reg-bob", d, "bob", contact="<sip:bob@127.0.0.1:%d>" % bob_port)
    env.register("reg-alice", d, "alice", contact="<sip:alice@127.0.0.1:9>", expires=600)
    env.stop_clean(d)
    assert (state / "location.sqlite").exists()
    # The same listening points and the same state: both bindings are back.
    d = env.sipd("sipd-2", "--state", str(state), listen=d.listen)
    assert re.search(r"; 2 bindings; ", d.log()), d.log()
    uas = env.uas("uas-bob", bob_port)
    rc, out = env.uac("uac", "--calls", "2", "--timeout", "30", "sip:bob@127.0.0.1:%d" % d.port)
    assert rc == 0, out
    assert "calls: 2 completed, 0 failed" in out.splitlines(), out
    env.stop_clean(uas)
    env.stop_clean(d)
    # Without --state nothing is kept: a fresh sipd has no binding.
    d = env.sipd("sipd-3", listen=d.listen)
    assert re.search(r"; 0 bindings; ", d.log()), d.log()
    env.stop_clean(d)


# ---- the burst ----------------------------------------------------------------------------------

def users_file(path, n):
    """n users (u0..) with the HA1 lines `sipd passwd` writes (user:realm:algorithm:ha1)."""
    lines = []
    for i in range(n):
        u, pw = "u%d" % i, "pw%d" % i
        for alg, h in (("MD5", hashlib.md5), ("SHA-256", hashlib.sha256)):
            lines.append("%s:%s:%s:%s" % (u, DOMAIN, alg,
                                          h(("%s:%s:%s" % (u, DOMAIN, pw)).encode()).hexdigest()))
    path.write_text("\n".join(lines) + "\n")
    return path


def register_msg(i, port, cseq, auth=None):
    u = "u%d" % i
    lines = ["REGISTER sip:%s SIP/2.0" % DOMAIN,
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-burst-%d-%d;rport" % (port, i, cseq),
             "Max-Forwards: 70",
             "From: <sip:%s@%s>;tag=t%d" % (u, DOMAIN, i),
             "To: <sip:%s@%s>" % (u, DOMAIN),
             "Call-ID: burst-%d@127.0.0.1" % i,
             "CSeq: %d REGISTER" % cseq,
             "Contact: <sip:%s@127.0.0.1:9>" % u,
             "Expires: 3600"]
    if auth:
        lines.append(auth)
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def digest(i, challenge):
    m = [l for l in re.findall(rb"^WWW-Authenticate:[ \t]*(.*?)\r$", challenge, re.M | re.I)
         if b"MD5" in l or b"algorithm" not in l][0].decode()
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', m))
    u, pw = "u%d" % i, "pw%d" % i
    ha1 = hashlib.md5(("%s:%s:%s" % (u, p["realm"], pw)).encode()).hexdigest()
    ha2 = hashlib.md5(("REGISTER:sip:%s" % DOMAIN).encode()).hexdigest()
    r = hashlib.md5(("%s:%s:00000001:c%d:auth:%s" % (ha1, p["nonce"], i, ha2)).encode())
    a = ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="sip:%s", '
         'response="%s", algorithm=MD5, cnonce="c%d", qop=auth, nc=00000001' %
         (u, p["realm"], p["nonce"], DOMAIN, r.hexdigest(), i))
    if "opaque" in p:
        a += ', opaque="%s"' % p["opaque"]
    return a


def index_of(data):
    m = re.search(rb"^Call-ID:[ \t]*burst-(\d+)@", data, re.M | re.I)
    return int(m.group(1)) if m else None


def test_sigkill_in_a_registration_burst_keeps_every_acknowledged_binding(env):
    state = env.work / "state"
    users = users_file(env.work / "burst-users", BURST)
    d = env.sipd("sipd-1", "--state", str(state), "--users", str(users), users=False,
                 verbose=False, listen=["udp:127.0.0.1:%d" % env.port()])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(("127.0.0.1", env.port(tcp=False)))
    port = s.getsockname()[1]
    dst = ("127.0.0.1", d.port)
    acked, sent = set(), 0
    killed = False
    kill_time = 0.0
    start = time.monotonic()
    try:
        s.setblocking(False)
        # About 1,000 REGISTERs a second (each user twice: challenged, then with credentials);
        # SIGKILL once a third of the users got their 200.
        while time.monotonic() - start < 30:
            now = time.monotonic()
            while sent < BURST and sent < (now - start) * 500:
                s.sendto(register_msg(sent, port, 1), dst)
                sent += 1
            try:
                data = s.recv(65535)
            except BlockingIOError:
                if killed and time.monotonic() - kill_time > 1.0:
                    break
                time.sleep(0.001)
                continue
            i = index_of(data)
            if i is None or killed and not data.startswith(b"SIP/2.0 200 "):
                continue
            if data.startswith(b"SIP/2.0 401 "):
                s.sendto(register_msg(i, port, 2, digest(i, data)), dst)
            elif data.startswith(b"SIP/2.0 200 "):
                acked.add(i)
            if not killed and len(acked) >= BURST // 3:
                d.p.kill()
                kill_time = time.monotonic()
                killed = True
    finally:
        s.close()
    assert killed, "the burst ended before a third of it was acknowledged (%d)" % len(acked)
    d.wait(10)
    assert d.rc == -9, d.rc
    assert 0 < len(acked) < BURST, len(acked)
    print("burst: %d of %d REGISTERs sent, %d acknowledged when sipd was killed" %
          (sent, BURST, len(acked)))
    # Restarted on the same state, redirecting: every acknowledged AOR answers 302 with its
    # contact.
    d = env.sipd("sipd-2", "--state", str(state), "--users", str(users), "--redirect",
                 users=False, verbose=False, listen=d.listen)
    n = int(re.search(r"; (\d+) bindings; ", d.log()).group(1))
    assert n >= len(acked), (n, len(acked))
    print("restart: %d bindings loaded" % n)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", env.port(tcp=False)))
    port = s.getsockname()[1]
    s.settimeout(5)
    missing = []
    try:
        for i in sorted(acked):
            msg = ("OPTIONS sip:u%d@%s SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-check-%d;rport\r\n"
                   "Max-Forwards: 70\r\nFrom: <sip:check@%s>;tag=c%d\r\n"
                   "To: <sip:u%d@%s>\r\nCall-ID: burst-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
                   "Content-Length: 0\r\n\r\n" % (i, DOMAIN, port, i, DOMAIN, i, i, DOMAIN, i))
            s.sendto(msg.encode(), ("127.0.0.1", d.port))
            data = s.recv(65535)
            assert index_of(data) == i, data
            if not (data.startswith(b"SIP/2.0 302 ") and
                    ("<sip:u%d@127.0.0.1:9>" % i).encode() in data):
                missing.append((i, data.split(b"\r\n", 1)[0]))
    finally:
        s.close()
    assert not missing, "acknowledged but not bound after SIGKILL: %s" % missing[:10]
    env.stop_clean(d)
