# SPDX-License-Identifier: MIT
"""examples/python/click_to_call.py between two user agents of this process on 127.0.0.1: A and B
end up with each other's SDP (B has A's offer, A has B's answer under the controller's o= line),
a BYE from either ends the other, and the exit status says what happened."""

import asyncio
import gc
import os
import re
import signal
import subprocess
import sys

import libsip

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python",
                       "click_to_call.py")
CAPS_A = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
          "a=fmtp:101 0-15\r\n")
CAPS_B = ("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 5000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n")
WAIT = 5  # seconds: the bound of every wait


def _lines(sdp, but="o="):
    return [ln for ln in sdp.splitlines() if not ln.startswith(but)]


def run_example(setup, *extra):
    """Runs the example with --a and --b naming two UAs of this process (on one loop, served in
    asyncio): setup(ua_a, ua_b) sets their handlers before the example starts and returns the
    coroutine function that checks the call, check(proc). Returns the example's (status,
    stdout, stderr) and checks that no libsip object is left."""
    async def main():
        loop = libsip.Loop(strict=True)
        sa = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True)
        sb = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True)
        server = asyncio.ensure_future(loop.serve())
        proc = None
        try:
            with sa.ua(contact_user="a") as ua_a, sb.ua(contact_user="b") as ua_b:
                check = setup(ua_a, ua_b)
                uri_a = "sip:a@" + sa.address().split(":", 1)[1]
                uri_b = "sip:b@" + sb.address().split(":", 1)[1]
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, EXAMPLE, "--listen", "udp:127.0.0.1:0", "--a", uri_a,
                    "--b", uri_b, "--timeout", str(WAIT), *extra,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
                assert line.startswith(b"listening on udp:127.0.0.1:"), line
                await asyncio.wait_for(check(proc), 3 * WAIT)
                out, err = await asyncio.wait_for(proc.communicate(), 2 * WAIT)
                return proc.returncode, out.decode(), err.decode()
        finally:
            if proc is not None and proc.returncode is None:
                proc.kill()
                await proc.wait()
            sa.close()
            sb.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    out = asyncio.run(main())
    gc.collect()
    assert {k: v for k, v in libsip.live_objects().items() if v} == {}
    return out


def answering(ua, caps, seen, name):
    """ua answers its call with the offer/answer engine (caps) and hands the Call out."""
    got = asyncio.get_running_loop().create_future()

    @ua.on_invite(media=caps)
    async def incoming(call):
        seen[name + " invite sdp"] = call.remote_sdp
        seen[name + " from"] = str(call.invite.from_.uri)
        # What this side sent, as each offer/answer exchange completes (the first: its offer
        # or answer to the INVITE).
        sent = seen.setdefault(name + " sent", [])
        got_sdp = seen.setdefault(name + " got", [])

        @call.on("media")
        def media():
            sent.append(call.local_sdp)
            got_sdp.append(call.remote_sdp)

        await call.ring()
        await call.answer()
        got.set_result(call)

    return got


def both_answer(seen):
    """setup: A and B answer with their engines; check(proc) gets their Calls."""
    def setup(ua_a, ua_b):
        a_got = answering(ua_a, CAPS_A, seen, "A")
        b_got = answering(ua_b, CAPS_B, seen, "B")

        async def calls():
            return (await asyncio.wait_for(a_got, WAIT), await asyncio.wait_for(b_got, WAIT))

        return calls
    return setup


