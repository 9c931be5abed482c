# SPDX-License-Identifier: MIT
"""Transactions (RFC 3261 §17, RFC 6026) for Stack(transactions=True): the layer's timers, the
server transaction a handled request carries, and the client transaction of stack.request()."""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import TYPE_CHECKING, Any, Callable, Generator, List, Optional

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, TransactionError, check, error
from .loop import release
from .message import Message, _request_problem

if TYPE_CHECKING:
    from .stack import Stack


class TxnState(Enum):
    """Transaction states (sip_txn_state_t; RFC 3261 §17 figures 5-8, RFC 6026 Accepted)."""
    CALLING = _c.SIP_TXN_CALLING
    TRYING = _c.SIP_TXN_TRYING
    PROCEEDING = _c.SIP_TXN_PROCEEDING
    COMPLETED = _c.SIP_TXN_COMPLETED
    ACCEPTED = _c.SIP_TXN_ACCEPTED
    CONFIRMED = _c.SIP_TXN_CONFIRMED
    TERMINATED = _c.SIP_TXN_TERMINATED


class TxnEvent(Enum):
    """What a server transaction reports besides its request (sip_txn_event_t)."""
    CANCEL = _c.SIP_TXN_EVENT_CANCEL
    TIMEOUT = _c.SIP_TXN_EVENT_TIMEOUT
    ERROR = _c.SIP_TXN_EVENT_ERROR


_TIMERS = ("t1_ms", "t2_ms", "t4_ms", "timer_100_ms")


def _opts(**timers: Optional[int]) -> Any:
    o = _c.sip_txn_opts_t()
    _c.sip_txn_opts_init(o)
    for k, v in timers.items():
        if v is not None:
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{k} must be an int (milliseconds), not {type(v).__name__}")
            if int(v) < 0:
                raise error(_c.SIP_EINVAL, f"{k} must not be negative")
            setattr(o, k, int(v))
    return o


