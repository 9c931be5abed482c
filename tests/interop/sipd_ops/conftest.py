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
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SANITIZER = re.compile(r"runtime error|Sanitizer")
DOMAIN = "ops.test"
USERS = {"alice": "alice-secret", "bob": "bob-secret"}


def tool(name):
    path = os.environ.get(name)
    if not path:
        pytest.fail("%s is not set: run this test through ctest" % name)
    return path


def bound(port, kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def run(*args, stdin=b"", timeout=20):
    """sipd run to its end: (exit status, stdout, stderr)."""
    r = subprocess.run([tool("SIPD"), *args], input=stdin, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


class Proc:
    """A process with its output in work/<name>.log."""

    def __init__(self, env, name, argv):
        self.env, self.name = env, name
        self.path = env.work / (name + ".log")
        self.out = open(self.path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=env.work)
        self.rc = None
        env.procs.append(self)

    def log(self):
        if not self.out.closed:
            self.out.flush()
        return self.path.read_text(errors="replace")

    def wait_for(self, pattern, timeout=10.0, count=1):
        """Waits until pattern (a regexp, multiline) matches count times in the log."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = list(re.finditer(pattern, self.log(), re.M))
            if len(found) >= count:
                return found[count - 1]
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail("%s: no '%s' (x%d) within %.1f s (exit %s):\n%s" %
                    (self.name, pattern, count, timeout, self.p.poll(), self.log()[-3000:]))

    def signal(self, sig):
        self.p.send_signal(sig)

    def wait(self, timeout=15.0):
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("%s did not exit within %.0f s" % (self.name, timeout))
        self.out.close()
        return self.rc

    def kill(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        if not self.out.closed:
            self.out.close()


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


class Env:
    def __init__(self, work, base):
        self.work = work
        self.base = base
        self.next_port = base + _cursor[0]
        self.procs = []
        self.uas = []

    def port(self, tcp=True):
        """The next port of this file's 200 free for UDP (and TCP) on 127.0.0.1, wrapping."""
        for i in range(200):
            p = self.base + (self.next_port - self.base + i) % 200
            if not bound(p) and not (tcp and bound(p, socket.SOCK_STREAM)):
                self.next_port = p + 1
                return p
        pytest.fail("no free port in %d-%d" % (self.base, self.base + 199))

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

    def stop_clean(self, p, timeout=15.0):
        if p.p.poll() is None:
            p.signal(signal.SIGTERM)
        rc = p.wait(timeout)
        log = p.log()
        assert rc == 0, "%s exited %d after SIGTERM:\n%s" % (p.name, rc, log[-3000:])
        assert not SANITIZER.search(log), "%s: sanitizer report" % p.name
        return log

    # ---- SIPp -------------------------------------------------------------------------------

    def sipp(self, name, scenario, port, *args, timeout=60, wait_bound=False):
        argv = [shutil.which("sipp") or "sipp", "-sf", str(HERE / "sipp" / scenario),
                "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-timeout", "%ds" % timeout,
                "-trace_err", "-error_file", str(self.work / ("sipp-%s.errors.log" % name)),
                *args]
        p = Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])
        if wait_bound:
            end = time.monotonic() + 10
            while not bound(port):
                if time.monotonic() > end or p.p.poll() is not None:
                    pytest.fail("SIPp %s did not start:\n%s" % (name, p.log()))
                time.sleep(0.05)
        return p

    def sipp_ok(self, p, calls, timeout=60):
        rc = p.rc if p.rc is not None else p.wait(timeout)
        log = p.log()
        assert rc == 0, "SIPp %s exited %d:\n%s" % (p.name, rc, log[-3000:])
        m = re.search(r"Successful call +\| +\d+ +\| +(\d+)", log)
        assert m and int(m.group(1)) == calls, "SIPp %s: not %d successful calls" % (p.name,
                                                                                    calls)
        return log

    def close(self, failed):
        for p in self.procs:
            p.kill()
        for u in self.uas:
            u.close()
        if failed:
            for f in sorted(self.work.iterdir()):
                if f.suffix == ".log":
                    lines = f.read_text(errors="replace").splitlines()
                    print("==== %s (last 200 lines) ====" % f.name)
                    print("\n".join(lines[-200:]))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def env(tmp_path, request):
    base = int(os.environ.get("SIPD_OPS_PORT", "43800"))
    e = Env(tmp_path, base)
    yield e
    _cursor[0] = (e.next_port - base) % 200
    rep = getattr(request.node, "rep_call", None)
    e.close(failed=rep is None or rep.failed)


def config(env, name, text):
    """Writes a configuration file into the test's directory."""
    f = env.work / name
    f.write_text(text)
    return f
