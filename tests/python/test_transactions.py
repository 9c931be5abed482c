# SPDX-License-Identifier: MIT
"""Stack(transactions=True): server transactions on requests (reply now or later, CANCEL),
client transactions from stack.request() (callbacks, cancel, asyncio), closed stacks and
handler errors, between two stacks on 127.0.0.1 (RFC 3261 §17, §9)."""

import asyncio
import logging

import pytest

import libsip
from libsip import Message, TxnEvent, TxnState

SERIAL = [0]


def _request(method, dst, **kw):
    """A request from the uac to the uas at dst ("udp:127.0.0.1:port"), without a Via (the
    client transaction adds one)."""
    SERIAL[0] += 1
    host = dst.split(":", 1)[1]
    return Message.request(method, f"sip:uas@{host}", headers=[
        ("Max-Forwards", "70"),
        ("From", f"<sip:uac@127.0.0.1>;tag=f{SERIAL[0]}"),
        ("To", f"<sip:uas@{host}>"),
        ("Call-ID", f"txn-{SERIAL[0]}@127.0.0.1"),
        ("CSeq", f"1 {method}"),
        ("Contact", "<sip:uac@127.0.0.1>"),
    ], **kw)


def _run_until(loop, done, limit=5.0):
    """Runs loop until done() or limit seconds (then fails)."""
    def check():
        if done():
            loop.stop()
    tick = libsip.Timer(loop, 0.005, check, repeat=0.005)
    guard = loop.call_later(limit, loop.stop)
    loop.run()
    tick.stop()
    guard.stop()
    assert done(), "timed out"


@pytest.fixture
def pair():
    # Short T1 so timers (408 after 64*T1, Timer K, ...) end within the test.
    loop = libsip.Loop(strict=True)
    uac = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50, t4_ms=50)
    uas = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50, t4_ms=50)
    yield loop, uac, uas
    uac.close()
    uas.close()
    loop.close()


def test_timer_options_and_layer():
    with libsip.Stack(["udp:127.0.0.1:0"], transactions=True, t1_ms=250, t2_ms=2000,
                      timer_100_ms=0) as s:
        layer = s.transactions
        assert isinstance(layer, libsip.TxnLayer)
        assert (layer.t1_ms, layer.t2_ms, layer.t4_ms, layer.timer_100_ms) == (250, 2000, 5000, 0)
        assert layer.count == 0 and not layer.closed
    assert layer.closed and layer.count == 0
    # A timer option alone implies transactions; a stateless stack has none.
    with libsip.Stack(t4_ms=100) as s:
        assert s.transactions.t4_ms == 100 and s.transactions.t1_ms == 500
    with libsip.Stack(["udp:127.0.0.1:0"]) as s:
        assert s.transactions is None
        with pytest.raises(libsip.InvalidError, match="transactions=True"):
            s.request(_request("OPTIONS", s.address()))
    with pytest.raises(libsip.InvalidError):
        libsip.Stack(transactions=True, t1_ms=-1)


def test_invite_180_then_200_and_ack(pair):
    loop, uac, uas = pair
    kept = []
    acks = []

    @uas.on_request("INVITE")
    def invite(req):
        assert isinstance(req.transaction, libsip.ServerTransaction)
        assert req.transaction.state is TxnState.PROCEEDING  # 100 Trying not yet due
        ringing = req.reply(180)
        assert ringing.status == 180 and req.transaction.state is TxnState.PROCEEDING
        kept.append((req, ringing.to.tag))

        def answer():
            ok = req.reply(200, headers={"Contact": "<sip:uas@127.0.0.1>"},
                           body=b"v=0\r\n", content_type="application/sdp")
            kept.append(ok)
        loop.call_later(0.05, answer)

    @uas.on_request("ACK")
    def ack(req):
        acks.append((req.method, req.transaction, req.call_id))
        with pytest.raises(libsip.InvalidError, match="ACK"):
            req.reply(200)

    got = []
    txn = uac.request(_request("INVITE", uas.address()), uas.address(),
                      on_response=lambda status, rsp: got.append((status, rsp)))
    assert isinstance(txn, libsip.ClientTransaction)
    assert txn.state is TxnState.CALLING and not txn.done and txn.status == 0
    assert txn.request.via.branch.startswith("z9hG4bK")
    assert uac.transactions.count == 1
    _run_until(loop, lambda: txn.done)

    assert [s for s, _ in got] == [180, 200]
    rsp = got[1][1]
    assert txn.response is rsp and txn.status == 200 and txn.result() is rsp
    assert txn.state is TxnState.ACCEPTED  # RFC 6026
    assert (rsp.body, str(rsp.content_type)) == (b"v=0\r\n", "application/sdp")
    assert rsp.headers["Contact"][0].value == "<sip:uas@127.0.0.1>"
    # The 200 kept the To tag of the 180 (one dialog).
    req, tag = kept[0]
    assert tag and got[0][1].to.tag == tag and rsp.to.tag == tag
    assert req.transaction.state is TxnState.ACCEPTED
    # RFC 6026: in Accepted the TU's own 2xx retransmission goes out, with the same To tag,
    # and reaches the client transaction's callback.
    again = req.reply(200, body=b"v=0\r\n", content_type="application/sdp")
    assert again.to.tag == tag
    _run_until(loop, lambda: len(got) == 3)
    assert got[2][0] == 200 and got[2][1].to.tag == tag
    assert txn.response is rsp  # the final response stays the first one

    # The ACK of a 2xx is the TU's, sent without a transaction: it reaches the handler
    # with none (RFC 3261 §17.2.1).
    ack_msg = Message.request("ACK", rsp.headers["Contact"][0].value.strip("<>"), headers=[
        ("Via", f"SIP/2.0/UDP {uac.address()[4:]};branch=z9hG4bKack{SERIAL[0]}"),
        ("Max-Forwards", "70"), ("From", str(rsp.headers["From"][0])),
        ("To", str(rsp.headers["To"][0])), ("Call-ID", rsp.call_id), ("CSeq", "1 ACK")])
    uac.send(ack_msg, uas.address())
    _run_until(loop, lambda: acks)
    assert acks == [("ACK", None, rsp.call_id)]


