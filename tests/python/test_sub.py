# SPDX-License-Identifier: MIT
"""libsip.Subscription (RFC 6665): two UAs on two Stacks over UDP on 127.0.0.1, one subscribing
to the other's message-summary, in asyncio: NOTIFYs as an async iterator, notify(),
terminate() with a reason, unsubscribe(), 489 for an unknown package, a subscription inside a
call's dialog, and the argument checks."""

import asyncio
import gc

import pytest

import libsip
from libsip import UA, SubState, Subscription, SubscriptionFailed

MWI = "application/simple-message-summary"
SUMMARY = "Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n"
WAIT = 5  # seconds: the bound of every wait


def _gone():
    gc.collect()
    live = libsip.live_objects()
    return {k: v for k, v in live.items() if v}


def run_pair(body, **ua_opts):
    """Runs body(alice, bob, bob_uri) with two UAs on two Stacks sharing one loop, then closes
    everything and checks that no libsip object is left."""
    async def main():
        loop = libsip.Loop(strict=True)
        a = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        b = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        server = asyncio.ensure_future(loop.serve())
        try:
            with UA(a, **ua_opts) as alice, b.ua(**ua_opts) as bob:
                uri = "sip:bob@" + b.address().split(":", 1)[1]
                return await asyncio.wait_for(body(alice, bob, uri), 2 * WAIT)
        finally:
            a.close()
            b.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    out = asyncio.run(main())
    assert _gone() == {}
    return out


def test_subscribe_notify_unsubscribe():
    async def body(alice, bob, uri):
        accepted = asyncio.get_running_loop().create_future()

        @bob.on_request
        def on_request(req):
            assert req.method == "SUBSCRIBE"
            accepted.set_result(bob.accept_subscription(req, body=SUMMARY, content_type=MWI,
                                                        expires=600))

        sub = await alice.subscribe(uri, "message-summary", expires=900, accept=MWI)
        assert isinstance(sub, Subscription) and sub.is_subscriber
        n = await asyncio.wait_for(sub.next_notify(), WAIT)
        assert n.state is SubState.ACTIVE and n.body == SUMMARY.encode()
        assert n.content_type == MWI and n.subscription is sub and n.expires == 600
        assert sub.state is SubState.ACTIVE and sub.event == "message-summary"
        assert 590 <= sub.expires <= 600
        notifier = await asyncio.wait_for(accepted, WAIT)
        assert not notifier.is_subscriber and notifier.state is SubState.ACTIVE
        notifier.notify("Messages-Waiting: no\r\n")
        n = await asyncio.wait_for(sub.next_notify(), WAIT)
        assert n.body == b"Messages-Waiting: no\r\n"
        assert await asyncio.wait_for(sub.unsubscribe(), WAIT) == 200
        rest = [n async for n in sub]
        assert [n.state for n in rest] == [SubState.TERMINATED]
        assert sub.state is SubState.TERMINATED and notifier.state is SubState.TERMINATED
        assert alice.dialog_count == 0 and bob.dialog_count == 0
        return True

    assert run_pair(body, events="message-summary")


def test_notifier_terminates_with_reason():
    async def body(alice, bob, uri):
        subs = []

        @bob.on_request
        def on_request(req):
            subs.append(bob.accept_subscription(req, body=SUMMARY, content_type=MWI,
                                                state="pending"))

        sub = await alice.subscribe(uri, "message-summary")
        seen = []
        async for n in sub:
            seen.append(n.state)
            if n.state is SubState.PENDING:
                subs[0].terminate("rejected", retry_after=60)
        assert seen == [SubState.PENDING, SubState.TERMINATED]
        assert sub.reason == "rejected" and sub.retry_after == 60 and sub.end_status == 200
        with pytest.raises(libsip.ClosedError):
            subs[0].notify("x")
        return True

    assert run_pair(body, events="message-summary")


def test_unknown_package_489():
    async def body(alice, bob, uri):
        with pytest.raises(SubscriptionFailed) as e:
            await alice.subscribe(uri, "presence")
        assert e.value.status == 489
        assert e.value.response.headers["Allow-Events"][0].value == "message-summary"
        return True

    assert run_pair(body, events="message-summary")


def test_subscription_inside_a_call():
    async def body(alice, bob, uri):
        @bob.on_invite
        async def on_invite(call):
            await call.answer(sdp="v=0\r\n")

        @bob.on_request
        def on_request(req):
            bob.accept_subscription(req, body="<dialog-info/>",
                                    content_type="application/dialog-info+xml")

        call = await alice.invite(uri, sdp="v=0\r\n")
        sub = await alice.subscribe(None, "dialog", call=call)
        n = await asyncio.wait_for(sub.next_notify(), WAIT)
        assert n.body == b"<dialog-info/>"
        assert sub.dialog.call_id == call.dialog.call_id
        assert alice.dialog_count == 1
        await asyncio.wait_for(sub.unsubscribe(), WAIT)
        assert call.state is libsip.CallState.CONFIRMED and alice.dialog_count == 1
        await call.hangup()
        assert await call.ended(timeout=WAIT) == 200
        return True

    assert run_pair(body, events="dialog")


