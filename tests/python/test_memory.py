# SPDX-License-Identifier: MIT
"""Create/destroy cycles through the bindings leave no libsip object behind: the live-object
counters (libsip.live_objects(), sip/live.h) come back to zero for messages and transactions,
and to where they were for everything else."""

import gc

import libsip

MSG = (b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
       b"Max-Forwards: 70\r\n"
       b"To: Bob <sip:bob@biloxi.example.com>\r\n"
       b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
       b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
       b"CSeq: 314159 INVITE\r\n"
       b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
       b"Content-Length: 0\r\n\r\n")
BAD = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: nonsense\r\n\r\n"
SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
      b"m=audio 4000 RTP/AVP 0\r\n"


def live():
    gc.collect()
    return libsip.live_objects()


def cycle(n):
    for _ in range(n):
        m = libsip.Message.parse(MSG)
        m.headers["Via"][0].branch
        m.from_.uri.host
        rsp = m.response(180)
        bytes(rsp)
        m.copy().set_header("Max-Forwards", 69)
        libsip.Sdp.parse(SDP).media[0].port
        try:
            libsip.Message.parse(BAD)
        except libsip.ParseError:
            pass


def _request(method, dst, n):
    host = dst.split(":", 1)[1]
    return libsip.Message.request(method, f"sip:uas@{host}", headers=[
        ("Max-Forwards", 70), ("From", f"<sip:uac@127.0.0.1>;tag=m{n}"),
        ("To", f"<sip:uas@{host}>"), ("Call-ID", libsip.call_id("127.0.0.1")),
        ("CSeq", f"1 {method}")])


def exchange(n):
    """n INVITE transactions (180, 200) and n OPTIONS between two stacks on one loop, then
    everything closed."""
    loop = libsip.Loop(strict=True)
    uac = libsip.Stack("udp:127.0.0.1:0", loop=loop, transactions=True, t1_ms=20, t4_ms=20)
    uas = libsip.Stack("udp:127.0.0.1:0", loop=loop, transactions=True, t1_ms=20, t4_ms=20)

    @uas.on_request("INVITE")
    def invite(req):
        req.reply(180)
        req.reply(200, headers={"Contact": "<sip:uas@127.0.0.1>"})

    @uas.on_request("OPTIONS")
    def options(req):
        req.reply(200)

    done = []
    for i in range(n):
        for method in ("INVITE", "OPTIONS"):
            uac.request(_request(method, uas.address(), i), uas.address(),
                        on_response=lambda status, rsp: done.append(status) if status >= 200
                        else None)
    guard = loop.call_later(10, loop.stop)
    tick = libsip.Timer(loop, 0.005, lambda: loop.stop() if len(done) == 2 * n else None,
                        repeat=0.005)
    loop.run()
    tick.stop()
    guard.stop()
    assert done == [200] * (2 * n)
    uac.close()
    uas.close()
    loop.close()


def test_parse_and_build_cycles_leave_no_message():
    before = live()
    cycle(2000)
    after = live()
    assert after["msg"] == 0 and after["sdp"] == 0, after
    assert after == before


def test_transaction_cycles_leave_no_transaction_or_message():
    before = live()
    exchange(20)
    after = live()
    assert after["msg"] == 0 and after["txn"] == 0, after
    assert after == before


def test_kept_objects_are_counted_until_dropped():
    before = live()
    m = libsip.Message.parse(MSG)
    h = m.headers["Via"][0]
    del m
    assert live()["msg"] == before["msg"] + 1  # the Header keeps its message alive
    del h
    assert live()["msg"] == before["msg"]
