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
