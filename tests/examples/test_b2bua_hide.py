# SPDX-License-Identifier: MIT
"""examples/python/b2bua_hide.py: a call from A (on ::1) through A's record-routing edge proxy
(a libsip.Proxy on ::1) across the B2BUA (on ::1 and 127.0.0.1) to B (on 127.0.0.1), ports
47600-47699, one loop: B answers, A re-offers twice (a change, then a refresh), B hangs up.
Every message B receives is checked for what A's side would give away (its address, port, Via
branches, Record-Route, Contact, Call-ID, tags, From host, other headers, o= and s= lines),
and every message A receives for B's."""

import asyncio
import gc
import importlib.util
import os
import types

import libsip
from libsip import UA

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "python", "b2bua_hide.py")
WAIT = 5
BASE = 47600


def offer_a(version, port=4000):
    return ("v=0\r\no=alice-secret 111222333 %d IN IP6 ::1\r\ns=a-session\r\n"
            "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            % (version, port))


def answer_b(version):
    return ("v=0\r\no=bob-secret 555000 %d IN IP4 127.0.0.1\r\ns=b-session\r\n"
            "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            % version)


def load():
    spec = importlib.util.spec_from_file_location("b2bua_hide_under_test", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_origin_versions():
    mod = load()
    o = mod.Origin("192.0.2.1")
    first = libsip.Sdp.parse(o.rewrite(offer_a(7))).origin
    assert first.username == "-" and first.address == "192.0.2.1" and first.sess_version == "1"
    assert libsip.Sdp.parse(o.rewrite(offer_a(7))).origin.sess_version == "1"    # refresh
    again = libsip.Sdp.parse(o.rewrite(offer_a(8))).origin
    assert again.sess_version == "2" and again.sess_id == first.sess_id
    assert mod.b_target("sip:gw.example.net", libsip.Uri("sip:1234@b2bua")) == \
        "sip:1234@gw.example.net"
    assert mod.b_target("sip:carol@gw.example.net", libsip.Uri("sip:1234@b2bua")) == \
        "sip:carol@gw.example.net"


def test_call_across_hides_each_side():
    mod = load()

    async def main():
        loop = libsip.Loop(strict=True)
        p = BASE
        hide = libsip.Stack([f"udp:[::1]:{p}", f"udp:127.0.0.1:{p + 1}"], loop=loop,
                            transactions=True, t1_ms=50)
        sa = libsip.Stack([f"udp:[::1]:{p + 2}"], loop=loop, transactions=True, t1_ms=50)
        sb = libsip.Stack([f"udp:127.0.0.1:{p + 3}"], loop=loop, transactions=True, t1_ms=50)
        se = libsip.Stack([f"udp:[::1]:{p + 4}"], loop=loop, transactions=True, t1_ms=50)
        edge = libsip.Proxy(se)

        @edge.route
        async def edge_route(req):
            if req.routed:
                return await req.default_route()
            await req.proxy([f"sip:bob@[::1]:{p}"], record_route=True)
        server = asyncio.ensure_future(loop.serve())
        at_b, at_a, from_a = [], [], []
        sb.transport.add_handler(lambda m: at_b.append(bytes(m).decode()) and False,
                                 priority=libsip.HandlerPriority.FIRST)
        sa.transport.add_handler(lambda m: at_a.append(bytes(m).decode()) and False,
                                 priority=libsip.HandlerPriority.FIRST)

        def tap(m):
            if m.netinfo is not None and m.netinfo.remote_port == p + 4:
                from_a.append(m)
            return False
        hide.transport.add_handler(tap, priority=libsip.HandlerPriority.FIRST)
        try:
            with UA(hide, contact_user="b2bua") as h, \
                    UA(sa, contact_user="alice-contact-7781") as a, \
                    UA(sb, contact_user="bob-contact-991") as b:
                mod.attach(h, types.SimpleNamespace(
                    to=f"sip:bob@127.0.0.1:{p + 3}", domain="b2bua.example",
                    sdp_address="127.0.0.1", timeout=10))
                b_calls = []

                @b.on_invite
                async def on_invite(call):
                    b_calls.append(call)

                    @call.on("offer")
                    def offer(msg):
                        call.answer_offer(answer_b(2))
                    await call.ring()
                    await call.answer(sdp=answer_b(1))

                call = await asyncio.wait_for(a.invite(
                    f"sip:bob@[::1]:{p}", sdp=offer_a(1), dst=f"udp:[::1]:{p + 4}",
                    from_="Alice <sip:alice@a-side.example>",
                    headers={"X-A-Secret": "a-topology"}), WAIT)
                (bcall,) = b_calls
                await bcall.answered(timeout=WAIT)
                # A's answer is B's under the B2BUA's o= line.
                o = libsip.Sdp.parse(call.remote_sdp).origin
                assert o.username == "-" and o.sess_id != "555000" and o.address == "::1", o
                # A changes its offer, then sends it again unchanged.
                rsp = await call.reinvite(sdp=offer_a(2, port=4002))
                assert rsp.status == 200
                rsp = await call.reinvite(sdp=offer_a(2, port=4002))
                assert rsp.status == 200
                await bcall.hangup()
                assert await call.ended(timeout=WAIT) == 200

                secrets_a = {"::1", f":{p + 2}", f":{p + 4}", "alice-contact-7781",
                             "X-A-Secret", "a-topology", "a-side.example", "alice-secret",
                             "111222333", "a-session", call.dialog.call_id,
                             call.dialog.local_tag}
                for m in from_a:
                    secrets_a.update(str(v.parsed.branch) if hasattr(v.parsed, "branch")
                                     else "" for v in m.headers.getall("Via"))
                    secrets_a.add(m.call_id)
                secrets_a.discard("")
                secrets_b = {"bob-contact-991", f":{p + 3}", "bob-secret", "555000",
                             "b-session", bcall.dialog.call_id, bcall.dialog.local_tag}
                return at_a, at_b, secrets_a, secrets_b, call.dialog.remote_tag
        finally:
            edge.close()
            for s in (hide, sa, sb, se):
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    at_a, at_b, secrets_a, secrets_b, _ = asyncio.run(main())
    gc.collect()
    assert {k: v for k, v in libsip.live_objects().items() if v} == {}

    # B got the INVITE, the ACK, two re-INVITEs, their ACKs and the 200 to its BYE.
    assert sum(m.startswith("INVITE ") for m in at_b) == 3, [m.split("\r\n")[0] for m in at_b]
    assert any(m.startswith("SIP/2.0 200") and "BYE" in m for m in at_b)
    for m in at_b:
        leaked = [s for s in secrets_a if s in m]
        assert leaked == [], (leaked, m)
    invite = libsip.Message.parse(next(m for m in at_b if m.startswith("INVITE ")))
    assert len(invite.headers.getall("Via")) == 1
    assert "Record-Route" not in invite.headers
    assert invite.headers["Contact"][0].parsed.uri.user == "b2bua"
    assert invite.from_.uri.user == "alice" and invite.from_.uri.host == "b2bua.example"
    assert invite.from_.display.strip('"') == "Alice"
    offers = [libsip.Sdp.parse(libsip.Message.parse(m).body).origin for m in at_b
              if m.startswith("INVITE ")]
    assert [o.username for o in offers] == ["-", "-", "-"]
    assert [o.address for o in offers] == ["127.0.0.1"] * 3
    assert len({o.sess_id for o in offers}) == 1
    # RFC 3264 §8: the change is a new version, the refresh is not.
    assert [o.sess_version for o in offers] == ["1", "2", "2"]

    # A saw nothing of B either.
    for m in at_a:
        leaked = [s for s in secrets_b if s in m]
        assert leaked == [], (leaked, m)


def test_the_program():
    """b2bua_hide.py run as its header says: a call across it, answered and hung up."""
    import signal
    import subprocess
    import sys
    import time
    p = BASE + 50
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(d) for d in
                                        env.get("PYTHONPATH", "").split(os.pathsep) if d)
    proc = subprocess.Popen([sys.executable, EXAMPLE, "--listen", f"udp:127.0.0.1:{p}",
                             "--to", f"sip:127.0.0.1:{p + 2}", "--domain", "b2bua.example"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    try:
        assert proc.stdout.readline().startswith("listening on udp:127.0.0.1"), proc.poll()

        async def main():
            loop = libsip.Loop(strict=True)
            sa = libsip.Stack([f"udp:127.0.0.1:{p + 1}"], loop=loop, transactions=True,
                              t1_ms=50)
            sb = libsip.Stack([f"udp:127.0.0.1:{p + 2}"], loop=loop, transactions=True,
                              t1_ms=50)
            server = asyncio.ensure_future(loop.serve())
            try:
                with UA(sa) as a, UA(sb) as b:
                    seen = []

                    @b.on_invite
                    async def on_invite(call):
                        seen.append((str(call.invite.uri), str(call.invite.from_),
                                     libsip.Sdp.parse(call.remote_sdp).origin.username))
                        await call.answer(sdp=answer_b(1))

                    call = await asyncio.wait_for(a.invite(
                        f"sip:1234@127.0.0.1:{p}", sdp=offer_a(1),
                        from_="<sip:alice@a-side.example>"), WAIT)
                    await call.hangup()
                    assert await call.ended(timeout=WAIT) == 200
                    return seen
            finally:
                for s in (sa, sb):
                    s.close()
                loop.stop()
                await asyncio.wait_for(server, WAIT)
                loop.close()

        (inv_uri, from_, o_user), = asyncio.run(main())
        assert inv_uri == f"sip:1234@127.0.0.1:{p + 2}"     # the caller's user, --to's host
        assert from_.startswith("<sip:alice@b2bua.example>")
        assert o_user == "-"
    finally:
        proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + WAIT
        while proc.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        assert proc.poll() == 0, proc.stdout.read() if proc.poll() is not None else "running"
