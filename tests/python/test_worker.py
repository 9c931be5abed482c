# SPDX-License-Identifier: MIT
"""Workers (libsip.Hub, libsip.Worker): a hub in this process and a worker in a child process
that inherits its link, a location write made in the worker reaching the hub's service, the
worker leaving, and the argument checks. Ports 52100-52199."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

import libsip

CHILD = r"""
import sys, time, libsip
fd = int(sys.argv[1])
loop = libsip.Loop()
w = libsip.Worker(loop, index=0, count=1, fd=fd)
assert w.linked and w.index == 0 and w.count == 1
loc = libsip.Location(loop, worker=w)
print("index", loc.count, flush=True)
wr = loc.put("sip:carol@example.com", "sip:carol@127.0.0.1:5070",
             expires=int(time.time()) + 3600)
deadline = time.time() + 5
while not wr.done and time.time() < deadline:
    loop.run_once(False)
    time.sleep(0.001)
print("put", wr.done, repr(wr), flush=True)
loc.close()
w.close()
loop.close()
"""


def pump(loop, cond, secs=5.0):
    deadline = time.time() + secs
    while not cond() and time.time() < deadline:
        loop.run_once(False)
        time.sleep(0.001)
    return cond()


def test_worker_process_writes_through_the_hub():
    loop = libsip.Loop()
    hloc = libsip.Location(loop)
    hloc.put("sip:alice@example.com", "sip:alice@127.0.0.1:5071",
             expires=int(time.time()) + 3600)
    with libsip.Hub(loop, workers=1, location=hloc) as hub:
        assert hub.ready_count == 0
        fd = hub.link(0)
        assert isinstance(fd, int) and fd >= 0
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(fd)], pass_fds=[fd],
                                 stdout=subprocess.PIPE, text=True)
        os.close(fd)
        try:
            # The child gets the index, writes, and its write lands here once acknowledged.
            assert pump(loop, lambda: hloc.count == 2)
            assert pump(loop, lambda: child.poll() is not None)
            out = child.stdout.read()
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
        assert "index 1" in out
        assert "put True <write durable>" in out
        assert child.returncode == 0
        # Its process ended: the hub sees its link go.
        assert pump(loop, lambda: hub.ready_count == 0)
        assert "Hub" in repr(hub)
    assert hub.closed
    with pytest.raises(libsip.ClosedError):
        hub.link(0)
    hloc.close()
    loop.close()


def test_worker_arguments():
    loop = libsip.Loop()
    with pytest.raises(libsip.InvalidError):
        libsip.Hub(loop, workers=0)
    with pytest.raises(TypeError):
        libsip.Hub(loop, workers="2")
    with pytest.raises(TypeError):
        libsip.Hub(None)
    with pytest.raises(TypeError):
        libsip.Hub(loop, location=object())
    with libsip.Hub(loop, workers=2) as hub:
        with pytest.raises(libsip.InvalidError):
            hub.link(2)
        with pytest.raises(libsip.InvalidError):
            hub.link(-1)
        hub.unlink(1)
    with pytest.raises(TypeError):
        libsip.Worker(loop, fd="3")
    with pytest.raises(libsip.InvalidError):
        libsip.Worker(loop, index=0, count=1, fd=-1)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with pytest.raises(libsip.InvalidError):
        libsip.Worker(loop, index=2, count=2, fd=a.detach())
    # A hub that never answers: the worker gives up (and owns its fd whatever happens).
    b.close()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b.close()
    with pytest.raises(libsip.Error) as e:
        libsip.Worker(loop, index=0, count=1, fd=a.detach())
    assert e.value.code == libsip._core.SIP_EIO
    with pytest.raises(TypeError):
        libsip.Location(loop, worker=object())
    with pytest.raises(TypeError):
        libsip.Server(worker=object())
    loop.close()


def test_stack_shares_its_port():
    loop = libsip.Loop()
    a = libsip.Stack(["udp:127.0.0.1:52100"], loop=loop, reuseport=True)
    b = libsip.Stack(["udp:127.0.0.1:52100"], loop=loop, reuseport=True)
    with pytest.raises(libsip.Error):
        libsip.Stack(["udp:127.0.0.1:52100"], loop=loop)
    a.close()
    b.close()
    loop.close()


def test_two_workers_share_one_port():
    """A hub on its own thread (as the parent process runs it) and two worker Stacks on one
    loop sharing a UDP port: every request is answered once, by the worker that owns it,
    whichever worker's socket the kernel gave it to."""
    hl = libsip.Loop()
    hub = libsip.Hub(hl, workers=2)
    fds = [hub.link(0), hub.link(1)]
    keep = hl.call_later(3600, lambda: None)
    th = threading.Thread(target=hl.run)
    th.start()
    wl = libsip.Loop()
    try:
        ws = [libsip.Worker(wl, index=k, count=2, fd=fds[k]) for k in range(2)]
        assert [w.index for w in ws] == [0, 1] and all(w.linked for w in ws)
        # One secret for the set, from the hub (digest nonces, stateless branches).
        assert len(ws[0].secret) == 64 and ws[0].secret == ws[1].secret
        assert "secret" in libsip.Proxy.OPTIONS
        stacks = [libsip.Stack(["udp:127.0.0.1:52110"], loop=wl, reuseport=True,
                               transactions=True)
                  for _ in range(2)]
        got = [0, 0]
        for k in range(2):
            def options(req, k=k):
                got[k] += 1
                req.reply(200)
            stacks[k].on_request("OPTIONS")(options)
            ws[k].attach(stacks[k])
        with pytest.raises(libsip.Error):
            ws[0].attach(stacks[1])
        assert pump(wl, lambda: False, 0.1) is False  # the sibling links come up
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 52111))
        peer.setblocking(False)
        n = 20
        for i in range(n):
            peer.sendto((f"OPTIONS sip:w@127.0.0.1:52110 SIP/2.0\r\n"
                         f"Via: SIP/2.0/UDP 127.0.0.1:52111;branch=z9hG4bKshare{i};rport\r\n"
                         f"From: <sip:p@example.com>;tag={i}\r\nTo: <sip:w@example.com>\r\n"
                         f"Call-ID: share-{i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                         f"Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", 52110))
        answers = []

        def drain():
            try:
                while True:
                    answers.append(peer.recv(65536))
            except BlockingIOError:
                pass
            return len(answers) >= n

        assert pump(wl, drain)
        assert all(a.startswith(b"SIP/2.0 200") for a in answers)
        assert len({a.split(b"branch=")[1].split(b";")[0] for a in answers}) == n
        assert sum(got) == n
        # Both workers own a share of twenty branches.
        assert got[0] > 0 and got[1] > 0
        peer.close()
        for s in stacks:
            s.close()
        for w in ws:
            w.close()
    finally:
        keep.stop()
        hl.post(hub.close)
        hl.post(hl.stop)
        th.join(5)
    wl.close()
    hl.close()
