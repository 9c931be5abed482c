# SPDX-License-Identifier: MIT
"""examples/python/lcr_route.py: its route() in a libsip.Proxy, a caller UA with credentials
and three fake gateways (libsip UAs), each a Stack on 127.0.0.1 (ports 47500-47599, ten per
test) sharing one loop. The cheapest gateway of the longest matching prefix gets the call with
the number in E.164 and the rewritten headers; when it answers 503 the next one gets it."""

import asyncio
import gc
import importlib.util
import os
import types

import libsip
from libsip import UA, CallFailed

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "python", "lcr_route.py")
OFFER = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
ANSWER = ("v=0\r\no=gw 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
          "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
WAIT = 5
BASE = 47500


def load(tmp_path, port):
    """A fresh instance of the example with its table in tmp_path: routes for 4930 via the
    gateways at port+2 (0.010, answers 503) and port+3 (0.020), 49 via port+4 (0.001)."""
    spec = importlib.util.spec_from_file_location("lcr_route_under_test", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.DB_PATH = str(tmp_path / "lcr.db")
    mod.COUNTRY_CODE = "49"
    mod.DOMAIN = "example.com"
    mod.TIMEOUT = 2
    gw = lambda i: f"sip:127.0.0.1:{port + i}"
    db = mod.db()
    db.executemany("INSERT INTO routes VALUES (?, ?, ?)",
                   [("4930", gw(2), 0.010), ("4930", gw(3), 0.020), ("49", gw(4), 0.001)])
    db.commit()
    return mod


def run(n, tmp_path, body):
    async def main():
        loop = libsip.Loop(strict=True)
        port = BASE + 10 * n
        mod = load(tmp_path, port)
        stacks = [libsip.Stack([f"udp:127.0.0.1:{port + i}"], loop=loop, transactions=True,
                               t1_ms=50) for i in range(5)]
        server = asyncio.ensure_future(loop.serve())
        try:
            proxy = libsip.Proxy(stacks[0], route=mod.route,
                                 auth=libsip.AuthServer("example.com"),
                                 users={"alice": "secret"})
            with proxy, UA(stacks[1], credentials={"user": "alice", "password": "secret"}) as a, \
                    UA(stacks[2]) as gw1, UA(stacks[3]) as gw2, UA(stacks[4]) as gw3:
                env = types.SimpleNamespace(mod=mod, a=a, gws=[gw1, gw2, gw3], port=port,
                                            seen=[[], [], []])
                for i, (gw, status) in enumerate(zip(env.gws, (503, 200, 200))):
                    gateway(gw, status, env.seen[i])
                return await asyncio.wait_for(body(env), 4 * WAIT)
        finally:
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()
            if mod._db is not None:
                mod._db.close()

    out = asyncio.run(main())
    gc.collect()
    assert {k: v for k, v in libsip.live_objects().items() if v} == {}
    return out


def gateway(ua, status, seen):
    @ua.on_invite
    async def on_invite(call):
        seen.append(call.invite)
        if status == 200:
            await call.answer(sdp=ANSWER)
        else:
            await call.reject(status)


def test_normalise():
    mod = importlib.util.module_from_spec(
        importlib.util.spec_from_file_location("lcr_norm", EXAMPLE))
    mod.__spec__.loader.exec_module(mod)
    assert mod.normalise("0301234567") == "+49301234567"
    assert mod.normalise("00 1 (212) 555-0100") == "+12125550100"
    assert mod.normalise("+49 30 123-4567") == "+49301234567"
    assert mod.normalise("0301234567", country_code="43") == "+43301234567"
    assert mod.normalise("1234567") is None          # no area code
    assert mod.normalise("alice") is None
    assert mod.normalise("+1234567890123456") is None  # 16 digits: not E.164
    assert mod.target("sip:gw.example.net:5070;transport=tcp", "+4930") == \
        "sip:+4930@gw.example.net:5070;transport=tcp;user=phone"


def test_cheapest_of_longest_prefix_then_failover_on_503(tmp_path):
    async def body(env):
        call = await env.a.invite(f"sip:030-1234567@127.0.0.1:{env.port}", sdp=OFFER,
                                  headers={"P-Asserted-Identity": "<sip:boss@example.com>"})
        # The cheapest gateway of prefix 4930 got it first and answered 503; the next one of
        # the same prefix answered; the cheaper one of the shorter prefix 49 never saw it.
        assert len(env.seen[0]) == 1 and len(env.seen[1]) == 1 and env.seen[2] == []
        for i, inv in enumerate((env.seen[0][0], env.seen[1][0])):
            assert str(inv.uri) == f"sip:+49301234567@127.0.0.1:{env.port + 2 + i};user=phone"
            pai = [str(h) for h in inv.headers.getall("P-Asserted-Identity")]
            assert pai == ["<sip:alice@example.com>"], pai
            (route,) = [str(h) for h in inv.headers.getall("X-LCR-Route")]
            cost = ("0.01", "0.02")[i]
            assert route == f'prefix=4930;gateway="sip:127.0.0.1:{env.port + 2 + i}";cost={cost}'
        await call.hangup()
        assert await call.ended(timeout=WAIT) == 200
        assert env.mod.trusted(types.SimpleNamespace(msg=inv)) is False   # not from a peer
        return True

    assert run(0, tmp_path, body)


def test_shorter_prefix_and_unauthenticated_and_unroutable(tmp_path):
    async def body(env):
        call = await env.a.invite(f"sip:+494012345@127.0.0.1:{env.port}", sdp=OFFER)
        assert len(env.seen[2]) == 1 and env.seen[0] == [] and env.seen[1] == []
        assert str(env.seen[2][0].uri).startswith("sip:+494012345@")
        await call.hangup()
        assert await call.ended(timeout=WAIT) == 200
        # No route for +1...: 404.
        try:
            await env.a.invite(f"sip:0012125550100@127.0.0.1:{env.port}", sdp=OFFER)
            assert False, "answered"
        except CallFailed as e:
            assert e.status == 404
        return True

    assert run(1, tmp_path, body)


def test_calls_need_credentials(tmp_path):
    async def body(env):
        # The anonymous caller is a trusted peer (LCR_TRUSTED names its address and port): its
        # asserted identity would be kept, yet a call to a number still needs credentials.
        env.mod.TRUSTED = {f"127.0.0.1:{env.port + 9}"}
        verdicts = []
        real = env.mod.trusted
        env.mod.trusted = lambda req: verdicts.append(real(req)) or verdicts[-1]
        stack = libsip.Stack(["udp:127.0.0.1:%d" % (env.port + 9)], loop=env.a.stack.loop,
                             transactions=True, t1_ms=50)
        try:
            with UA(stack) as anon:
                try:
                    await anon.invite(f"sip:0301234567@127.0.0.1:{env.port}", sdp=OFFER)
                    assert False, "answered"
                except CallFailed as e:
                    assert e.status in (401, 407)
        finally:
            stack.close()
        assert env.seen == [[], [], []]
        assert verdicts and all(verdicts), verdicts
        return True

    assert run(2, tmp_path, body)


def test_through_sipd_script(tmp_path):
    """The same call through `sipd --script lcr_route.py`: the script's settings come from the
    LCR_* environment, its users from sipd's users file."""
    import subprocess
    import time

    sipd = os.environ.get("SIPD")
    if not sipd:
        import pytest
        pytest.skip("SIPD (the built sipd) not set: ctest sets it")
    port = BASE + 50
    db = tmp_path / "lcr.db"
    mod = load(tmp_path, port)             # writes the routes table
    mod._db.close()
    users = libsip.UserDB()
    users.set_password("alice", "example.com", "secret")
    users.save(str(tmp_path / "users"))
    env = dict(os.environ, LCR_DB=str(db), LCR_COUNTRY_CODE="49", LCR_DOMAIN="example.com",
               LCR_TIMEOUT="2")
    log = open(tmp_path / "sipd.log", "w+")
    proc = subprocess.Popen([sipd, "-v", "--domain", "example.com", "--users",
                             str(tmp_path / "users"), "--listen",
                             f"udp:127.0.0.1:{port}", "--script", EXAMPLE],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        end = time.monotonic() + 20
        while "listening on" not in (tmp_path / "sipd.log").read_text():
            assert proc.poll() is None, (tmp_path / "sipd.log").read_text()
            assert time.monotonic() < end, (tmp_path / "sipd.log").read_text()
            time.sleep(0.05)

        async def main():
            loop = libsip.Loop(strict=True)
            stacks = [libsip.Stack([f"udp:127.0.0.1:{port + i}"], loop=loop,
                                   transactions=True, t1_ms=50) for i in range(1, 5)]
            server = asyncio.ensure_future(loop.serve())
            seen = [[], [], []]
            try:
                with UA(stacks[0], credentials={"user": "alice", "password": "secret"}) as a, \
                        UA(stacks[1]) as g1, UA(stacks[2]) as g2, UA(stacks[3]) as g3:
                    for i, (gw, status) in enumerate(zip((g1, g2, g3), (503, 200, 200))):
                        gateway(gw, status, seen[i])
                    call = await asyncio.wait_for(a.invite(
                        f"sip:0301234567@127.0.0.1:{port}", sdp=OFFER,
                        headers={"P-Asserted-Identity": "<sip:boss@example.com>"}), 4 * WAIT)
                    await call.hangup()
                    assert await call.ended(timeout=WAIT) == 200
                    return seen
            finally:
                for s in stacks:
                    s.close()
                loop.stop()
                await asyncio.wait_for(server, WAIT)
                loop.close()

        seen = asyncio.run(main())
        assert len(seen[0]) == 1 and len(seen[1]) == 1 and seen[2] == [], seen
        inv = seen[1][0]
        assert str(inv.uri) == f"sip:+49301234567@127.0.0.1:{port + 3};user=phone"
        assert [str(h) for h in inv.headers.getall("P-Asserted-Identity")] == \
            ["<sip:alice@example.com>"]
        assert [str(h) for h in inv.headers.getall("X-LCR-Route")] == \
            [f'prefix=4930;gateway="sip:127.0.0.1:{port + 3}";cost=0.02']
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0, (tmp_path / "sipd.log").read_text()
        log.close()
