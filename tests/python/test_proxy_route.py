# SPDX-License-Identifier: MIT
"""libsip.Proxy and its route functions in asyncio: a UAC, one or two UASs and a proxy, each a
Stack on 127.0.0.1 (ports 32000-32499, ten per test) sharing one loop; routes that relay,
fork, route on failure, redirect, reply, edit headers and the Request-URI, hook branches,
authenticate and save registrations; and the argument checks of the Python layer."""

import asyncio
import gc
import os
import subprocess
import sys
import types

import pytest

import libsip
from libsip import UA, CallFailed

OFFER = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
ANSWER = ("v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
WAIT = 5  # seconds: the bound of every wait
BASE = 32000  # this file's ports: 32000-32499


def _gone():
    gc.collect()
    return {k: v for k, v in libsip.live_objects().items() if v}


def run(n, body, make_proxy=None, **proxy_opts):
    """Runs body(env) with a proxy (ports BASE+10n), a UAC (+1) and two UASs (+2, +3) on one
    loop; env has proxy, a, b, c (the UAs), uri(user, which) and the ports. make_proxy(stack,
    loop) may make the proxy itself (to give it a location service...)."""
    async def main():
        loop = libsip.Loop(strict=True)
        port = BASE + 10 * n
        stacks = [libsip.Stack([f"udp:127.0.0.1:{port + i}"], loop=loop, transactions=True,
                               t1_ms=50) for i in range(4)]
        server = asyncio.ensure_future(loop.serve())
        try:
            if make_proxy is not None:
                proxy = make_proxy(stacks[0], loop)
            else:
                proxy = libsip.Proxy(stacks[0], **proxy_opts)
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


def answer_after(ua, seconds=0.0, status=200, seen=None):
    """ua answers each INVITE (180 first) with status after seconds."""
    @ua.on_invite
    async def on_invite(call):
        if seen is not None:
            seen.append(call.invite)
        await call.ring()
        if seconds:
            await asyncio.sleep(seconds)
        if status == 200:
            await call.answer(sdp=ANSWER)
        else:
            await call.reject(status)


def test_plain_relay_with_record_route_and_routed_bye():
    async def body(env):
        outcomes, routed = [], []
        bye = asyncio.get_running_loop().create_future()

        @env.proxy.route
        async def route(req):
            if req.routed:
                routed.append(req.method)
                if req.method == "BYE":
                    bye.set_result(req.method)
                if req.method == "ACK":             # the ACK of the 2xx: no transaction
                    return req.forward()
                return await req.proxy()            # along the Route set
            out = await req.proxy([env.uri("bob", 2)], record_route=True)
            outcomes.append(out)

        answer_after(env.b)
        call = await env.a.invite(env.uri("bob"), sdp=OFFER)
        assert call.remote_sdp is not None and "o=bob" in call.remote_sdp
        assert any("127.0.0.1:%d" % env.port in r for r in call.dialog.route_set), \
            call.dialog.route_set
        await call.hangup()
        assert await call.ended(timeout=WAIT) == 200
        await asyncio.wait_for(bye, WAIT)         # the BYE went through the proxy
        (out,) = outcomes
        assert out.status == 200 and out.ok
        assert [b.status for b in out.branches] == [200]
        assert out.branches[0].target == env.uri("bob", 2)
        assert out.response is not None and out.response.status == 200
        assert routed[-2:] == ["ACK", "BYE"] or "BYE" in routed
        return True

    assert run(0, body)


def test_forking_one_busy_one_answering():
    async def body(env):
        outcomes = []

        @env.proxy.route
        async def route(req):
            if req.routed:
                return await req.default_route()    # the ACK and BYE, as sipd routes them
            outcomes.append(await req.proxy([env.uri("b", 2), env.uri("c", 3)],
                                            record_route=True))

        answer_after(env.b, status=486)
        answer_after(env.c, seconds=0.2)
        call = await env.a.invite(env.uri("bob"), sdp=OFFER)
        assert len(call.dialog.route_set) == 1
        await call.hangup()
        assert await call.ended(timeout=WAIT) == 200
        (out,) = outcomes
        assert out.status == 200
        assert sorted(b.status for b in out.branches) == [200, 486]
        assert {b.target for b in out.branches} == {env.uri("b", 2), env.uri("c", 3)}
        return True

    assert run(1, body)


def test_failure_routing_to_a_second_target_after_486():
    async def body(env):
        statuses = []

        @env.proxy.route
        async def route(req):
            if req.routed:
                return await req.default_route()
            out = await req.proxy(env.uri("bob", 2))
            statuses.append(out.status)
            if out.status in (486, 408):
                out = await req.proxy([env.uri("vm", 3)])
                statuses.append(out.status)

        answer_after(env.b, status=486)
        seen = []
        answer_after(env.c, seen=seen)
        call = await env.a.invite(env.uri("bob"), sdp=OFFER)
        assert statuses == [486, 200]
        assert seen[0].uri.user == "vm"
        await call.hangup()
        return True

    assert run(2, body)


def test_no_answer_timeout_and_caller_cancel_in_failure_routing():
    async def body(env):
        outs = []
        cancelled = asyncio.get_running_loop().create_future()

        @env.proxy.route
        async def route(req):
            out = await req.proxy(env.uri("bob", 2), timeout=0.5 if req.uri.user == "bob"
                                  else None)
            outs.append(out.status)
            if out.status in (408, 480, 486, 487):
                if req.uri.user == "cancel":
                    cancelled.set_result(out.status)
                out = await req.proxy([env.uri("vm", 3)])
                outs.append(out.status)

        @env.b.on_invite
        async def ring(call):                         # rings, never answers
            await call.ring()

        answer_after(env.c)
        # No answer within the timeout: the ringing branch is cancelled, the voicemail answers.
        call = await env.a.invite(env.uri("bob"), sdp=OFFER)
        assert outs[0] in (408, 487) and outs[1] == 200
        await call.hangup()
        # The caller cancels: the outcome is 487, and relaying again gives it again.
        outs.clear()
        call = env.a.invite(env.uri("cancel"), sdp=OFFER)
        await asyncio.sleep(0.3)
        await call.hangup()
        assert await asyncio.wait_for(cancelled, WAIT) == 487
        with pytest.raises(CallFailed) as ei:
            await call.answered(timeout=WAIT)
        assert ei.value.status == 487
        await asyncio.sleep(0.1)
        assert outs == [487, 487]
        return True

    assert run(14, body)


def test_the_route_cancels_its_relay():
    async def body(env):
        outs = []

        @env.proxy.route
        async def route(req):
            relay = req.proxy(env.uri("bob", 2))     # starts at once; awaited below
            await asyncio.sleep(0.2)
            req.cancel()                              # CANCEL to the ringing branch
            out = await relay
            outs.append(out.status)
            with pytest.raises(libsip.NotFoundError):
                req.cancel()                          # nothing left to cancel

        @env.b.on_invite
        async def ring(call):
            await call.ring()

        with pytest.raises(CallFailed) as ei:
            await env.a.invite(env.uri("bob"), sdp=OFFER)
        assert ei.value.status == 487 and outs == [487]
        return True

    assert run(16, body)


def test_route_returning_forwards_the_best_response():
    async def body(env):
        @env.proxy.route
        async def route(req):
            await req.proxy(env.uri("bob", 2))       # 486, left as it is

        answer_after(env.b, status=486)
        with pytest.raises(CallFailed) as ei:
            await env.a.invite(env.uri("bob"), sdp=OFFER)
        assert ei.value.status == 486
        # An empty target list (nobody registered) is 480 at once, forwarded the same way.

        @env.proxy.route
        async def route2(req):
            out = await req.proxy([])
            assert out.status == 480 and out.branches == []

        with pytest.raises(CallFailed) as ei:
            await env.a.invite(env.uri("nobody"), sdp=OFFER)
        assert ei.value.status == 480
        return True

    assert run(3, body)


def test_redirect_and_reply():
    async def body(env):
        @env.proxy.route
        def route(req):                              # a plain function runs at once
            if req.uri.user == "moved":
                req.redirect([env.uri("carol", 3), "sip:dave@192.0.2.4"], status=301)
            elif req.uri.user == "nobody":
                req.redirect([])
            else:
                req.reply(403, "Go Away", headers={"X-Why": "policy"})

        with pytest.raises(CallFailed) as ei:
            await env.a.invite(env.uri("moved"), sdp=OFFER)
        assert ei.value.status == 301
        contacts = [str(h.value) for h in ei.value.response.headers["Contact"]]
        assert contacts == [f"<{env.uri('carol', 3)}>", "<sip:dave@192.0.2.4>"]
        rsp = await env.a.options(env.uri("nobody"))
        assert rsp.status == 404
        rsp = await env.a.options(env.uri("x"))
        assert (rsp.status, rsp.reason) == (403, "Go Away")
        assert rsp.headers["X-Why"][0].value == "policy"
        return True

    assert run(4, body)


def test_header_edits_and_request_uri_rewrite_reach_the_uas():
    async def body(env):
        got = asyncio.get_running_loop().create_future()

        @env.proxy.route
        async def route(req):
            assert req.method == "MESSAGE"
            req.msg.add_header("X-Routed", "yes")
            req.msg.remove_header("Subject")
            req.uri = env.uri("carol", 3)
            await req.proxy()                       # to the Request-URI

        @env.c.on_request
        def on_request(r):
            got.set_result((str(r.uri), r.headers["X-Routed"][0].value,
                            "Subject" in r.headers, r.max_forwards))
            r.reply(200)

        rsp = await env.a.message(env.uri("bob"), "hi", headers={"Subject": "secret"})
        assert rsp.status == 200
        uri, routed, subject, mf = await asyncio.wait_for(got, WAIT)
        assert uri == env.uri("carol", 3)
        assert routed == "yes" and not subject
        assert mf == 69
        return True

    assert run(5, body)


def test_branch_hooks_edit_requests_and_responses():
    async def body(env):
        seen_b = []

        def on_request(msg, index):
            msg.add_header("X-Branch", str(index))
            return msg.uri.user == "skip"             # True skips this target

        def on_response(msg, index):
            if msg.status == 200:
                msg.add_header("X-Hooked", str(index))

        @env.proxy.route
        async def route(req):
            if req.routed:
                return await req.default_route()
            await req.proxy([env.uri("skip", 3), env.uri("bob", 2)], on_request=on_request,
                            on_response=on_response)

        @env.b.on_request
        def on_b(r):
            seen_b.append(r.headers["X-Branch"][0].value)
            r.reply(200)

        @env.c.on_request
        def on_c(r):  # never reached: the hook skipped it
            seen_b.append("c")
            r.reply(500)

        rsp = await env.a.message(env.uri("bob"), "hi")
        assert rsp.status == 200
        assert rsp.headers["X-Hooked"][0].value == seen_b[0]
        assert seen_b == ["1"] or seen_b == ["0"]
        return True

    assert run(6, body)


def test_follow_redirects():
    async def body(env):
        outs = []

        @env.proxy.route
        async def route(req):
            out = await req.proxy(env.uri("bob", 2), follow_redirects=req.uri.user == "follow")
            outs.append((out.status, [b.target for b in out.branches]))

        @env.b.on_request
        def moved(r):
            r.reply(302, headers={"Contact": f"<{env.uri('carol', 3)}>"})

        @env.c.on_request
        def carol(r):
            r.reply(200)

        rsp = await env.a.message(env.uri("follow"), "hi")
        assert rsp.status == 200
        rsp = await env.a.message(env.uri("keep"), "hi")
        assert rsp.status == 302
        assert outs[0] == (200, [env.uri("bob", 2), env.uri("carol", 3)])
        assert outs[1] == (302, [env.uri("bob", 2)])
        return True

    assert run(15, body)


def test_authenticate_challenge_with_a_lookup_and_a_users_table():
    def make(stack, loop):
        return libsip.Proxy(stack, auth=libsip.AuthServer("example.com"),
                            users={"alice": "secret"})

    async def body(env):
        users = []
        # The options read back: the dict became a UserDB; read-only.
        assert isinstance(env.proxy.users, libsip.UserDB)
        assert env.proxy.users.count == 1
        assert env.proxy.redirect is False and env.proxy.stateless is False
        with pytest.raises(AttributeError):
            env.proxy.redirect = True

        @env.proxy.route
        async def route(req):
            if req.uri.user == "table":
                user = await req.authenticate()
            else:
                async def lookup(user, realm, algorithm):
                    await asyncio.sleep(0)
                    return "secret" if (user, realm) == ("alice", "example.com") else None
                user = await req.authenticate(lookup)
            if user is None:
                return req.challenge()
            users.append((user, req.auth_user))
            req.reply(200, headers={"X-User": user})

        # No credentials: the challenge is the final answer.
        rsp = await env.a.options(env.uri("x"))
        assert rsp.status in (401, 407)
        env.a.add_credential("alice", "secret")
        rsp = await env.a.options(env.uri("x"))
        assert rsp.status == 200 and rsp.headers["X-User"][0].value == "alice"
        rsp = await env.a.options(env.uri("table"))
        assert rsp.status == 200
        assert users == [("alice", "alice"), ("alice", "alice")]
        env.b.add_credential("alice", "wrong")
        rsp = await env.b.options(env.uri("x"))
        assert rsp.status in (401, 407)
        return True

    assert run(7, body, make_proxy=make)


def test_registrar_save_lookup_and_a_call_to_the_registered_contact():
    def make(stack, loop):
        loc = libsip.Location(loop)
        reg = libsip.Registrar(loc)
        auth = libsip.AuthServer("example.com")
        p = libsip.Proxy(stack, location=loc, registrar=reg, auth=auth,
                         users={"bob": "pw"})
        return p

    async def body(env):
        lookups = []

        @env.proxy.route
        async def route(req):
            if req.method == "REGISTER":
                if await req.authenticate() is None:
                    return req.challenge()
                assert await req.save() == 200
                return
            if req.routed:
                return await req.default_route()
            found = await req.lookup()
            lookups.append(found)
            await req.proxy(found)

        answer_after(env.b)
        dst = f"udp:127.0.0.1:{env.port}"
        reg = await env.b.register("sip:bob@example.com", password="pw",
                                   registrar=f"sip:127.0.0.1:{env.port}", dst=dst)
        assert reg.expires > 0
        call = await env.a.invite("sip:bob@example.com", sdp=OFFER, dst=dst)
        (found,) = lookups
        assert len(found) == 1 and found[0].aor == "sip:bob@example.com"
        assert f"127.0.0.1:{env.port + 2}" in found[0].contact
        await call.hangup()
        await reg.unregister(timeout=WAIT)
        return True

    assert run(8, body, make_proxy=make)


def test_no_route_function_routes_as_sipd():
    def make(stack, loop):
        loc = libsip.Location(loop)
        return libsip.Proxy(stack, location=loc,
                            registrar=libsip.Registrar(loc, auth_required=False))

    async def body(env):
        assert env.proxy.is_local("sip:bob@127.0.0.1")
        answer_after(env.b)
        dst = f"udp:127.0.0.1:{env.port}"
        reg = await env.b.register("sip:bob@127.0.0.1", registrar=f"sip:127.0.0.1:{env.port}",
                                   dst=dst)
        call = await env.a.invite("sip:bob@127.0.0.1", sdp=OFFER, dst=dst)
        assert "o=bob" in call.remote_sdp
        await call.hangup()
        rsp = await env.a.options("sip:nobody@127.0.0.1", dst=dst)
        assert rsp.status in (404, 480)
        await reg.unregister(timeout=WAIT)
        return True

    assert run(13, body, make_proxy=make)


def test_route_errors_answer_500():
    async def body(env):
        @env.proxy.route
        async def route(req):
            if req.uri.user == "boom":
                raise RuntimeError("route failed")
            if req.uri.user == "idle":
                return                               # decides nothing: 500
            req.reply(200)

        rsp = await env.a.options(env.uri("boom"))
        assert rsp.status == 500
        rsp = await env.a.options(env.uri("idle"))
        assert rsp.status == 500
        return True

    assert run(9, body)


def test_a_binding_is_called_at_its_contact_unless_behind_a_nat():
    async def body(env):
        got = []
        from_c = f"sip:127.0.0.1:{env.port + 3};transport=udp"
        contacts = {"pub": env.uri("pub", 2), "priv": "sip:priv@10.1.2.3:5060"}

        @env.proxy.route
        async def route(req):
            # A binding as a lookup gives it, registered from c's address (its received).
            t = types.SimpleNamespace(contact=contacts[req.uri.user], q=None, path="",
                                      received=from_c, conn_id=0, instance="", reg_id=0)
            await req.proxy([t])

        @env.b.on_request
        def on_b(r):
            got.append(("b", r.uri.user))
            r.reply(202)

        @env.c.on_request
        def on_c(r):
            got.append(("c", r.uri.user))
            r.reply(202)

        # RFC 3261 §10.2: a public contact another UA registered is called where it says; a
        # private one (behind a NAT) through the address its REGISTER came from.
        assert (await env.a.message(env.uri("pub"), "hi")).status == 202
        assert (await env.a.message(env.uri("priv"), "hi")).status == 202
        assert got == [("b", "pub"), ("c", "priv")]
        return True

    assert run(13, body)


def test_stateless_proxy_forwards():
    async def body(env):
        got = []

        @env.proxy.route
        def route(req):
            with pytest.raises(libsip.Error) as ei:
                req.proxy(env.uri("bob", 2))
            assert ei.value.name == "SIP_ENOTSUP"
            req.forward(env.uri("bob", 2))

        @env.b.on_request
        def on_b(r):
            got.append(str(r.uri))
            r.reply(202)

        rsp = await env.a.message(env.uri("x"), "hi")
        assert rsp.status == 202
        assert got == [env.uri("bob", 2)]
        assert env.proxy.stateless is True and env.proxy.users is None
        return True

    assert run(10, body, stateless=True)


def test_argument_checks():
    async def body(env):
        with pytest.raises(TypeError):
            libsip.Proxy(env.proxy.stack, stateles=True)
        with pytest.raises(TypeError):
            libsip.Proxy(env.proxy.stack, stateless=1)
        with pytest.raises(TypeError):
            libsip.Proxy(env.proxy.stack, location="here")
        with pytest.raises(TypeError):
            libsip.Proxy(42)
        with pytest.raises(TypeError):
            env.proxy.route(42)
        with pytest.raises(TypeError):
            libsip.ProxyRequest()
        errors = []

        @env.proxy.route
        async def route(req):
            assert env.proxy.count >= 1 and not req.done and not req.routed
            assert req.transaction is not None and req.auth_user is None and req.is_local
            assert "OPTIONS" in repr(req) and req.branches == []
            for call in (lambda: req.proxy(42), lambda: req.proxy([1]),
                         lambda: req.proxy(parallel="yes"), lambda: req.proxy(timeout="x"),
                         lambda: req.proxy(on_request=3), lambda: req.reply("200"),
                         lambda: req.redirect("sip:a@b", status="302"),
                         lambda: req.forward(5), lambda: req.authenticate(7)):
                try:
                    call()
                except TypeError:
                    errors.append("type")
            try:
                req.proxy(colour="red")
            except TypeError:
                errors.append("unknown")
            for call in (lambda: req.reply(99), lambda: req.redirect("sip:a@b", 200),
                         lambda: req.proxy(timeout=-1)):
                try:
                    call()
                except libsip.InvalidError:
                    errors.append("invalid")
            with pytest.raises(libsip.NotFoundError):
                await req.lookup()
            with pytest.raises(libsip.NotFoundError):
                req.save()
            with pytest.raises(libsip.InvalidError):
                req.authenticate()
            req.reply(200)
            assert req.done
            with pytest.raises(libsip.Error):
                req.reply(200)

        rsp = await env.a.options(env.uri("x"))
        assert rsp.status == 200
        assert errors == ["type"] * 9 + ["unknown"] + ["invalid"] * 3
        assert "Proxy" in repr(env.proxy)
        return True

    assert run(11, body)


def test_closing_the_stack_closes_the_proxy():
    async def body(env):
        waiting = asyncio.get_running_loop().create_future()
        results = []

        @env.proxy.route
        async def route(req):
            waiting.set_result(req)
            try:
                await req.proxy(env.uri("bob", 2))
            except libsip.ClosedError:
                results.append("closed")
                raise

        @env.b.on_invite
        async def on_invite(call):
            await call.ring()                         # never answers

        call = env.a.invite(env.uri("bob"), sdp=OFFER)
        req = await asyncio.wait_for(waiting, WAIT)
        await asyncio.sleep(0.1)
        env.proxy.close()
        assert env.proxy.closed
        with pytest.raises(libsip.ClosedError):
            req.reply(200)
        with pytest.raises(CallFailed) as ei:                # the proxy answered 503
            await call.answered(timeout=WAIT)
        assert ei.value.status == 503
        return results

    assert run(12, body) in ([], ["closed"])


EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python",
                       "proxy_failover.py")


