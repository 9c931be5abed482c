# SPDX-License-Identifier: MIT
"""libsip.UA and libsip.Call: two user agents on two Stacks over UDP on 127.0.0.1 calling each
other in asyncio (ring, answer, INFO, BYE either way, 486, CANCEL, lifetimes), and the
argument checks of the Python layer."""

import asyncio
import gc

import pytest

import libsip
from libsip import UA, CallFailed, CallState, DialogState

OFFER = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
ANSWER = ("v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
CAPS_A = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
          "a=fmtp:101 0-15\r\n")
CAPS_B = ("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 5000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n")
WAIT = 5  # seconds: the bound of every wait


def _gone():
    gc.collect()
    live = libsip.live_objects()
    return {k: v for k, v in live.items() if v}


def run_pair(body, **ua_opts):
    """Runs body(alice, bob, bob_uri) inside asyncio with two UAs on two Stacks sharing one
    loop (short T1 so the core's timers end quickly), then closes everything and checks that
    no libsip object is left."""
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


def test_call_ring_answer_info_bye():
    async def body(alice, bob, uri):
        seen = {}
        incoming = asyncio.get_running_loop().create_future()

        @bob.on_invite
        async def on_invite(call):
            seen["state_in"] = call.state
            seen["offer"] = call.remote_sdp
            seen["is_uac"] = call.is_uac

            @call.on("info")
            def info(req):
                seen["info"] = (req.method, req.body, req.headers["Content-Type"][0].value)
                req.reply(200)

            await call.ring()
            seen["early"] = call.state
            await call.answer(sdp=ANSWER)
            await call.answered(timeout=WAIT)
            incoming.set_result(call)
            seen["end"] = await call.ended(timeout=WAIT)
            seen["ended_locally_b"] = call.ended_locally

        states = []
        responses = []
        call = alice.invite(uri, sdp=OFFER, from_="Alice <sip:alice@127.0.0.1>",
                            headers={"Subject": "test"})
        call.on_state(lambda st, msg: states.append(st))
        call.on("response", lambda rsp: responses.append(rsp.status))
        assert call.state is CallState.CALLING and call.is_uac
        inv = call.invite  # kept by the call only while its transaction is on
        assert call in alice.calls
        got = await asyncio.wait_for(call.answered(), WAIT)
        assert got is call and call.state is CallState.CONFIRMED
        assert call.remote_sdp == ANSWER and call.local_sdp == OFFER
        assert call.response.status == 200
        assert inv.headers["Subject"][0].value == "test" and inv.method == "INVITE"
        bcall = await asyncio.wait_for(incoming, WAIT)
        assert bcall.state is CallState.CONFIRMED and not bcall.is_uac
        # Both dialogs: the same Call-ID, the tags crossed.
        da, db = call.dialog, bcall.dialog
        assert da.state is DialogState.CONFIRMED and not da.is_uas and db.is_uas
        assert da.call_id == db.call_id == inv.call_id
        assert (da.local_tag, da.remote_tag) == (db.remote_tag, db.local_tag)
        assert da.remote_target.startswith("sip:") and da.route_set == []
        assert da.local_cseq == 2 and db.remote_cseq == 2  # the INVITE, the PRACK of the 180
        assert "Alice" in da.local_address and da.local_target
        assert da.match(call.response) is True and da.match(inv) is False  # no To tag yet
        # INFO inside the call; the answer comes back as a Message.
        rsp = await asyncio.wait_for(call.request("INFO", "Signal=5\r\nDuration=160\r\n",
                                                  "application/dtmf-relay"), WAIT)
        assert rsp.status == 200
        assert seen["info"] == ("INFO", b"Signal=5\r\nDuration=160\r\n",
                                "application/dtmf-relay")
        # An OPTIONS nobody handles is answered 200 by default.
        assert (await asyncio.wait_for(call.request("OPTIONS"), WAIT)).status == 200
        assert da.local_cseq == 4
        del da, db
        await call.hangup('SIP;cause=200;text="done"')
        assert call.state is CallState.ENDED and call.ended_locally
        assert await call.ended(timeout=WAIT) == 200
        assert await asyncio.wait_for(bcall.ended(), WAIT) == 200
        # Answered once: answered() still returns the call after its end.
        assert await call.answered() is call
        await asyncio.sleep(0.05)
        assert call not in alice.calls and alice.call_count == 0 and bob.dialog_count == 0
        with pytest.raises(libsip.ClosedError):
            call.hangup()
        return seen, states, responses

    seen, states, responses = run_pair(body)
    assert seen["state_in"] is CallState.INCOMING and seen["early"] is CallState.EARLY
    assert seen["offer"] == OFFER and seen["is_uac"] is False
    assert seen["end"] == 200 and seen["ended_locally_b"] is False
    assert states == [CallState.EARLY, CallState.CONFIRMED, CallState.ENDED]
    assert responses == [180, 200]


