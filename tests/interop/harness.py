# SPDX-License-Identifier: MIT
"""What the pytest interop drivers share (tests/interop/*/conftest.py): processes started on
127.0.0.1 with their output in a log file, stopped with SIGTERM before SIGKILL (SIPp runs
under `timeout`, which passes SIGTERM on, so no SIPp is left behind; a server that forks, such
as Kamailio, runs as Proc(group=True) and is stopped as a whole process group, the test failing
if any of it outlives SIGKILL), waits for a line with a
bound, free-port helpers, SIPp's command lines and the report of every log when a test fails.

A conftest imports it with its folder's parent on sys.path:

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from harness import Env, Proc, pytest_runtest_makereport  # noqa: F401 (the hook)
"""
import os
import re
import shutil
from signal import SIGKILL, SIGTERM
import socket
import subprocess
import time
from pathlib import Path

import pytest

SANITIZER = re.compile(r"runtime error|Sanitizer")
# How long a process has to exit after SIGTERM before it gets SIGKILL.
TERM_GRACE = 3.0


def tool(name):
    """The program ctest names in the environment variable name (SIPD, SIP_UAS...)."""
    path = os.environ.get(name)
    if not path:
        pytest.fail("%s is not set: run this test through ctest" % name)
    return path


def bound(port, kind=socket.SOCK_DGRAM, host="127.0.0.1"):
    """True once something holds port (UDP by default) on host."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((host, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def udp_bound(port):
    """True once something holds UDP port on 127.0.0.1."""
    return bound(port)


def free_port(start, count=2000, tcp=True):
    """The first port at or above start (within count) free for UDP, and TCP unless tcp is
    False, on 127.0.0.1."""
    for p in range(start, start + count):
        if not bound(p) and not (tcp and bound(p, socket.SOCK_STREAM)):
            return p
    pytest.fail("no free port in %d-%d" % (start, start + count - 1))


def group_alive(pgid):
    """True while a process of process group pgid runs (zombies do not count)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # After "(comm)": state, ppid, pgrp (proc(5)); comm may hold spaces and parentheses.
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def wait_until(cond, timeout, what, step=0.05):
    """Polls cond() until it is true; fails the test naming what after timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    pytest.fail("%s: not within %.1f s" % (what, timeout))


class Proc:
    """A process with its output in work/<name>.log (stderr too), registered with its Env so
    that the test's end stops it whatever happened. With group, it leads a process group of
    its own and every signal goes to the whole group, so that the workers a server forks
    (Kamailio's) are stopped with it and none outlives the test."""

    def __init__(self, env, name, argv, stdin=None, penv=None, cwd=None, group=False):
        self.env, self.name, self.argv, self.group = env, name, argv, group
        self.path = env.work / (name + ".log")
        self.out = open(self.path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT,
                                  stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  cwd=cwd or env.work, env=penv, start_new_session=group)
        self.rc = None
        env.procs.append(self)

    @property
    def pid(self):
        return self.p.pid

    def running(self):
        return self.p.poll() is None

    def log(self):
        """Everything it wrote so far."""
        if not self.out.closed:
            self.out.flush()
        return self.path.read_text(errors="replace")

    def wait_for(self, pattern, timeout=None, count=1):
        """Waits until the log matches pattern (a regexp, multiline) count times; fails after
        timeout (the Env's wait_timeout by default) or when the process exits first. Returns
        the count-th match."""
        timeout = self.env.wait_timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            exited = self.p.poll() is not None
            found = list(re.finditer(pattern, self.log(), re.M))
            if len(found) >= count:
                return found[count - 1]
            if exited:
                break
            time.sleep(0.05)
        pytest.fail("%s: no '%s'%s within %.1f s (exit %s):\n%s" %
                    (self.name, pattern, "" if count == 1 else " (x%d)" % count, timeout,
                     self.p.poll(), self.log()[-3000:]))

    def signal(self, sig):
        """Sends sig (SIGHUP, SIGTERM...), to the whole group with group, and returns at
        once."""
        if not self.group:
            self.p.send_signal(sig)
            return
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass

    def alive(self):
        """True while the process runs (with group: while any process of its group does)."""
        return self.p.poll() is None or (self.group and group_alive(self.p.pid))

    def wait(self, timeout=15.0):
        """Waits for the exit; stops it (SIGTERM, then SIGKILL) and fails after timeout."""
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("%s did not exit within %.0f s:\n%s" % (self.name, timeout,
                                                                 self.log()[-3000:]))
        if self.group and group_alive(self.p.pid):
            self.kill()  # workers its exit left behind
        self.out.close()
        return self.rc

    def stop(self, timeout=15.0, sig=SIGTERM):
        """A signal (SIGTERM), then the exit status (SIGKILL and a failure after timeout)."""
        if self.p.poll() is None:
            self.signal(sig)
        return self.wait(timeout)

    def _gone(self, timeout):
        """Waits up to timeout s for the process (and its group) to end: whether it did."""
        end = time.monotonic() + timeout
        while True:
            try:
                self.p.wait(max(0.0, min(0.05, end - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
            if not self.alive():
                return True
            if time.monotonic() >= end:
                return False

    def kill(self):
        """SIGTERM (which `timeout` passes on to SIPp; to the whole group with group), then
        SIGKILL after TERM_GRACE s. Idempotent; never fails."""
        if self.alive():
            self.signal(SIGTERM)
            if not self._gone(TERM_GRACE):
                self.signal(SIGKILL)
                self._gone(5)
        if not self.out.closed:
            self.out.close()


class Env:
    """A test's work directory, its processes and SIPp's command lines. scenarios is the
    folder of SIPp scenario files; log_lines how much of each log a failed test prints;
    wait_timeout the default bound of Proc.wait_for; span, when set, the size of the test
    file's port range from base, which port() wraps around in."""

    scenarios = None
    log_lines = 200
    wait_timeout = 10.0
    span = None

    def __init__(self, work, base):
        self.work = Path(work)
        self.base = base
        self.next_port = base
        self.procs = []

    def port(self, tcp=True):
        """The next port free for UDP (and TCP) on 127.0.0.1, from the last one taken
        (wrapping in base..base+span-1 when span is set)."""
        if self.span is None:
            p = free_port(self.next_port, tcp=tcp)
            self.next_port = p + 1
            return p
        for i in range(self.span):
            p = self.base + (self.next_port - self.base + i) % self.span
            if not bound(p) and not (tcp and bound(p, socket.SOCK_STREAM)):
                self.next_port = p + 1
                return p
        pytest.fail("no free port in %d-%d" % (self.base, self.base + self.span - 1))

    def proc(self, name, argv, **kw):
        """Starts argv as a Proc of this test."""
        return Proc(self, name, argv, **kw)

    def stop_clean(self, p, timeout=15.0):
        """Stops a libsip program with SIGTERM: exit 0, no sanitizer report. Returns its log."""
        rc = p.stop(timeout)
        log = p.log()
        assert rc == 0, "%s exited %d after SIGTERM:\n%s" % (p.name, rc, log[-3000:])
        assert not SANITIZER.search(log), "%s: sanitizer report:\n%s" % (p.name, log[-3000:])
        return log

    # ---- SIPp -------------------------------------------------------------------------------

    def sipp_args(self, name, scenario, port, *args):
        """scenario: a file of the scenarios folder, or "-sn uac" for a built-in one."""
        head = scenario.split() if scenario.startswith("-sn") else \
            ["-sf", str(Path(self.scenarios) / scenario)]
        w = self.work
        return [shutil.which("sipp") or "sipp", *head, "-i", "127.0.0.1", "-p", str(port),
                "-nostdin", "-buff_size", "4194304",
                "-trace_err", "-error_file", str(w / ("sipp-%s.errors.log" % name)),
                "-trace_msg", "-message_file", str(w / ("sipp-%s.msgs.log" % name)), *args]

    def sipp_server(self, name, scenario, port, *args, calls=1, timeout=60, start_within=10):
        """SIPp as a callee on UDP port for calls calls; returns once it holds the port."""
        argv = self.sipp_args(name, scenario, port, "-m", str(calls), "-timeout",
                              "%ds" % timeout, *args)
        p = Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])
        end = time.monotonic() + start_within
        while not udp_bound(port):
            if time.monotonic() > end or p.p.poll() is not None:
                pytest.fail("SIPp %s did not start:\n%s" % (name, p.log()))
            time.sleep(0.05)
        return p

    def sipp_client_bg(self, name, scenario, target_port, *args, calls=1, rate=10, timeout=60,
                       host="127.0.0.1"):
        """SIPp as the caller toward host:target_port, in the background (sipp_ok() waits
        for it)."""
        argv = self.sipp_args(name, scenario, self.port(), "-m", str(calls), "-r", str(rate),
                              "-timeout", "%ds" % timeout, *args,
                              "%s:%d" % (host, target_port))
        return Proc(self, "sipp-" + name, ["timeout", str(timeout + 10), *argv])

    def sipp_client(self, name, scenario, target_port, *args, calls=1, rate=10, timeout=60):
        """SIPp as the caller toward 127.0.0.1:target_port, run to its end."""
        p = self.sipp_client_bg(name, scenario, target_port, *args, calls=calls, rate=rate,
                                timeout=timeout)
        p.wait(timeout + 20)
        return p

    def sipp_ok(self, p, calls, timeout=60):
        """SIPp exited 0 (every check of its scenario passed) and counted calls successful
        calls and no failed one. Returns its log."""
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
        """Stops every process still running (SIGTERM first); prints the logs when failed.
        Fails when a process group outlived the stop (a forked worker left running)."""
        for p in self.procs:
            p.kill()
        left = [p.name for p in self.procs if p.alive()]
        if failed or left:
            for f in sorted(self.work.iterdir()):
                if f.suffix == ".log":
                    lines = f.read_text(errors="replace").splitlines()
                    print("==== %s (last %d lines) ====" % (f.name, self.log_lines))
                    print("\n".join(lines[-self.log_lines:]))
        assert not left, "still running after SIGKILL: %s" % ", ".join(left)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item (item.rep_call), so that a fixture's
    teardown knows whether the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def failed(request):
    """Whether the test of request failed (or never ran its call phase)."""
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed
