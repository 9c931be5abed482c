# SPDX-License-Identifier: MIT
"""Targets a Resolver lists last after they failed (sip_resolver_mark_failed and friends): the
option, the three methods and their argument checks (tests/lua/test_resolver_failed.lua is the
same in Lua; the ordering itself: tests/unit/test_resolve.c, test_txn_failover.c)."""

import pytest

import libsip


def test_failed_ms_option():
    loop = libsip.Loop()
    try:
        assert libsip.Resolver(loop, servers="127.0.0.1:9").failed_ms == 60000
        assert libsip.Resolver(loop, servers="127.0.0.1:9", failed_ms=0).failed_ms == 0
        assert libsip.Resolver(servers="127.0.0.1:9", failed_ms=1500).failed_ms == 1500
        with pytest.raises(libsip.InvalidError):
            libsip.Resolver(loop, failed_ms=-1)
        with pytest.raises(libsip.InvalidError):
            libsip.Resolver(loop, failed_ms="10")
        with pytest.raises(TypeError):
            libsip.Resolver(loop, failed_msec=10)
    finally:
        loop.close()


def test_mark_failed_and_ok():
    loop = libsip.Loop()
    r = libsip.Resolver(loop, servers="127.0.0.1:9")
    try:
        assert r.failed_left("udp:127.0.0.1:5060") == 0
        r.mark_failed("udp:127.0.0.1:5060")
        assert 55000 < r.failed_left("udp:127.0.0.1:5060") <= 60000
        # Another transport, port or address is another target; IPv6 compares by value.
        assert r.failed_left("tcp:127.0.0.1:5060") == 0
        assert r.failed_left("udp:127.0.0.1:5061") == 0
        r.mark_failed(("udp", "2001:db8::1", 5060), 2000)
        assert 0 < r.failed_left("udp:[2001:db8:0::1]:5060") <= 2000
        assert r.mark_ok("udp:127.0.0.1:5060") is True
        assert r.mark_ok("udp:127.0.0.1:5060") is False
        assert r.failed_left("udp:127.0.0.1:5060") == 0
        with pytest.raises(libsip.InvalidError):
            r.mark_failed("udp:not-an-address:5060")
        with pytest.raises(libsip.InvalidError):
            r.mark_failed("udp:127.0.0.1:5060", -5)
        with pytest.raises(libsip.InvalidError):
            r.mark_failed("udp:127.0.0.1:5060", True)
        with pytest.raises(libsip.InvalidError):
            r.mark_ok("udp:not-an-address:5060")
    finally:
        r.close()
        loop.close()
    with pytest.raises(libsip.ClosedError):
        r.mark_failed("udp:127.0.0.1:5060")


def test_unbound_resolver_raises():
    r = libsip.Resolver(servers="127.0.0.1:9")
    with pytest.raises(libsip.InvalidError):
        r.mark_failed("udp:127.0.0.1:5060")
    r.close()


def _dnsmasq(records):
    """dnsmasq in the background on a free 127.0.0.1 port with only records; (port, stop)."""
    import os
    import random
    import signal
    import subprocess
    import tempfile
    exe = "/usr/sbin/dnsmasq"
    if not os.path.exists(exe):
        pytest.fail("dnsmasq is not installed (scripts/deps.sh installs dnsmasq-base)")
    fd, pidfile = tempfile.mkstemp()
    os.close(fd)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
    for _ in range(10):
        port = random.randint(20000, 60000)
        # dnsmasq returns once it serves (it forks into the background itself); bounded.
        r = subprocess.run(["timeout", "10", exe, "--conf-file=/dev/null", "--no-resolv",
                            "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1",
                            f"--port={port}", f"--pid-file={pidfile}", "--local=/test/",
                            *records], env=env, capture_output=True)
        if r.returncode == 0:
            with open(pidfile) as f:
                pid = int(f.read().strip())

            def stop():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                if os.path.exists(pidfile):  # dnsmasq removes it when it ends
                    os.unlink(pidfile)
            return port, stop
    os.unlink(pidfile)
    pytest.fail("dnsmasq did not start")


def test_failed_srv_target_listed_last():
    port, stop = _dnsmasq(["--srv-host=_sip._udp.failed.test,one.failed.test,5001,10,10",
                           "--srv-host=_sip._udp.failed.test,two.failed.test,5002,20,10",
                           "--host-record=one.failed.test,192.0.2.1",
                           "--host-record=two.failed.test,192.0.2.2"])
    loop = libsip.Loop()
    r = libsip.Resolver(loop, servers=f"127.0.0.1:{port}", transports=["udp"], timeout_ms=1000)
    try:
        def specs():
            op = r.resolve("sip:failed.test")
            for _ in range(1000):
                if op.done:
                    break
                loop.run_once(True)
            assert op.status == 0
            return [(t.remote_ip, t.remote_port) for t in op.targets]
        assert specs() == [("192.0.2.1", 5001), ("192.0.2.2", 5002)]
        r.mark_failed("udp:192.0.2.1:5001")
        assert specs() == [("192.0.2.2", 5002), ("192.0.2.1", 5001)]
        assert r.mark_ok("udp:192.0.2.1:5001")
        assert specs() == [("192.0.2.1", 5001), ("192.0.2.2", 5002)]
    finally:
        r.close()
        loop.close()
        stop()
