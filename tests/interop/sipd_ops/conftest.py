# SPDX-License-Identifier: MIT
"""Shared pieces of sipd's operations tests (configuration file, flags, SIGHUP, SIGTERM, the
store, the request log, the systemd unit): sipd and SIPp as processes on 127.0.0.1, and a small
UA over a UDP socket that sends requests, answers them and answers digest challenges, so that
a test sees every message.

The programs come from the environment ctest sets (tests/interop_sipd_ops.cmake): SIPD, SIPD_UNIT
and SIPD_OPS_PORT, where this file's 200 ports start (the range is 43000-43999)."""
import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
from harness import Proc, pytest_runtest_makereport, tool, wait_until  # noqa: E402,F401

HERE = Path(__file__).resolve().parent
DOMAIN = "ops.test"
USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def run(*args, stdin=b"", timeout=20):
    """sipd run to its end: (exit status, stdout, stderr)."""
    r = subprocess.run([tool("SIPD"), *args], input=stdin, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


# Where the next test of this file starts in the file's range: a test does not take the ports
# the test before it used.
_cursor = [0]


class UA:
    """A UA on a UDP socket of its own: requests with their responses, digest answered."""

    def __init__(self, env, user="carol"):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", env.port()))
        self.port = self.s.getsockname()[1]
        self.user = user
        self.n = 0

    def close(self):
        self.s.close()

    def send(self, text, port):
        self.s.sendto(text.replace("\n", "\r\n").encode(), ("127.0.0.1", port))

    def recv(self, timeout=5.0, want=None):
        """The next message (a str with CRLF turned to LF) matching want, or None."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                data, _ = self.s.recvfrom(65535)
            except socket.timeout:
                return None
            m = data.decode(errors="replace").replace("\r\n", "\n")
            if want is None or re.search(want, m, re.M):
                return m

    def request(self, method, ruri, port, to=None, call_id=None, cseq=1, extra="",
                contact=-1):
        """Sends a request (Contact at this UA; contact: another port, or None for none)."""
        self.n += 1
        branch = "z9hG4bK" + secrets.token_hex(8)
        call_id = call_id or "%s-%d-%s@ops" % (self.user, self.n, secrets.token_hex(4))
        msg = ("%s %s SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\n"
               "Max-Forwards: 70\nFrom: <sip:%s@%s>;tag=f%d\nTo: <%s>\nCall-ID: %s\n"
               "CSeq: %d %s\n%s%sContent-Length: 0\n\n" %
               (method, ruri, self.port, branch, self.user, DOMAIN, self.n, to or ruri,
                call_id, cseq, method,
                "" if contact is None else "Contact: <sip:%s@127.0.0.1:%d>\n" %
                (self.user, self.port if contact == -1 else contact), extra))
        self.send(msg, port)
        return call_id, branch

    def final(self, call_id, timeout=5.0):
        """The first final response of call_id (provisional ones skipped), or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(end - time.monotonic(), want=r"^Call-ID: %s$" % re.escape(call_id))
            if m is None:
                return None
            if re.match(r"SIP/2\.0 [2-6]\d\d ", m):
                return m
        return None

    def register(self, port, user, password, expires=3600, contact_port=None, fetch=False):
        """REGISTER sip:user@DOMAIN with Contact at this UA (or at contact_port; none for a
        fetch, RFC 3261 §10.2.3), answering a 401: the final."""
        aor = "sip:%s@%s" % (user, DOMAIN)
        old = self.user
        self.user = user
        extra = "Expires: %d\n" % expires
        contact = None if fetch else contact_port or self.port
        cid, _ = self.request("REGISTER", "sip:" + DOMAIN, port, to=aor, extra=extra,
                              contact=contact)
        rsp = self.final(cid)
        if rsp and rsp.startswith("SIP/2.0 401"):
            auth = digest(rsp, "REGISTER", "sip:" + DOMAIN, user, password)
            cid, _ = self.request("REGISTER", "sip:" + DOMAIN, port, to=aor, call_id=cid,
                                  cseq=2, extra=extra + "Authorization: %s\n" % auth,
                                  contact=contact)
            rsp = self.final(cid)
        self.user = old
        return rsp

    def answer(self, req, status, reason="OK", tag="callee", extra=""):
        """Answers a request this UA received, its Via, From, To, Call-ID, CSeq and
        Record-Route copied (RFC 3261 §8.2.6.2, §12.1.1)."""
        keep = [l for l in req.split("\n") if re.match(r"(Via|From|Call-ID|CSeq|Record-Route):",
                                                        l, re.I)]
        to = re.search(r"^To: (.*)$", req, re.M).group(1)
        if status > 100 and ";tag=" not in to:
            to += ";tag=" + tag
        msg = "SIP/2.0 %d %s\n%s\nTo: %s\nContact: <sip:%s@127.0.0.1:%d>\n%sContent-Length: 0\n\n" \
            % (status, reason, "\n".join(keep), to, self.user, self.port, extra)
        top = re.search(r"^Via: (.*)$", req, re.M).group(1)  # RFC 3261 §18.2.2: the top Via
        via = re.match(r"SIP/2\.0/UDP ([^;:]+):(\d+)", top)
        rport = re.search(r";rport=(\d+)", top)
        port = int(rport.group(1)) if rport else int(via.group(2))
        self.send(msg, port)


def digest(challenge, method, uri, user, password):
    """An Authorization (or Proxy-) value answering the MD5 challenge of a 401/407 (RFC 7616)."""
    hdrs = re.findall(r"^(?:WWW|Proxy)-Authenticate: Digest (.*)$", challenge, re.M)
    chal = None
    for h in hdrs:
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', h))
        if p.get("algorithm", "MD5").upper() == "MD5":
            chal = p
    assert chal, challenge
    realm, nonce = chal["realm"], chal["nonce"]
    cnonce, nc = secrets.token_hex(8), "00000001"

    def md5(s):
        return hashlib.md5(s.encode()).hexdigest()
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("%s:%s" % (method, uri))
    resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    v = ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
         'algorithm=MD5, qop=auth, nc=%s, cnonce="%s"' % (user, realm, nonce, uri, resp, nc,
                                                          cnonce))
    if "opaque" in chal:
        v += ', opaque="%s"' % chal["opaque"]
    return v


