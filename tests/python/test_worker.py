# SPDX-License-Identifier: MIT
"""Workers (libsip.Hub, libsip.Worker): a hub in this process and a worker in a child process
that inherits its link, a location write made in the worker reaching the hub's service, the
worker leaving, and the argument checks. Ports 52100-52199."""

import os
import socket
import subprocess
import sys
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