def test_cancel_after_180_gives_487(pair):
    loop, uac, uas = pair
    server = {}

    @uas.on_request("INVITE")
    def invite(req):
        req.reply(180)
        server["req"] = req
        req.on_cancel(lambda cancel: server.setdefault("cancel", cancel.method))
        req.on_event(lambda ev, msg: server.setdefault("events", []).append(ev))

    got = []

    def on_response(status, rsp):
        got.append(status)
        if status == 180:
            txn.cancel()

    txn = uac.request(_request("INVITE", uas.address()), uas.address(), on_response=on_response)
    _run_until(loop, lambda: txn.done and "cancel" in server)
    assert got == [180, 487]
    assert txn.response.status == 487 and txn.result().reason == "Request Terminated"
    assert server["cancel"] == "CANCEL" and server["events"] == [TxnEvent.CANCEL]
    req = server["req"]
    assert req.cancelled and req.transaction.cancelled
    # The client's transaction sent the ACK of the 487 (RFC 3261 §17.1.1.3).
    assert req.transaction.state is TxnState.CONFIRMED
    # The layer answered 487: a 200 now is refused.
    with pytest.raises(libsip.InvalidError, match="CONFIRMED"):
        req.reply(200)
    # A final response arrived: nothing left to cancel.
    with pytest.raises(libsip.ClosedError):
        txn.cancel()


def test_options_non_invite_and_unknown_method(pair):
    loop, uac, uas = pair

    @uas.on_request("OPTIONS")
    def options(req):
        assert req.transaction.state is TxnState.TRYING
        req.reply(200, headers=[("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE")])
        assert req.transaction.state is TxnState.COMPLETED

    got = []
    txn = uac.request(_request("OPTIONS", uas.address()), uas.address(),
                      on_response=lambda s, r: got.append((s, r.reason)))
    assert txn.state is TxnState.TRYING
    with pytest.raises(libsip.InvalidError, match="INVITE"):
        txn.cancel()
    # No handler for MESSAGE: 501 (RFC 3261 §8.2.1).
    other = uac.request(_request("MESSAGE", uas.address()), uas.address())
    _run_until(loop, lambda: txn.done and other.done)
    assert got == [(200, "OK")]
    assert [h.value for h in txn.response.headers["Allow"]] == [
        "INVITE", "ACK", "CANCEL", "OPTIONS", "BYE"]
    assert txn.state is TxnState.COMPLETED  # Timer K (T4 50 ms) still to run
    assert (other.status, other.response.status) == (501, 501)
    _run_until(loop, lambda: txn.state is TxnState.TERMINATED)
    txn.close()
    txn.close()
    assert txn.state is TxnState.TERMINATED and txn.result().status == 200


def test_timeout_gives_408_and_raises():
    loop = libsip.Loop(strict=True)
    with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True) as uac, \
            libsip.Stack(["udp:127.0.0.1:0"], loop=loop) as silent:
        # The stateless stack has no handler: the request is never answered; Timer F
        # (64*T1 = 320 ms with this transaction's own T1; the layer's 500 would take 32 s)
        # ends it with 408 and no response.
        got = []
        txn = uac.request(_request("OPTIONS", silent.address()), silent.address(),
                          on_response=lambda s, r: got.append((s, r)), t1_ms=5)
        _run_until(loop, lambda: txn.done)
        assert got == [(408, None)] and txn.status == 408 and txn.response is None
        with pytest.raises(libsip.TransactionError) as ei:
            txn.result()
        assert ei.value.status == 408 and ei.value.name == "SIP_EIO"
    loop.close()


