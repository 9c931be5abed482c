# SPDX-License-Identifier: MIT
"""1,500 idle TCP connections from one host against sipd's connection cap (limits.max_connections,
1024 by default): they do not lock a new TCP client out (the idlest connection that never sent
a message makes room), a connection that did send one is never the one closed, and the log
gets a warning line per interval rather than one per connection."""
import re
import resource
import socket

from conftest import ATTACKER, DOMAIN

IDLE = 1500


def test_idle_connections_do_not_lock_clients_out(env):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    sipd = env.sipd({"max_connections": 1024, "rate": 0})
    # A client that registered over TCP first, and keeps its connection.
    used = socket.create_connection(("127.0.0.1", sipd.port), timeout=5)
    lport = used.getsockname()[1]
    used.sendall(("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n"
                  "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK-used1\r\n"
                  "Max-Forwards: 70\r\nFrom: <sip:carol@%s>;tag=u1\r\nTo: <sip:carol@%s>\r\n"
                  "Call-ID: used1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                  % (sipd.port, lport, DOMAIN, DOMAIN)).encode())
    assert used.recv(4096).startswith(b"SIP/2.0 200 ")
    idle = []
    try:
        for _ in range(IDLE):
            s = socket.socket()
            s.bind((ATTACKER, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", sipd.port))
            idle.append(s)
        # A new client over TCP from another address: registers.
        rc, out = env.register("alice-tcp", sipd, "alice", "127.0.0.2", transport="tcp")
        assert rc == 0 and re.search(r"^REGISTER: 200 ", out, re.M), out
        # The connection that had sent a message is still there and served.
        used.sendall(("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n"
                      "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK-used2\r\n"
                      "Max-Forwards: 70\r\nFrom: <sip:carol@%s>;tag=u1\r\nTo: <sip:carol@%s>\r\n"
                      "Call-ID: used2\r\nCSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                      % (sipd.port, lport, DOMAIN, DOMAIN)).encode())
        assert used.recv(4096).startswith(b"SIP/2.0 200 ")
        # Some of the idle ones were closed to make room; at most the cap is open.
        closed = 0
        for s in idle:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        assert closed >= IDLE - 1024 + 1, closed
    finally:
        for s in idle:
            s.close()
        used.close()
    log = env.stop_clean(sipd)
    # Hundreds of evictions, a warning line or two (one per 10 s at most).
    lines = re.findall(r"^sipd warn transport: connection cap \(1024\) reached", log, re.M)
    assert 1 <= len(lines) <= 3, log[-3000:]
