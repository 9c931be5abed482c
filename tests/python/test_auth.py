# SPDX-License-Identifier: MIT
"""Digest authentication from Python (libsip.auth): the client answering challenges, the server
checking with plain, asynchronous and late lookups, the same answer for an unknown user as for
a wrong password, replays, and a REGISTER challenged and authorised over UDP."""

import asyncio
import gc
import logging

import pytest

import libsip
from libsip import AuthCheck, AuthClient, AuthError, AuthServer, Message, Verdict, auth

SERIAL = [0]


@pytest.fixture(autouse=True)
def _no_servers_left():
    """libsip.auth.check() keeps its servers for the process (their secrets and nonce counts
    must outlive a check); the tests drop them, so that no server outlives its test."""
    yield
    auth._servers.clear()
    gc.collect()


def _register(cseq=1, call_id=None, body=None):
    SERIAL[0] += 1
    kw = {}
    if body is not None:
        kw = {"body": body, "content_type": "text/plain"}
    return Message.request("REGISTER", "sip:example.com", headers=[
        ("Via", f"SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKauth{SERIAL[0]}"),
        ("Max-Forwards", "70"),
        ("From", "<sip:alice@example.com>;tag=a1"),
        ("To", "<sip:alice@example.com>"),
        ("Call-ID", call_id or "auth-1@10.0.0.1"),
        ("CSeq", f"{cseq} REGISTER"),
    ], **kw)


def _answered(server, client, **kw):
    """A REGISTER that client authorised against a fresh challenge of server."""
    sent = _register()
    rsp = sent.response(401)
    server.challenge(rsp)
    nxt = _register(2, **kw)
    client.authorize(nxt, sent, rsp)
    return nxt


def _client(password="secret", realm="example.com"):
    ac = AuthClient()
    ac.add("alice", password, realm=realm)
    return ac


def test_algorithm_names():
    assert auth.algorithm_name(libsip.Algorithm.SHA512_256) == "SHA-512-256"
    assert auth.algorithm_from_name("md5-sess") == libsip.Algorithm.MD5_SESS
    assert auth.algorithm_from_name("SHA-1") == 0
    assert auth.algorithm_name(3) is None


def test_client_credentials_and_errors():
    ac = AuthClient()
    ac.add("alice", "pw", realm="example.com")
    ac.add("alice", "other", realm="example.com")
    ac.add("bob", ha1="0123456789abcdef0123456789abcdef", realm="example.com")
    assert ac.count == 2
    with pytest.raises(libsip.InvalidError):
        ac.add("carol")                                   # neither password nor ha1
    with pytest.raises(libsip.InvalidError):
        ac.add("carol", ha1="0123456789abcdef0123456789abcdef")   # HA1 needs a realm
    with pytest.raises(libsip.InvalidError):
        ac.add("carol", ha1="00", realm="r", algorithm="SHA-256")
    with pytest.raises(libsip.InvalidError):
        ac.add("carol", "pw", algorithm="SHA-1")
    with pytest.raises(TypeError):
        ac.add(None, "pw")
    ac.clear()
    assert ac.count == 0
    ac.close()
    with pytest.raises(libsip.ClosedError):
        ac.add("alice", "pw")


def test_client_answers_the_strongest_challenge():
    server = AuthServer("example.com", algorithms=["MD5", "SHA-256", "SHA-512-256"])
    ac = _client()
    nxt = _answered(server, ac)
    a = nxt.headers["Authorization"][0].value
    assert "algorithm=SHA-512-256" in a and 'username="alice"' in a
    # A request for a realm we have no credential for: AuthError.
    other = AuthServer("elsewhere")
    sent = _register()
    rsp = sent.response(401)
    other.challenge(rsp)
    with pytest.raises(AuthError):
        ac.authorize(_register(2), sent, rsp)
    with pytest.raises(libsip.InvalidError):
        ac.authorize(_register(2), sent, sent.response(403))
    with pytest.raises(TypeError):
        ac.authorize("x", sent, rsp)