def test_callee_hangs_up():
    async def body(alice, bob, uri):
        @bob.on_invite
        async def on_invite(call):
            call.answer(ANSWER)  # sync use: sent at once
            await call.answered(timeout=WAIT)
            await call.bye()

        states = []
        call = alice.invite(uri, sdp=OFFER)

        @call.on_state
        async def state(st, msg):  # an async handler runs as a task
            await asyncio.sleep(0)
            states.append(st)

        await asyncio.wait_for(call, WAIT)
        assert call.state in (CallState.CONFIRMED, CallState.ENDED)
        assert call.ua is alice and alice.stack.closed is False
        assert await call.ended(timeout=WAIT) == 200
        assert not call.ended_locally
        await asyncio.sleep(0.01)
        assert states == [CallState.CONFIRMED, CallState.ENDED]
        return call.state

    assert run_pair(body) is CallState.ENDED


def test_reject_busy():
    async def body(alice, bob, uri):
        @bob.on_invite
        def on_invite(call):
            call.reject(486)

        call = alice.invite(uri, sdp=OFFER)
        with pytest.raises(CallFailed) as ei:
            await call.answered(timeout=WAIT)
        assert ei.value.status == 486 and ei.value.reason == ei.value.phrase == "Busy Here"
        assert ei.value.response.status == 486
        assert call.end_status == 486 and call.state is CallState.ENDED
        assert await call.ended(timeout=WAIT) == 486
        # Awaiting the call again raises the same way.
        with pytest.raises(CallFailed):
            await call
        return True

    assert run_pair(body)


def test_cancel_before_answer_gives_487():
    async def body(alice, bob, uri):
        ringing = asyncio.get_running_loop().create_future()
        ends = asyncio.get_running_loop().create_future()

        @bob.on_invite
        async def on_invite(call):
            await call.ring(180)
            ringing.set_result(True)
            ends.set_result(await call.ended(timeout=WAIT))

        call = alice.invite(uri, sdp=OFFER)
        await asyncio.wait_for(ringing, WAIT)
        await asyncio.sleep(0.05)  # the 180 reaches alice: the CANCEL may go
        call.hangup()
        assert call.state is CallState.ENDED and call.ended_locally
        with pytest.raises(CallFailed) as ei:
            await call.answered(timeout=WAIT)
        end_b = await asyncio.wait_for(ends, WAIT)
        return ei.value.status, end_b

    status, end_b = run_pair(body)
    assert status == 487 and end_b == 487


def test_cancel_carries_a_reason():
    async def body(alice, bob, uri):
        reasons = []

        def tap(msg):
            # A tap before every layer of bob's transport: sees each CANCEL as it came.
            if msg.is_request and msg.method == "CANCEL":
                reasons.append(msg.headers["Reason"][0].value if "Reason" in msg.headers
                               else None)
            return False

        bob.stack.transport.add_handler(tap, libsip.HandlerPriority.FIRST)
        ringing = []

        @bob.on_invite
        async def on_invite(call):
            call.ring()
            ringing.append(call)
            await call.ended(timeout=WAIT)

        async def until(cond):
            for _ in range(WAIT * 100):
                if cond():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("timed out")

        # The call's hangup: its reason goes in the CANCEL.
        call = alice.invite(uri, sdp=OFFER)
        call.on("response", lambda rsp: ringing.append(rsp.status))
        await until(lambda: 180 in ringing)
        call.hangup('SIP;cause=200;text="Call completed elsewhere"')
        with pytest.raises(CallFailed):
            await call.answered(timeout=WAIT)
        # A transaction's cancel(reason).
        host = bob.stack.address().split(":", 1)[1]
        req = libsip.Message.request("INVITE", uri, headers=[
            ("Max-Forwards", "70"), ("From", "<sip:alice@127.0.0.1>;tag=r1"),
            ("To", f"<sip:bob@{host}>"), ("Call-ID", "reason-1@127.0.0.1"),
            ("CSeq", "1 INVITE"), ("Contact", "<sip:alice@127.0.0.1>")])
        got = []
        txn = alice.stack.request(req, bob.stack.address(),
                                  on_response=lambda st, rsp: got.append(st))
        await until(lambda: 180 in got)
        with pytest.raises(TypeError):
            txn.cancel(reason=5)
        txn.cancel('SIP;cause=480;text="gone"')
        rsp = await asyncio.wait_for(txn, WAIT)
        await until(lambda: len(reasons) == 2)
        return rsp.status, reasons

    status, reasons = run_pair(body)
    assert status == 487
    assert reasons == ['SIP;cause=200;text="Call completed elsewhere"',
                       'SIP;cause=480;text="gone"']


