# SPDX-License-Identifier: MIT
"""The worker processes of sipd --workers 2: a worker killed with SIGKILL is started again by
the parent (logged, with its backoff) and every registration is still there, in the restarted
worker too (it is given the whole index by the hub); SIGTERM stops every worker cleanly and
the parent exits 0, and a parent killed with SIGKILL leaves no worker behind; SIGHUP reloads
every worker; the parent's metrics endpoint sums the workers' counters; a listening point on
port 0 gets its port from worker 0 and every worker holds a socket on it."""
import os
import re
import signal
import socket
import time
import urllib.request

from conftest import DOMAIN, alive, children, wait_until

USERS_N = 8


def request(port, method, ruri, branch, extra=(), to=None):
    lines = ["%s %s SIP/2.0" % (method, ruri),
             "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport" % (port, branch),
             "Max-Forwards: 70",
             "From: <sip:probe@%s>;tag=p%s" % (DOMAIN, branch),
             "To: <%s>" % (to or ruri),
             "Call-ID: %s@127.0.0.1" % branch,
             "CSeq: 1 %s" % method, *extra, "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def ask(sock, port, data, want, timeout=5.0):
    """Sends data to sipd at port until a response to it (its branch) whose status line
    matches want arrives, retransmitting as UDP must; returns it. Late answers to earlier
    requests are skipped."""
    branch = re.search(rb"branch=([^;\r]+)", data).group(1).decode()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.sendto(data, ("127.0.0.1", port))
        sock.settimeout(0.5)
        try:
            while True:
                rsp = sock.recvfrom(65535)[0].decode(errors="replace")
                if re.match(want, rsp) and "branch=%s;" % branch in rsp:
                    return rsp
        except socket.timeout:
            continue
    raise AssertionError("no %s for %r" % (want, data[:60]))


def register(sock, sport, port, user, i):
    aor = "sip:%s@%s" % (user, DOMAIN)
    ask(sock, port, request(sport, "REGISTER", "sip:%s" % DOMAIN, "reg-%s-%d" % (user, i),
                            ["Contact: <sip:%s@127.0.0.1:%d>" % (user, 40000 + i),
                             "Expires: 600"], to=aor), r"SIP/2\.0 200 ")


def every_binding_seen(sock, sport, port, tag, rounds=4):
    """Each user's AOR looked up rounds times with new branches (so that both workers answer
    some: requests go to the worker the hash of their branch names): 302 with its contact."""
    for i in range(USERS_N):
        for r in range(rounds):
            rsp = ask(sock, port, request(sport, "INVITE", "sip:u%d@%s" % (i, DOMAIN),
                                           "%s-%d-%d" % (tag, i, r)), r"SIP/2\.0 [23]\d\d ")
            assert rsp.startswith("SIP/2.0 302 "), rsp
            assert "<sip:u%d@127.0.0.1:%d>" % (i, 40000 + i) in rsp, rsp


def udp(env):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", env.port(tcp=False)))
    return s, s.getsockname()[1]


def test_killed_worker_restarted_with_every_registration(env):
    state = env.work / "state"
    d = env.sipd_workers("sipd", "--redirect", "--state", str(state), users=False)
    sock, sport = udp(env)
    try:
        for i in range(USERS_N // 2):
            register(sock, sport, d.port, "u%d" % i, i)
        victim = d.workers[1]
        os.kill(victim, signal.SIGKILL)
        m = d.wait_for(r"worker 1 \(pid %d\) killed by signal 9 after \d+ ms; restarting it in "
                       r"(\d+) ms$" % victim)
        assert int(m.group(1)) <= 1000, m.group(0)
        wait_until(lambda: len(children(d.pid)) == 2 and victim not in children(d.pid), 15,
                   "worker 1 started again")
        d.wait_for(r"worker 1 \(pid \d+\) ready$")
        assert d.workers[0] in children(d.pid)
        for i in range(USERS_N // 2, USERS_N):
            register(sock, sport, d.port, "u%d" % i, i)
        every_binding_seen(sock, sport, d.port, "after")
        # And once more: a worker that dies again soon waits longer (the backoff doubles).
        again = [p for p in children(d.pid) if p != d.workers[0]][0]
        os.kill(again, signal.SIGKILL)
        m = d.wait_for(r"worker 1 \(pid %d\) killed by signal 9 after \d+ ms; restarting it in "
                       r"(\d+) ms$" % again)
        wait_until(lambda: len(children(d.pid)) == 2 and again not in children(d.pid), 15,
                   "worker 1 started a second time")
        every_binding_seen(sock, sport, d.port, "again")
    finally:
        sock.close()
    log = env.stop_clean(d)
    assert re.search(r"^stopped on signal 15; %d bindings$" % USERS_N, log, re.M), log


def test_sigterm_stops_every_worker(env):
    d = env.sipd_workers("sipd", users=False)
    workers = list(d.workers)
    log = env.stop_clean(d)
    assert re.search(r"^stopped on signal 15; 0 bindings$", log, re.M), log
    wait_until(lambda: not any(alive(p) for p in workers), 10, "no worker left")


def test_parent_killed_leaves_no_worker(env):
    d = env.sipd_workers("sipd", users=False)
    workers = list(d.workers)
    d.p.kill()
    d.p.wait(10)
    # Each worker sees its parent go (its control channel closes; PR_SET_PDEATHSIG too).
    wait_until(lambda: not any(alive(p) for p in workers), 15, "no worker left")


def test_sighup_reloads_every_worker(env):
    d = env.sipd_workers("sipd", users=False)
    os.kill(d.pid, signal.SIGHUP)
    wait_until(lambda: len(re.findall(r"reloaded: \d+ domains", d.log())) == 2, 10,
               "both workers reloaded")
    env.stop_clean(d)


def test_metrics_sum_the_workers(env):
    mport = env.port()
    d = env.sipd_workers("sipd", "--metrics", "127.0.0.1:%d" % mport, users=False)
    assert re.search(r"^metrics on http://127\.0\.0\.1:%d/metrics$" % mport, d.log(), re.M)
    sock, sport = udp(env)
    n = 30
    try:
        for i in range(n):
            ask(sock, d.port, request(sport, "OPTIONS", "sip:127.0.0.1:%d" % d.port,
                                      "opt-%d" % i), r"SIP/2\.0 200 ")
    finally:
        sock.close()

    def options():
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read()
        m = re.search(rb'^sip_requests_received_total\{method="OPTIONS"\} (\d+)', body, re.M)
        return m and int(m.group(1))
    # Each OPTIONS is counted where it arrived and, when another worker owns it, where it is
    # handled: at least once each, summed over both workers.
    wait_until(lambda: (options() or 0) >= n, 10, "%d OPTIONS counted" % n)
    env.stop_clean(d)


def udp_socket_inodes(port):
    """The inodes of the UDP sockets bound to port (any address) in this network namespace."""
    out = set()
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port:
                out.add(f[9])
    return out


def socket_inodes(pid):
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            m = re.match(r"socket:\[(\d+)\]", os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            out.add(m.group(1))
    return out


def test_port_zero_is_shared_by_every_worker(env):
    # Worker 0 picks the port; the others are started on the one it printed
    # (--worker-listen), so that every worker holds a socket on it (SO_REUSEPORT).
    d = env.sipd_workers("sipd", users=False, listen=["udp:127.0.0.1:0"])
    port = int(re.search(r"^listening on udp:127\.0\.0\.1:(\d+)$", d.log(), re.M).group(1))
    assert port > 0
    bound = udp_socket_inodes(port)
    for k, pid in enumerate(d.workers):
        assert socket_inodes(pid) & bound, "worker %d has no socket on port %d" % (pid, port)
        argv = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
        assert (b"udp:127.0.0.1:%d" % port in argv) == (k > 0), argv
    sock, sport = udp(env)
    try:
        for i in range(10):
            ask(sock, port, request(sport, "OPTIONS", "sip:127.0.0.1:%d" % port, "zero-%d" % i),
                r"SIP/2\.0 200 ")
    finally:
        sock.close()
    env.stop_clean(d)
