# SPDX-License-Identifier: MIT
"""What the DNS SRV tests share: a dnsmasq serving a test domain's SRV and address records on
127.0.0.1 (--no-resolv --no-hosts, nothing else answered), sipd nodes on loopback addresses,
and a Python script of libsip UAs run as a process (tests/interop/harness.py: every process is
stopped by the test, SIGTERM then SIGKILL, and every log printed when a test fails).

The programs come from the environment ctest sets (tests/interop_dns.cmake): SIPD, DNSMASQ;
SIPD_PORT is where this file's 300 ports start."""
import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
from harness import Proc, pytest_runtest_makereport, tool  # noqa: E402,F401

DOMAIN = "dns.test"


def dns_answers(port):
    """True when a DNS server answers on 127.0.0.1:port (a query for "." type A)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
                 ("127.0.0.1", port))
        try:
            s.recvfrom(512)
            return True
        except OSError:
            return False


class Env(harness.Env):
    def dnsmasq(self, records):
        """dnsmasq in the foreground on a port of this file's range serving only records
        (srv-host=..., host-record=... without the dashes); returns the port."""
        port = self.port()
        user = ["--user=root"] if os.geteuid() == 0 else []
        argv = [tool("DNSMASQ"), "--keep-in-foreground", "--no-daemon", "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                "--no-hosts", "--conf-file=/dev/null", "--pid-file=", "--log-facility=-",
                # Names under .test are answered here only (NXDOMAIN for the others).
                "--local=/test/", *user] + ["--" + r for r in records]
        p = Proc(self, "dnsmasq", argv)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if dns_answers(port):
                return port
            if not p.running():
                break
            time.sleep(0.05)
        pytest.fail("dnsmasq did not start:\n%s" % p.log())

    def sipd(self, name, host, port, domain=DOMAIN):
        """sipd -v for domain on UDP and TCP at host:port (no users: registrations are not
        authenticated), started once it printed both listening points."""
        listen = ["udp:%s:%d" % (host, port), "tcp:%s:%d" % (host, port)]
        argv = [tool("SIPD"), "-v", "--domain", domain]
        for spec in listen:
            argv += ["--listen", spec]
        p = Proc(self, name, argv)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if len(re.findall(r"^listening on ", p.log(), re.M)) == 2 and \
                    re.search(r"^domain ", p.log(), re.M):
                break
            if not p.running():
                pytest.fail("%s exited %s at start:\n%s" % (name, p.p.poll(), p.log()))
            time.sleep(0.05)
        else:
            pytest.fail("%s did not start:\n%s" % (name, p.log()))
        p.host, p.port = host, port
        return p

    def script(self, name, text, timeout=120):
        """Runs a Python script of libsip UAs to its end; asserts exit 0; returns its output."""
        path = self.work / (name + ".py")
        path.write_text(text)
        penv = dict(os.environ)
        if os.environ.get("SIPD_PY_PRELOAD"):
            # A sanitizer build: its runtime first, and CPython's own allocations not reported.
            penv["LD_PRELOAD"] = os.environ["SIPD_PY_PRELOAD"]
            penv["ASAN_OPTIONS"] = "detect_leaks=0"
        p = Proc(self, name, [sys.executable, str(path)], penv=penv)
        rc = p.wait(timeout)
        out = p.log()
        assert rc == 0, out[-6000:]
        assert not harness.SANITIZER.search(out), out[-6000:]
        return out


@pytest.fixture
def env(tmp_path, request):
    e = Env(tmp_path, int(os.environ.get("SIPD_PORT", "51700")))
    yield e
    e.close(failed=harness.failed(request))