def test_timeout_cancels():
    async def body(alice, bob, uri):
        @bob.on_invite
        def on_invite(call):
            call.ring()

        call = alice.invite(uri, timeout=0.2)
        with pytest.raises(CallFailed) as ei:
            await call.answered(timeout=WAIT)
        return ei.value.status

    assert run_pair(body) == 487


def test_no_invite_handler_and_out_of_dialog_requests():
    async def body(alice, bob, uri):
        # Without on_invite an INVITE is answered 480 Temporarily Unavailable.
        with pytest.raises(CallFailed) as ei:
            await alice.invite(uri).answered(timeout=WAIT)
        assert ei.value.status == 480
        # OPTIONS outside a dialog: the UA's capabilities.
        a = alice.stack
        host = bob.stack.address().split(":", 1)[1]
        req = libsip.Message.request("OPTIONS", uri, headers=[
            ("Max-Forwards", "70"), ("From", "<sip:alice@127.0.0.1>;tag=x1"),
            ("To", f"<sip:bob@{host}>"), ("Call-ID", "ood-1@127.0.0.1"),
            ("CSeq", "1 OPTIONS")])
        rsp = await asyncio.wait_for(a.request(req, bob.stack.address()), WAIT)
        assert rsp.status == 200 and "MESSAGE" in [h.value for h in rsp.headers["Allow"]]
        assert rsp.headers["Server"][0].value == "test-ua/1"
        # A Stack handler gets what the UA does not take.
        got = []

        @bob.stack.on_request("MESSAGE")
        def message(r):
            got.append(r.body)
            r.reply(202)

        msg = libsip.Message.request("MESSAGE", uri, headers=[
            ("Max-Forwards", "70"), ("From", "<sip:alice@127.0.0.1>;tag=x2"),
            ("To", f"<sip:bob@{host}>"), ("Call-ID", "ood-2@127.0.0.1"),
            ("CSeq", "1 MESSAGE")], body=b"hi", content_type="text/plain")
        rsp = await asyncio.wait_for(a.request(msg, bob.stack.address()), WAIT)
        assert rsp.status == 202 and got == [b"hi"]

        # ua.on_request comes first.
        @bob.on_request
        async def on_request(r):
            r.reply(403)

        msg2 = libsip.Message.request("MESSAGE", uri, headers=[
            ("Max-Forwards", "70"), ("From", "<sip:alice@127.0.0.1>;tag=x3"),
            ("To", f"<sip:bob@{host}>"), ("Call-ID", "ood-3@127.0.0.1"),
            ("CSeq", "1 MESSAGE")])
        rsp = await asyncio.wait_for(a.request(msg2, bob.stack.address()), WAIT)
        return rsp.status

    assert run_pair(body, user_agent="test-ua/1",
                    allow="INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE") == 403


def test_handler_error_rejects_500(caplog):
    async def body(alice, bob, uri):
        @bob.on_invite
        async def on_invite(call):
            raise RuntimeError("boom")

        with pytest.raises(CallFailed) as ei:
            await alice.invite(uri).answered(timeout=WAIT)
        await asyncio.sleep(0.05)
        assert "boom" in caplog.text
        # The logged traceback holds the handler's frame, and so its call.
        caplog.clear()
        return ei.value.status

    assert run_pair(body) == 500


def test_dropping_references_keeps_live_calls():
    async def body(alice, bob, uri):
        done = asyncio.get_running_loop().create_future()

        @bob.on_invite
        async def on_invite(call):
            call.answer(ANSWER)
            done.set_result(await call.ended(timeout=WAIT))

        await asyncio.wait_for(alice.invite(uri, sdp=OFFER), WAIT)
        # The script kept no reference: the UA keeps the call up.
        gc.collect()
        await asyncio.sleep(0.1)
        assert len(alice.calls) == 1 and alice.calls[0].state is CallState.CONFIRMED
        alice.calls[0].hangup()
        assert await asyncio.wait_for(done, WAIT) == 200
        # Ended and unreferenced: the UA lets it go (the core frees it once its
        # transactions end; run_pair checks that nothing is left).
        assert alice.calls == [] and alice.call_count == 0
        return True

    assert run_pair(body)


