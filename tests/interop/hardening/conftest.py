# SPDX-License-Identifier: MIT
"""Shared pieces of the hardening tests: sipd run from a configuration file (sipd -c) with a
users file and limits, the attackers (sipvicious's svmap, svwar and svcrack, scripted floods,
idle connections) and the legitimate users (libsip's sip-uac and sip-uas) on loopback
addresses of their own (127.0.0.1 attacks, 127.0.0.2 and 127.0.0.3 are the users), through
tests/interop/harness.py.

The programs come from the environment ctest sets (tests/interop_hardening.cmake): SIPD,
SIP_UAS, SIP_UAC; HARDENING_PORT is where this test file's 200 ports start (the guard's range
is 44500-45499)."""
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
from harness import Proc, pytest_runtest_makereport, tool  # noqa: E402,F401

DOMAIN = "hardening.test"
USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
ATTACKER = "127.0.0.1"


class Env(harness.Env):
    def port(self, tcp=True):
        """The next free port of this file's 200, wrapping."""
        for i in range(200):
            p = self.base + (self.next_port - self.base + i) % 200
            if not harness.bound(p) and not (tcp and harness.bound(p, socket.SOCK_STREAM)):
                self.next_port = p + 1
                return p
        pytest.fail("no free port in %d-%d" % (self.base, self.base + 199))

    def users_file(self):
        """The users of USERS in DOMAIN's realm, written by `sipd passwd`."""
        f = self.work / "users"
        if not f.exists():
            for user, pw in USERS.items():
                r = subprocess.run([tool("SIPD"), "passwd", str(f), user, "--realm", DOMAIN],
                                   input=(pw + "\n").encode(), capture_output=True, timeout=20)
                assert r.returncode == 0, r.stderr.decode(errors="replace")
        return f

    def sipd(self, limits, extra="", name="sipd", workers=1):
        """sipd -c with UDP and TCP on 127.0.0.1, the users file and these limits (a dict of
        limits.* keys); started once it printed every listening point. Returns the Proc with
        .port. One worker by default: the guard counts per worker process (docs/SIPD.md,
        Workers), and these tests count what one sipd blocks."""
        port = self.port()
        lines = ["listen:", '  - "udp:127.0.0.1:%d"' % port, '  - "tcp:127.0.0.1:%d"' % port,
                 "domains:", '  - "%s"' % DOMAIN, 'users: "%s"' % self.users_file(),
                 "limits:"]
        for k, v in limits.items():
            lines.append("  %s: %s" % (k, v))
        lines += ["workers: %d" % workers, "log:", "  level: notice", extra]
        cfg = self.work / ("%s.yaml" % name)
        cfg.write_text("\n".join(lines) + "\n")
        p = Proc(self, name, [tool("SIPD"), "-c", str(cfg)])
        harness.wait_until(lambda: len(re.findall(r"^listening on ", p.log(), re.M)) == 2 and
                           re.search(r"^domain ", p.log(), re.M) or not p.running(), 15,
                           "sipd start")
        if not p.running():
            pytest.fail("sipd exited at start:\n" + p.log())
        p.port = port
        return p

    def uas(self, name, user, src, sipd, *args, transport="udp"):
        """sip-uas for user on src, registered at sipd (digest); started once registered."""
        port = self.port()
        p = Proc(self, name, [tool("SIP_UAS"), "--listen", "%s:%s:%d" % (transport, src, port),
                              "-v", "--register", "sip:%s@%s" % (user, DOMAIN),
                              "--registrar", "sip:127.0.0.1:%d;transport=%s" % (sipd.port,
                                                                                 transport),
                              "--user", user, "--password", USERS[user], "--expires", "120",
                              *args])
        p.wait_for(r"registered|REGISTER: 200", timeout=15)
        return p

    def uac(self, name, *args, timeout=60.0):
        """sip-uac run to its end: (exit status, output)."""
        p = Proc(self, name, [tool("SIP_UAC"), *args])
        rc = p.wait(timeout)
        return rc, p.log()

    def register(self, name, sipd, user, src, transport="udp", password=None):
        """sip-uac --register from src; (exit status, output)."""
        return self.uac(name, "--register", "sip:%s@%s" % (user, DOMAIN), "--expires", "60",
                        "--user", user, "--password", password or USERS[user],
                        "--timeout", "15", "-l", "%s:%s:%d" % (transport, src, self.port()),
                        "sip:127.0.0.1:%d;transport=%s" % (sipd.port, transport))


def sip_request(method, user, src_ip, src_port, dst_port, n=1, extra=""):
    """A request as text: method to user@DOMAIN from src_ip:src_port."""
    uri = "sip:%s@%s" % (user, DOMAIN) if method != "OPTIONS" else "sip:127.0.0.1:%d" % dst_port
    return ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-h%08d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:%s@%s>;tag=h%d\r\n"
            "To: <sip:%s@%s>\r\n"
            "Call-ID: h%d@%s\r\n"
            "CSeq: 1 %s\r\n"
            "Contact: <sip:%s@%s:%d>\r\n"
            "%s"
            "Content-Length: 0\r\n\r\n" % (method, uri, src_ip, src_port, n, user, DOMAIN, n,
                                            user, DOMAIN, n, src_ip, method, user, src_ip,
                                            src_port, extra)).encode()


def ask(src_ip, src_port, dst_port, data, timeout=1.0):
    """Sends data from src_ip:src_port to sipd over UDP; the first response, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src_ip, src_port))
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", dst_port))
        try:
            return s.recv(65536)
        except socket.timeout:
            return None
    finally:
        s.close()


@pytest.fixture
def env(tmp_path, request):
    for prog in ("sipp", "svmap", "svwar", "svcrack"):
        if not shutil.which(prog):
            pytest.fail("%s is not installed (scripts/deps.sh)" % prog)
    base = int(os.environ.get("HARDENING_PORT", "44500"))
    e = Env(tmp_path, base)
    yield e
    e.close(failed=harness.failed(request))