class Env(harness.Env):
    scenarios = HERE / "sipp"
    span = 200

    def __init__(self, work, base):
        super().__init__(work, base)
        self.next_port = base + _cursor[0]
        self.uas = []

    def ua(self, user="carol"):
        u = UA(self, user)
        self.uas.append(u)
        return u

    def passwd(self, path, users=USERS, realm=DOMAIN):
        for user, pw in users.items():
            rc, out, err = run("passwd", str(path), user, "--realm", realm,
                               stdin=(pw + "\n").encode())
            assert rc == 0, err
        return path

    def sipd(self, name, *args, lines=None):
        """sipd with args, started once it printed its domain line; lines: the number of
        listening points it prints first."""
        p = Proc(self, name, [tool("SIPD"), *args])
        p.wait_for(r"^domain ", timeout=15)
        return p

    # ---- SIPp -------------------------------------------------------------------------------

    def sipp(self, name, scenario, port, *args, timeout=60, wait_bound=False):
        """SIPp with scenario (of the sipp folder) on UDP port, run in the background; with
        wait_bound, returns once it holds the port."""
        argv = self.sipp_args(name, scenario, port, "-timeout", "%ds" % timeout, *args)
        p = Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])
        if wait_bound:
            wait_until(lambda: harness.udp_bound(port) or not p.running(), 10,
                       "SIPp %s holding port %d" % (name, port))
            if not p.running():
                pytest.fail("SIPp %s did not start:\n%s" % (name, p.log()))
        return p

    def close(self, failed):
        for u in self.uas:
            u.close()
        super().close(failed)


@pytest.fixture
def env(tmp_path, request):
    base = int(os.environ.get("SIPD_OPS_PORT", "43800"))
    e = Env(tmp_path, base)
    yield e
    _cursor[0] = (e.next_port - base) % 200
    e.close(failed=harness.failed(request))


def config(env, name, text):
    """Writes a configuration file into the test's directory."""
    f = env.work / name
    f.write_text(text)
    return f