def test_server_checks_what_the_client_sent():
    server = AuthServer("example.com", qop=["auth", "auth-int"])
    ac = _client()
    nxt = _answered(server, ac, body="hello")
    seen = []

    def lookup(check):
        seen.append((check.user, check.realm, check.algorithm, check.request is nxt))
        return "secret"

    chk = server.check(nxt, lookup)
    assert seen == [("alice", "example.com", "SHA-256", True)]
    assert chk.verdict == Verdict.OK and chk.ok and not chk.pending
    assert chk.status == 0 and chk.user == "alice" and chk.server is server
    ok = nxt.response(200)
    chk.add_info(ok)
    info = ok.headers["Authentication-Info"][0].value
    assert "rspauth=" in info and "qop=auth-int" in info and "nextnonce=" in info
    with pytest.raises(libsip.InvalidError):
        chk.response()                      # OK: the application answers
    # No credentials at all: a challenge, with no lookup.
    chk = server.check(_register(), lookup)
    assert chk.verdict == Verdict.CHALLENGE and chk.status == 401 and len(seen) == 1
    rsp = chk.response()
    assert rsp.status == 401
    assert len(rsp.headers["WWW-Authenticate"]) == 2        # SHA-256 and MD5
    assert "stale" not in str(rsp)
    with pytest.raises(libsip.InvalidError):
        chk.add_info(ok)
    with pytest.raises(TypeError):
        server.check(nxt, "not callable")


def test_client_takes_nextnonce_and_checks_rspauth():
    server = AuthServer("example.com", algorithms="SHA-256")
    ac = _client()
    nxt = _answered(server, ac)
    chk = server.check(nxt, lambda c: "secret")
    assert chk.ok
    ok = nxt.response(200)
    chk.add_info(ok)
    ac.update(nxt, ok)                              # rspauth right, nextnonce taken
    later = _register(3)
    ac.prepare(later)
    cred = later.headers["Authorization"][0].value
    assert "nc=00000001" in cred
    assert server.check(later, lambda c: "secret").ok
    forged = nxt.response(200)
    forged.add_header("Authentication-Info", 'nextnonce="x", qop=auth, rspauth="00", '
                                          'cnonce="c", nc=00000001')
    with pytest.raises(AuthError):
        ac.update(nxt, forged)
    with pytest.raises(libsip.InvalidError):
        ac.update(ok, nxt)


def test_password_ha1_and_proxy():
    server = AuthServer("example.com", algorithms="MD5", qop=[], proxy=True)
    ac = _client()
    sent = _register()
    rsp = sent.response(407)
    server.challenge(rsp)
    nxt = _register(2)
    ac.authorize(nxt, sent, rsp)
    assert "Proxy-Authorization" in nxt.headers
    import hashlib
    ha1 = hashlib.md5(b"alice:example.com:secret").hexdigest()
    chk = server.check(nxt, lambda c: {"ha1": ha1})
    assert chk.ok
    chk = server.check(_register(), lambda c: None)
    assert chk.status == 407
    assert "Proxy-Authenticate" in chk.response().headers


def test_unknown_user_and_wrong_password_look_the_same():
    server = AuthServer("example.com")
    nxt = _answered(server, _client("wrong"))
    a = server.check(nxt, lambda c: "secret")
    b = server.check(nxt, lambda c: None)
    assert a.verdict == b.verdict == Verdict.FAILED
    assert a.status == b.status == 401
    ra, rb = a.response(), b.response()
    names = [h.name for h in ra.headers.all()]
    assert names == [h.name for h in rb.headers.all()]
    ca = [h.value.split("nonce=")[0] for h in ra.headers["WWW-Authenticate"]]
    cb = [h.value.split("nonce=")[0] for h in rb.headers["WWW-Authenticate"]]
    assert ca == cb


