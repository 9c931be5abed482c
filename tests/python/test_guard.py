# SPDX-License-Identifier: MIT
"""libsip.Guard: per-source limits, the allow list, reloads, argument checks, a transport that
drops a flooding source and a proxy that blocks a password guesser (as tests/lua/test_guard.lua).
Ports: 0 (any free one) everywhere."""

import asyncio

import pytest

import libsip


def options(dst, n):
    host = dst.split(":", 1)[1]
    return libsip.Message.request("OPTIONS", f"sip:uas@{host}", headers=[
        ("Via", f"SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKguard{n}"),
        ("Max-Forwards", "70"),
        ("To", "<sip:uas@example.com>"),
        ("From", "<sip:uac@example.com>;tag=py"),
        ("Call-ID", f"guard{n}@127.0.0.1"),
        ("CSeq", "1 OPTIONS"),
    ])


def pump(loop, cond, seconds=5.0):
    """Runs the loop until cond() or the deadline; the result of cond()."""
    t = loop.call_later(seconds, loop.stop)
    try:
        while not cond() and t.active:
            loop.run_once(True)
    finally:
        t.stop()
    return cond()


def test_limits_blocks_and_allow_list():
    with libsip.Loop() as loop:
        g = libsip.Guard(loop, rate_max=3, rate_window_ms=60000, auth_max_failures=2,
                         allow=["10.0.0.0/8", "2001:db8::/32"])
        assert g.loop is loop and not g.closed
        assert g.options["rate_max"] == 3 and g.options["auth_block_ms"] == 900000
        assert set(libsip.Guard.OPTIONS) == set(g.options)
        assert [g.check("192.0.2.7") for _ in range(5)] == [True, True, True, False, False]
        assert g.is_blocked("192.0.2.7") and g.blocked_count == 1
        assert "1 blocked" in repr(g)
        # Failed authentications: blocked at the limit.
        assert g.auth_failed("198.51.100.1") is True
        assert g.auth_failed("198.51.100.1") is False
        assert g.is_blocked("198.51.100.1")
        # Never limited, IPv4 and IPv6.
        for ip in ("10.1.2.3", "2001:db8::7"):
            assert all(g.check(ip) for _ in range(10))
            g.block(ip)
            assert not g.is_blocked(ip)
        g.unblock("192.0.2.7")
        assert not g.is_blocked("192.0.2.7") and g.blocked_count == 1
        with pytest.raises(libsip.NotFoundError):
            g.unblock("192.0.2.7")
        g.block("203.0.113.9", 60000)
        assert g.is_blocked("203.0.113.9")
        # A reload changes what is named and keeps blocks.
        g.set_opts(rate_max=100)
        assert g.options["rate_max"] == 100 and g.options["rate_window_ms"] == 60000
        assert g.is_blocked("203.0.113.9")
        g.close()
        g.close()
        assert g.closed and repr(g) == "<Guard closed>"
        with pytest.raises(libsip.ClosedError):
            g.check("192.0.2.7")


def test_argument_checks():
    with libsip.Loop() as loop:
        with pytest.raises(TypeError):
            libsip.Guard("loop")
        with pytest.raises(TypeError, match="unknown guard option 'bogus'"):
            libsip.Guard(loop, bogus=1)
        with pytest.raises(TypeError):
            libsip.Guard(loop, rate_max="5")
        with pytest.raises(libsip.InvalidError):
            libsip.Guard(loop, rate_max=-1)
        with pytest.raises(libsip.InvalidError, match="window"):
            libsip.Guard(loop, rate_max=5, rate_window_ms=0)
        with pytest.raises(libsip.InvalidError):
            libsip.Guard(loop, max_sources=0)
        with pytest.raises(libsip.InvalidError):
            libsip.Guard(loop, allow=["10.0.0.1/8"])
        with libsip.Guard(loop) as g:
            for bad in ("", "1.2.3", "host.example", "1.2.3.4/8"):
                with pytest.raises(libsip.InvalidError):
                    g.check(bad)
                with pytest.raises(libsip.InvalidError):
                    g.is_blocked(bad)
            with pytest.raises(TypeError):
                g.check(None)
            with pytest.raises(libsip.InvalidError):
                g.allow("10.0.0.0/33")
            with pytest.raises(TypeError):
                g.block("192.0.2.1", "60")
            with pytest.raises(libsip.InvalidError):
                g.set_opts(auth_max_failures=1, auth_window_ms=0)
            with pytest.raises(TypeError):
                g.set_opts(nope=1)
            assert g.options["auth_window_ms"] == 600000


def test_transport_drops_a_flooding_source():
    loop = libsip.Loop()
    with libsip.Stack(["udp:127.0.0.1:0"], loop=loop) as uas, \
            libsip.Transport(loop, listen=["udp:127.0.0.1:0"]) as uac:
        seen = []

        @uas.on_request("OPTIONS")
        def on_options(req):
            seen.append(req.call_id)

        g = libsip.Guard(loop, rate_max=3, rate_window_ms=60000)
        assert uas.transport.guard is None
        uas.transport.guard = g
        assert uas.transport.guard is g
        dst = uas.address("udp")
        for n in range(10):
            uac.send(options(dst, n), dst)
        assert pump(loop, lambda: len(seen) >= 3)
        pump(loop, lambda: False, 0.2)
        assert len(seen) == 3
        assert g.is_blocked("127.0.0.1")
        assert loop.stats()["sip_blocked_total"] == 7
        assert loop.stats()["sip_blocked_sources"] == 1
        # Removed: the source gets through again.
        uas.transport.set_guard(None)
        assert uas.transport.guard is None
        uac.send(options(dst, 99), dst)
        assert pump(loop, lambda: len(seen) == 4)
        with pytest.raises(TypeError):
            uas.transport.guard = "guard"
        # A guard of another loop is refused.
        with libsip.Loop() as other:
            with pytest.raises(libsip.InvalidError, match="another loop"):
                uas.transport.guard = libsip.Guard(other)
        g.close()
    loop.close()


def test_proxy_blocks_a_password_guesser():
    async def main():
        loop = libsip.Loop(strict=True)
        px = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        uac = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        serving = asyncio.ensure_future(loop.serve())
        try:
            g = libsip.Guard(loop, auth_max_failures=2)
            with pytest.raises(TypeError):
                libsip.Proxy(px, guard="guard")
            proxy = libsip.Proxy(px, auth=libsip.AuthServer("example.com"),
                                 users={"alice": "secret"}, guard=g)

            @proxy.route
            async def route(req):
                if await req.authenticate() is None:
                    return req.challenge()
                req.reply(200)

            with proxy, libsip.UA(uac) as a:
                uri = "sip:x@" + px.address("udp").split(":", 1)[1]
                a.add_credential("alice", "wrong")
                # Each request: a challenge (no failure), then the wrong password (one).
                assert (await a.options(uri)).status == 401
                assert not g.is_blocked("127.0.0.1")
                assert (await a.options(uri)).status == 401
                assert g.is_blocked("127.0.0.1")
                # Blocked: its requests go unanswered, whatever password.
                a.add_credential("alice", "secret")
                # (the UA's transaction times out: 408, RFC 3261 §8.1.3.1)
                assert (await a.options(uri)).status == 408
                assert loop.stats()["sip_blocked_total"] >= 1
                g.unblock("127.0.0.1")
                assert (await a.options(uri)).status == 200
            g.close()
            return True
        finally:
            px.close()
            uac.close()
            loop.stop()
            await asyncio.wait_for(serving, 5)
            loop.close()

    assert asyncio.run(asyncio.wait_for(main(), 30))