class TxnLayer:
    """The transaction layer of a Stack (sip_txn_layer_t): ``stack.transactions``.

    The timer values are fixed when the stack is made (Stack(t1_ms=..., ...)); a client
    transaction may override T1, T2 and T4 (stack.request(..., t1_ms=...))."""

    def __init__(self, stack: "Stack", t1_ms: Optional[int] = None, t2_ms: Optional[int] = None,
                 t4_ms: Optional[int] = None, timer_100_ms: Optional[int] = None,
                 cancel_keeps_invite: bool = False) -> None:
        o = _opts(t1_ms=t1_ms, t2_ms=t2_ms, t4_ms=t4_ms, timer_100_ms=timer_100_ms)
        o.cancel_keeps_invite = int(bool(cancel_keeps_invite))
        rc, h = _c.sip_txn_layer_create(stack.transport._handle(), o)
        check(rc)
        self._h: Any = h
        self._loop = stack.loop
        self._t = (o.t1_ms, o.t2_ms, o.t4_ms, o.timer_100_ms)

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="transaction layer is closed")
        return h

    @property
    def t1_ms(self) -> int:
        """T1, the round-trip estimate (default 500 ms)."""
        return self._t[0]

    @property
    def t2_ms(self) -> int:
        """T2, the longest non-INVITE retransmission interval (default 4000 ms)."""
        return self._t[1]

    @property
    def t4_ms(self) -> int:
        """T4, how long a message stays in the network (default 5000 ms)."""
        return self._t[2]

    @property
    def timer_100_ms(self) -> int:
        """An INVITE not answered within this gets 100 Trying (default 200 ms; 0: at once)."""
        return self._t[3]

    @property
    def count(self) -> int:
        """Live transactions, client and server (0 once closed)."""
        h = self._h
        return 0 if h is None else _c.sip_txn_layer_count(h)

    @property
    def closed(self) -> bool:
        """True once the layer (or its stack) is closed."""
        return self._h is None

    def close(self) -> None:
        """Closes every transaction (no callback from them afterwards). Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            _c.sip_txn_layer_close(h)
            _c.sip_txn_layer_unref(h)

    def __del__(self, _unref: Any = _c.sip_txn_layer_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        return "<TxnLayer closed>" if self._h is None else f"<TxnLayer count={self.count}>"


# ---- server transactions --------------------------------------------------------------------


def _on_event(wst: "weakref.ref[ServerTransaction]", _txn: Any, event: int, msg: Any) -> None:
    st = wst()
    if st is None:
        return
    m = Message._adopt(_c.sip_msg_ref(msg)) if msg is not None else None
    ev = TxnEvent(event)
    if ev is TxnEvent.CANCEL:
        st.cancelled = True
    for fn in list(st._cancel_fns if ev is TxnEvent.CANCEL else ()):
        fn(m)
    for fn in list(st._event_fns):
        fn(ev, m)


class ServerTransaction:
    """The server transaction of a received request (``req.transaction``). Answer through
    ``req.reply()``; the transaction lives while this object (or its Request) does. Dropping
    it without a final response makes the layer answer 500 (RFC 3261 §8.2: every request gets
    a final response)."""

    __slots__ = ("_h", "_loop", "_cancel_fns", "_event_fns", "_watching", "_accepted",
                 "cancelled", "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("server transactions come with the requests a Stack receives")

    @classmethod
    def _adopt(cls, h: Any, loop: Any) -> "ServerTransaction":
        st = object.__new__(cls)
        st._h = h
        st._loop = loop
        st._cancel_fns = []
        st._event_fns = []
        st._watching = False
        st._accepted = None
        st.cancelled = False
        return st

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="transaction is closed")
        return h

    def _watch(self) -> None:
        if not self._watching:
            check(_c.sip_txn_set_event_handler(self._handle(),
                                               functools.partial(_on_event, weakref.ref(self))))
            self._watching = True

    @property
    def state(self) -> TxnState:
        """TERMINATED once over or closed."""
        h = self._h
        return TxnState.TERMINATED if h is None else TxnState(_c.sip_txn_get_state(h))

    @property
    def is_client(self) -> bool:
        """False: this is a server transaction."""
        return False

    @property
    def response(self) -> Optional[Message]:
        """The last response sent (the layer's own 100 Trying or 487 included) while the
        transaction keeps it as a message, else None."""
        m = _c.sip_txn_get_response(self._handle())
        return Message._adopt(_c.sip_msg_ref(m)) if m is not None else None

    def on_cancel(self, fn: Callable[[Message], Any]) -> Callable[[Message], Any]:
        """fn(cancel) when a CANCEL matches this INVITE (RFC 3261 §9.2). The layer has already
        answered the CANCEL 200 and the INVITE 487 (unless a final response went first).
        Usable as a decorator."""
        self._watch()
        self._cancel_fns.append(fn)
        return fn

    def on_event(self, fn: Callable[[TxnEvent, Optional[Message]], Any]
                 ) -> Callable[[TxnEvent, Optional[Message]], Any]:
        """fn(event, msg) for every TxnEvent: CANCEL (msg the CANCEL), TIMEOUT (Timer H: no ACK
        for a non-2xx final), ERROR (the transport failed to send a response)."""
        self._watch()
        self._event_fns.append(fn)
        return fn

    def close(self) -> None:
        """Stops the transaction (no more sending or events) and drops it. Idempotent."""
        h, self._h = self._h, None
        self._accepted = None
        if h is not None:
            _c.sip_txn_close(h)
            _c.sip_txn_unref(h)

    def __enter__(self) -> "ServerTransaction":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self, _unref: Any = _c.sip_txn_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        return f"<ServerTransaction {self.state.name}>"


# ---- client transactions --------------------------------------------------------------------


def _on_response(ct: "ClientTransaction", _txn: Any, status: int, rsp: Any) -> None:
    m = Message._adopt(_c.sip_msg_ref(rsp)) if rsp is not None else None
    if not ct._done:
        ct.status = status
        ct.response = m
        if status >= 200:
            ct._finish(None if m is not None else TransactionError(status))
    # RFC 6026: 2xx retransmissions (and other forks' 2xx) still arrive in Accepted.
    fn = ct._callback
    if fn is not None:
        fn(status, m)


class ClientTransaction:
    """A request sent by stack.request(): its responses go to on_response(status, rsp), and
    ``await txn`` gives the final response. A final response of any class (a 487 after
    cancel(), a 404...) is a Message; ending without one raises TransactionError (``status``
    408: timeout, 503: transport error); closing the stack meanwhile raises ClosedError."""

    __slots__ = ("_h", "_stack", "_callback", "_fut", "_error", "_done", "_request", "status",
                 "response", "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("use stack.request()")

    @classmethod
    def _new(cls, stack: "Stack", callback: Optional[Callable[[int, Optional[Message]], Any]]
             ) -> "ClientTransaction":
        ct = object.__new__(cls)
        ct._h = None
        ct._stack = stack
        ct._callback = callback
        ct._fut = None
        ct._error = None
        ct._done = False
        ct._request = None
        #: the last status (provisional or final); 0 before any response
        ct.status = 0
        #: the final response once it arrived (else the last provisional), or None
        ct.response = None
        return ct

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="transaction is closed")
        return h

    def _finish(self, exc: Optional[BaseException]) -> None:
        if self._done:
            return
        self._done = True
        self._error = exc
        self._stack._clients.discard(self)
        fut, self._fut = self._fut, None
        if fut is not None and not fut.done():
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(self.response)

    @property
    def done(self) -> bool:
        """True once a final response arrived, or the transaction ended without one."""
        return self._done

    @property
    def state(self) -> TxnState:
        """TERMINATED once over or closed."""
        h = self._h
        return TxnState.TERMINATED if h is None else TxnState(_c.sip_txn_get_state(h))

    @property
    def is_client(self) -> bool:
        """True: this is a client transaction."""
        return True

    @property
    def request(self) -> Message:
        """The request as sent (with the Via the layer added). Kept here: the transaction itself
        drops it once its final response has arrived (it then keeps only what matching
        needs)."""
        self._handle()
        return self._request

    def cancel(self, reason: Optional[str] = None) -> None:
        """Cancels a pending INVITE (RFC 3261 §9.1): the CANCEL goes out once a provisional
        response has arrived; the INVITE then ends with the server's 487 (or 408 when no final
        follows within 64*T1). reason is a Reason header value for the CANCEL (RFC 3326:
        'SIP;cause=200;text="Call completed elsewhere"'). Raises ClosedError once a final
        response has arrived or the stack is closed, InvalidError for a request other than
        INVITE or a reason that does not parse."""
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"reason must be a str, not {type(reason).__name__}")
        h = self._handle()
        rc = _c.sip_txn_cancel(h) if reason is None else _c.sip_txn_cancel_with_reason(h, reason)
        if rc < 0:
            if rc == _c.SIP_ECLOSED:
                raise ClosedError(message="cannot cancel: the transaction has a final response "
                                  "or is closed")
            raise error(rc, ("only an INVITE can be cancelled, with a Reason that parses"
                             if rc == _c.SIP_EINVAL else None))
        self._stack.loop._kick()

    def close(self) -> None:
        """Stops the transaction: no more retransmission or callback (an await pending on it
        raises ClosedError). Idempotent."""
        self._close(ClosedError(message="transaction closed"))

    def __enter__(self) -> "ClientTransaction":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _close(self, exc: BaseException) -> None:
        h, self._h = self._h, None
        if h is not None:
            _c.sip_txn_close(h)
            _c.sip_txn_unref(h)
        self._finish(exc)

    def result(self) -> Message:
        """The final response; raises TransactionError (408, 503) or ClosedError when the
        transaction ended without one, InvalidError before it is done."""
        if not self._done:
            raise error(_c.SIP_EINVAL, "no final response yet")
        if self._error is not None:
            raise self._error
        assert self.response is not None
        return self.response

    def __await__(self) -> Generator[Any, None, Message]:
        if not self._done:
            if self._fut is None:
                self._fut = asyncio.get_running_loop().create_future()
            return (yield from self._fut.__await__())
        return self.result()

    def __del__(self, _unref: Any = _c.sip_txn_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            st = getattr(self, "_stack", None)
            release(st.loop if st is not None else None, _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        return f"<ClientTransaction {self.state.name} status={self.status}>"


def start_client(stack: "Stack", layer: TxnLayer, msg: Message, dst: Any,
                 on_response: Optional[Callable[[int, Optional[Message]], Any]],
                 timers: dict) -> ClientTransaction:
    """stack.request(): sip_txn_client_create with a callback that holds the transaction
    object until the C transaction ends (user_free), so on_response runs though the caller
    drops it."""
    from .message import NetInfo
    ni = NetInfo.parse(dst)._to_c() if dst is not None else None
    opts = _opts(**timers) if any(v is not None for v in timers.values()) else None
    ct = ClientTransaction._new(stack, on_response)
    rc, h = _c.sip_txn_client_create(layer._handle(), msg._handle(), ni, opts,
                                     functools.partial(_on_response, ct))
    if rc < 0 and rc not in (_c.SIP_ECLOSED, _c.SIP_ENOMEM):
        raise error(rc, "cannot send the request: "
                        f"{_request_problem(msg) or _c.sip_strerror(rc)}")
    if rc < 0:
        raise error(rc, f"cannot send the request: {_c.sip_strerror(rc)}")
    ct._h = h
    ct._request = msg
    stack._clients.add(ct)
    stack.loop._kick()
    return ct


__all__: List[str] = ["ClientTransaction", "ServerTransaction", "TxnEvent", "TxnLayer",
                      "TxnState"]
