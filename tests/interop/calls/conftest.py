# SPDX-License-Identifier: MIT
"""Shared pieces of the call-layer interop tests: libsip's programs and SIPp started as
processes on 127.0.0.1, each stopped by the test (SIGTERM, then SIGKILL after a bounded wait),
and every log printed when a test fails.

The programs come from the environment ctest sets (tests/interop_calls.cmake): SIP_UAS, SIP_UAC,
SIP_B2BUA; SIPP_CALLS_PORT is where this test file's ports start, so that files run in parallel
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


def tool(name):
    path = os.environ.get(name)
    if not path:
        pytest.fail("%s is not set: run this test through ctest" % name)
    return path


def free_port(start):
    """The first port at or above start free for both UDP and TCP on 127.0.0.1."""
    for p in range(start, start + 2000):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket()
        try:
            u.bind(("127.0.0.1", p))
            t.bind(("127.0.0.1", p))
            return p
        except OSError:
            pass
        finally:
            u.close()
            t.close()
    pytest.fail("no free port from %d" % start)


def udp_bound(port):
    """True once something holds UDP port on 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


class Proc:
    """A process with its output in work/<name>.log."""

    def __init__(self, env, name, argv, cwd=None):
        self.env, self.name, self.argv = env, name, argv
        self.path = env.work / (name + ".log")
        self.out = open(self.path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=cwd or env.work)
        self.rc = None
        env.procs.append(self)

    def log(self):
        if not self.out.closed:
            self.out.flush()
        return self.path.read_text(errors="replace")

    def wait_for(self, pattern, timeout=5.0):
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

    def stop(self, timeout=10.0):
        """SIGTERM, then the exit status (0 expected of libsip's programs)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(5)
        if not self.out.closed:
            self.out.close()


class Env:
    def __init__(self, work, base):
        self.work = work
        self.next_port = base
        self.procs = []

    def port(self):
        p = free_port(self.next_port)
        self.next_port = p + 1
        return p

    # ---- libsip's programs ------------------------------------------------------------------

    def uas(self, name, port, *args):
        """sip-uas -v on UDP port, started once it says it listens."""
        p = Proc(self, name, [tool("SIP_UAS"), "--listen", "udp:127.0.0.1:%d" % port, "-v",
                              *args])
        p.wait_for(r"^listening on udp:")
        return p

    def b2bua(self, name, port, *args):
        p = Proc(self, name, [tool("SIP_B2BUA"), "--listen", "udp:127.0.0.1:%d" % port, "-v",
                              *args])
        p.wait_for(r"^listening on udp:")
        return p

    def uac(self, name, *args, timeout=60.0):
        """sip-uac run to its end: (exit status, output)."""
        p = Proc(self, name, [tool("SIP_UAC"), *args])
        rc = p.wait(timeout)
        return rc, p.log()

    def stop_clean(self, p, timeout=10.0):
        """Stops a libsip program: exit 0, no sanitizer report. Returns its log."""
        rc = p.stop(timeout)
        log = p.log()
        assert rc == 0, "%s exited %d after SIGTERM" % (p.name, rc)
        assert not SANITIZER.search(log), "%s: sanitizer report" % p.name
        return log

    # ---- SIPp -------------------------------------------------------------------------------

    def sipp_args(self, name, scenario, port, *args):
        """scenario: a file of tests/interop/calls/sipp, or "-sn uac" for a built-in one."""
        head = scenario.split() if scenario.startswith("-sn") else ["-sf", str(SCENARIOS /
                                                                              scenario)]
        w = self.work
        return [shutil.which("sipp") or "sipp", *head, "-i", "127.0.0.1", "-p", str(port),
                "-nostdin", "-buff_size", "4194304",
                "-trace_err", "-error_file", str(w / ("sipp-%s.errors.log" % name)),
                "-trace_msg", "-message_file", str(w / ("sipp-%s.msgs.log" % name)), *args]

    def sipp_server(self, name, scenario, port, *args, calls=1, timeout=60):
        """SIPp as the callee on UDP port for calls calls; returns once it holds the port."""
        argv = self.sipp_args(name, scenario, port, "-m", str(calls), "-timeout", "%ds" % timeout,
                              *args)
        p = Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])
        end = time.monotonic() + 5
        while not udp_bound(port):
            if time.monotonic() > end or p.p.poll() is not None:
                pytest.fail("SIPp %s did not start:\n%s" % (name, p.log()))
            time.sleep(0.05)
        return p

    def sipp_client_bg(self, name, scenario, target_port, *args, calls=1, rate=10, timeout=60):
        """SIPp as the caller toward 127.0.0.1:target_port, in the background (sipp_ok()
        waits for it)."""
        argv = self.sipp_args(name, scenario, self.port(), "-m", str(calls), "-r", str(rate),
                              "-timeout", "%ds" % timeout, *args,
                              "127.0.0.1:%d" % target_port)
        return Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])

    def sipp_client(self, name, scenario, target_port, *args, calls=1, rate=10, timeout=60):
        """SIPp as the caller toward 127.0.0.1:target_port, run to its end."""
        p = self.sipp_client_bg(name, scenario, target_port, *args, calls=calls, rate=rate,
                                timeout=timeout)
        p.wait(timeout + 20)
        return p

    def sipp_ok(self, p, calls, timeout=60):
        """SIPp exited 0 (every check of its scenario passed) and counted calls successful
        calls and no failed one."""
        rc = p.rc if p.rc is not None else p.wait(timeout)
        log = p.log()
        assert rc == 0, "SIPp %s exited %d" % (p.name, rc)
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
                    print("==== %s (last 80 lines) ====" % f.name)
                    print("\n".join(lines[-80:]))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def env(tmp_path, request):
    if not shutil.which("sipp"):
        pytest.fail("sipp is not installed (scripts/deps.sh)")
    base = int(os.environ.get("SIPP_CALLS_PORT", "24000"))
    e = Env(tmp_path, base)
    yield e
    rep = getattr(request.node, "rep_call", None)
    e.close(failed=rep is None or rep.failed)
