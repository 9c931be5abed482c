# SPDX-License-Identifier: MIT
"""Stack: a loop and a transport with request and response handlers, for scripts."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, TypeVar

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, Error, InvalidError, check, error
from .loop import Loop, Timer
from .message import BytesLike, HeaderArg, Message, Method, NetInfo, _header_items
from .transport import Dest, Resolver, SendOp, Transport
from .txn import ClientTransaction, ServerTransaction, TxnEvent, TxnLayer, TxnState, start_client

logger = logging.getLogger("libsip")

F = TypeVar("F", bound=Callable[..., Any])

_reply = _c.sipbind_reply
_new = object.__new__
_EINVAL = _c.SIP_EINVAL
_NO_FINAL = (TxnState.TRYING, TxnState.PROCEEDING)
_ACCEPTED = int(TxnState.ACCEPTED)


def _noop() -> None:
    pass


class Request(Message):
    """A received request, with reply(). On a Stack made with transactions=True it carries
    its server transaction (``transaction``; None for the ACK of a 2xx): keep the Request to
    answer later."""

    __slots__ = ("_stack", "_txn")

    @property
    def stack(self) -> "Stack":
        """The Stack that received this request."""
        return self._stack

    @property
    def transaction(self) -> Optional[ServerTransaction]:
        """The server transaction (transactions=True), else None."""
        return self._txn

    def reply(self, status: int, reason: Optional[str] = None, headers: HeaderArg = None,
              body: Optional[BytesLike] = None, content_type: Optional[str] = None) -> Message:
        """Sends a response and returns it: through the server transaction when there is one
        (provisional or final, now or later; the To tag of an earlier provisional is kept),
        else back the way the request came (RFC 3261 §18.2.2). headers as in
        Message.request(); a body needs its content_type. Raises InvalidError for a status
        outside 100-699 or one the transaction's state does not allow, TypeError for a value
        of the wrong type."""
        h = self._h
        if h is None:
            raise ClosedError(message="message is closed")
        if body and content_type is None:
            raise InvalidError(_EINVAL, "a body needs a content type: pass content_type "
                                        "(\"application/sdp\", \"text/plain\", ...)")
        try:
            rc, rsp = self._send_reply(h, status, reason, headers, body, content_type)
            if rc == _EINVAL and headers:
                # A value the fast path does not take (an Address, a Uri): checked and made
                # text here, which raises TypeError naming a header whose value is wrong.
                rc, rsp = self._send_reply(h, status, reason, _header_items(headers), body,
                                           content_type)
        except TypeError:
            # An argument of the wrong type: the slow way names it.
            self.response(status, reason, headers, body, content_type).close()
            raise
        if rc < 0:
            self._reply_failed(rc, status, reason, headers, body, content_type)
        d = self._stack.loop._driver
        if d is not None:
            d.kick()
        m = _new(Message)
        m._h = rsp
        return m

    def _send_reply(self, h: Any, status: int, reason: Optional[str], headers: Any,
                    body: Optional[BytesLike], content_type: Optional[str]) -> Any:
        txn = self._txn
        stack = self._stack
        if txn is None:
            if stack._layer is not None:
                raise InvalidError(_EINVAL, "an ACK gets no response (RFC 3261 §17.2.1)")
            tp = stack.transport._h
            if tp is None:
                raise ClosedError(message="transport is closed")
            return _reply(tp, None, h, status, reason, headers, body, content_type)
        th = txn._h
        if th is None:
            raise ClosedError(message="transaction is closed")
        # The C transaction gives all its responses one To tag (sip_txn_create_response).
        rc, rsp = _reply(None, th, h, status, reason, headers, body, content_type)
        if 200 <= status < 300:
            if rc == 0 and _c.sip_txn_get_state(th) == _ACCEPTED:
                # Kept for the TU's retransmissions in Accepted (RFC 6026 §7.1).
                txn._accepted = Message._adopt(_c.sip_msg_ref(rsp))
            elif rc == _EINVAL and txn._accepted is not None and \
                    _c.sip_txn_get_state(th) == _ACCEPTED:
                # RFC 3261 §13.3.1.4: a 2xx is retransmitted as it was first sent.
                kept = txn._accepted._h
                rc = _c.sip_txn_reply(th, kept)
                rsp = _c.sip_msg_ref(kept) if rc == 0 else None
        return rc, rsp

    def _reply_failed(self, rc: int, status: int, reason: Optional[str], headers: HeaderArg,
                      body: Optional[BytesLike], content_type: Optional[str]) -> None:
        if rc == _EINVAL:
            # Built again the slow way, which says what was wrong (a status, a header).
            self.response(status, reason, headers, body, content_type).close()
            txn = self._txn
            if txn is not None:
                raise InvalidError(rc, f"cannot send {status} in transaction state "
                                       f"{txn.state.name}")
            raise InvalidError(rc, f"cannot send {status}: {_c.sip_strerror(rc)}")
        if rc == _c.SIP_ECLOSED:
            raise ClosedError(message="cannot reply: the stack or transaction is closed")
        if rc == _c.SIP_ENOENT and _c.sip_msg_get_via(self._h) is None:
            raise error(rc, f"cannot send {status}: the {self.method} request has no Via to "
                            "send the response back by (RFC 3261 §18.2.2)")
        raise error(rc, f"cannot send {status}: {_c.sip_strerror(rc)}")

    def on_cancel(self, fn: Callable[[Message], Any]) -> Callable[[Message], Any]:
        """fn(cancel) when a CANCEL matches this INVITE (see ServerTransaction.on_cancel)."""
        return self._server_txn().on_cancel(fn)

    def on_event(self, fn: Callable[[TxnEvent, Optional[Message]], Any]
                 ) -> Callable[[TxnEvent, Optional[Message]], Any]:
        """fn(event, msg) for the server transaction's events (ServerTransaction.on_event)."""
        return self._server_txn().on_event(fn)

    @property
    def cancelled(self) -> bool:
        """True once a CANCEL matched this request (watching starts at the first on_cancel,
        on_event or cancelled read)."""
        txn = self._server_txn()
        txn._watch()
        return txn.cancelled

    def _server_txn(self) -> ServerTransaction:
        txn = self._txn
        if txn is None:
            raise InvalidError(_EINVAL, "this request has no server transaction "
                                        "(Stack(transactions=True); not an ACK)")
        return txn