def test_dropping_everything_without_closing():
    """Stacks, UAs and a live call dropped without close(): nothing crashes, and once the loop
    is closed nothing is left."""
    async def main():
        loop = libsip.Loop(strict=True)
        a = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        b = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        server = asyncio.ensure_future(loop.serve())
        alice, bob = a.ua(), b.ua()
        bob.on_invite(lambda call: call.answer(ANSWER))
        call = await asyncio.wait_for(alice.invite("sip:bob@" + b.address()[4:], sdp=OFFER),
                                      WAIT)
        assert call.state is CallState.CONFIRMED and len(bob.calls) == 1
        loop.stop()
        await asyncio.wait_for(server, WAIT)
        del call, alice, bob, a, b
        gc.collect()
        loop.close()

    asyncio.run(main())
    assert _gone() == {}


def test_closing_the_ua_ends_live_calls():
    async def body(alice, bob, uri):
        @bob.on_invite
        def on_invite(call):
            call.ring()

        call = alice.invite(uri, sdp=OFFER)
        await asyncio.sleep(0.1)
        waiter = asyncio.ensure_future(call.ended())
        await asyncio.sleep(0)
        alice.close()
        assert alice.closed and call.state is CallState.ENDED
        with pytest.raises(libsip.ClosedError):
            await asyncio.wait_for(waiter, WAIT)
        with pytest.raises(libsip.ClosedError):
            alice.invite(uri)
        # The stack's own handlers take the layer again.
        got = []

        @alice.stack.on_request("OPTIONS")
        def options(r):
            got.append(r.method)
            r.reply(299)

        host = alice.stack.address().split(":", 1)[1]
        req = libsip.Message.request("OPTIONS", f"sip:alice@{host}", headers=[
            ("Max-Forwards", "70"), ("From", "<sip:bob@127.0.0.1>;tag=c1"),
            ("To", f"<sip:alice@{host}>"), ("Call-ID", "closed-ua@127.0.0.1"),
            ("CSeq", "1 OPTIONS")])
        rsp = await asyncio.wait_for(bob.stack.request(req, alice.stack.address()), WAIT)
        assert rsp.status == 299 and got == ["OPTIONS"]
        bob.close()
        return True

    assert run_pair(body)


def test_early_media_and_in_dialog_defaults():
    async def body(alice, bob, uri):
        incoming = asyncio.get_running_loop().create_future()
        got = []

        @bob.on_invite
        async def on_invite(call):
            @call.on_request
            async def any_request(req):
                got.append(req.method)  # returns without answering

            await call.ring(183, sdp=ANSWER)
            await asyncio.sleep(0.05)
            await call.answer(ANSWER)
            incoming.set_result(await call.answered(timeout=WAIT))
            await call.ended(timeout=WAIT)

        responses = []
        call = alice.invite(uri, sdp=OFFER)
        call.on("response", lambda rsp: responses.append(rsp.status))
        early = asyncio.get_running_loop().create_future()
        call.on_state(lambda st, msg: st is CallState.EARLY and not early.done() and
                      early.set_result(call.remote_sdp))
        assert await asyncio.wait_for(early, WAIT) == ANSWER
        assert call.dialog.state is DialogState.EARLY
        await asyncio.wait_for(call, WAIT)
        await asyncio.wait_for(incoming, WAIT)
        # Unanswered by the handler: 200 for INFO, 501 for the rest.
        assert (await asyncio.wait_for(call.request("INFO"), WAIT)).status == 200
        rsp = await asyncio.wait_for(call.request("MESSAGE", b"x", "text/plain"), WAIT)
        assert rsp.status == 501 and got == ["INFO", "MESSAGE"]
        await call.bye()
        return responses

    assert run_pair(body, allow="INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, PRACK, UPDATE, "
                                  "MESSAGE") == [183, 200]