def test_example_proxy_failover():
    """examples/python/proxy_failover.py: bob registers (digest); a call while he is busy, and
    one he lets ring past --timeout, reach the voicemail."""
    port = BASE + 200
    proc = subprocess.Popen(
        [sys.executable, EXAMPLE, "--listen", f"udp:127.0.0.1:{port}", "--domain",
         "example.com", "--user", "bob:pw", "--voicemail", f"sip:vm@127.0.0.1:{port + 3}",
         "--timeout", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def main():
        loop = libsip.Loop(strict=True)
        stacks = [libsip.Stack([f"udp:127.0.0.1:{port + i}"], loop=loop, transactions=True,
                               t1_ms=50) for i in (1, 2, 3)]
        server = asyncio.ensure_future(loop.serve())
        try:
            with UA(stacks[0]) as a, UA(stacks[1]) as bob, UA(stacks[2]) as vm:
                busy = [True]

                @bob.on_invite
                async def on_bob(call):
                    await call.ring()
                    if busy[0]:
                        await call.reject(486)           # else rings until cancelled

                seen = []
                answer_after(vm, seen=seen)
                for _ in range(50):                   # the example starts up
                    try:
                        reg = await bob.register("sip:bob@example.com", password="pw",
                                                 registrar="sip:example.com",
                                                 dst=f"udp:127.0.0.1:{port}",
                                                 retry_initial=False)
                        break
                    except libsip.RegistrationFailed:
                        await asyncio.sleep(0.1)
                call = await a.invite("sip:bob@example.com", sdp=OFFER,
                                      dst=f"udp:127.0.0.1:{port}")
                assert seen and seen[0].uri.user == "vm"
                await call.hangup()
                busy[0] = False
                call = await a.invite("sip:bob@example.com", sdp=OFFER,
                                      dst=f"udp:127.0.0.1:{port}", timeout=4 * WAIT)
                assert len(seen) == 2 and seen[1].uri.user == "vm"
                await call.hangup()
                reg.close()
                return True
        finally:
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    try:
        assert asyncio.run(main())
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
