# SPDX-License-Identifier: MIT
"""Stack and Loop never hang: stop() before run()/serve(), one run at a time, client
transactions settled when the stack stops, requests located by RFC 3263 without a destination
(numeric hosts, and names served by a dnsmasq started here)."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import libsip
from libsip import Message

SERIAL = [0]


def _request(method, uri, **kw):
    SERIAL[0] += 1
    return Message.request(method, uri, headers=[
        ("Max-Forwards", "70"),
        ("From", f"<sip:uac@127.0.0.1>;tag=s{SERIAL[0]}"),
        ("To", f"<{uri}>"),
        ("Call-ID", f"stack-{SERIAL[0]}@127.0.0.1"),
        ("CSeq", f"1 {method}"),
    ], **kw)


def _silent_port():
    """A UDP port on 127.0.0.1 where nothing answers (the socket stays open and unread)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


# ---- stop() before run() / serve() ------------------------------------------------------


def test_stop_before_serve_is_honoured():
    async def main():
        with libsip.Stack(["udp:127.0.0.1:0"]) as stack:
            t = asyncio.get_running_loop().create_task(stack.serve())
            stack.stop()
            await asyncio.wait_for(t, 5)
            # The stop was used up: the stack serves again until the next stop().
            t = asyncio.get_running_loop().create_task(stack.serve())
            await asyncio.sleep(0.05)
            assert not t.done()
            stack.stop()
            await asyncio.wait_for(t, 5)
    asyncio.run(main())


def test_stop_before_run_is_honoured():
    with libsip.Stack(["udp:127.0.0.1:0"]) as stack:
        guard = stack.loop.call_later(5, stack.loop.stop)
        stack.stop()
        start = time.monotonic()
        stack.run()
        assert guard.active, "run() waited for the guard instead of returning at once"
        assert time.monotonic() - start < 4
        guard.stop()
        # A later run() runs until its own stop.
        fired = []
        stack.loop.call_later(0.01, lambda: (fired.append(1), stack.stop()))
        stack.run()
        assert fired == [1]


# ---- one run at a time ------------------------------------------------------------------


def test_run_inside_a_callback_raises_already_running():
    loop = libsip.Loop()
    errors = []

    def nested():
        for fn in (loop.run, lambda: loop.run_once(False)):
            try:
                fn()
            except libsip.InvalidError as e:
                errors.append(str(e))
        loop.stop()

    loop.call_later(0, nested)
    loop.run()
    loop.close()
    assert errors == ["the loop is already running"] * 2


def test_run_from_a_second_thread_raises_already_running():
    with libsip.Stack(["udp:127.0.0.1:0"]) as stack:
        started = threading.Event()
        result = []

        def other():
            started.wait(5)
            try:
                stack.run()
                result.append("ran")
            except libsip.InvalidError as e:
                result.append(str(e))
            stack.loop.post(stack.loop.stop)

        stack.loop.call_later(0, started.set)
        guard = stack.loop.call_later(5, stack.loop.stop)
        th = threading.Thread(target=other)
        th.start()
        stack.run()
        th.join(5)
        guard.stop()
        assert result == ["the loop is already running"]


def test_run_while_served_by_asyncio_raises():
    async def main():
        with libsip.Stack(["udp:127.0.0.1:0"]) as stack:
            t = asyncio.get_running_loop().create_task(stack.serve())
            await asyncio.sleep(0.01)
            with pytest.raises(libsip.InvalidError, match="already running"):
                stack.run()
            with pytest.raises(libsip.InvalidError, match="already running"):
                await stack.serve()
            stack.stop()
            await asyncio.wait_for(t, 5)
    asyncio.run(main())


# ---- client transactions settle when the stack stops -------------------------------------