def test_dtmf_and_info_packages():
    async def body(alice, bob, uri):
        incoming = asyncio.get_running_loop().create_future()
        infos = []

        @bob.on_invite
        async def on_invite(call):
            call.on("info", lambda req: (infos.append(req.body), req.reply(200)))
            await call.answer(ANSWER)
            incoming.set_result(await call.answered(timeout=WAIT))
            await call.ended(timeout=WAIT)

        call = await asyncio.wait_for(alice.invite(uri, sdp=OFFER), WAIT)
        await asyncio.wait_for(incoming, WAIT)
        await call.send_dtmf("5")
        await call.send_dtmf("#", duration_ms=250)
        with pytest.raises(libsip.InvalidError):
            call.send_dtmf("x")
        with pytest.raises(TypeError):
            call.send_dtmf(5)
        with pytest.raises(libsip.InvalidError):
            call.send_dtmf("1", duration_ms=0)
        # bob takes only the "dtmf" Info Package (recv_info): another is answered 469.
        call.set_headers({"Info-Package": "foo"})
        rsp = await asyncio.wait_for(call.request("INFO", "x", "application/foo"), WAIT)
        assert rsp.status == 469
        with pytest.raises(libsip.InvalidError):
            call.set_headers("not a header line")
        for _ in range(WAIT * 100):
            if len(infos) == 2:
                break
            await asyncio.sleep(0.01)
        await call.hangup()
        return infos

    infos = run_pair(body, recv_info="dtmf")
    assert infos == [b"Signal=5\r\nDuration=160\r\n", b"Signal=#\r\nDuration=250\r\n"]


def _tap(ua, methods):
    """Records the methods of the requests ua's transport receives, before any layer."""
    def tap(msg):
        if msg.is_request and msg.method in methods:
            methods[msg.method] += 1
        return False
    ua.stack.transport.add_handler(tap, libsip.HandlerPriority.FIRST)


def test_reliable_provisionals_are_pracked():
    async def body(alice, bob, uri):
        seen = {"PRACK": 0}
        _tap(bob, seen)

        @bob.on_invite
        async def on_invite(call):
            await call.ring(183, sdp=ANSWER)  # reliable: the INVITE supports 100rel
            await call.answer(ANSWER)         # goes once the PRACK came (RFC 3262 §3)
            await call.ended(timeout=WAIT)

        responses = []
        call = alice.invite(uri, sdp=OFFER)
        call.on("response", lambda rsp: responses.append(
            (rsp.status, "RSeq" in rsp.headers)))
        await asyncio.wait_for(call, WAIT)
        await call.hangup()
        return responses, seen["PRACK"]

    responses, pracks = run_pair(body)
    assert responses == [(183, True), (200, False)] and pracks == 1


def test_rel100_and_session_timer_options():
    async def body(alice, bob, uri):
        @bob.on_invite(rel100="required", min_se=1000)
        async def on_invite(call):
            await call.answer(ANSWER)
            await call.ended(timeout=WAIT)

        # 421 (RFC 3262): bob requires 100rel, alice will not do it.
        with pytest.raises(CallFailed) as ei:
            await alice.invite(uri, sdp=OFFER, rel100="off").answered(timeout=WAIT)
        assert ei.value.status == 421
        # 422 (RFC 4028): alice asks for 90 s, bob's Min-SE is 1000: the core retries.
        responses = []
        call = alice.invite(uri, sdp=OFFER, session_expires=90, refresher="local")
        call.on("response", lambda rsp: responses.append(rsp.status))
        await asyncio.wait_for(call, WAIT)
        se = call.response.headers["Session-Expires"][0].value
        assert responses[0] == 422 and responses[-1] == 200
        assert int(se.split(";")[0]) >= 1000 and "refresher=uac" in se
        await call.hangup()
        with pytest.raises(libsip.InvalidError):
            alice.invite(uri, rel100="sometimes")
        with pytest.raises(TypeError):
            alice.invite(uri, session_timer=1)
        with pytest.raises(TypeError):
            alice.invite(uri, min_se="90")
        with pytest.raises(TypeError):
            bob.on_invite(refresher=2)
        return True

    assert run_pair(body)