def _run_async(stack: "Stack", coro: Any, req: Request) -> None:
    """An async handler: a task of the running asyncio loop (stack.serve())."""
    async def guarded() -> None:
        try:
            await coro
        except Exception:
            logger.error("exception in a libsip request handler", exc_info=True)
            _answer_500(req)
    try:
        task = asyncio.get_running_loop().create_task(guarded())
    except RuntimeError:
        coro.close()
        raise RuntimeError("an async request handler needs the stack served by asyncio "
                           "(await stack.serve())") from None
    stack._tasks.add(task)
    task.add_done_callback(stack._tasks.discard)


def _answer_500(req: Request) -> None:
    """A handler failed: a transaction with no final response gets 500 at once."""
    txn = req._txn
    th = txn._h if txn is not None else None
    if th is not None and _c.sip_txn_get_state(th) in _NO_FINAL:
        _c.sip_txn_respond(th, 500, None)


_KNOWN = {m.name: int(m) for m in Method if m is not Method.UNKNOWN}


def _stateless_handler(wstack: "weakref.ref[Stack]") -> Callable[[Any, Any], None]:
    """The transport's message callback of a stateless Stack: dispatch on the method id, one
    Request object, no per-request closure (docs/PERFORMANCE.md, "Bindings")."""
    get_method = _c.sip_msg_get_method
    msg_ref = _c.sip_msg_ref
    new = object.__new__

    def on_message(_tp: Any, msg: Any) -> None:
        stack = wstack()
        if stack is None:
            return
        mid = get_method(msg)
        if mid:
            fn = stack._by_id.get(mid) or stack._any
        elif _c.sip_msg_is_request(msg):
            fn = stack._requests.get(_c.sip_msg_get_method_str(msg).decode("utf-8", "replace"),
                                     stack._any)
        else:
            stack._on_responses(Message._adopt(msg_ref(msg)))
            return
        if fn is None:
            logger.debug("no handler for %s request; ignored",
                         _c.sip_msg_get_method_str(msg).decode("utf-8", "replace"))
            return
        req = new(Request)
        req._h = msg_ref(msg)
        req._stack = stack
        req._txn = None
        r = fn(req)
        if r is not None and asyncio.iscoroutine(r):
            _run_async(stack, r, req)

    return on_message