def test_ua_close_ends_subscriptions_and_checks():
    async def body(alice, bob, uri):
        @bob.on_request
        def on_request(req):
            bob.accept_subscription(req, body=SUMMARY, content_type=MWI)

        with pytest.raises(TypeError):
            alice.subscribe(uri, 5)
        with pytest.raises(TypeError):
            alice.subscribe(uri, "x", expires="1")
        with pytest.raises(TypeError):
            alice.subscribe(uri, "x", colour=1)
        with pytest.raises(libsip.InvalidError):
            alice.subscribe(uri, "")
        with pytest.raises(TypeError):
            Subscription()
        sub = await alice.subscribe(uri, "message-summary")
        await asyncio.wait_for(sub.next_notify(), WAIT)
        with pytest.raises(libsip.InvalidError):
            sub.notify("x")
        with pytest.raises(libsip.InvalidError):
            sub.notify("x", state="gone")
        alice.close()
        with pytest.raises(libsip.ClosedError):
            await sub.ended()
        return True

    assert run_pair(body, events="message-summary")


ALLOW_REFER = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, NOTIFY, REFER"


def test_blind_transfer_with_refer():
    async def body(alice, bob, uri):
        alice_uri = "sip:carol@" + alice.stack.address().split(":", 1)[1]
        seen = {}

        @alice.on_invite
        async def carol(call):          # the transfer target, on alice's UA
            await call.answer(sdp="v=0\r\n")

        @bob.on_invite
        async def on_invite(call):
            if "norefersub" in seen:      # the third call takes REFER without a subscription
                @call.on("refer")
                def refer_nosub(req):
                    sub = bob.accept_subscription(req)
                    assert sub.state is SubState.TERMINATED

                await call.answer(sdp="v=0\r\n")
                return
            if "new" in seen:             # the second call leaves REFER to the core: 501
                await call.answer(sdp="v=0\r\n")
                return

            @call.on("refer")
            async def refer(req):
                seen["refer_to"] = req.headers["Refer-To"][0].value
                seen["referred_by"] = req.headers["Referred-By"][0].value
                sub = bob.accept_subscription(req)    # 202, NOTIFY 100 Trying
                new = bob.invite(alice_uri, sdp="v=0\r\n")
                await new.answered(timeout=WAIT)
                sub.terminate("noresource", body="SIP/2.0 200 OK\r\n")
                seen["new"] = new

            await call.answer(sdp="v=0\r\n")

        call = await alice.invite(uri, sdp="v=0\r\n")
        status = await call.transfer(alice_uri, referred_by="<sip:alice@127.0.0.1>",
                                     timeout=WAIT)
        assert status == 200
        assert seen["refer_to"] == f"<{alice_uri}>"
        assert seen["referred_by"] == "<sip:alice@127.0.0.1>"
        await call.hangup()
        await seen["new"].hangup()
        await asyncio.wait_for(seen["new"].ended(), WAIT)

        # A refused REFER raises.
        call = await alice.invite(uri, sdp="v=0\r\n")
        sub = alice.refer(None, alice_uri, call=call)
        with pytest.raises(SubscriptionFailed) as e:
            await sub
        assert e.value.status == 501      # the call has no handler for REFER this time
        await call.hangup()

        # RFC 4488: no subscription asked for; the first call's handler grants none.
        seen["norefersub"] = True
        call = await alice.invite(uri, sdp="v=0\r\n")
        with pytest.raises(TypeError):
            alice.refer(None, alice_uri, call=call, norefersub=1)
        sub = await alice.refer(None, alice_uri, call=call, norefersub=True)
        assert sub.state is SubState.TERMINATED and sub.end_status == 200
        assert [n async for n in sub] == []
        await call.hangup()
        return True

    assert run_pair(body, allow=ALLOW_REFER, events="dialog")