def test_media_engine_hold_resume_update():
    async def body(alice, bob, uri):
        incoming = asyncio.get_running_loop().create_future()
        events = {"a_media": 0, "b_media": 0, "b_reinvites": 0}

        @bob.on_invite(media=CAPS_B)
        async def on_invite(call):
            call.on("media", lambda: events.__setitem__("b_media", events["b_media"] + 1))
            call.on("reinvite", lambda req: events.__setitem__(
                "b_reinvites", events["b_reinvites"] + 1))
            await call.answer()  # the engine answers from CAPS_B
            incoming.set_result(await call.answered(timeout=WAIT))
            await call.ended(timeout=WAIT)

        call = alice.invite(uri, media=CAPS_A)
        call.on("media", lambda: events.__setitem__("a_media", events["a_media"] + 1))
        await asyncio.wait_for(call, WAIT)
        bcall = await asyncio.wait_for(incoming, WAIT)
        # Codec intersection: B answers PCMA and telephone-event with A's numbers.
        assert "m=audio 5000 RTP/AVP 8 101" in call.remote_sdp
        assert "PCMU" not in call.remote_sdp
        assert "m=audio 4000 RTP/AVP 0 8 101" in bcall.remote_sdp
        assert call.oa is not None and call.oa.hold is False and not bcall.remote_hold
        modified = []
        call.on("modified", lambda rsp: modified.append(rsp.status))
        rsp = await asyncio.wait_for(call.reinvite(hold=True), WAIT)
        assert rsp.status == 200 and modified == [200]
        assert call.oa.hold and "a=sendonly" in call.local_sdp
        await asyncio.sleep(0.05)
        assert bcall.remote_hold and events["b_reinvites"] >= 1
        rsp = await asyncio.wait_for(call.reinvite(hold=False), WAIT)
        assert rsp.status == 200 and not call.oa.hold
        await asyncio.sleep(0.05)
        assert not bcall.remote_hold
        # UPDATE with the engine's next offer.
        rsp = await asyncio.wait_for(call.update(), WAIT)
        assert rsp.status == 200
        assert events["a_media"] >= 3 and events["b_media"] >= 3
        with pytest.raises(TypeError):
            call.reinvite(hold="yes")
        with pytest.raises(libsip.InvalidError):
            call.reinvite(OFFER, hold=True)
        await call.hangup()
        return True

    assert run_pair(body)


def test_engine_refuses_an_offer_it_cannot_answer():
    async def body(alice, bob, uri):
        ran = []

        @bob.on_invite(media=CAPS_B)  # PCMA only: OFFER has PCMU only
        def on_invite(call):
            ran.append(call)

        with pytest.raises(CallFailed) as ei:
            await alice.invite(uri, sdp=OFFER).answered(timeout=WAIT)
        return ei.value.status, ran

    status, ran = run_pair(body)
    assert status == 488 and ran == []


def test_reinvite_offers_without_engine():
    async def body(alice, bob, uri):
        incoming = asyncio.get_running_loop().create_future()

        @bob.on_invite
        async def on_invite(call):
            await call.answer(ANSWER)
            incoming.set_result(await call.answered(timeout=WAIT))
            await call.ended(timeout=WAIT)

        call = await asyncio.wait_for(alice.invite(uri, sdp=OFFER), WAIT)
        bcall = await asyncio.wait_for(incoming, WAIT)
        # Nobody answers offers on bob's side yet: 488, the session stays.
        rsp = await asyncio.wait_for(call.reinvite(OFFER.replace("4000", "4002")), WAIT)
        assert rsp.status == 488 and call.remote_sdp == ANSWER
        offers = []

        @bcall.on("offer")
        async def offer(msg):
            offers.append(msg.method)
            await asyncio.sleep(0.02)  # an offer in a request may be answered later
            bcall.answer_offer(ANSWER.replace("5000", "5002"))

        with pytest.raises(libsip.InvalidError):
            bcall.answer_offer(ANSWER)  # no offer awaits an answer
        rsp = await asyncio.wait_for(call.reinvite(OFFER.replace("4000", "4004")), WAIT)
        assert rsp.status == 200 and offers == ["INVITE"]
        assert "5002" in call.remote_sdp and "4004" in bcall.remote_sdp
        await bcall.hangup()
        assert await call.ended(timeout=WAIT) == 200
        return True

    assert run_pair(body)


def run_trio(body):
    """Runs body(alice, b2bua, carol, b2bua_uri, carol_uri): three UAs on three Stacks of one
    loop; everything is closed and counted afterwards, as run_pair does."""
    async def main():
        loop = libsip.Loop(strict=True)
        stacks = [libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
                  for _ in range(3)]
        server = asyncio.ensure_future(loop.serve())
        try:
            with stacks[0].ua() as alice, stacks[1].ua() as b2bua, stacks[2].ua() as carol:
                uris = [f"sip:{n}@" + s.address().split(":", 1)[1]
                        for n, s in (("b2bua", stacks[1]), ("carol", stacks[2]))]
                return await asyncio.wait_for(body(alice, b2bua, carol, *uris), 2 * WAIT)
        finally:
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    out = asyncio.run(main())
    assert _gone() == {}
    return out