def _txn_handler(wstack: "weakref.ref[Stack]") -> Callable[[Any, Any, Any], None]:
    """The transaction layer's request callback: a Request with its ServerTransaction."""
    get_method = _c.sip_msg_get_method
    msg_ref = _c.sip_msg_ref
    txn_ref = _c.sip_txn_ref
    new = object.__new__
    adopt_txn = ServerTransaction._adopt

    def on_request(_layer: Any, txn: Any, msg: Any) -> None:
        stack = wstack()
        if stack is None:
            return
        mid = get_method(msg)
        if mid:
            fn = stack._by_id.get(mid, stack._any)
        else:
            fn = stack._requests.get(_c.sip_msg_get_method_str(msg).decode("utf-8", "replace"),
                                     stack._any)
        if fn is None:
            if txn is not None:
                # RFC 3261 §8.2.1: a method this UAS does not handle.
                _c.sip_txn_respond(txn, 501, None)
            return
        req = new(Request)
        req._h = msg_ref(msg)
        req._stack = stack
        req._txn = adopt_txn(txn_ref(txn), stack.loop) if txn is not None else None
        try:
            r = fn(req)
        except BaseException:
            _answer_500(req)
            raise
        if r is not None and asyncio.iscoroutine(r):
            _run_async(stack, r, req)

    return on_request


def _stray_handler(wstack: "weakref.ref[Stack]") -> Callable[[Any, Any], None]:
    def on_stray(_layer: Any, rsp: Any) -> None:
        stack = wstack()
        if stack is not None:
            stack._on_responses(Message._adopt(_c.sip_msg_ref(rsp)))
    return on_stray


