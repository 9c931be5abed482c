# SPDX-License-Identifier: MIT
"""Shared pieces of sipd's interop tests: sipd, libsip's programs, SIPp, sipsak and Kamailio
started as processes on 127.0.0.1 (tests/interop/harness.py: each stopped by the test with
SIGTERM, then SIGKILL after a bounded wait), and every log printed when a test fails.

The programs come from the environment ctest sets (tests/interop_sipd.cmake): SIPD, SIP_UAS,
SIP_UAC; SIPD_PORT is where this test file's 300 ports start, so that files run in parallel
(ctest -j2) never probe the same range."""
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
from harness import (SANITIZER, Proc, bound, pytest_runtest_makereport,  # noqa: E402,F401
                     tool)

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "sipp"
DOMAIN = "sipd.test"
USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


# Where the next test of this file starts in the file's range: a test does not take the ports
# the test before it used, so that a late retransmission of that test never reaches this one.
_cursor = [0]


class Env(harness.Env):
    scenarios = SCENARIOS

    def __init__(self, work, base):
        super().__init__(work, base)
        self.next_port = base + _cursor[0]

    def port(self, tcp=True):
        """The next port of this file's 300 free for UDP (and TCP) on 127.0.0.1, wrapping."""
        for i in range(300):
            p = self.base + (self.next_port - self.base + i) % 300
            if not bound(p) and not (tcp and bound(p, socket.SOCK_STREAM)):
                self.next_port = p + 1
                return p
        pytest.fail("no free port in %d-%d" % (self.base, self.base + 299))

    # ---- sipd -------------------------------------------------------------------------------

    def passwd(self, path, users=USERS, realm=DOMAIN):
        """Writes a users file with `sipd passwd` (the password on standard input)."""
        for user, pw in users.items():
            r = subprocess.run([tool("SIPD"), "passwd", str(path), user, "--realm", realm],
                               input=(pw + "\n").encode(), capture_output=True, timeout=20)
            assert r.returncode == 0, r.stderr.decode(errors="replace")
        return path

    def sipd(self, name="sipd", *args, listen=None, users=True, domain=DOMAIN, verbose=True):
        """sipd -v on UDP+TCP (or the listening points given), with the users of USERS unless
        users is False; started once it printed every listening point. Returns the Proc with
        .port (the first listening port)."""
        argv = [tool("SIPD")] + (["-v"] if verbose else [])
        if domain:
            argv += ["--domain", domain]
        if listen is None:
            port = self.port()
            listen = ["udp:127.0.0.1:%d" % port, "tcp:127.0.0.1:%d" % port]
        for spec in listen:
            argv += ["--listen", spec]
        if users:
            f = self.work / "users"
            if not f.exists():
                self.passwd(f)
            argv += ["--users", str(f)]
        p = Proc(self, name, argv + list(args))
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if len(re.findall(r"^listening on ", p.log(), re.M)) == len(listen) and \
                    re.search(r"^domain ", p.log(), re.M):
                break
            if p.p.poll() is not None:
                pytest.fail("%s exited %s at start:\n%s" % (name, p.p.poll(), p.log()))
            time.sleep(0.05)
        else:
            pytest.fail("%s did not start:\n%s" % (name, p.log()))
        p.port = int(listen[0].rsplit(":", 1)[1])
        p.listen = listen
        return p

    # ---- libsip's programs ------------------------------------------------------------------

    def uas(self, name, port, *args, transport="udp", host="127.0.0.1"):
        """sip-uas -v on port, started once it says it listens."""
        p = Proc(self, name, [tool("SIP_UAS"), "--listen", "%s:%s:%d" % (transport, host, port),
                              "-v", *args])
        p.wait_for(r"^listening on ")
        return p

    def uac(self, name, *args, timeout=60.0):
        """sip-uac run to its end: (exit status, output)."""
        p = Proc(self, name, [tool("SIP_UAC"), *args])
        rc = p.wait(timeout)
        return rc, p.log()

    def register(self, name, sipd, user, contact=None, expires=3600, password=None):
        """sip-uac --register sip:USER@DOMAIN at sipd (digest as user); asserts the 200."""
        args = ["--register", "sip:%s@%s" % (user, DOMAIN), "--expires", str(expires),
                "--user", user, "--password", password or USERS[user], "--timeout", "20"]
        if contact:
            args += ["--contact", contact]
        rc, out = self.uac(name, *args, "sip:127.0.0.1:%d" % sipd.port)
        assert rc == 0, out
        assert re.search(r"^REGISTER: 200 ", out, re.M), out
        return out


@pytest.fixture
def env(tmp_path, request):
    base = int(os.environ.get("SIPD_PORT", "35700"))
    e = Env(tmp_path, base)
    yield e
    _cursor[0] = (e.next_port - base) % 300
    e.close(failed=harness.failed(request))