def test_asyncio_await_and_async_handler():
    async def _wait(txn):
        return await txn

    async def main():
        loop = libsip.Loop(strict=True)
        uac = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        uas = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        silent = libsip.Stack(["udp:127.0.0.1:0"], loop=loop)

        @uas.on_request("INVITE")
        async def invite(req):
            req.reply(180)
            await asyncio.sleep(0.05)
            req.reply(200, body=b"answer", content_type="text/plain")

        @uas.on_request("OPTIONS")
        def options(req):
            req.reply(486)

        server = asyncio.ensure_future(loop.serve())
        try:
            got = []
            rsp = await asyncio.wait_for(uac.request(
                _request("INVITE", uas.address()), uas.address(),
                on_response=lambda s, r: got.append(s)), 5)
            busy = await asyncio.wait_for(uac.request(_request("OPTIONS", uas.address()),
                                                      uas.address()), 5)
            # An await after the end gives the same response at once.
            txn = uac.request(_request("OPTIONS", uas.address()), uas.address())
            first = await asyncio.wait_for(txn, 5)
            again = await txn
            # Closing the stack ends a pending await with ClosedError.
            pending = uac.request(_request("OPTIONS", silent.address()), silent.address())
            waiter = asyncio.ensure_future(_wait(pending))
            await asyncio.sleep(0.01)
            uac.close()
            with pytest.raises(libsip.ClosedError):
                await asyncio.wait_for(waiter, 5)
            return got, rsp, busy, first is again
        finally:
            uac.close()
            uas.close()
            silent.close()
            loop.stop()
            await server
            loop.close()

    got, rsp, busy, same = asyncio.run(main())
    assert got == [180, 200]
    assert (rsp.status, rsp.body) == (200, b"answer")
    assert busy.status == 486 and same


def test_closed_stack_raises_closed(pair):
    loop, uac, uas = pair
    kept = []

    @uas.on_request("INVITE")
    def invite(req):
        req.reply(180)
        kept.append(req)

    txn = uac.request(_request("INVITE", uas.address()), uas.address())
    _run_until(loop, lambda: kept and txn.status == 180)
    req = kept[0]
    uas.close()
    assert uas.transactions.closed and uas.transactions.count == 0
    with pytest.raises(libsip.ClosedError):
        req.reply(200)
    assert req.transaction.state is TxnState.TERMINATED
    uac.close()
    assert txn.state is TxnState.TERMINATED and txn.done
    with pytest.raises(libsip.ClosedError):
        txn.result()
    with pytest.raises(libsip.ClosedError):
        txn.cancel()
    with pytest.raises(libsip.ClosedError):
        uac.request(_request("OPTIONS", "udp:127.0.0.1:9"), "udp:127.0.0.1:9")


def test_handler_exception_logged_and_answered_500(caplog):
    loop = libsip.Loop()  # not strict: handler errors are logged and the loop goes on
    with libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50) as uac, \
            libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50) as uas:

        @uas.on_request("OPTIONS")
        def options(req):
            raise RuntimeError("handler bug")

        @uac.on_request("MESSAGE")
        def message(req):
            req.reply(202)

        with caplog.at_level(logging.ERROR, logger="libsip"):
            txn = uac.request(_request("OPTIONS", uas.address()), uas.address())
            _run_until(loop, lambda: txn.done)
        assert txn.status == 500
        errors = [r for r in caplog.records if r.exc_info and
                  isinstance(r.exc_info[1], RuntimeError)]
        assert len(errors) == 1 and str(errors[0].exc_info[1]) == "handler bug"
        # The stack goes on: the other direction still works.
        back = uas.request(_request("MESSAGE", uac.address()), uac.address())
        _run_until(loop, lambda: back.done)
        assert back.status == 202
    loop.close()


def test_dropping_request_without_final_gets_500(pair):
    loop, uac, uas = pair

    @uas.on_request("OPTIONS")
    def options(req):
        pass  # neither answered nor kept: the layer answers 500

    txn = uac.request(_request("OPTIONS", uas.address()), uas.address())
    _run_until(loop, lambda: txn.done)
    assert txn.status == 500


def test_one_to_tag_for_every_response_of_a_transaction(pair):
    # RFC 3261 §8.2.6.2, done in C (sip_txn_create_response): the 183 from reply(), the 500
    # the layer sends when the handler fails, and a 2xx retransmitted in Accepted (RFC 6026)
    # all carry one tag.
    loop, uac, uas = pair
    got = []

    @uas.on_request("INVITE")
    def invite(req):
        req.reply(183)
        raise RuntimeError("handler bug after a provisional")

    uas.loop.strict = False
    txn = uac.request(_request("INVITE", uas.address()), uas.address(),
                      on_response=lambda status, rsp: got.append((status, rsp.to.tag)))
    _run_until(loop, lambda: txn.done)
    assert [s for s, _ in got] == [183, 500]
    assert got[0][1] and got[0][1] == got[1][1]

    kept = []

    @uas.on_request("INVITE")
    def answer(req):
        req.reply(180)
        kept.append(req.reply(200, headers={"Contact": "<sip:uas@127.0.0.1>"}))
        kept.append(req)

    got.clear()
    txn = uac.request(_request("INVITE", uas.address()), uas.address(),
                      on_response=lambda status, rsp: got.append((status, bytes(rsp))))
    _run_until(loop, lambda: txn.done)
    first, req = kept
    again = req.reply(200)  # Accepted: the same 2xx again, byte for byte
    assert bytes(again) == bytes(first)
    _run_until(loop, lambda: len(got) == 3)
    assert [s for s, _ in got] == [180, 200, 200] and got[1][1] == got[2][1]