def test_awaited_transaction_settles_when_the_stack_stops():
    silent = _silent_port()
    dst = "udp:127.0.0.1:%d" % silent.getsockname()[1]

    async def main():
        with libsip.Stack(["udp:127.0.0.1:0"], transactions=True) as stack:
            server = asyncio.get_running_loop().create_task(stack.serve())
            txn = stack.request(_request("OPTIONS", "sip:x@127.0.0.1"), dst)
            asyncio.get_running_loop().call_later(0.05, stack.stop)
            with pytest.raises(libsip.ClosedError, match="stopped"):
                await asyncio.wait_for(txn, 5)
            await asyncio.wait_for(server, 5)
            return txn
    try:
        txn = asyncio.run(main())
    finally:
        silent.close()
    assert txn.done and txn.state is libsip.TxnState.TERMINATED


def test_awaited_transaction_settles_when_the_loop_stops_serving():
    silent = _silent_port()
    dst = "udp:127.0.0.1:%d" % silent.getsockname()[1]

    async def main():
        with libsip.Stack(["udp:127.0.0.1:0"], transactions=True) as stack:
            server = asyncio.get_running_loop().create_task(stack.serve())
            txn = stack.request(_request("OPTIONS", "sip:x@127.0.0.1"), dst)
            waiter = asyncio.get_running_loop().create_task(asyncio.wait_for(txn, 5))
            await asyncio.sleep(0.05)
            stack.loop.stop()  # the loop, not the stack: serve() ends all the same
            await asyncio.wait_for(server, 5)
            with pytest.raises(libsip.ClosedError):
                await waiter
    try:
        asyncio.run(main())
    finally:
        silent.close()


# ---- RFC 3263: no destination -------------------------------------------------------------


def _serve_options(uas):
    @uas.on_request("OPTIONS")
    def options(req):
        req.reply(200)


def test_request_without_destination_goes_to_a_numeric_request_uri():
    async def main():
        loop = libsip.Loop(strict=True)
        with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uac, \
                libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uas:
            _serve_options(uas)
            port = uas.address().rsplit(":", 1)[1]
            server = asyncio.get_running_loop().create_task(loop.serve())
            try:
                rsp = await asyncio.wait_for(
                    uac.request(_request("OPTIONS", f"sip:uas@127.0.0.1:{port}")), 5)
            finally:
                loop.stop()
                await server
        loop.close()
        return rsp.status
    assert asyncio.run(main()) == 200
    with libsip.Stack() as s:
        assert isinstance(s.resolver, libsip.Resolver)