def test_replayed_nonce_count():
    server = AuthServer("example.com")
    nxt = _answered(server, _client())
    assert server.check(nxt, lambda c: "secret").verdict == Verdict.OK
    again = server.check(nxt, lambda c: "secret")
    assert again.verdict == Verdict.REPLAY and again.status == 401


def test_async_lookup_is_awaited():
    async def main():
        server = AuthServer("example.com")
        nxt = _answered(server, _client())

        async def lookup(check):
            await asyncio.sleep(0.01)
            return "secret"

        chk = server.check(nxt, lookup)
        assert chk.pending
        got = await asyncio.wait_for(chk, 5)
        assert got is chk and chk.ok
        # Awaiting a check that is done returns at once.
        assert (await chk) is chk
        return chk.user
    assert asyncio.run(main()) == "alice"


def test_lookup_answered_later_and_closed():
    server = AuthServer("example.com")
    ac = _client()
    kept = []
    chk = server.check(_answered(server, ac), lambda c: kept.append(c) or auth.LATER)
    assert chk.pending and kept == [chk]
    chk.answer("secret")
    assert chk.ok
    with pytest.raises(libsip.InvalidError):
        chk.answer("secret")                                  # answered already
    chk = server.check(_answered(server, ac), lambda c: auth.LATER)
    with pytest.raises(libsip.InvalidError):
        chk.answer(ha1="abc")                                 # not an HA1: still pending
    assert chk.pending
    chk.close()
    with pytest.raises(libsip.ClosedError):
        chk.answer("secret")


def test_lookup_errors_count_as_unknown_users(caplog):
    server = AuthServer("example.com")

    def boom(check):
        raise RuntimeError("database down")

    with caplog.at_level(logging.ERROR, logger="libsip"):
        chk = server.check(_answered(server, _client()), boom)
    assert chk.verdict == Verdict.FAILED
    assert "auth lookup" in caplog.text
    with caplog.at_level(logging.ERROR, logger="libsip"):
        chk = server.check(_answered(server, _client()), lambda c: 42)
    assert chk.verdict == Verdict.FAILED


def test_module_check_uses_one_server_per_realm():
    req = _register()
    chk = auth.check(req, lambda c: "secret")
    assert chk.verdict == Verdict.CHALLENGE and chk.realm == "example.com"
    assert chk.server is auth.check(req, lambda c: None).server
    assert auth.check(req, lambda c: None, realm="other").realm == "other"


def test_options():
    with pytest.raises(libsip.InvalidError):
        AuthServer("example.com", algorithms=["SHA-1"])
    with pytest.raises(libsip.InvalidError):
        AuthServer("example.com", qop=["auth-conf"])
    with pytest.raises(TypeError):
        AuthServer(42)
    with pytest.raises(TypeError):
        AuthServer("r", nonce_lifetime=-1)
    s = AuthServer("r", secret="k", nonce_lifetime=10, algorithms=libsip.Algorithm.SHA256,
                   replay_slots=16)
    assert s.realm == "r" and "r" in repr(s)
    s.close()
    with pytest.raises(libsip.ClosedError):
        s.check(_register(), lambda c: None)