def test_attended_transfer_among_three_uas():
    """RFC 5589 §7: alice talks to bob and to carol, then transfers bob to carol: bob's new
    call to carol carries Replaces (RFC 3891), carol's UA ends alice's consultation call, and
    alice hangs up the first; bob and carol stay connected."""
    async def main():
        loop = libsip.Loop(strict=True)
        stacks = [libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
                  for _ in range(3)]
        server = asyncio.ensure_future(loop.serve())
        try:
            alice, bob, carol = (s.ua(allow=ALLOW_REFER) for s in stacks)
            with alice, bob, carol:
                uri = ["sip:%s@" % n + s.address().split(":", 1)[1]
                       for n, s in zip(("alice", "bob", "carol"), stacks)]
                seen = {}

                @carol.on_invite
                async def at_carol(call):
                    seen.setdefault("carol_calls", []).append(call)
                    await call.answer(sdp="v=0\r\n")

                @bob.on_invite
                async def at_bob(call):
                    @call.on("refer")
                    async def refer(req):
                        seen["replaces"] = libsip.refer_target(req)[1]["Replaces"]
                        # The library does the rest: 202, the new call with Replaces, the
                        # NOTIFYs of its progress.
                        seen["new"] = new = call.accept_transfer(req, sdp="v=0\r\n")
                        await new.answered(timeout=WAIT)

                    await call.answer(sdp="v=0\r\n")

                to_bob = await alice.invite(uri[1], sdp="v=0\r\n")
                to_carol = await alice.invite(uri[2], sdp="v=0\r\n")
                with pytest.raises(TypeError):
                    await to_bob.transfer()
                status = await to_bob.transfer(to_call=to_carol, timeout=WAIT)
                assert status == 200
                d = to_carol.dialog
                assert seen["replaces"] == (f"{d.call_id};to-tag={d.remote_tag};"
                                            f"from-tag={d.local_tag}")
                # Carol's UA ended the consultation call once bob's replaced it.
                assert await to_carol.ended(timeout=WAIT) == 200
                assert not to_carol.ended_locally
                await to_bob.hangup()
                assert await to_bob.ended(timeout=WAIT) == 200
                new = seen["new"]
                assert new.state is libsip.CallState.CONFIRMED
                first, second = seen["carol_calls"]
                assert first.state is libsip.CallState.ENDED
                assert second.state is libsip.CallState.CONFIRMED
                assert alice.dialog_count == 0
                await new.hangup()
                assert await second.ended(timeout=WAIT) == 200
                seen.clear()
        finally:
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    asyncio.run(main())
    assert _gone() == {}


def test_blind_transfer_accepted_by_the_library():
    """RFC 5589 §6: alice transfers bob to carol; bob's handler is one call.accept_transfer():
    the new call to carol carries Referred-By, alice hears 100, 180 and 200 in its NOTIFYs,
    and hangs up. A busy carol is reported as 486 and bob's first call stays."""
    async def main():
        loop = libsip.Loop(strict=True)
        stacks = [libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
                  for _ in range(3)]
        server = asyncio.ensure_future(loop.serve())
        try:
            alice, bob, carol = (s.ua(allow=ALLOW_REFER) for s in stacks)
            with alice, bob, carol:
                uri = ["sip:%s@" % n + s.address().split(":", 1)[1]
                       for n, s in zip(("alice", "bob", "carol"), stacks)]
                seen = {"busy": False, "new": []}

                @carol.on_invite
                async def at_carol(call):
                    if seen["busy"]:
                        await call.reject(486)
                        return
                    seen["referred_by"] = call.invite.headers["Referred-By"][0].value
                    await call.ring()
                    await call.answer(sdp="v=0\r\n")

                @bob.on_invite
                async def at_bob(call):
                    @call.on("refer")
                    def refer(req):
                        with pytest.raises(TypeError):
                            call.accept_transfer("not a request")
                        with pytest.raises(TypeError):
                            call.accept_transfer(req, late_offer=1)
                        seen["new"].append(call.accept_transfer(req, sdp="v=0\r\n"))

                    seen["bob_call"] = call
                    await call.answer(sdp="v=0\r\n")

                to_bob = await alice.invite(uri[1], sdp="v=0\r\n")
                sub = alice.refer(None, uri[2], call=to_bob, referred_by=f"<{uri[0]}>")
                await sub.established(timeout=WAIT)
                statuses = [n.status async for n in sub]
                assert statuses == [100, 180, 200]
                assert seen["referred_by"] == f"<{uri[0]}>"
                new = seen["new"][0]
                assert await new.answered(timeout=WAIT) is new
                await to_bob.hangup()
                assert await seen["bob_call"].ended(timeout=WAIT) == 200

                # A busy target: 486 reported, bob's call to alice stays up.
                seen["busy"] = True
                to_bob = await alice.invite(uri[1], sdp="v=0\r\n")
                assert await to_bob.transfer(uri[2], timeout=WAIT) == 486
                with pytest.raises(libsip.CallFailed) as e:
                    await seen["new"][1]
                assert e.value.status == 486
                assert to_bob.state is libsip.CallState.CONFIRMED
                await to_bob.hangup()
                await new.hangup()
                assert await new.ended(timeout=WAIT) == 200
                seen.clear()
        finally:
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    asyncio.run(main())
    assert _gone() == {}