def test_stateless_send_without_destination_uses_the_resolver():
    loop = libsip.Loop(strict=True)
    got = []
    with libsip.Stack("udp:127.0.0.1:0", loop=loop) as uac, \
            libsip.Stack("udp:127.0.0.1:0", loop=loop) as uas:
        uas.on_request("OPTIONS")(lambda req: (got.append(req.method), loop.stop()))
        port = uas.address().rsplit(":", 1)[1]
        req = _request("OPTIONS", f"sip:uas@127.0.0.1:{port}")
        req.add_header("Via", f"SIP/2.0/UDP 127.0.0.1;branch={libsip.branch()}")
        uac.send(req)
        guard = loop.call_later(5, loop.stop)
        loop.run()
        guard.stop()
    loop.close()
    assert got == ["OPTIONS"]


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dnsmasq():
    """A factory: start(*records) runs dnsmasq with those records on 127.0.0.1 at a free high
    port (answering nothing else) and gives the port; every server started stops after the
    test."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(exe):
        pytest.fail("dnsmasq is not installed (scripts/deps.sh installs dnsmasq-base)")
    procs = []

    def start(*records):
        port = _free_udp_port()
        user = ["--user=root"] if os.geteuid() == 0 else []
        # Not the sanitizer runtime the module's tests may preload: dnsmasq is not ours.
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
        p = subprocess.Popen([exe, "--keep-in-foreground", f"--port={port}",
                              "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                              "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
                              *user, *records],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        procs.append(p)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if p.poll() is not None:
                pytest.fail("dnsmasq exited: " + p.stderr.read().decode(errors="replace"))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                # A query for "." (type A): any answer shows the server is up.
                s.settimeout(0.1)
                s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
                         ("127.0.0.1", port))
                try:
                    s.recvfrom(512)
                    return port
                except socket.timeout:
                    pass
        pytest.fail("dnsmasq did not answer within 5 s")

    yield start
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def test_request_without_destination_located_through_dns(dnsmasq):
    async def main():
        loop = libsip.Loop(strict=True)
        with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uas:
            _serve_options(uas)
            port = int(uas.address().rsplit(":", 1)[1])
            dns = dnsmasq("--local=/sip.test/", "--host-record=uas.sip.test,127.0.0.1",
                          f"--srv-host=_sip._udp.sip.test,uas.sip.test,{port},0,0")
            resolver = libsip.Resolver(transports=["udp"], servers=f"127.0.0.1:{dns}")
            assert resolver.transports == ["udp"]
            with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True,
                              resolver=resolver) as uac:
                assert uac.resolver is resolver
                server = asyncio.get_running_loop().create_task(loop.serve())
                try:
                    txn = uac.request(_request("OPTIONS", "sip:uas@sip.test"))
                    rsp = await asyncio.wait_for(txn, 10)
                finally:
                    loop.stop()
                    await server
            # The Stack closes only the resolver it made.
            assert not resolver.closed
            resolver.close()
        loop.close()
        return rsp.status, rsp.netinfo.remote_port == port
    assert asyncio.run(main()) == (200, True)


def test_resolver_options_are_checked():
    with pytest.raises(libsip.InvalidError, match="unknown transport 'sctp'"):
        libsip.Resolver(transports=["udp", "sctp"])
    with pytest.raises(TypeError, match="servers must be a str"):
        libsip.Resolver(servers=["127.0.0.1:53"])
    r = libsip.Resolver(transports=[libsip.TransportType.TCP, "tls"], cache_max=0,
                        timeout_ms=500, tries=1)
    assert r.transports == ["tcp", "tls"]
    with pytest.raises(libsip.InvalidError, match="no loop"):
        r.resolve("sip:a@example.com")
    with pytest.raises(TypeError, match="resolver must be a libsip.Resolver"):
        libsip.Stack(resolver="127.0.0.1:53")


def test_stateless_request_is_refused_with_a_clear_error():
    # A stateless stack never matches responses itself (Lua's Stack:request agrees).
    with libsip.Stack("udp:127.0.0.1:0") as stack:
        with pytest.raises(libsip.InvalidError,
                           match=r"Stack\(transactions=True\): a stateless stack does not "
                                 r"match responses"):
            stack.request(_request("OPTIONS", "sip:a@127.0.0.1:9"), "udp:127.0.0.1:9")


def test_a_listen_failure_leaves_nothing_open():
    with libsip.Stack("udp:127.0.0.1:0") as first:
        taken = first.address()
        before = libsip.live_objects()
        with pytest.raises(libsip.Error, match="cannot listen on"):
            libsip.Stack(["udp:127.0.0.1:0", taken])
        # The failed stack's loop, transport and resolver are closed at once, not at some
        # later collection.
        assert libsip.live_objects() == before


def test_stack_listen_opens_another_listening_point():
    """stack.listen(spec) after construction, as Lua's stack:listen(spec): the NetInfo of the
    new point, a clear error for a taken address, ClosedError once closed."""
    with libsip.Stack("udp:127.0.0.1:0") as stack:
        info = stack.listen("tcp:127.0.0.1:0")
        assert info.transport == libsip.TransportType.TCP and info.local_port > 0
        assert stack.addresses == [stack.address("udp"), info.local]
        with pytest.raises(libsip.Error, match="cannot listen on"):
            stack.listen(stack.address("udp"))
        with pytest.raises(TypeError, match="a listening point is a str"):
            stack.listen(5060)
    with pytest.raises(libsip.ClosedError):
        stack.listen("udp:127.0.0.1:0")
