# SPDX-License-Identifier: MIT
"""ProxyRequest.relay() (a relay nobody waits for, as Kamailio's t_relay()), and the route
path's shortcuts keeping their behaviour: a lookup the location service answers at once, and a
list of targets added in one call (a lookup's bindings, edited or not, URIs, or a mix). A UAC,
two UASs and a proxy, each a Stack on 127.0.0.1 (ports 49000-49499, ten per test)."""

import asyncio
import gc
import types

import pytest

import libsip
from libsip import UA

OFFER = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
ANSWER = ("v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
WAIT = 5  # seconds: the bound of every wait
BASE = 49000  # this file's ports: 49000-49499


def _gone():
    gc.collect()
    return {k: v for k, v in libsip.live_objects().items() if v}


def run(n, body, make_proxy=None):
    """body(env) with a proxy (ports BASE+10n), a UAC (+1) and two UASs (+2, +3) on one loop."""
    async def main():
        loop = libsip.Loop(strict=True)
        port = BASE + 10 * n
        stacks = [libsip.Stack([f"udp:127.0.0.1:{port + i}"], loop=loop, transactions=True,
                               t1_ms=50) for i in range(4)]
        server = asyncio.ensure_future(loop.serve())
        try:
            proxy = make_proxy(stacks[0], loop) if make_proxy else libsip.Proxy(stacks[0])
            with proxy, UA(stacks[1]) as a, UA(stacks[2]) as b, UA(stacks[3]) as c:
                env = types.SimpleNamespace(
                    proxy=proxy, a=a, b=b, c=c, port=port, loop=loop,
                    uri=lambda user, i=0: f"sip:{user}@127.0.0.1:{port + i}")
                return await asyncio.wait_for(body(env), 4 * WAIT)
        finally:
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    out = asyncio.run(main())
    assert _gone() == {}
    return out


def answer(ua, status=200, seen=None):
    @ua.on_invite
    async def on_invite(call):
        if seen is not None:
            seen.append(call.invite)
        await call.ring()
        if status == 200:
            await call.answer(sdp=ANSWER)
        else:
            await call.reject(status)


def test_relay_returns_none_and_the_proxy_forwards_the_outcome():
    async def body(env):
        results, errors = [], []

        @env.proxy.route
        def route(req):
            if req.routed:
                return req.default_route()
            if req.uri.user == "busy":
                results.append(req.relay(env.uri("c", 3)))
                return
            results.append(req.relay([env.uri("b", 2)], record_route=True))
            for bad in ({"bogus": True}, {"record_route": 1}):
                try:
                    req.relay(env.uri("b", 2), **bad)
                except TypeError as e:
                    errors.append(type(e))
            try:
                req.relay(env.uri("b", 2))      # a relay is in progress
            except libsip.Error as e:
                errors.append(e.name)

        answer(env.b)
        answer(env.c, status=486)
        call = await env.a.invite(env.uri("bob"), sdp=OFFER)
        assert len(call.dialog.route_set) == 1     # record_route=True reached the core
        await call.hangup()
        assert await call.ended(timeout=WAIT) == 200
        with pytest.raises(libsip.CallFailed) as failed:
            await env.a.invite(env.uri("busy"), sdp=OFFER)
        assert failed.value.status == 486          # the best response, forwarded by the proxy
        assert results == [None, None]
        assert errors == [TypeError, TypeError, "SIP_EBUSY"]
        return True

    assert run(0, body)


def test_relay_in_an_async_route_that_goes_on():
    async def body(env):
        after = []

        @env.proxy.route
        async def route(req):
            if req.routed:
                return req.default_route()
            assert req.relay(env.uri("c", 3)) is None
            await asyncio.sleep(0.01)               # the route goes on; nothing awaits the relay
            after.append(req.done)

        answer(env.c, status=486)
        with pytest.raises(libsip.CallFailed) as failed:
            await env.a.invite(env.uri("busy"), sdp=OFFER)
        assert failed.value.status == 486
        assert after == [True]
        return True

    assert run(1, body)


def _with_location(stack, loop):
    loc = libsip.Location(loop)
    reg = libsip.Registrar(loc)
    auth = libsip.AuthServer("example.com")
    return libsip.Proxy(stack, location=loc, registrar=reg, auth=auth,
                        users={"bob": "pw", "carol": "pw"})


@pytest.mark.parametrize("n,edit", [(2, "as-is"), (3, "contact"), (4, "mixed"),
                                    (5, "uri-object"), (6, "empty")])
def test_lookup_at_once_and_targets_in_one_call(n, edit):
    async def body(env):
        seen_b, seen_c, found = [], [], []

        @env.proxy.route
        async def route(req):
            if req.method == "REGISTER":
                if await req.authenticate() is None:
                    return req.challenge()
                return await req.save()
            if req.routed:
                return req.default_route()
            look = req.lookup()
            targets = await look
            found.append((list(targets), [b.contact for b in targets]))
            assert await look is targets            # awaiting it again gives the same list
            if edit == "contact":                   # an edited binding is sent where it says
                targets[0].contact = env.uri("carol", 3)
            elif edit == "mixed":
                targets = [env.uri("carol", 3)] + targets
            elif edit == "uri-object":
                targets = [libsip.Uri(env.uri("carol", 3))]
            elif edit == "empty":
                targets = []
            out = await req.proxy(targets)
            if edit == "empty":
                assert out.status == 480 and out.branches == []
                req.reply(404)

        answer(env.b, seen=seen_b)
        answer(env.c, status=486, seen=seen_c)
        dst = f"udp:127.0.0.1:{env.port}"
        reg = await env.b.register("sip:bob@example.com", password="pw",
                                   registrar=f"sip:127.0.0.1:{env.port}", dst=dst)
        try:
            if edit == "empty":
                with pytest.raises(libsip.CallFailed) as failed:
                    await env.a.invite("sip:bob@example.com", sdp=OFFER, dst=dst)
                assert failed.value.status == 404
            elif edit in ("contact", "uri-object"):
                with pytest.raises(libsip.CallFailed) as failed:
                    await env.a.invite("sip:bob@example.com", sdp=OFFER, dst=dst)
                assert failed.value.status == 486
                assert len(seen_c) == 1 and seen_b == []
            else:
                call = await env.a.invite("sip:bob@example.com", sdp=OFFER, dst=dst)
                assert len(seen_b) == 1
                assert len(seen_c) == (1 if edit == "mixed" else 0)
                await call.hangup()
            ((bindings, contacts),) = found
            assert len(bindings) == 1
            b = bindings[0]
            assert isinstance(b, libsip.Binding) and b.aor == "sip:bob@example.com"
            assert f"127.0.0.1:{env.port + 2}" in contacts[0]
            assert b.q is None and b.expires > 0 and b.cseq > 0 and b.reg_id == 0
            assert isinstance(b.received, str) and isinstance(b.path, str)
        finally:
            await reg.unregister(timeout=WAIT)
        return True

    assert run(n, body, make_proxy=_with_location)


def test_lookup_of_nobody_is_an_empty_list():
    async def body(env):
        found = []

        @env.proxy.route
        async def route(req):
            found.append(await req.lookup())
            req.reply(404)

        with pytest.raises(libsip.CallFailed) as failed:
            await env.a.invite("sip:nobody@example.com", sdp=OFFER,
                               dst=f"udp:127.0.0.1:{env.port}")
        assert failed.value.status == 404 and found == [[]]
        return True

    assert run(7, body, make_proxy=_with_location)