class Stack:
    """A loop, a transport listening on ``listen`` and handlers:

        with libsip.Stack(listen=["udp:127.0.0.1:5060"]) as stack:
            @stack.on_request("OPTIONS")
            def options(req): req.reply(200)
            stack.run()          # or: await stack.serve()

    transactions=True puts the transaction layer (RFC 3261 §17) between the transport and the
    handlers: retransmissions are absorbed and answered again, each request carries a server
    transaction (req.reply() now or later, req.on_cancel()), a request without a handler is
    answered 501, and stack.request() sends through a client transaction. t1_ms, t2_ms, t4_ms
    and timer_100_ms set its timers (any of them implies transactions=True).
    """

    def __init__(self, listen: Iterable[str] = (), *, loop: Optional[Loop] = None,
                 strict: bool = False, trace: bool = False, transactions: bool = False,
                 t1_ms: Optional[int] = None, t2_ms: Optional[int] = None,
                 t4_ms: Optional[int] = None, timer_100_ms: Optional[int] = None,
                 cancel_keeps_invite: bool = False, resolver: Optional[Resolver] = None,
                 **transport_opts: Any) -> None:
        if isinstance(listen, (str, bytes)):
            listen = [listen]  # type: ignore[list-item]
        if loop is not None and not isinstance(loop, Loop):
            raise TypeError(f"loop must be a libsip.Loop, not {type(loop).__name__}")
        if resolver is not None and not isinstance(resolver, Resolver):
            raise TypeError(f"resolver must be a libsip.Resolver, not {type(resolver).__name__}")
        self._own_loop = loop is None
        self.loop = loop if loop is not None else Loop(strict=strict, trace=trace)
        self._requests: Dict[str, Callable[[Request], Any]] = {}
        self._by_id: Dict[int, Callable[[Request], Any]] = {}
        self._any: Optional[Callable[[Request], Any]] = None
        self._responses: List[Callable[[Message], Any]] = []
        self._clients: Set[ClientTransaction] = set()
        self._tasks: Set[Any] = set()
        self._layer: Optional[TxnLayer] = None
        self._resolver: Optional[Resolver] = None
        # The UAs on the transaction layer (libsip.UA): closed before it.
        self._uas: "weakref.WeakSet[Any]" = weakref.WeakSet()
        try:
            self.transport = Transport(self.loop, **transport_opts)
        except BaseException:
            if self._own_loop:
                self.loop.close()
            raise
        self._own_resolver = resolver is None
        try:
            self.transport._request_class = Request
            self.transport._stack_owned = True
            # RFC 3263: a request sent without a destination is located from its Route or
            # Request-URI through this resolver.
            if resolver is None:
                try:
                    resolver = Resolver(self.loop)
                except Error as e:
                    # No DNS configuration is no reason to refuse a stack that sends to
                    # addresses.
                    logger.warning("no RFC 3263 resolver (%s): requests need a destination", e)
            else:
                resolver.bind(self.loop)
            self._resolver = resolver
            if resolver is not None:
                self.transport.set_resolver(resolver)
            wself = weakref.ref(self)
            timers = (t1_ms, t2_ms, t4_ms, timer_100_ms)
            if transactions or cancel_keeps_invite or any(t is not None for t in timers):
                self._layer = TxnLayer(self, *timers, cancel_keeps_invite=cancel_keeps_invite)
                check(_c.sip_txn_layer_set_request_handler(self._layer._h, _txn_handler(wself)))
                check(_c.sip_txn_layer_set_stray_handler(self._layer._h, _stray_handler(wself)))
            else:
                # The Stack's own message callback replaces the Transport's generic one.
                check(_c.sip_transport_set_handler(self.transport._h, _stateless_handler(wself)))
            for spec in listen:
                self.transport.listen(spec)
        except BaseException:
            # A listen that fails (address in use...) leaves nothing open behind it.
            self.close()
            raise

    # -- handlers ---------------------------------------------------------------------------

    def on_request(self, method: Optional[str] = None) -> Callable[[F], F]:
        """Decorator: handles requests of one method (None or "*": every method without its
        own handler). The handler gets a Request; an ``async def`` handler runs as a task of
        the asyncio loop that serves the stack."""
        def deco(fn: F) -> F:
            key = method or "*"
            self._requests[key] = fn
            if key == "*":
                self._any = fn
            elif key in _KNOWN:
                self._by_id[_KNOWN[key]] = fn
            return fn
        return deco

    def on_response(self, fn: F) -> F:
        """Decorator: called with every response received (with transactions=True: every
        response that matches no client transaction, such as a 2xx retransmission)."""
        self._responses.append(fn)
        return fn

    def _on_responses(self, msg: Message) -> None:
        for fn in list(self._responses):
            fn(msg)

    def _dispatch(self, msg: Message) -> None:
        """Hands one received message to the handlers (as the transport's callback does)."""
        if not msg.is_request:
            self._on_responses(msg)
            return
        fn = self._requests.get(msg.method or "") or self._any
        if fn is None:
            logger.debug("no handler for %s request; ignored", msg.method)
            return
        req = Request._adopt(_c.sip_msg_ref(msg._handle()))
        req._stack = self
        req._txn = None
        fn(req)

    # -- transactions -----------------------------------------------------------------------

    @property
    def transactions(self) -> Optional[TxnLayer]:
        """The transaction layer (transactions=True), else None."""
        return self._layer

    def request(self, msg: Message, dst: Optional[Dest] = None, *,
                on_response: Optional[Callable[[int, Optional[Message]], Any]] = None,
                t1_ms: Optional[int] = None, t2_ms: Optional[int] = None,
                t4_ms: Optional[int] = None) -> ClientTransaction:
        """Sends a request in a client transaction (RFC 3261 §17.1): to dst ("udp:host:port",
        a NetInfo or a tuple), or where its Route / Request-URI says (RFC 3263) when None.
        A top Via with a fresh branch is added when it has none. on_response(status, rsp) runs
        for each provisional and final response, and once with rsp None for a 408 (timeout)
        or 503 (transport error) end. ``await stack.request(...)`` gives the final response.
        The transaction runs to its end whether or not the result is kept."""
        if not isinstance(msg, Message):
            raise TypeError(f"msg must be a libsip.Message, not {type(msg).__name__}")
        layer = self._layer
        if layer is None:
            if self.transport._h is None:
                raise ClosedError(message="stack is closed")
            # A stateless stack does not match responses to requests (Lua's Stack:request
            # refuses the same way): that is the transaction layer's work (RFC 3261 §17.1.3).
            raise InvalidError(_EINVAL, "stack.request() needs a stack made with "
                                        "Stack(transactions=True): a stateless stack does not "
                                        "match responses to requests (stack.send() sends "
                                        "without a transaction; @stack.on_response gets every "
                                        "response)")
        return start_client(self, layer, msg, dst, on_response,
                            {"t1_ms": t1_ms, "t2_ms": t2_ms, "t4_ms": t4_ms})

    def ua(self, **options: Any) -> Any:
        """A user agent on this stack's transaction layer: ``stack.ua(user_agent=...)`` is
        ``libsip.UA(stack, user_agent=...)`` (the same keywords and checks)."""
        from .calls import UA
        return UA(self, **options)

    # -- addresses and sending --------------------------------------------------------------

    def listen(self, spec: str) -> NetInfo:
        """Opens another listening point ("udp:127.0.0.1:0"; port 0 picks one), as
        Stack(listen=[...]) does at construction, and describes it."""
        if self.closed:
            raise ClosedError(message="stack is closed")
        return self.transport.listen(spec)

    @property
    def addresses(self) -> List[str]:
        """The listening points as specs ("udp:127.0.0.1:40123")."""
        return [n.local for n in self.transport.listeners]

    def address(self, transport: str = "udp") -> str:
        """The first listening point of a transport."""
        for a in self.addresses:
            if a.startswith(transport.lower() + ":"):
                return a
        raise LookupError(f"no {transport} listening point")

    @property
    def resolver(self) -> Resolver:
        """The RFC 3263 resolver that locates requests sent without a destination (made by
        the Stack unless given as Stack(resolver=...))."""
        r = self._resolver
        if r is None:
            if self.transport._h is None:
                raise ClosedError(message="stack is closed")
            raise error(_c.SIP_ENOENT, "this stack has no resolver (its creation failed)")
        return r

    def send(self, msg: Message, dst: Optional[Dest] = None) -> SendOp:
        """Sends a message without a transaction: to dst ("udp:127.0.0.1:5060", a NetInfo or a
        (transport, ip, port) tuple), or, for a request without dst, where its Route or
        Request-URI says (RFC 3263 through stack.resolver). The top Via is filled in. Returns
        a SendOp (await it inside asyncio)."""
        if dst is None:
            if not msg.is_request:
                raise InvalidError(_EINVAL, "a response without a destination goes with "
                                            "stack.transport.send_response(rsp)")
            return self.transport.send_request(msg)
        return self.transport.send(msg, dst)

    # -- running ----------------------------------------------------------------------------

    def run(self) -> None:
        """Runs the loop until stop() or close(). On the main thread, Ctrl-C (or any signal
        handler) is honoured within a quarter second: run() raises KeyboardInterrupt."""
        tick = None
        if threading.current_thread() is threading.main_thread():
            # Python runs signal handlers only between bytecodes; while libuv sleeps no Python
            # code runs, so a light timer wakes the loop to let them in.
            tick = Timer(self.loop, 0.25, _noop, repeat=0.25)
        try:
            self.loop.run()
        finally:
            if tick is not None:
                tick.stop()

    def run_once(self, wait: bool = True) -> bool:
        """Runs one iteration of the loop (wait: block until something happens); True while
        work is pending."""
        return self.loop.run_once(wait)

    def stop(self) -> None:
        """Makes run() or serve() return; asked before they start, they return at once. The
        pending client transactions of this stack are closed: ``await`` on one raises
        ClosedError."""
        self._close_clients("the stack stopped before the transaction ended")
        self.loop.stop()

    async def serve(self) -> None:
        """Runs inside asyncio until stop() or close(). When it returns, client transactions
        still pending are closed (an ``await`` on one raises ClosedError), since nothing
        drives them any more."""
        try:
            await self.loop.serve()
        finally:
            self._close_clients("the stack stopped before the transaction ended")

    def _close_clients(self, why: str) -> None:
        for ct in list(self._clients):
            ct._close(ClosedError(message=why))

    def close(self) -> None:
        """Closes the UA on it (libsip.UA: its live calls end without sending), the
        transactions, the transport and (when the stack made it) the loop; a pending ``await
        stack.request()`` raises ClosedError. Idempotent."""
        self._closed = True
        for ua in list(getattr(self, "_uas", ())):
            ua.close()
        self._close_clients("stack closed")
        if self._layer is not None:
            self._layer.close()
        self.transport.close()
        r, self._resolver = self._resolver, None
        if r is not None and self._own_resolver:
            r.close()
        if self._own_loop:
            self.loop.close()

    @property
    def closed(self) -> bool:
        """True once close() ran (as Lua's stack.closed)."""
        return getattr(self, "_closed", False)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @safe_repr
    def __repr__(self) -> str:
        return f"<Stack {self.addresses if self.transport._h is not None else 'closed'}>"
