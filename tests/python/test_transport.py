# SPDX-License-Identifier: MIT
"""Transports and Stacks through the Python package: OPTIONS over UDP and TCP on 127.0.0.1,
asyncio serve() with an awaitable send."""

import asyncio
import errno
import socket

import pytest

import libsip


def options(dst, branch="z9hG4bKpy1", call_id="py1@127.0.0.1"):
    host = dst.split(":", 1)[1]
    return libsip.Message.request("OPTIONS", f"sip:uas@{host}", headers=[
        ("Via", f"SIP/2.0/UDP 127.0.0.1;branch={branch}"),
        ("Max-Forwards", "70"),
        ("To", "<sip:uas@example.com>"),
        ("From", "<sip:uac@example.com>;tag=py"),
        ("Call-ID", call_id),
        ("CSeq", "1 OPTIONS"),
    ])


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_options_exchange(proto):
    loop = libsip.Loop(strict=True)
    with libsip.Stack([f"{proto}:127.0.0.1:0"], loop=loop) as uac, \
            libsip.Stack([f"{proto}:127.0.0.1:0"], loop=loop) as uas:
        seen = []

        @uas.on_request("OPTIONS")
        def on_options(req):
            seen.append((req.method, req.netinfo.transport, req.via.branch))
            req.reply(200, headers={"Allow": "INVITE, ACK, OPTIONS, BYE"},
                      body=b"ok", content_type="text/plain")

        responses = []

        @uac.on_response
        def on_response(rsp):
            responses.append(rsp)
            uac.stop()

        dst = uas.address(proto)
        assert dst.startswith(f"{proto}:127.0.0.1:") and not dst.endswith(":0")
        op = uac.send(options(dst), dst)
        guard = loop.call_later(5, uac.stop)
        uac.run()
        guard.stop()

        assert op.status == 0
        assert seen == [("OPTIONS", libsip.TransportType[proto.upper()], "z9hG4bKpy1")]
        assert len(responses) == 1
        rsp = responses[0]
        assert (rsp.status, rsp.reason, rsp.body) == (200, "OK", b"ok")
        assert [h.value for h in rsp.headers["Allow"]] == ["INVITE", "ACK", "OPTIONS", "BYE"]
        assert rsp.call_id == "py1@127.0.0.1"
        assert rsp.via.branch == "z9hG4bKpy1"
        assert rsp.netinfo.remote == dst
        if proto == "tcp":
            assert uac.transport.connection_count == 1
    loop.close()


def test_unhandled_method_is_ignored_and_wildcard_handler():
    loop = libsip.Loop(strict=True)
    with libsip.Stack(["udp:127.0.0.1:0"], loop=loop) as uac, \
            libsip.Stack(["udp:127.0.0.1:0"], loop=loop) as uas:
        got = []

        @uas.on_request()
        def anything(req):
            got.append(req.method)
            req.reply(404)

        uac.on_response(lambda rsp: (got.append(rsp.status), uac.stop()))
        dst = uas.address()
        uac.send(options(dst), dst)
        guard = loop.call_later(5, uac.stop)
        uac.run()
        guard.stop()
        assert got == ["OPTIONS", 404]
    loop.close()


def test_send_refused_reports_status():
    # A port nobody listens on: the connect fails later, through the SendOp.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with libsip.Stack(["tcp:127.0.0.1:0"]) as uac:
        dst = f"tcp:127.0.0.1:{port}"
        op = uac.send(options(dst), dst)
        op.add_done_callback(lambda status: uac.stop())
        guard = uac.loop.call_later(5, uac.stop)
        uac.run()
        guard.stop()
        assert op.done and op.status == -errno.ECONNREFUSED


def test_bad_destination_raises_at_once():
    with libsip.Stack(["udp:127.0.0.1:0"]) as uac:
        with pytest.raises(libsip.InvalidError):
            uac.send(options("udp:127.0.0.1:9"), "bogus")
        with pytest.raises(libsip.InvalidError):
            uac.send(options("udp:127.0.0.1:9"), "carrier-pigeon:127.0.0.1:9")
        with pytest.raises(libsip.InvalidError):
            uac.transport.listen("udp:not-an-address")
        assert len(uac.addresses) == 1


def test_asyncio_serve_and_awaitable_send():
    async def main():
        with libsip.Stack(["udp:127.0.0.1:0"]) as uac, \
                libsip.Stack(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]) as uas:
            @uas.on_request("OPTIONS")
            def on_options(req):
                req.reply(200)

            got = asyncio.get_running_loop().create_future()
            uac.on_response(lambda rsp: got.done() or got.set_result((rsp.status, rsp.call_id)))
            tasks = [asyncio.create_task(uac.serve()), asyncio.create_task(uas.serve())]
            await asyncio.sleep(0)

            dst = uas.address("udp")
            status = await uac.send(options(dst, call_id="aio@127.0.0.1"), dst)
            assert status == 0
            assert await asyncio.wait_for(got, 5) == (200, "aio@127.0.0.1")

            # A libsip timer and an asyncio sleep take turns on the same thread.
            fired = asyncio.get_running_loop().create_future()
            uac.loop.call_later(0.02, lambda: fired.set_result(uac.loop.now))
            assert await asyncio.wait_for(fired, 5) > 0

            uac.stop()
            uas.close()  # closing stops serve() too
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
            with pytest.raises(libsip.ClosedError):
                uas.transport.listen("udp:127.0.0.1:0")

    asyncio.run(main())


def test_asyncio_strict_exception_ends_serve():
    async def main():
        with libsip.Stack(["udp:127.0.0.1:0"], strict=True) as stack:
            def bad():
                raise RuntimeError("from a timer")
            stack.loop.call_later(0.01, bad)
            with pytest.raises(RuntimeError, match="from a timer"):
                await asyncio.wait_for(stack.serve(), 5)

    asyncio.run(main())


def test_a_stacks_transport_refuses_on_message():
    """stack.transport.on_message = fn would never run (the stack's handlers get every
    message): it raises, as Lua's stack.transport:on_message(fn) does."""
    with libsip.Stack("udp:127.0.0.1:0") as stack:
        with pytest.raises(libsip.InvalidError, match="stack.on_request"):
            stack.transport.on_message = print
        assert stack.transport.listeners[0].local == stack.address()
    loop = libsip.Loop()
    with libsip.Transport(loop) as tp:
        with pytest.raises(TypeError, match="on_message must be callable, not int"):
            tp.on_message = 5
    loop.close()
