# SPDX-License-Identifier: MIT
"""The chain of message handlers of a Transport (add_handler/remove_handler, HandlerPriority),
alone and in front of a Stack's transaction layer, over UDP on 127.0.0.1."""

import pytest

import libsip


def options(dst, branch, call_id):
    host = dst.split(":", 1)[1]
    return libsip.Message.request("OPTIONS", f"sip:uas@{host}", headers=[
        ("Via", f"SIP/2.0/UDP 127.0.0.1;branch={branch}"),
        ("Max-Forwards", "70"),
        ("To", "<sip:uas@example.com>"),
        ("From", "<sip:uac@example.com>;tag=py"),
        ("Call-ID", call_id),
        ("CSeq", "1 OPTIONS"),
    ])


def run_until(loop, until, seconds=5.0):
    done = []
    guard = loop.call_later(seconds, lambda: done.append(True))
    while not until() and not done:
        loop.run_once()
    guard.stop()
    return until()


def test_handlers_run_by_priority_and_take_or_pass():
    loop = libsip.Loop(strict=True)
    seen = []
    with libsip.Transport(loop, ["udp:127.0.0.1:0"]) as server, \
            libsip.Transport(loop, ["udp:127.0.0.1:0"]) as client:
        server.on_message = lambda m: seen.append(("app", m.method))
        take = {"ua": True}

        def ua(msg):
            seen.append(("ua", msg.method))
            return take["ua"]

        def tap(msg):
            assert isinstance(msg, libsip.Message) and msg.call_id.startswith("disp")
            seen.append(("first", msg.method))

        ua_id = server.add_handler(ua, libsip.HandlerPriority.UA)
        tap_id = server.add_handler(tap, priority=libsip.HandlerPriority.FIRST)
        assert ua_id > 0 and tap_id > 0 and ua_id != tap_id
        dst = server.listeners[0].local

        client.send(options(dst, "z9hG4bKd1", "disp1"), dst)
        assert run_until(loop, lambda: len(seen) == 2)
        # Taken by the UA-priority handler: the application's handler never sees it.
        assert seen == [("first", "OPTIONS"), ("ua", "OPTIONS")]

        take["ua"] = 0
        del seen[:]
        client.send(options(dst, "z9hG4bKd2", "disp2"), dst)
        assert run_until(loop, lambda: len(seen) == 3)
        assert seen == [("first", "OPTIONS"), ("ua", "OPTIONS"), ("app", "OPTIONS")]

        server.remove_handler(ua_id)
        with pytest.raises(libsip.NotFoundError):
            server.remove_handler(ua_id)
        with pytest.raises(libsip.NotFoundError):
            server.remove_handler(0)
        del seen[:]
        client.send(options(dst, "z9hG4bKd3", "disp3"), dst)
        assert run_until(loop, lambda: len(seen) == 2)
        assert seen == [("first", "OPTIONS"), ("app", "OPTIONS")]


def test_a_handler_removes_itself_and_errors_pass_the_message_on(caplog):
    loop = libsip.Loop()
    seen = []
    with libsip.Transport(loop, ["udp:127.0.0.1:0"]) as server, \
            libsip.Transport(loop, ["udp:127.0.0.1:0"]) as client:
        server.on_message = lambda m: seen.append("app")
        ids = {}

        def once(msg):
            seen.append("once")
            server.remove_handler(ids["once"])
            return True

        def broken(msg):
            seen.append("broken")
            raise RuntimeError("handler bug")

        ids["once"] = server.add_handler(once, 10)
        server.add_handler(broken, 20)
        dst = server.listeners[0].local
        client.send(options(dst, "z9hG4bKd4", "disp4"), dst)
        assert run_until(loop, lambda: len(seen) == 1)
        client.send(options(dst, "z9hG4bKd5", "disp5"), dst)
        assert run_until(loop, lambda: len(seen) == 3)
        # Removed inside its own call, it never runs again; an exception passes the message on.
        assert seen == ["once", "broken", "app"]
        assert "handler bug" in caplog.text


def test_arguments_are_checked():
    loop = libsip.Loop()
    tp = libsip.Transport(loop)
    with pytest.raises(TypeError):
        tp.add_handler(5)
    with pytest.raises(TypeError):
        tp.add_handler(lambda m: None, priority="ua")
    with pytest.raises(libsip.InvalidError):
        tp.add_handler(lambda m: None, priority=1 << 40)
    with pytest.raises(TypeError):
        tp.remove_handler("1")
    assert int(libsip.HandlerPriority.TXN) < int(libsip.HandlerPriority.UA) < \
        int(libsip.HandlerPriority.APP)
    hid = tp.add_handler(lambda m: None)
    tp.close()
    with pytest.raises(libsip.ClosedError):
        tp.remove_handler(hid)
    with pytest.raises(libsip.ClosedError):
        tp.add_handler(lambda m: None)


def test_a_ua_handler_sees_new_requests_before_the_stack():
    loop = libsip.Loop(strict=True)
    order = []
    with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uas, \
            libsip.Transport(loop, ["udp:127.0.0.1:0"]) as client:
        @uas.on_request("OPTIONS")
        def on_options(req):
            order.append("stack")
            req.reply(200)

        uas.transport.add_handler(lambda m: order.append("ua") and False,
                                  libsip.HandlerPriority.UA)
        responses = []
        client.on_message = lambda m: responses.append(m.status)
        dst = uas.address("udp")
        msg = options(dst, "z9hG4bKd6", "disp6")
        client.send(msg, dst)
        assert run_until(loop, lambda: responses == [200])
        assert order == ["ua", "stack"]
        # The retransmission is the transaction's: the 200 again, and no handler sees it.
        client.send(msg, dst)
        assert run_until(loop, lambda: responses == [200, 200])
        assert order == ["ua", "stack"]