def test_bridge_relays_answer_info_and_bye():
    async def body(alice, b2bua, carol, b2bua_uri, carol_uri):
        seen = {"relays": [], "infos": []}
        carol_call = asyncio.get_running_loop().create_future()
        bridged = asyncio.get_running_loop().create_future()

        @b2bua.on_invite
        async def incoming(call):
            await call.ring()
            br = b2bua.bridge(call, carol_uri, headers={"X-Leg": "b"}, timeout=WAIT)

            @br.on("relay")
            def relay(leg, msg):
                seen["relays"].append((leg, msg.status or msg.method))
                if leg is libsip.BridgeLeg.A and msg.status == 200:
                    br.a.set_headers({"X-Relayed": "yes"})

            br.on("answered", lambda rsp: seen.__setitem__("answered", rsp.status))
            ended = []

            @br.on("ended")
            async def on_ended(leg):
                ended.append(leg)

            out = await br
            seen["status"] = out.status
            bridged.set_result(br)
            seen["ended_leg"] = await br.ended(timeout=WAIT)
            await asyncio.sleep(0)
            assert ended == [seen["ended_leg"]]

        @carol.on_invite
        async def carol_in(call):
            seen["x_leg"] = call.invite.headers["X-Leg"][0].value
            seen["offer"] = call.remote_sdp

            @call.on("info")
            def info(req):
                seen["infos"].append(req.body)
                req.reply(200)

            await call.ring()
            await call.answer(ANSWER)
            carol_call.set_result(call)
            await call.ended(timeout=WAIT)

        responses = []
        call = alice.invite(b2bua_uri, sdp=OFFER)
        call.on("response", lambda rsp: responses.append(
            (rsp.status, rsp.headers["X-Relayed"][0].value if "X-Relayed" in rsp.headers
             else None)))
        await asyncio.wait_for(call, WAIT)
        assert call.remote_sdp == ANSWER
        ccall = await asyncio.wait_for(carol_call, WAIT)
        br = await asyncio.wait_for(bridged, WAIT)
        assert br.active and br.status == 200 and br.a.state is CallState.CONFIRMED
        assert br.b.state is CallState.CONFIRMED and br.b.is_uac
        assert br.b.dialog.call_id != br.a.dialog.call_id
        assert len(b2bua.calls) == 1  # leg A; leg B is the bridge's
        rsp = await asyncio.wait_for(call.request("INFO", "Signal=1\r\n",
                                                  "application/dtmf-relay"), WAIT)
        assert rsp.status == 200 and seen["infos"] == [b"Signal=1\r\n"]
        await call.hangup()
        assert await asyncio.wait_for(ccall.ended(), WAIT) == 200
        await asyncio.wait_for(br.ended(), WAIT)
        assert not br.active and br.ua is b2bua
        assert await br.ended() in (libsip.BridgeLeg.A, libsip.BridgeLeg.B)
        assert await br.b.ended(timeout=WAIT) == 200
        return seen, responses

    seen, responses = run_trio(body)
    assert seen["status"] == seen["answered"] == 200
    assert seen["x_leg"] == "b" and seen["offer"] == OFFER
    assert (libsip.BridgeLeg.A, 200) in seen["relays"]
    assert (libsip.BridgeLeg.B, "BYE") in seen["relays"]
    assert responses[-1] == (200, "yes")


def test_bridge_forwards_on_busy():
    async def body(alice, b2bua, carol, b2bua_uri, carol_uri):
        failed = []

        @b2bua.on_invite
        async def incoming(call):
            br = b2bua.bridge(call, carol_uri, keep_a_on_failure=True)
            br.on("failed", lambda rsp: failed.append(rsp.status))
            out = await br
            assert failed == [486]
            assert out.status == 486 and out.response.status == 486
            assert call.state is not CallState.ENDED  # left to the script
            await call.reject(480)

        @carol.on_invite
        def carol_in(call):
            call.reject(486)

        with pytest.raises(CallFailed) as ei:
            await alice.invite(b2bua_uri, sdp=OFFER).answered(timeout=WAIT)
        return ei.value.status

    assert run_trio(body) == 480


