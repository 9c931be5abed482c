# SPDX-License-Identifier: MIT
"""The registrar and the user table from Python (libsip.registrar): a UserDB from passwords and
files, answering digest checks; a Registrar saving REGISTERs a Stack received over UDP, with
the statuses of RFC 3261 §10.3 and the bindings it wrote."""

import asyncio
import gc
import os

import pytest

import libsip
from libsip import (AuthClient, AuthServer, InvalidError, Message, NotFoundError, ParseError,
                    Registrar, UserDB, Verdict)


def _location(loop):
    """A location service in memory with our domain and an alias of alice's AOR."""
    loc = libsip.Location(loop)
    loc.add_domain("example.com")
    loc.add_alias("sip:1000@example.com", "sip:alice@example.com")
    return loc


def test_userdb_passwords_and_files(tmp_path):
    db = UserDB()
    assert db.count == 0
    db.set_password("Mufasa", "http-auth@example.org", "Circle of Life")
    # RFC 7616 §3.9.1.
    assert db.get_ha1("Mufasa", "http-auth@example.org", "SHA-256") == \
        "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
    assert db.get_ha1("Mufasa", "http-auth@example.org") == "3d78807defe7de2157e2b0b6573a855f"
    assert db.get_ha1("Mufasa", "http-auth@example.org", "MD5-sess") == \
        "3d78807defe7de2157e2b0b6573a855f"
    assert db.get_ha1("nobody", "http-auth@example.org") is None
    path = str(tmp_path / "users")
    db.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    back = UserDB(path)
    assert back.count == 1 and "1 users" in repr(back)
    back.remove("Mufasa", "http-auth@example.org")
    with pytest.raises(NotFoundError):
        back.remove("Mufasa", "http-auth@example.org")
    with pytest.raises(InvalidError):
        db.set_password("a:b", "realm", "x")
    with pytest.raises(TypeError):
        db.set_password("a", "realm", 5)
    with pytest.raises(InvalidError):
        db.get_ha1("a", "realm", "SHA-999")
    bad = tmp_path / "bad"
    bad.write_text("# users\nalice:example.com:MD5:3d78807defe7de2157e2b0b6573a855f\nbroken\n")
    with pytest.raises(ParseError) as e:
        UserDB(str(bad))
    assert e.value.line == 3
    with pytest.raises(libsip.Error):
        UserDB(str(tmp_path / "missing"))
    with pytest.raises(libsip.Error):
        db.save(str(tmp_path / "no" / "dir"))
    db.close()
    db.close()
    with pytest.raises(libsip.ClosedError):
        db.count


def _register(cseq):
    return Message.request("REGISTER", "sip:example.com", headers=[
        ("Via", f"SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKudb{cseq}"),
        ("Max-Forwards", "70"), ("From", "<sip:alice@example.com>;tag=a1"),
        ("To", "<sip:alice@example.com>"), ("Call-ID", "udb@10.0.0.1"),
        ("CSeq", f"{cseq} REGISTER")])


def test_userdb_answers_digest_checks():
    users = UserDB()
    users.set_password("alice", "example.com", "secret")
    server = AuthServer("example.com")
    for password, verdict in (("secret", Verdict.OK), ("wrong", Verdict.FAILED)):
        ac = AuthClient()
        ac.add("alice", password, realm="example.com")
        sent = _register(1)
        rsp = sent.response(401)
        server.challenge(rsp)
        nxt = _register(2)
        ac.authorize(nxt, sent, rsp)
        assert server.check(nxt, users.lookup()).verdict == verdict
        chk = server.check(nxt, lambda c: libsip.auth.LATER)
        users.answer(chk)
        with pytest.raises(InvalidError):
            users.answer(chk)
    with pytest.raises(TypeError):
        users.answer("not a check")


def test_registrar_options_are_checked():
    loop = libsip.Loop()
    loc = _location(loop)
    with pytest.raises(InvalidError):
        Registrar(loc, min_expires=100, max_expires=50)
    with pytest.raises(TypeError):
        Registrar(loc, path="yes")
    with pytest.raises(TypeError):
        Registrar(object())
    r = Registrar(loc, service_route="<sip:p.example.com;lr>")
    assert r.location is loc and set(Registrar.OPTIONS) >= {"min_expires", "flow_timer"}
    r.close()
    loc.close()
    loop.close()


