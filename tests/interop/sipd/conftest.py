# SPDX-License-Identifier: MIT
"""Shared pieces of sipd's interop tests: sipd, libsip's programs, SIPp, sipsak and Kamailio
started as processes on 127.0.0.1, each stopped by the test (SIGTERM, then SIGKILL after a
bounded wait), and every log printed when a test fails.

The programs come from the environment ctest sets (tests/interop_sipd.cmake): SIPD, SIP_UAS,
SIP_UAC; SIPD_PORT is where this test file's 300 ports start, so that files run in parallel
(ctest -j2) never probe the same range."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "sipp"
SANITIZER = re.compile(r"runtime error|Sanitizer")
DOMAIN = "sipd.test"
USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}


def tool(name):
    path = os.environ.get(name)
    if not path:
        pytest.fail("%s is not set: run this test through ctest" % name)
    return path


def bound(port, kind=socket.SOCK_DGRAM):
    """True once something holds port (UDP by default) on 127.0.0.1."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


class Proc:
    """A process with its output in work/<name>.log."""

    def __init__(self, env, name, argv, stdin=None, penv=None):
        self.env, self.name, self.argv = env, name, argv
        self.path = env.work / (name + ".log")
        self.out = open(self.path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                  stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  cwd=env.work, env=penv)
        self.rc = None
        env.procs.append(self)

    def log(self):
        if not self.out.closed:
            self.out.flush()
        return self.path.read_text(errors="replace")

    def wait_for(self, pattern, timeout=10.0):
        """Waits until the log matches pattern (a regexp, multiline); fails after timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.log(), re.M)
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail("%s: no '%s' within %.1f s (exit %s)" %
                    (self.name, pattern, timeout, self.p.poll()))

    def wait(self, timeout):
        """Waits for the exit; SIGKILL and a failure after timeout."""
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("%s did not exit within %.0f s" % (self.name, timeout))
        self.out.close()
        return self.rc

    def stop(self, timeout=15.0, sig=signal.SIGTERM):
        """A signal (SIGTERM), then the exit status."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.wait(timeout)

    def kill(self):
        """SIGTERM (which `timeout` passes on to SIPp), then SIGKILL after 3 s."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        if not self.out.closed:
            self.out.close()


# Where the next test of this file starts in the file's range: a test does not take the ports
# the test before it used, so that a late retransmission of that test never reaches this one.
_cursor = [0]


class Env:
    def __init__(self, work, base):
        self.work = work
        self.base = base
        self.next_port = base + _cursor[0]
        self.procs = []

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

    def stop_clean(self, p, timeout=15.0):
        """Stops a libsip program with SIGTERM: exit 0, no sanitizer report. Returns its log."""
        rc = p.stop(timeout)
        log = p.log()
        assert rc == 0, "%s exited %d after SIGTERM:\n%s" % (p.name, rc, log[-3000:])
        assert not SANITIZER.search(log), "%s: sanitizer report" % p.name
        return log

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

    # ---- SIPp -------------------------------------------------------------------------------

    def sipp_args(self, name, scenario, port, *args):
        """scenario: a file of tests/interop/sipd/sipp, or "-sn uac" for a built-in one."""
        head = scenario.split() if scenario.startswith("-sn") else ["-sf", str(SCENARIOS /
                                                                              scenario)]
        w = self.work
        return [shutil.which("sipp") or "sipp", *head, "-i", "127.0.0.1", "-p", str(port),
                "-nostdin", "-buff_size", "4194304",
                "-trace_err", "-error_file", str(w / ("sipp-%s.errors.log" % name)),
                "-trace_msg", "-message_file", str(w / ("sipp-%s.msgs.log" % name)), *args]

    def sipp_server(self, name, scenario, port, *args, calls=1, timeout=60):
        """SIPp as a callee on UDP port; returns once it holds the port."""
        argv = self.sipp_args(name, scenario, port, "-m", str(calls), "-timeout",
                              "%ds" % timeout, *args)
        p = Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])
        end = time.monotonic() + 10
        while not bound(port):
            if time.monotonic() > end or p.p.poll() is not None:
                pytest.fail("SIPp %s did not start:\n%s" % (name, p.log()))
            time.sleep(0.05)
        return p

    def sipp_client(self, name, scenario, target_port, *args, calls=1, rate=10, timeout=60):
        """SIPp as the caller toward 127.0.0.1:target_port, run to its end."""
        argv = self.sipp_args(name, scenario, self.port(), "-m", str(calls), "-r", str(rate),
                              "-timeout", "%ds" % timeout, *args, "127.0.0.1:%d" % target_port)
        p = Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])
        p.wait(timeout + 20)
        return p

    def sipp_ok(self, p, calls, timeout=60):
        """SIPp exited 0 and counted calls successful calls and no failed one."""
        rc = p.rc if p.rc is not None else p.wait(timeout)
        log = p.log()
        assert rc == 0, "SIPp %s exited %d:\n%s" % (p.name, rc, log[-3000:])
        m = re.search(r"Successful call +\| +\d+ +\| +(\d+)", log)
        assert m and int(m.group(1)) == calls, "SIPp %s: not %d successful calls" % (p.name,
                                                                                    calls)
        m = re.search(r"Failed call +\| +\d+ +\| +(\d+)", log)
        assert m and int(m.group(1)) == 0, "SIPp %s: failed calls" % p.name
        return log

    def messages(self, p):
        """The messages the SIPp of p sent and received (-trace_msg), as one text."""
        f = self.work / (p.name + ".msgs.log")
        return f.read_text(errors="replace") if f.exists() else ""

    def close(self, failed):
        for p in self.procs:
            p.kill()
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
    base = int(os.environ.get("SIPD_PORT", "35700"))
    e = Env(tmp_path, base)
    yield e
    _cursor[0] = (e.next_port - base) % 300
    rep = getattr(request.node, "rep_call", None)
    e.close(failed=rep is None or rep.failed)
