# SPDX-License-Identifier: MIT
"""ua.request(), ua.message(), ua.options(), call.message() and the UA's credentials: two user
agents on two Stacks over UDP on 127.0.0.1, the far one challenging with a hand-made 401 whose
answer the test checks with its own digest (RFC 2617 §3.2.2), and the argument checks."""

import asyncio
import hashlib
import re

import pytest

import libsip
from libsip import UA

from test_calls import OFFER, ANSWER, WAIT, run_pair


def _md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def _params(value):
    return {k.lower(): (v1 if v1 is not None and v1 != "" else v2)
            for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', value)}


def _digest_ok(req, password, nonce):
    """Whether req's Authorization answers the challenge (realm "test", nonce) for alice."""
    h = req.headers.getall("Authorization")
    if not h:
        return False
    p = _params(h[0].value)
    if p.get("nonce") != nonce or p.get("username") != "alice":
        return False
    ha1 = _md5("alice:%s:%s" % (p["realm"], password))
    ha2 = _md5("%s:%s" % (req.method, p["uri"]))
    want = _md5(":".join([ha1, nonce, p["nc"], p["cnonce"], p["qop"], ha2]))
    return want == p["response"]


def _challenger(bob, seen, password="secret"):
    """bob challenges each request without a good Authorization with 401, then answers 200."""
    @bob.on_request
    def on_request(req):
        seen.setdefault("cseq", []).append(req.cseq.seq)
        if not _digest_ok(req, password, "n-1"):
            req.reply(401, headers={"WWW-Authenticate":
                                    'Digest realm="test", nonce="n-1", qop="auth"'})
            return
        seen["body"] = req.body
        seen["type"] = req.headers["Content-Type"][0].value
        req.reply(200)


def test_message_challenged_then_answered():
    async def body(alice, bob, uri):
        seen = {}
        _challenger(bob, seen)
        rsp = await alice.message(uri, "hello Bob")
        return rsp.status, seen

    status, seen = run_pair(body, credentials={"user": "alice", "password": "secret"})
    assert status == 200
    # RFC 3261 §22.2: the MESSAGE again with the CSeq one higher; the 401 was not seen.
    assert len(seen["cseq"]) == 2 and seen["cseq"][1] == seen["cseq"][0] + 1
    assert seen["body"] == b"hello Bob"
    assert "text/plain" in seen["type"]


def test_wrong_password_gives_the_401():
    async def body(alice, bob, uri):
        seen = {}
        _challenger(bob, seen)
        alice.add_credential("alice", "wrong")
        rsp = await alice.request("OPTIONS", uri)
        return rsp.status, len(seen["cseq"])

    assert run_pair(body) == (401, 2)


def test_no_credentials_gives_the_401():
    async def body(alice, bob, uri):
        _challenger(bob, {})
        rsp = await alice.message(uri, "hi")
        return rsp.status, bool(rsp.headers.getall("WWW-Authenticate"))

    assert run_pair(body) == (401, True)


def test_options_answered_with_capabilities():
    async def body(alice, bob, uri):
        # No handler on bob: the UA answers itself (RFC 3261 §11.2).
        rsp = await alice.options(uri)
        return rsp.status, {n: [h.value for h in rsp.headers.getall(n)] for n in
                            ("Allow", "Accept", "Accept-Encoding", "Accept-Language",
                             "Supported")}

    status, h = run_pair(body)
    assert status == 200
    assert "MESSAGE" in ", ".join(h["Allow"]) and "OPTIONS" in ", ".join(h["Allow"])
    assert h["Accept"] and h["Accept-Encoding"] and h["Accept-Language"] and h["Supported"]


def test_request_with_headers_and_body():
    async def body(alice, bob, uri):
        seen = {}

        @bob.on_request
        def on_request(req):
            seen["method"] = req.method
            seen["x"] = req.headers["X-Test"][0].value
            seen["body"] = req.body
            req.reply(202)

        rsp = await alice.request("MESSAGE", uri, b"<x/>", content_type="application/xml",
                                  headers={"X-Test": "1"}, from_="Alice <sip:alice@example.com>")
        return rsp.status, seen

    status, seen = run_pair(body)
    assert status == 202
    assert seen == {"method": "MESSAGE", "x": "1", "body": b"<x/>"}


def test_message_in_a_call_both_ways():
    async def body(alice, bob, uri):
        got = {}
        done = asyncio.get_running_loop().create_future()

        @bob.on_invite
        async def on_invite(call):
            @call.on_request
            def req(r):
                got["b"] = r.body
                r.reply(200)
            await call.answer(sdp=ANSWER)
            await call.answered(timeout=WAIT)
            rsp = await call.message("hi Alice")
            got["b_status"] = rsp.status
            done.set_result(call)

        call = alice.invite(uri, sdp=OFFER)

        @call.on_request
        def req_a(r):
            got["a"] = r.body
            r.reply(200)

        await call.answered(timeout=WAIT)
        rsp = await call.message("hi Bob")
        got["a_status"] = rsp.status
        await asyncio.wait_for(done, WAIT)
        await call.hangup()
        return got

    got = run_pair(body)
    assert got == {"b": b"hi Bob", "a_status": 200, "a": b"hi Alice", "b_status": 200}


def test_argument_checks():
    async def body(alice, bob, uri):
        with pytest.raises(TypeError):
            alice.add_credential(5, "x")
        with pytest.raises(TypeError):
            alice.add_credential("alice", password=3)
        with pytest.raises(libsip.InvalidError):
            alice.add_credential("alice")
        with pytest.raises(libsip.InvalidError):
            alice.add_credential("alice", "x", algorithm="ROT13")
        with pytest.raises(libsip.InvalidError):
            alice.request("INVITE", uri)
        with pytest.raises(TypeError):
            alice.request("OPTIONS", 5)
        with pytest.raises(TypeError):
            alice.message(uri, 5)
        with pytest.raises(TypeError):
            alice.request("OPTIONS", uri, nonsense=1)
        with pytest.raises(libsip.Error):
            alice.request("MESSAGE", uri, "text")  # a body needs its content_type
        alice.add_credential("alice", ha1="0" * 32, realm="test", algorithm="MD5")
        return True

    assert run_pair(body)


def test_credentials_option_checked():
    async def body(alice, bob, uri):
        return True

    with pytest.raises(TypeError):
        run_pair(body, credentials="alice")
    with pytest.raises(TypeError):
        run_pair(body, credentials={"user": "alice", "pass": "x"})


def test_pending_request_fails_when_the_ua_closes():
    async def body(alice, bob, uri):
        @bob.on_request
        async def on_request(req):
            await asyncio.sleep(10)

        p = alice.options(uri)
        await asyncio.sleep(0.05)
        alice.close()
        with pytest.raises(libsip.ClosedError):
            await p
        return True

    assert run_pair(body)


def test_invite_challenged_by_the_callee():
    """A 407 to the INVITE is answered with the UA's credentials: the INVITE goes again in the
    same call (Call-ID kept, CSeq one higher); the callee's 486 then ends the call."""
    async def body(alice, bob, uri):
        seen = []

        @bob.on_request                     # no on_invite: INVITEs come here
        def on_request(req):
            seen.append((req.cseq.seq, req.call_id,
                         bool(req.headers.getall("Proxy-Authorization"))))
            if len(seen) == 1:
                req.reply(407, headers={"Proxy-Authenticate":
                                        'Digest realm="test", nonce="n-1", qop="auth"'})
            else:
                req.reply(486)

        call = alice.invite(uri, sdp=OFFER)
        with pytest.raises(libsip.CallFailed):
            await call.answered(timeout=WAIT)
        return call.end_status, seen

    status, seen = run_pair(body, credentials=[{"user": "alice", "password": "secret"}])
    assert status == 486
    assert [s[0] for s in seen] == [1, 2]
    assert seen[0][1] == seen[1][1]
    assert (seen[0][2], seen[1][2]) == (False, True)