def test_registrar_saves_over_udp():
    async def main():
        loop = libsip.Loop(strict=True)
        loc = _location(loop)
        registrar = Registrar(loc, service_route="<sip:orig@p.example.com;lr>")
        results = []
        tags = []
        with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uac, \
                libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uas:
            who = {"user": "alice"}

            @uas.on_request("REGISTER")
            async def register(req):
                results.append(await registrar.save(req, who["user"]))

            port = uas.address().rsplit(":", 1)[1]
            task = asyncio.get_running_loop().create_task(loop.serve())
            try:
                def reg(cseq, to="sip:alice@example.com", contact="<sip:alice@10.0.0.1>",
                        expires=None):
                    # A new From tag each time: the same one with the same CSeq would be a
                    # merged request (RFC 3261 §8.2.2.2), answered 482 by the layer.
                    tags.append(1)
                    h = [("Max-Forwards", "70"), ("From", f"<{to}>;tag=r{len(tags)}"),
                         ("To", f"<{to}>"),
                         ("Call-ID", "reg-py@127.0.0.1"), ("CSeq", f"{cseq} REGISTER")]
                    if contact:
                        h.append(("Contact", contact))
                    if expires is not None:
                        h.append(("Expires", str(expires)))
                    return Message.request("REGISTER", f"sip:127.0.0.1:{port}", headers=h)

                rsp = await asyncio.wait_for(uac.request(reg(1, expires=600)), 5)
                assert rsp.status == 200
                assert rsp.headers["Contact"][0].value == "<sip:alice@10.0.0.1>;expires=600"
                assert rsp.headers["Service-Route"][0].value == "<sip:orig@p.example.com;lr>"
                status, response, bindings = results[-1]
                assert status == 200 and response.status == 200
                assert len(bindings) == 1
                b = bindings[0]
                assert isinstance(b, libsip.Binding)
                assert b.contact == "sip:alice@10.0.0.1" and b.cseq == 1 and b.q is None
                assert b.received.startswith("sip:127.0.0.1:")
                assert loc.count == 1
                # The same CSeq again: out of order (§10.3 step 7).
                rsp = await asyncio.wait_for(uac.request(reg(1)), 5)
                assert rsp.status == 500 and results[-1][0] == 500 and results[-1][2] == []
                # 423 below min_expires, with Min-Expires.
                rsp = await asyncio.wait_for(uac.request(reg(2, expires=10)), 5)
                assert rsp.status == 423 and rsp.headers["Min-Expires"][0].value == "60"
                # The alias 1000 is alice's; bob may not register it.
                who["user"] = "bob"
                rsp = await asyncio.wait_for(uac.request(reg(3, to="sip:1000@example.com")), 5)
                assert rsp.status == 403
                who["user"] = "alice"
                rsp = await asyncio.wait_for(
                    uac.request(reg(4, to="sip:1000@example.com",
                                    contact="<sip:alice@10.0.0.2>")), 5)
                assert rsp.status == 200 and len(results[-1][2]) == 2
                # `*` with Expires: 0 removes every binding.
                rsp = await asyncio.wait_for(uac.request(reg(5, contact="*", expires=0)), 5)
                assert rsp.status == 200 and "Contact" not in rsp.headers
                assert loc.count == 0
            finally:
                loop.stop()
                await task
        registrar.close()
        loc.close()
        loop.close()
    asyncio.run(main())
    gc.collect()


def test_save_needs_a_server_transaction():
    async def main():
        loop = libsip.Loop()
        loc = _location(loop)
        r = Registrar(loc)
        with pytest.raises(TypeError):
            await r.save("REGISTER")
        r.close()
        with pytest.raises(libsip.ClosedError):
            await r.save(None)
        loc.close()
        loop.close()
    asyncio.run(main())


def test_digest_register_with_users_and_registrar():
    """The docs' example: a REGISTER challenged with the users table, then saved as the user
    it authenticated."""
    async def main():
        loop = libsip.Loop(strict=True)
        loc = _location(loop)
        users = UserDB()
        users.set_password("alice", "example.com", "secret")
        auth = AuthServer("example.com")
        registrar = Registrar(loc)
        with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uac, \
                libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uas:
            @uas.on_request("REGISTER")
            async def register(req):
                check = await auth.check(req, users.lookup())
                if not check.ok:
                    check.reply()
                    return
                await registrar.save(req, check.user)

            port = uas.address().rsplit(":", 1)[1]
            task = asyncio.get_running_loop().create_task(loop.serve())
            try:
                def reg(cseq):
                    return Message.request("REGISTER", f"sip:127.0.0.1:{port}", headers=[
                        ("Max-Forwards", "70"), ("From", "<sip:alice@example.com>;tag=d1"),
                        ("To", "<sip:alice@example.com>"), ("Call-ID", "digest@127.0.0.1"),
                        ("CSeq", f"{cseq} REGISTER"), ("Contact", "<sip:alice@10.0.0.1>")])
                first = reg(1)
                rsp = await asyncio.wait_for(uac.request(first), 5)
                assert rsp.status == 401
                ac = AuthClient()
                ac.add("alice", "secret", realm="example.com")
                second = reg(2)
                ac.authorize(second, first, rsp)
                rsp = await asyncio.wait_for(uac.request(second), 5)
                assert rsp.status == 200 and loc.count == 1
            finally:
                loop.stop()
                await task
        registrar.close()
        loc.close()
        loop.close()
    asyncio.run(main())
    gc.collect()