def test_register_challenged_and_authorised_over_udp():
    async def main():
        loop = libsip.Loop(strict=True)
        server = AuthServer("example.com")
        passwords = {"alice": "secret"}

        async def lookup(check):
            await asyncio.sleep(0)
            return passwords.get(check.user)

        with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uac, \
                libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uas:
            @uas.on_request("REGISTER")
            async def register(req):
                chk = await server.check(req, lookup)
                if chk.ok:
                    chk.reply(200, headers=[("Contact", "<sip:alice@10.0.0.1>;expires=60")])
                else:
                    chk.reply()

            port = uas.address().rsplit(":", 1)[1]
            uri = f"sip:127.0.0.1:{port}"
            task = asyncio.get_running_loop().create_task(loop.serve())
            try:
                def reg(cseq):
                    return Message.request("REGISTER", uri, headers=[
                        ("Max-Forwards", "70"), ("From", "<sip:alice@example.com>;tag=r1"),
                        ("To", "<sip:alice@example.com>"), ("Call-ID", "reg-udp@127.0.0.1"),
                        ("CSeq", f"{cseq} REGISTER")])
                ac = _client()
                first = reg(1)
                rsp = await asyncio.wait_for(uac.request(first), 5)
                assert rsp.status == 401
                second = reg(2)
                ac.authorize(second, first, rsp)
                rsp = await asyncio.wait_for(uac.request(second), 5)
                assert rsp.status == 200
                assert "rspauth=" in rsp.headers["Authentication-Info"][0].value
                # Later requests are authorised at once (nonce count 2).
                third = reg(3)
                ac.prepare(third)
                assert "nc=00000002" in third.headers["Authorization"][0].value
                rsp = await asyncio.wait_for(uac.request(third), 5)
                assert rsp.status == 200
                # A wrong password is refused, and the client sees it is.
                bad = _client("wrong")
                fourth = reg(4)
                rsp4 = await asyncio.wait_for(uac.request(fourth), 5)
                fifth = reg(5)
                bad.authorize(fifth, fourth, rsp4)
                rsp5 = await asyncio.wait_for(uac.request(fifth), 5)
                assert rsp5.status == 401
                with pytest.raises(AuthError):
                    bad.authorize(reg(6), fifth, rsp5)
            finally:
                loop.stop()
                await task
        loop.close()
    asyncio.run(main())


def test_nothing_left_alive():
    gc.collect()
    before = libsip.live_objects()
    server = AuthServer("example.com")
    done = server.check(_answered(server, _client()), lambda c: "secret")
    # A check waiting for its lookup keeps itself until answered or closed.
    waiting = server.check(_answered(server, _client()), lambda c: auth.LATER)
    assert libsip.live_objects()["auth_query"] == before["auth_query"] + 2
    waiting.close()
    del done, waiting, server
    gc.collect()
    after = libsip.live_objects()
    assert after["auth_query"] == before["auth_query"]
    assert after["auth_server"] == before["auth_server"]


def test_a_ua_with_credentials_against_an_auth_server():
    """The two halves through the UA: its requests are challenged by an AuthServer, answered
    from its credentials, and authorised at once afterwards (the cached challenge)."""
    from test_calls import run_pair

    async def body(alice, bob, uri):
        server = AuthServer("127.0.0.1", algorithms=["SHA-512-256", "SHA-256", "MD5"])
        verdicts = []

        async def lookup(check):
            await asyncio.sleep(0)
            return {"alice": "secret"}.get(check.user)

        @bob.on_request
        async def on_request(req):
            chk = await server.check(req, lookup)
            verdicts.append((chk.verdict, chk.algorithm))
            if chk.ok:
                chk.reply(200)
            else:
                chk.reply()

        first = await alice.request("OPTIONS", uri)
        second = await alice.message(uri, "hello")
        info = first.headers["Authentication-Info"][0].value
        alice.add_credential("alice", "wrong", realm="127.0.0.1")
        third = await alice.request("OPTIONS", uri)
        server.close()
        return first.status, second.status, info, third.status, verdicts

    first, second, info, third, verdicts = run_pair(
        body, credentials={"user": "alice", "password": "secret"})
    assert (first, second) == (200, 200) and "rspauth=" in info
    # OPTIONS challenged once (SHA-512-256 taken), MESSAGE authorised at once with the next
    # nonce count; then the wrong password: refused, the 401 reaches the application.
    assert verdicts[:3] == [(Verdict.CHALLENGE, None), (Verdict.OK, "SHA-512-256"),
                            (Verdict.OK, "SHA-512-256")]
    assert third == 401
    assert verdicts[-1] == (Verdict.FAILED, "SHA-512-256")
