# SPDX-License-Identifier: MIT
"""libsip.Registration: ua.register() against a registrar a second Stack plays by hand over UDP
on 127.0.0.1 (a challenge, the granted expiry, Service-Route, unregistration, refusals), and the
argument checks of the Python layer."""

import asyncio
import gc

import pytest

import libsip
from libsip import RegEvent, RegState, RegistrationFailed, UA

WAIT = 5  # seconds: the bound of every wait


def _gone():
    gc.collect()
    return {k: v for k, v in libsip.live_objects().items() if v}


def run_registrar(body, answers):
    """Runs body(ua, registrar_uri, seen) with a UA on one Stack and a registrar on another:
    each REGISTER gets the next of answers, (status, headers) or a function of the request
    giving them; seen collects the REGISTERs."""
    async def main():
        loop = libsip.Loop(strict=True)
        a = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        b = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        seen = []

        @b.on_request("REGISTER")
        def register(req):
            seen.append(req)
            if not answers:
                return
            ans = answers.pop(0)
            status, headers = ans(req) if callable(ans) else ans
            req.reply(status, headers=headers)

        server = asyncio.ensure_future(loop.serve())
        try:
            with UA(a) as ua:
                uri = "sip:" + b.address().split(":", 1)[1]
                return await asyncio.wait_for(body(ua, uri, seen), 2 * WAIT)
        finally:
            a.close()
            b.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    out = asyncio.run(main())
    assert _gone() == {}
    return out


def _contact(req):
    return str(req.headers["Contact"][0].value) if "Contact" in req.headers else ""


def test_register_challenge_grant_service_route_unregister():
    challenge = [("WWW-Authenticate",
                  'Digest realm="example.com", nonce="n1", qop="auth", algorithm=SHA-256')]

    def grant(req):
        return 200, [("Contact", _contact(req) + ";expires=120"),
                     ("Service-Route", "<sip:core.example.com;lr>"),
                     ("Path", "<sip:edge.example.com;lr>")]

    async def body(ua, uri, seen):
        events = []
        reg = ua.register("sip:alice@example.com", password="secret", registrar=uri,
                          expires=600)
        reg.on("*", lambda ev, st, rsp: events.append((ev, st)))
        assert await reg is reg
        assert reg.state is RegState.REGISTERED
        assert reg.expires == 120
        assert 0 < reg.next_refresh <= 88
        assert reg.service_route == ["<sip:core.example.com;lr>"]
        assert reg.path == ["<sip:edge.example.com;lr>"]
        assert reg.aor == "sip:alice@example.com"
        assert len(seen) == 2
        assert "Authorization" not in seen[0].headers
        auth = str(seen[1].headers["Authorization"][0].value)
        assert 'username="alice"' in auth and "SHA-256" in auth
        assert seen[1].cseq.seq == seen[0].cseq.seq + 1
        assert seen[0].headers["Expires"][0].value == "600"
        assert events == [(RegEvent.REGISTERED, 200)]
        got = await reg.unregister(timeout=WAIT)
        assert got is reg
        assert reg.state is RegState.UNREGISTERED
        assert "expires=0" in _contact(seen[2])
        assert reg.next_refresh is None
        assert "registered" in repr(reg)
        reg.close()
        return True

    assert run_registrar(body, [(401, challenge), grant, (200, [])])


def test_register_refused_and_bad_arguments():
    async def body(ua, uri, seen):
        with pytest.raises(RegistrationFailed) as ei:
            await ua.register("sip:bob@example.com", registrar=uri)
        assert ei.value.status == 403
        with pytest.raises(TypeError):
            ua.register(42)
        with pytest.raises(libsip.Error):
            ua.register("tel:+1234")
        with pytest.raises(libsip.InvalidError):
            ua.register("sip:a@b", contacts="<sip:x@192.0.2.1")
        with pytest.raises(libsip.InvalidError):
            ua.register("sip:a@b", expires=-1)
        with pytest.raises(TypeError):
            ua.register("sip:a@b", contacts=[1])
        reg = ua.register("sip:carol@example.com", registrar=uri,
                          contacts=["<sip:c@192.0.2.1>;q=0.5", "<sip:c@192.0.2.2>"])
        with pytest.raises(libsip.InvalidError):
            reg.on("nothing", print)
        await reg.registered(timeout=WAIT)
        assert len(seen[1].headers["Contact"]) == 2
        assert reg.bindings == []
        ua.close()
        with pytest.raises(libsip.ClosedError):
            await reg.unregister()
        return True

    assert run_registrar(body, [(403, []), (200, [])])


def test_register_423_and_events_handler_async():
    async def body(ua, uri, seen):
        got = asyncio.get_running_loop().create_future()
        reg = ua.register("sip:dave@example.com", registrar=uri, expires=60)

        @reg.on("registered")
        async def registered(status, rsp):
            await asyncio.sleep(0)
            got.set_result((status, rsp.status))

        assert await asyncio.wait_for(got, WAIT) == (200, 200)
        assert seen[1].headers["Expires"][0].value == "3600"
        assert reg.expires == 3600
        return True

    assert run_registrar(body, [(423, [("Min-Expires", "3600")]), (200, [])])


def test_registration_events_async_iterator():
    def grant(req):
        return 200, [("Contact", _contact(req) + ";expires=120")]

    async def body(ua, uri, seen):
        reg = ua.register("sip:dave@example.com", registrar=uri)
        got = []

        async def watch():
            async for ev, status, rsp in reg:
                got.append((ev, status, rsp.status if rsp is not None else None))
            return got

        watcher = asyncio.ensure_future(watch())
        await reg
        reg.refresh()
        while len(got) < 2:
            await asyncio.sleep(0.01)
        await reg.unregister(timeout=WAIT)
        while len(got) < 3:
            await asyncio.sleep(0.01)
        reg.close()                                  # the iteration ends
        assert await asyncio.wait_for(watcher, WAIT) == [
            (RegEvent.REGISTERED, 200, 200), (RegEvent.REFRESHED, 200, 200),
            (RegEvent.UNREGISTERED, 200, 200)]
        assert await reg.next_event() is None
        # Events that came before anyone waited are kept, in order.
        reg2 = ua.register("sip:erin@example.com", registrar=uri)
        await reg2
        item = await reg2.next_event(timeout=WAIT)
        assert item[0] is RegEvent.REGISTERED and item[1] == 200
        with pytest.raises(asyncio.TimeoutError):
            await reg2.next_event(timeout=0.05)
        reg2.close()
        return True

    assert run_registrar(body, [grant, grant, (200, []), grant])
