# SPDX-License-Identifier: MIT
"""Shared pieces of the demo and examples tests (tests/interop/demo): sipd, the sipua example
and the Lua routing example as processes on 127.0.0.1, each stopped by the test (SIGTERM, then
SIGKILL after a bounded wait), and every log printed when a test fails.

The programs come from the environment ctest sets (tests/interop_demo.cmake): SIPD, SIPUA;
DEMO_PORT is where this test file's 200 ports start (the demo's range is 46500-47499), so that
files run in parallel (ctest -j2) never probe the same ports."""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SANITIZER = re.compile(r"runtime error|Sanitizer")
SPAN = 200


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

    def __init__(self, env, name, argv, penv=None, stdin=None):
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

    def wait_for(self, pattern, timeout=15.0):
        """Waits until the log matches pattern (a regexp, multiline); fails after timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.log(), re.M)
            if m:
                return m
            if self.p.poll() is not None:
                m = re.search(pattern, self.log(), re.M)
                if m:
                    return m
                break
            time.sleep(0.05)
        pytest.fail("%s: no '%s' within %.1f s (exit %s):\n%s" %
                    (self.name, pattern, timeout, self.p.poll(), self.log()[-3000:]))

    def wait(self, timeout):
        """Waits for the exit; SIGKILL and a failure after timeout."""
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("%s did not exit within %.0f s:\n%s" % (self.name, timeout,
                                                                 self.log()[-3000:]))
        self.out.close()
        return self.rc

    def stop(self, timeout=15.0, sig=signal.SIGTERM):
        """A signal (SIGTERM), then the exit status."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        return self.wait(timeout)

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


class Env:
    def __init__(self, work, base):
        self.work = work
        self.base = base
        self.next_port = base + _cursor[0]
        self.procs = []

    def port(self, tcp=True):
        """The next port of this file's range free for UDP (and TCP) on 127.0.0.1, wrapping."""
        for i in range(SPAN):
            p = self.base + (self.next_port - self.base + i) % SPAN
            if not bound(p) and not (tcp and bound(p, socket.SOCK_STREAM)):
                self.next_port = p + 1
                return p
        pytest.fail("no free port in %d-%d" % (self.base, self.base + SPAN - 1))

    def passwd(self, path, users, realm):
        """Writes a users file with `sipd passwd` (the password on standard input)."""
        for user, pw in users.items():
            r = subprocess.run([tool("SIPD"), "passwd", str(path), user, "--realm", realm],
                               input=(pw + "\n").encode(), capture_output=True, timeout=20)
            assert r.returncode == 0, r.stderr.decode(errors="replace")
        return path

    def sipd(self, name, *args, port=None, ready=r"^domain ", penv=None):
        """sipd -v on UDP+TCP 127.0.0.1:port with args; started once its log matches ready.
        Returns the Proc with .port."""
        port = port or self.port()
        argv = [tool("SIPD"), "-v", "--listen", "udp:127.0.0.1:%d" % port,
                "--listen", "tcp:127.0.0.1:%d" % port, *args]
        p = Proc(self, name, argv, penv=penv)
        p.wait_for(ready)
        p.port = port
        return p

    def sipua(self, name, *args):
        """The sipua example (examples/c/sipua.c), started; the caller waits for its lines."""
        return Proc(self, name, [tool("SIPUA"), *args])

    def stop_clean(self, p, timeout=15.0):
        """Stops a libsip program with SIGTERM: exit 0, no sanitizer report. Returns its log."""
        rc = p.stop(timeout)
        log = p.log()
        assert rc == 0, "%s exited %d after SIGTERM:\n%s" % (p.name, rc, log[-3000:])
        assert not SANITIZER.search(log), "%s: sanitizer report:\n%s" % (p.name, log[-3000:])
        return log

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
    base = int(os.environ.get("DEMO_PORT", "46500"))
    e = Env(tmp_path, base)
    yield e
    _cursor[0] = (e.next_port - base) % SPAN
    rep = getattr(request.node, "rep_call", None)
    e.close(failed=rep is None or rep.failed)