def test_click_to_call_connects_a_and_b_and_a_bye_ends_both():
    seen = {}

    def setup(ua_a, ua_b):
        calls = both_answer(seen)(ua_a, ua_b)

        async def check(proc):
            acall, bcall = await calls()
            assert await asyncio.wait_for(proc.stdout.readline(), WAIT) == b"connected\n"
            # A was called without an offer (flow I, message 1); its offer went to B verbatim.
            assert seen["A invite sdp"] is None
            offer_a = seen["A sent"][0]
            assert seen["B invite sdp"] == offer_a == bcall.remote_sdp
            # A has B's answer, offered to it under the controller's origin, one version past
            # the held answer of its ACK (RFC 3264 §8); A's engine answered it.
            assert len(seen["B sent"]) == 1
            answer_b = seen["B sent"][0]
            assert answer_b == bcall.local_sdp
            assert "c=IN IP4 127.0.0.1" in answer_b and "m=audio 5000 RTP/AVP 8 101" in answer_b
            assert _lines(acall.remote_sdp) == _lines(answer_b)
            assert re.search(r"(?m)^o=3pcc 1 2 IN IP4 127\.0\.0\.1\r?$", acall.remote_sdp)
            # The ACK answered A's offer with a held black hole (RFC 3725 §4.3).
            held = seen["A got"][0]
            assert "c=IN IP4 0.0.0.0" in held and "a=inactive" in held, held
            assert "o=3pcc 1 1 IN IP4 127.0.0.1" in held
            assert len(seen["A sent"]) == 2
            assert "m=audio 4000 RTP/AVP 8 101" in seen["A sent"][1]
            # Each one sees the other as the caller.
            assert seen["A from"].startswith("sip:b@") and seen["B from"].startswith("sip:a@")
            # A puts B on hold and resumes: each offer goes across in a re-INVITE, B's
            # answer comes back under the controller's origin.
            rsp = await asyncio.wait_for(acall.reinvite(hold=True), WAIT)
            assert rsp.status == 200
            assert bcall.remote_hold and "a=sendonly" in bcall.remote_sdp
            assert "a=recvonly" in acall.remote_sdp and "o=3pcc 1 3 " in acall.remote_sdp
            rsp = await asyncio.wait_for(acall.reinvite(hold=False), WAIT)
            assert rsp.status == 200 and not bcall.remote_hold
            assert "o=3pcc 1 4 " in acall.remote_sdp
            # B's session goes on from A's first offer's origin.
            o_a = re.search(r"(?m)^o=(\S+ \S+) (\d+) ", offer_a)
            o_b = re.search(r"(?m)^o=(\S+ \S+) (\d+) ", bcall.remote_sdp)
            assert o_b.group(1) == o_a.group(1) and int(o_b.group(2)) == int(o_a.group(2)) + 2
            # A BYE from A ends B's call too.
            await acall.hangup()
            assert await bcall.ended(timeout=WAIT) == 200
            assert not bcall.ended_locally

        return check

    rc, out, err = run_example(setup)
    assert rc == 0, err
    assert out == "ended: A hung up\n", out


def test_click_to_call_hold_from_b_and_a_bye_from_b_ends_a():
    def setup(ua_a, ua_b):
        calls = both_answer({})(ua_a, ua_b)

        async def check(proc):
            acall, bcall = await calls()
            assert await asyncio.wait_for(proc.stdout.readline(), WAIT) == b"connected\n"
            # B's offers go across too.
            rsp = await asyncio.wait_for(bcall.reinvite(hold=True), WAIT)
            assert rsp.status == 200 and acall.remote_hold and "a=recvonly" in bcall.remote_sdp
            await bcall.hangup()
            assert await acall.ended(timeout=WAIT) == 200
            assert not acall.ended_locally

        return check

    rc, out, err = run_example(setup)
    assert (rc, out.splitlines()[-1]) == (0, "ended: B hung up"), err


def test_click_to_call_duration_hangs_up_both():
    def setup(ua_a, ua_b):
        calls = both_answer({})(ua_a, ua_b)

        async def check(proc):
            acall, bcall = await calls()
            # --duration over: the controller sends both a BYE.
            assert await acall.ended(timeout=WAIT) == 200
            assert await bcall.ended(timeout=WAIT) == 200
            assert not acall.ended_locally and not bcall.ended_locally

        return check

    rc, out, err = run_example(setup, "--duration", "0.5")
    assert (rc, out.splitlines()[-1]) == (0, "ended: stopped"), err


def test_click_to_call_b_busy_ends_a():
    def setup(ua_a, ua_b):
        a_got = answering(ua_a, CAPS_A, {}, "A")

        @ua_b.on_invite
        def incoming(call):
            call.reject(486)

        async def check(proc):
            acall = await asyncio.wait_for(a_got, WAIT)
            # B is busy: A, answered already, gets a BYE.
            assert await acall.ended(timeout=WAIT) == 200
            assert not acall.ended_locally

        return check

    rc, out, err = run_example(setup)
    assert rc == 3 and "B did not answer: 486 Busy Here" in err, (rc, err)