def test_bridge_relays_failure_and_cancel():
    async def body(alice, b2bua, carol, b2bua_uri, carol_uri):
        carol_ringing = asyncio.get_running_loop().create_future()
        carol_end = asyncio.get_running_loop().create_future()
        bad = []

        @b2bua.on_invite
        async def incoming(call):
            with pytest.raises(TypeError):
                b2bua.bridge("call", carol_uri)
            with pytest.raises(TypeError):
                b2bua.bridge(call, carol_uri, keep_a_on_failure=1)
            br = b2bua.bridge(call, carol_uri)
            with pytest.raises(libsip.InvalidError):
                br.on("colour", print)
            with pytest.raises(libsip.InvalidError):
                br.set_sdp(OFFER)  # only inside a relay
            try:
                b2bua.bridge(call, carol_uri)
            except libsip.Error as e:
                bad.append(e.name)
            await br.ended(timeout=WAIT)

        @carol.on_invite
        async def carol_in(call):
            await call.ring()
            carol_ringing.set_result(True)
            carol_end.set_result(await call.ended(timeout=WAIT))

        call = alice.invite(b2bua_uri, sdp=OFFER)
        await asyncio.wait_for(carol_ringing, WAIT)
        await asyncio.sleep(0.05)
        call.hangup()  # CANCEL to the B2BUA, which cancels carol's leg
        with pytest.raises(CallFailed) as ei:
            await call.answered(timeout=WAIT)
        assert await asyncio.wait_for(carol_end, WAIT) == 487
        return ei.value.status, bad

    status, bad = run_trio(body)
    assert status == 487 and bad == ["SIP_EBUSY"]


def test_argument_checks():
    with libsip.Stack(["udp:127.0.0.1:0"]) as stateless:
        with pytest.raises(libsip.InvalidError):
            UA(stateless)
    with libsip.Stack(["udp:127.0.0.1:0"], transactions=True) as s:
        with pytest.raises(TypeError):
            UA("not a stack")
        with pytest.raises(TypeError):
            UA(s, user_agnet="x")  # unknown option
        with pytest.raises(TypeError):
            UA(s, user_agent=5)
        with pytest.raises(TypeError):
            UA(s, t1_ms="500")
        with pytest.raises(TypeError):
            UA(s, t1_ms=True)
        with pytest.raises(libsip.InvalidError):
            UA(s, t2_ms=-1)
        with pytest.raises(TypeError):
            UA(s, recv_info=["dtmf"])
        with UA(s, user_agent="x/1", allow="INVITE, ACK, BYE", supported="", accept=None,
                schemes="sip", recv_info="dtmf", contact_user="alice", contact_host="127.0.0.1",
                t1_ms=100, t2_ms=1000) as ua:
            with pytest.raises(libsip.InvalidError):
                UA(s)  # one UA per stack
            with pytest.raises(TypeError):
                ua.invite(5)
            with pytest.raises(TypeError):
                ua.invite("sip:b@127.0.0.1", sdp=5)
            with pytest.raises(TypeError):
                ua.invite("sip:b@127.0.0.1", from_=5)
            with pytest.raises(TypeError):
                ua.invite("sip:b@127.0.0.1", timeout="1")
            with pytest.raises(TypeError):
                ua.invite("sip:b@127.0.0.1", colour="red")
            with pytest.raises(libsip.UriError):
                ua.invite("not a uri")
            with pytest.raises(TypeError):
                ua.on_invite(5)
            with pytest.raises(TypeError):
                ua.on_request("x")
            call = ua.invite("sip:b@127.0.0.1:9", sdp=OFFER, from_="<sip:alice@127.0.0.1>")
            with pytest.raises(libsip.InvalidError):
                call.ring()  # a UAC call does not ring
            with pytest.raises(TypeError):
                call.reject("486")
            with pytest.raises(libsip.InvalidError):
                call.reject(200)
            with pytest.raises(TypeError):
                call.request(5)
            with pytest.raises(libsip.InvalidError):
                call.request("INFO", "x")  # a body needs its type
            with pytest.raises(libsip.InvalidError):
                call.on("bye", print)
            with pytest.raises(TypeError):
                call.on_state(5)
            assert repr(call).startswith("<Call uac CALLING")
            assert repr(ua).startswith("<UA 1 calls")
            with pytest.raises(TypeError):
                libsip.Call()
            with pytest.raises(TypeError):
                libsip.Dialog()
            del call
        assert repr(ua) == "<UA closed>"
        # A closed stack refuses a UA.
    with pytest.raises(libsip.ClosedError):
        UA(s)
    assert issubclass(CallFailed, libsip.Error)
    e = CallFailed(486)
    assert (e.status, e.reason, e.response) == (486, "Busy Here", None)