def test_click_to_call_a_busy():
    tried = []

    def setup(ua_a, ua_b):
        @ua_a.on_invite
        def incoming(call):
            call.reject(486)

        @ua_b.on_invite
        def never(call):
            tried.append(call.state)

        async def check(proc):
            await asyncio.wait_for(proc.wait(), 2 * WAIT)

        return check

    rc, out, err = run_example(setup)
    assert rc == 1 and "A did not answer: 486 Busy Here" in err, (rc, err)
    assert tried == []  # nobody calls B when A does not answer


def test_click_to_call_a_leaves_while_b_rings():
    def setup(ua_a, ua_b):
        a_got = answering(ua_a, CAPS_A, {}, "A")
        ringing = asyncio.get_running_loop().create_future()

        @ua_b.on_invite
        async def incoming(call):
            await call.ring()
            ringing.set_result(call)

        async def check(proc):
            acall = await asyncio.wait_for(a_got, WAIT)
            bcall = await asyncio.wait_for(ringing, WAIT)
            await acall.hangup()
            # The controller gives B up: CANCEL, 487.
            assert await bcall.ended(timeout=WAIT) == 487

        return check

    rc, out, err = run_example(setup)
    assert rc == 3 and "A hung up before B answered" in err, (rc, err)


def test_click_to_call_a_refuses_b_session():
    def setup(ua_a, ua_b):
        got = asyncio.get_running_loop().create_future()

        @ua_a.on_invite
        async def incoming(call):
            # No engine: A offers in its 200 and refuses the re-INVITE's offer.
            call.on("offer", lambda msg: call.reject_offer(488))
            await call.answer(CAPS_A)
            got.set_result(call)

        b_got = answering(ua_b, CAPS_B, {}, "B")

        async def check(proc):
            acall = await asyncio.wait_for(got, WAIT)
            bcall = await asyncio.wait_for(b_got, WAIT)
            # Both get a BYE from the controller.
            assert await acall.ended(timeout=WAIT) == 200
            assert await bcall.ended(timeout=WAIT) == 200
            assert not acall.ended_locally and not bcall.ended_locally

        return check

    rc, out, err = run_example(setup)
    assert rc == 4 and "A refused B's session: 488" in err, (rc, err)


def test_click_to_call_interrupted_while_a_rings():
    def setup(ua_a, ua_b):
        ringing = asyncio.get_running_loop().create_future()

        @ua_a.on_invite
        async def incoming(call):
            await call.ring()
            ringing.set_result(call)

        async def check(proc):
            acall = await asyncio.wait_for(ringing, WAIT)
            proc.send_signal(signal.SIGINT)
            # The controller gives up: CANCEL, 487.
            assert await acall.ended(timeout=WAIT) == 487

        return check

    rc, out, err = run_example(setup)
    assert rc == 5, (rc, err)


def test_click_to_call_command_line():
    r = subprocess.run([sys.executable, EXAMPLE, "--help"], capture_output=True, timeout=60)
    assert r.returncode == 0 and b"RFC 3725" in r.stdout and b"exit status" in r.stdout
    for args in ([], ["--a", "sip:a@127.0.0.1"], ["--a", "nota uri", "--b", "sip:b@h"],
                 ["--a", "sip:a@h", "--b", "sip:b@h", "--duration", "-1"]):
        r = subprocess.run([sys.executable, EXAMPLE] + args, capture_output=True, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith(b"usage: "), r.stderr


def test_click_to_call_held_answer():
    """The answer in A's ACK (RFC 3725 §4.3): every stream taken, inactive, at the black hole
    address of the offer's family; a refused stream stays refused."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("click_to_call", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    offer = ("v=0\r\no=a 7 7 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
             "m=audio 4000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\nm=video 0 RTP/AVP 96\r\n")
    origin = mod.Origin("3pcc", "1", 0, "::1")
    assert mod.held_answer(offer, origin.next()) == (
        "v=0\r\no=3pcc 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::\r\nt=0 0\r\n"
        "m=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=inactive\r\nm=video 0 RTP/AVP 96\r\n")
    assert mod.with_origin(offer, origin.next()).startswith("v=0\r\no=3pcc 1 2 IN IP6 ::1\r\n")
    assert mod.host_of("udp:[::1]:5066") == "::1" and mod.host_of("tcp:127.0.0.1:1") == "127.0.0.1"
