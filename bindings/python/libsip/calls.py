# SPDX-License-Identifier: MIT
"""Calls (sip/ua.h, sip/call.h, sip/dialog.h): a user agent on a Stack's transaction layer, the
INVITE sessions it places and answers, and their dialogs, for asyncio scripts.

    ua = libsip.UA(stack, user_agent="demo/1.0")

    @ua.on_invite
    async def incoming(call):
        await call.ring()
        await call.answer(sdp=my_sdp)

    call = ua.invite("sip:bob@127.0.0.1:5070", sdp=my_sdp)
    await call.answered()
    await call.request("INFO", "Signal=5\\r\\n", "application/dtmf-relay")
    await call.hangup()

The core does the protocol (the ACK, 2xx retransmission, CANCEL, BYE, 481, RFC 3261 §8.2);
this module only turns its events into futures and handlers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Dict, Generator, List, Optional, Set,
                    Tuple, TypeVar, Union)

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, Error, InvalidError, TransactionError, error
from .loop import release
from .message import (BytesLike, HeaderArg, Message, Method, NetInfo, _header_items, _short,
                      status_phrase)
from .oa import OfferAnswer
from .requests import _UARequests
from .sdp import Sdp
from .txn import ServerTransaction, TxnState

if TYPE_CHECKING:
    from .stack import Request, Stack

logger = logging.getLogger("libsip")

F = TypeVar("F", bound=Callable[..., Any])
SdpArg = Union[Sdp, BytesLike, None]

_NO_FINAL = (int(TxnState.TRYING), int(TxnState.PROCEEDING))


class CallState(Enum):
    """Where a call stands (sip_call_state_t)."""
    CALLING = _c.SIP_CALL_CALLING
    INCOMING = _c.SIP_CALL_INCOMING
    EARLY = _c.SIP_CALL_EARLY
    CONNECTING = _c.SIP_CALL_CONNECTING
    CONFIRMED = _c.SIP_CALL_CONFIRMED
    ENDED = _c.SIP_CALL_ENDED


class DialogState(Enum):
    """Where a dialog stands (sip_dialog_state_t; RFC 3261 §12)."""
    EARLY = _c.SIP_DIALOG_EARLY
    CONFIRMED = _c.SIP_DIALOG_CONFIRMED
    TERMINATED = _c.SIP_DIALOG_TERMINATED


class CallFailed(Error):
    """A call ended before it was answered: ``status`` is the final status (486 Busy Here,
    487 after a CANCEL, 408 when nobody answered, 480 ...), ``reason`` its phrase (also
    ``phrase``, as ParseError and Lua's error name it) and ``response`` the final response
    when one arrived (else None)."""

    def __init__(self, status: int, reason: str = "", response: Optional[Message] = None
                 ) -> None:
        self.status = status
        self.reason = reason or (status_phrase(status) if status else "")
        self.phrase = self.reason
        self.response = response
        super().__init__(_c.SIP_EIO, f"call failed: {status} {self.reason}".rstrip())


# ---- small helpers ---------------------------------------------------------------------------


def _text(view: Any) -> str:
    if isinstance(view, bytes):
        return view.decode("utf-8", "replace")
    return str(view or "")


def _opt_str(name: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__} ({_short(value)})")
    return value


def _opt_ms(name: str, value: Any) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int (milliseconds), not {type(value).__name__}")
    if not 0 <= value < 2 ** 32:
        raise InvalidError(_c.SIP_EINVAL, f"{name} must be 0 to 2**32-1, not {value}")
    return int(value)


def _sdp_text(name: str, sdp: SdpArg) -> Optional[str]:
    if sdp is None:
        return None
    if isinstance(sdp, Sdp):
        return str(sdp)
    if isinstance(sdp, str):
        return sdp
    if isinstance(sdp, (bytes, bytearray, memoryview)):
        return bytes(sdp).decode("utf-8")
    raise TypeError(f"{name} must be an Sdp, str or bytes, not {type(sdp).__name__}")


def _status_arg(status: Any, lo: int, hi: int) -> int:
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, not {type(status).__name__} ({_short(status)})")
    if not lo <= status <= hi:
        raise InvalidError(_c.SIP_EINVAL, f"status must be {lo}-{hi}, not {status}")
    return int(status)


def _timeout_ms(timeout: Any) -> Optional[int]:
    """timeout= in seconds (None: the default) as the options' timeout_ms (0: never)."""
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if timeout < 0:
        raise InvalidError(_c.SIP_EINVAL, "timeout must not be negative")
    return min(max(1, int(timeout * 1000)), 2 ** 32 - 1) if timeout else 0


_REL100 = {"supported": _c.SIP_CALL_100REL_SUPPORTED, "off": _c.SIP_CALL_100REL_OFF,
           "required": _c.SIP_CALL_100REL_REQUIRED}
_TIMER = {"supported": _c.SIP_CALL_TIMER_SUPPORTED, "off": _c.SIP_CALL_TIMER_OFF,
          "always": _c.SIP_CALL_TIMER_ALWAYS, "required": _c.SIP_CALL_TIMER_REQUIRED}
_REFRESHER = {"auto": _c.SIP_CALL_REFRESHER_AUTO, "local": _c.SIP_CALL_REFRESHER_LOCAL,
              "remote": _c.SIP_CALL_REFRESHER_REMOTE}


def _choice(name: str, value: Any, table: Dict[str, int]) -> Optional[int]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str ({', '.join(table)}), not "
                        f"{type(value).__name__}")
    v = table.get(value.lower())
    if v is None:
        raise InvalidError(_c.SIP_EINVAL, f"{name} must be one of {', '.join(table)}, not "
                           f"{value!r}")
    return v


def _session_opts(o: Any, media: SdpArg, media_address: Optional[str], rel100: Optional[str],
                  session_timer: Optional[str], session_expires: Optional[int],
                  min_se: Optional[int], refresher: Optional[str]) -> None:
    """Fills the session fields of a sip_call_opts_t (both roles), checking each."""
    m = _sdp_text("media", media)
    if m is not None:
        o.media = m
    a = _opt_str("media_address", media_address)
    if a is not None:
        o.media_address = a
    for field, value, table in (("rel100", rel100, _REL100),
                                ("session_timer", session_timer, _TIMER),
                                ("refresher", refresher, _REFRESHER)):
        v = _choice(field, value, table)
        if v is not None:
            setattr(o, field, v)
    for field, value in (("session_expires", session_expires), ("min_se", min_se)):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{field} must be an int (seconds), not {type(value).__name__}")
        if not 0 <= value < 2 ** 32:
            raise InvalidError(_c.SIP_EINVAL, f"{field} must be 0 to 2**32-1, not {value}")
        setattr(o, field, value)


def _headers_text(headers: Any) -> Optional[str]:
    """headers= of ua.invite(): a mapping, (name, value) pairs or "Name: value" lines."""
    if headers is None:
        return None
    if isinstance(headers, str):
        return headers
    return "\r\n".join(f"{n}: {v}" for n, v in _header_items(headers))


def _fail(rc: int, what: str) -> Error:
    if rc == _c.SIP_ECLOSED:
        return ClosedError(message=f"{what}: the call has ended or its UA is closed")
    if rc == _c.SIP_EINVAL:
        return InvalidError(rc, f"{what}: not allowed in this state or with these arguments")
    return error(rc, f"{what}: {_c.sip_strerror(rc)}")


def _run_handler(ua: "UA", fn: Callable[..., Any], args: Tuple[Any, ...],
                 on_error: Callable[[], None], after: Optional[Callable[[], None]] = None
                 ) -> None:
    """Runs a handler fn(*args): a coroutine it returns becomes a task of the running asyncio
    loop (kept by the UA until it ends). on_error runs when it raises; after when it is
    done."""
    try:
        r = fn(*args)
    except BaseException:
        on_error()
        raise
    if r is None or not asyncio.iscoroutine(r):
        if after is not None:
            after()
        return

    async def guarded() -> None:
        try:
            await r
        except asyncio.CancelledError:
            on_error()
            raise
        except Exception:
            # As text: a record holding the traceback would keep the handler's frame, and so
            # its call, alive as long as the record.
            logger.error("exception in a libsip call handler\n%s", traceback.format_exc())
            on_error()
        else:
            if after is not None:
                after()

    try:
        task = asyncio.get_running_loop().create_task(guarded())
    except RuntimeError:
        r.close()
        on_error()
        raise RuntimeError("an async handler needs the stack served by asyncio "
                           "(await stack.serve())") from None
    ua._tasks.add(task)
    task.add_done_callback(ua._tasks.discard)


def _noop() -> None:
    pass


def _settle(futs: List[Any], result: Any, exc: Optional[BaseException]) -> None:
    """Resolves the futures waiting on something (those whose waiter gave up are skipped)."""
    for f in futs:
        if not f.done():
            if exc is not None:
                f.set_exception(exc)
            else:
                f.set_result(result)
    futs.clear()


async def _wait(futs: List[Any], timeout: Optional[float]) -> Any:
    """Waits for a new future among futs (resolved by _settle()), at most timeout seconds."""
    fut = asyncio.get_running_loop().create_future()
    futs.append(fut)
    if timeout is None:
        return await fut
    return await asyncio.wait_for(fut, timeout)


class _Done:
    """What ring(), answer(), reject() and hangup() return: the message is already sent, so
    ``await`` on it returns at once (the calls read the same in sync handlers and in
    coroutines)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        return "<sent>"


_DONE = _Done()


def _default_answer(ua: "UA", txn: Any, method: int) -> None:
    """The UA's answer to an out-of-dialog request that neither it nor the Stack has a
    handler for: OPTIONS 200 with Allow, Accept and Supported (RFC 3261 §11.2), INVITE 480,
    an unknown method 501, another known method 405 with Allow (§8.2.1)."""
    if _c.sip_txn_get_state(txn) not in _NO_FINAL:
        return
    extra: List[Any] = []
    if method == Method.OPTIONS and ua._h is not None:
        # RFC 3261 §11.2: the core's answer (Allow, Accept, Accept-Encoding, Accept-Language,
        # Supported).
        if _c.sip_ua_answer_options(ua._h, txn) == 0:
            return
        status = 200
    elif method == Method.OPTIONS:
        status = 200
        extra = [("Allow", ua._allow), ("Accept", ua._accept), ("Supported", ua._supported)]
    elif method == Method.INVITE:
        status = 480
    elif method == Method.UNKNOWN:
        status = 501
    else:
        status = 405
        extra = [("Allow", ua._allow)]
    rc, rsp = _c.sip_txn_create_response(txn, status, None)
    if rc < 0:
        return
    for name, value in extra:
        if value:
            _c.sip_msg_add_header(rsp, name, value)
    if ua._user_agent:
        _c.sip_msg_add_header(rsp, "Server", ua._user_agent)
    _c.sip_txn_reply(txn, rsp)
    _c.sip_msg_unref(rsp)


# ---- dialogs ---------------------------------------------------------------------------------


class Dialog:
    """A dialog (RFC 3261 §12) of a call: ``call.dialog``. Read-only: the call keeps it up to
    date; this object keeps the dialog alive while the script holds it."""

    __slots__ = ("_h", "_loop")

    def __init__(self, *_: Any) -> None:
        raise TypeError("dialogs come from call.dialog")

    @classmethod
    def _adopt(cls, h: Any, loop: Any) -> "Dialog":
        d = object.__new__(cls)
        d._h = h
        d._loop = loop
        return d

    def __del__(self, _unref: Any = _c.sip_dialog_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @property
    def state(self) -> DialogState:
        """EARLY, CONFIRMED or TERMINATED."""
        return DialogState(_c.sip_dialog_get_state(self._h))

    @property
    def is_uas(self) -> bool:
        """True when this side created it as UAS (answered the call)."""
        return bool(_c.sip_dialog_is_uas(self._h))

    @property
    def secure(self) -> bool:
        """True for a sips dialog over TLS (RFC 3261 §12.1)."""
        return bool(_c.sip_dialog_is_secure(self._h))

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return _text(_c.sip_dialog_get_call_id(self._h))

    @property
    def local_tag(self) -> str:
        """This side's tag."""
        return _text(_c.sip_dialog_get_local_tag(self._h))

    @property
    def remote_tag(self) -> str:
        """The other side's tag ("" for an RFC 2543 peer without one)."""
        return _text(_c.sip_dialog_get_remote_tag(self._h))

    @property
    def local_address(self) -> str:
        """This side's From/To value with its tag ("Alice <sip:a@x>;tag=1")."""
        return _text(_c.sip_dialog_get_local_addr(self._h))

    @property
    def remote_address(self) -> str:
        """The other side's From/To value with its tag."""
        return _text(_c.sip_dialog_get_remote_addr(self._h))

    @property
    def local_target(self) -> str:
        """This side's Contact URI."""
        return _text(_c.sip_dialog_get_local_target(self._h))

    @property
    def remote_target(self) -> str:
        """The other side's Contact URI: where in-dialog requests go (target refreshes
        update it)."""
        return _text(_c.sip_dialog_get_remote_target(self._h))

    @property
    def route_set(self) -> List[str]:
        """The route set, as name-addrs ("<sip:p1.example.com;lr>"), in the order requests
        carry it."""
        h = self._h
        return [_text(_c.sip_dialog_route_at(h, i)) for i in range(_c.sip_dialog_route_count(h))]

    @property
    def local_cseq(self) -> int:
        """The last CSeq number this side used."""
        return _c.sip_dialog_get_local_cseq(self._h)

    @property
    def remote_cseq(self) -> int:
        """The last CSeq number received (0 while none was)."""
        return _c.sip_dialog_get_remote_cseq(self._h)

    def match(self, msg: Message) -> bool:
        """True when msg belongs to this dialog (Call-ID and both tags)."""
        if not isinstance(msg, Message):
            raise TypeError(f"msg must be a libsip.Message, not {type(msg).__name__}")
        return bool(_c.sip_dialog_match(self._h, msg._handle()))

    @safe_repr
    def __repr__(self) -> str:
        return (f"<Dialog {self.state.name} call_id={self.call_id!r} "
                f"local_tag={self.local_tag!r} remote_tag={self.remote_tag!r}>")


# ---- calls -----------------------------------------------------------------------------------


def _on_call_event(wcall: "weakref.ref[Call]", _h: Any, event: int, msg: Any, txn: Any) -> None:
    call = wcall()
    if call is None:
        if txn is not None and event == _c.SIP_CALL_EVENT_REQUEST:
            _default_request_answer(txn, msg)
        return
    call._event(event, msg, txn)


def _default_request_answer(txn: Any, req: Any) -> None:
    """An in-dialog request no handler answered: 200 for INFO and OPTIONS, else 501 (what the
    call does without a callback)."""
    if _c.sip_txn_get_state(txn) not in _NO_FINAL:
        return
    m = _c.sip_msg_get_method(req) if req is not None else 0
    _c.sip_txn_respond(txn, 200 if m in (Method.INFO, Method.OPTIONS) else 501, None)


class _Pending:
    """What call.request() returns: ``await`` it for the final response (a Message, of any
    class); ending without one raises TransactionError (408, 503)."""

    __slots__ = ("status", "response", "done", "_error", "_futs", "_loop")

    def __init__(self, loop: Any) -> None:
        self.status = 0
        self.response: Optional[Message] = None
        self.done = False
        self._error: Optional[BaseException] = None
        self._futs: List[Any] = []
        self._loop = loop

    def _on_response(self, _txn: Any, status: int, rsp: Any) -> None:
        if self.done:
            return
        self.status = status
        m = Message._adopt(_c.sip_msg_ref(rsp)) if rsp is not None else None
        if m is not None:
            self.response = m
        if status >= 200:
            self.done = True
            if m is None:
                self._error = TransactionError(status)
            for f in self._futs:
                if not f.done():
                    if self._error is not None:
                        f.set_exception(self._error)
                    else:
                        f.set_result(m)
            self._futs = []

    def _fail(self, exc: BaseException) -> None:
        if self.done:
            return
        self.done = True
        self._error = exc
        for f in self._futs:
            if not f.done():
                f.set_exception(exc)
        self._futs = []

    def __await__(self) -> Generator[Any, None, Message]:
        if not self.done:
            fut = asyncio.get_running_loop().create_future()
            self._futs.append(fut)
            return (yield from fut.__await__())
        if self._error is not None:
            raise self._error
        assert self.response is not None
        return self.response

    def __repr__(self) -> str:
        return f"<request status={self.status}{' done' if self.done else ''}>"


class Call:
    """An INVITE session (sip_call_t): placed with ua.invite() or handed to @ua.on_invite.

    ``await call`` is ``await call.answered()``. A live call is kept by its UA until it ends,
    so dropping every reference never hangs it up (hang up with call.hangup()); once it has
    ended, dropping the last reference frees it. Closing the UA (or its Stack) ends every
    live call without sending anything.
    """

    __slots__ = ("_h", "_ua", "_loop", "_state_fns", "_request_fns", "_response_fns",
                 "_reinvite_fns", "_offer_fns", "_media_fns", "_modified_fns", "_modifying",
                 "_answered", "_ended", "_confirmed", "_over", "_final", "_closed_by_ua",
                 "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("calls come from ua.invite() and @ua.on_invite")

    @classmethod
    def _new(cls, ua: "UA") -> "Call":
        c = object.__new__(cls)
        c._h = None
        c._ua = ua
        c._loop = ua._stack.loop
        c._state_fns: List[Callable[..., Any]] = []
        c._request_fns: Dict[str, List[Callable[..., Any]]] = {}
        c._response_fns: List[Callable[..., Any]] = []
        c._reinvite_fns: List[Callable[..., Any]] = []
        c._offer_fns: List[Callable[..., Any]] = []
        c._media_fns: List[Callable[..., Any]] = []
        c._modified_fns: List[Callable[..., Any]] = []
        c._modifying: Optional[_Pending] = None
        c._answered: List[Any] = []
        c._ended: List[Any] = []
        c._confirmed = False
        c._over = False
        c._final: Optional[Message] = None
        c._closed_by_ua = False
        return c

    def _callback(self) -> Callable[..., None]:
        return functools.partial(_on_call_event, weakref.ref(self))

    def _handle(self) -> Any:
        h = self._h
        if h is None or self._closed_by_ua:
            raise ClosedError(message="the call's UA is closed")
        return h

    def _kick(self) -> None:
        self._loop._kick()

    def __del__(self, _unref: Any = _c.sip_call_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    # -- events ---------------------------------------------------------------------------

    def _event(self, event: int, msg: Any, txn: Any) -> None:
        m = Message._adopt(_c.sip_msg_ref(msg)) if msg is not None else None
        if event == _c.SIP_CALL_EVENT_STATE:
            state = CallState(_c.sip_call_get_state(self._h))
            if state is CallState.CONFIRMED and not self._confirmed:
                self._confirmed = True
                _settle(self._answered, self, None)
            elif state is CallState.ENDED and not self._over:
                self._end()
            for fn in list(self._state_fns):
                _run_handler(self._ua, fn, (state, m), _noop)
        elif event == _c.SIP_CALL_EVENT_RESPONSE:
            if m is not None and m.status >= 200:
                self._final = m
            for fn in list(self._response_fns):
                _run_handler(self._ua, fn, (m,), _noop)
        elif event == _c.SIP_CALL_EVENT_REINVITE:
            for fn in list(self._reinvite_fns):
                _run_handler(self._ua, fn, (m,), _noop)
        elif event == _c.SIP_CALL_EVENT_REQUEST:
            self._request(m, txn)
        elif event == _c.SIP_CALL_EVENT_OFFER:
            if self._offer_fns:
                for fn in list(self._offer_fns):
                    _run_handler(self._ua, fn, (m,), _noop)
            elif m is not None and m.is_request:
                # Nobody answers offers: the session stays as it was (RFC 3264 §8, 488).
                _c.sip_call_reject_offer(self._h, 488)
                self._kick()
        elif event == _c.SIP_CALL_EVENT_MEDIA:
            for fn in list(self._media_fns):
                _run_handler(self._ua, fn, (), _noop)
        elif event == _c.SIP_CALL_EVENT_MODIFIED:
            p, self._modifying = self._modifying, None
            if p is not None:
                p._on_response(None, m.status if m is not None else 408,
                               m._h if m is not None else None)
            for fn in list(self._modified_fns):
                _run_handler(self._ua, fn, (m,), _noop)

    def _request(self, m: Optional[Message], txn: Any) -> None:
        from .stack import Request
        assert m is not None
        fns = self._request_fns.get((m.method or "").upper()) or self._request_fns.get("*")
        if not fns:
            _default_request_answer(txn, m._h)
            return
        req = object.__new__(Request)
        req._h = _c.sip_msg_ref(m._h)
        req._stack = self._ua._stack
        st = ServerTransaction._adopt(_c.sip_txn_ref(txn), self._loop)
        req._txn = st

        def answer_500() -> None:
            h = st._h
            if h is not None and _c.sip_txn_get_state(h) in _NO_FINAL:
                _c.sip_txn_respond(h, 500, None)

        def default() -> None:
            h = st._h
            if h is not None:
                _default_request_answer(h, req._h)

        for fn in fns[:-1]:
            _run_handler(self._ua, fn, (req,), _noop)
        _run_handler(self._ua, fns[-1], (req,), answer_500, default)

    def _end(self) -> None:
        self._over = True
        p, self._modifying = self._modifying, None
        if p is not None and not p.done:
            p._fail(ClosedError(message="the call ended before the re-INVITE or UPDATE did"))
        ua = self._ua
        ua._calls.discard(self)
        if not self._confirmed:
            st = self.end_status
            rsp = self._final
            reason = rsp.reason if rsp is not None and rsp.status == st else ""
            _settle(self._answered, None, CallFailed(st, reason, rsp))
        _settle(self._ended, self.end_status, None)


    def _ua_closed(self) -> None:
        """The UA closed: the C call ended without an event; so do its waiters."""
        if self._over:
            return
        self._closed_by_ua = True
        self._over = True
        exc = ClosedError(message="the call's UA was closed")
        p, self._modifying = self._modifying, None
        if p is not None:
            p._fail(exc)
        _settle(self._answered, None, exc)
        _settle(self._ended, None, exc)

    # -- waiting ----------------------------------------------------------------------------

    async def answered(self, timeout: Optional[float] = None) -> "Call":
        """Waits until the call is confirmed (the 2xx and its ACK) and returns it. Raises
        CallFailed(status, reason) when it ends first (rejected, cancelled, no answer),
        ClosedError when its UA closes, asyncio.TimeoutError after timeout seconds. A call
        answered earlier returns at once, even once it has ended."""
        if self._confirmed:
            return self
        if self._closed_by_ua:
            raise ClosedError(message="the call's UA was closed")
        if self._over:
            rsp = self._final
            st = self.end_status
            raise CallFailed(st, rsp.reason if rsp is not None and rsp.status == st else "",
                             rsp)
        return await _wait(self._answered, timeout)

    async def ended(self, timeout: Optional[float] = None) -> int:
        """Waits until the call has ended and returns end_status (the failure status, or 200
        for a BYE either way). Raises ClosedError when its UA closes, asyncio.TimeoutError
        after timeout seconds."""
        if self._closed_by_ua:
            raise ClosedError(message="the call's UA was closed")
        if self._over:
            return self.end_status
        return await _wait(self._ended, timeout)

    def __await__(self) -> Generator[Any, None, "Call"]:
        return self.answered().__await__()

    # -- acting -----------------------------------------------------------------------------

    def ring(self, status: int = 180, sdp: SdpArg = None) -> _Done:
        """UAS: sends a provisional response (180 Ringing by default, 183 with sdp for early
        media), which makes the dialog early. Sent at once; ``await`` is optional. Raises
        InvalidError for a UAC call or a call answered already."""
        st = _status_arg(status, 101, 199)
        rc = _c.sip_call_ring(self._handle(), st, _sdp_text("sdp", sdp))
        if rc < 0:
            raise _fail(rc, f"cannot send {st}")
        self._kick()
        return _DONE

    def answer(self, sdp: SdpArg = None, status: int = 200) -> _Done:
        """UAS: accepts the call with a 2xx carrying sdp (the answer, or the offer when the
        INVITE had none); the core sends it again until the ACK comes (RFC 3261 §13.3.1.4).
        Sent at once; ``await call.answered()`` waits for the ACK."""
        st = _status_arg(status, 200, 299)
        rc = _c.sip_call_answer(self._handle(), st, _sdp_text("sdp", sdp))
        if rc < 0:
            raise _fail(rc, f"cannot answer {st}")
        self._kick()
        return _DONE

    def reject(self, status: int = 486, reason: Optional[str] = None) -> _Done:
        """UAS: rejects the call with a final response 300-699 (486 Busy Here by default);
        the call ends."""
        st = _status_arg(status, 300, 699)
        rc = _c.sip_call_reject(self._handle(), st, _opt_str("reason", reason))
        if rc < 0:
            raise _fail(rc, f"cannot reject with {st}")
        self._kick()
        return _DONE

    def hangup(self, reason: Optional[str] = None) -> _Done:
        """Ends the call from this side whatever its state: CANCEL before the caller's final
        response, 480 for an incoming call not answered, BYE once a 2xx went either way.
        reason is a Reason header value (RFC 3326: 'SIP;cause=200;text="done"'). The call is
        ENDED at once; the core waits for the BYE's response. Raises ClosedError once ended."""
        h = self._handle()
        rc = _c.sip_call_hangup(h, _opt_str("reason", reason))
        if rc < 0:
            raise _fail(rc, "cannot hang up")
        self._kick()
        return _DONE

    def bye(self, reason: Optional[str] = None) -> _Done:
        """The same as hangup() (the name of the request a confirmed call sends)."""
        return self.hangup(reason)

    def request(self, method: str, body: Optional[BytesLike] = None,
                content_type: Optional[str] = None) -> _Pending:
        """Sends a request inside the call (INFO, OPTIONS, MESSAGE, NOTIFY ...). ``await`` it
        for the final response (a Message of any status); TransactionError when none came
        (408, 503). A body needs its content_type. Raises InvalidError for the methods the
        call sends itself (INVITE, ACK, CANCEL, BYE, PRACK, UPDATE), ClosedError without a
        dialog."""
        if not isinstance(method, str) or not method:
            raise TypeError(f"method must be a non-empty str, not {_short(method)}")
        ct = _opt_str("content_type", content_type)
        text: Optional[str] = None
        if body is not None:
            if isinstance(body, str):
                text = body
            elif isinstance(body, (bytes, bytearray, memoryview)):
                text = bytes(body).decode("utf-8")
            else:
                raise TypeError(f"body must be str or bytes, not {type(body).__name__}")
            if ct is None:
                raise InvalidError(_c.SIP_EINVAL, "a body needs a content_type")
        p = _Pending(self._loop)
        rc = _c.sip_call_request(self._handle(), method, ct, text, p._on_response)
        if rc < 0:
            raise _fail(rc, f"cannot send {method}")
        self._kick()
        return p

    def message(self, text: BytesLike, content_type: str = "text/plain") -> _Pending:
        """Sends a MESSAGE (RFC 3428) inside the call with text as its body: call.request(
        "MESSAGE", text, content_type). ``await`` it for the final response; a MESSAGE from the
        other side reaches @call.on_request."""
        if not isinstance(text, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
        if not isinstance(content_type, str):
            raise TypeError(f"content_type must be a str, not {type(content_type).__name__}")
        return self.request("MESSAGE", text, content_type)

    def send_dtmf(self, digit: str, duration_ms: int = 160) -> _Done:
        """Sends a DTMF digit (0-9, *, #, A-D) in an INFO with an application/dtmf-relay
        body ("Signal=5", "Duration=160"), the form SIP phones use. Sent at once. Raises
        InvalidError for another digit or a duration outside 1-60000 ms."""
        if not isinstance(digit, str) or len(digit) != 1:
            raise TypeError(f"digit must be a one-character str, not {_short(digit)}")
        if not isinstance(duration_ms, int) or isinstance(duration_ms, bool):
            raise TypeError(f"duration_ms must be an int, not {type(duration_ms).__name__}")
        if not 1 <= duration_ms <= 60000:
            raise InvalidError(_c.SIP_EINVAL, f"duration_ms must be 1-60000, not {duration_ms}")
        rc = _c.sip_call_send_dtmf(self._handle(), digit, duration_ms)
        if rc < 0:
            if rc == _c.SIP_EINVAL:
                raise InvalidError(rc, f"no DTMF digit {digit!r} (0-9, *, #, A-D)")
            raise _fail(rc, "cannot send the DTMF INFO")
        self._kick()
        return _DONE

    def _modify(self, rc: int, what: str) -> _Pending:
        if rc < 0:
            if rc == _c.SIP_EBUSY:
                raise error(rc, f"cannot send {what}: another offer/answer exchange is open")
            raise _fail(rc, f"cannot send {what}")
        p = _Pending(self._loop)
        self._modifying = p
        self._kick()
        return p

    def reinvite(self, sdp: SdpArg = None, *, hold: Optional[bool] = None) -> _Pending:
        """Sends a re-INVITE (RFC 3261 §14) with an offer: sdp, or without it the media
        engine's next offer (ua.invite(media=...), on_invite(media=...)); hold=True puts the
        call on hold (sendonly or inactive, RFC 3264 §8.4), hold=False resumes it (both need
        the engine). A 491 is retried by the core (§14.1). ``await`` it for the final
        response (a Message; a failure leaves the session as it was). Raises Error
        (SIP_EBUSY) while another exchange is open, ClosedError unless confirmed."""
        if hold is not None:
            if not isinstance(hold, bool):
                raise TypeError(f"hold must be a bool, not {type(hold).__name__}")
            if sdp is not None:
                raise InvalidError(_c.SIP_EINVAL, "give sdp or hold, not both")
            rc = _c.sip_call_hold(self._handle(), 1 if hold else 0)
            return self._modify(rc, "the hold re-INVITE" if hold else "the resume re-INVITE")
        return self._modify(_c.sip_call_reinvite(self._handle(), _sdp_text("sdp", sdp)),
                            "a re-INVITE")

    def update(self, sdp: SdpArg = None) -> _Pending:
        """Sends an UPDATE (RFC 3311), in an early dialog too: with sdp (or the engine's next
        offer) it changes the session; with neither it refreshes it. ``await`` it for the
        final response, as reinvite()."""
        return self._modify(_c.sip_call_update(self._handle(), _sdp_text("sdp", sdp)),
                            "an UPDATE")

    def answer_offer(self, sdp: SdpArg) -> _Done:
        """Answers the offer an "offer" handler got (a call without the media engine): in the
        200 of the re-INVITE or UPDATE, or in the ACK of an INVITE sent without an offer."""
        text = _sdp_text("sdp", sdp)
        if text is None:
            raise TypeError("sdp must be an Sdp, str or bytes, not None")
        rc = _c.sip_call_answer_offer(self._handle(), text)
        if rc < 0:
            raise _fail(rc, "cannot answer the offer")
        self._kick()
        return _DONE

    def reject_offer(self, status: int = 488) -> _Done:
        """Refuses the offer an "offer" handler got with a final response (488 Not Acceptable
        Here by default); the session stays as it was. An offer in a 2xx cannot be refused:
        hang up instead."""
        st = _status_arg(status, 300, 699)
        rc = _c.sip_call_reject_offer(self._handle(), st)
        if rc < 0:
            raise _fail(rc, "cannot refuse the offer")
        self._kick()
        return _DONE

    def set_headers(self, headers: Union[HeaderArg, str]) -> None:
        """Extra headers for the next message the call sends (a provisional or final
        response, a re-INVITE, UPDATE, BYE, INFO ...), then forgotten: a mapping, (name,
        value) pairs or "Name: value" lines; None clears them. In a bridge's "relay" handler
        it adds headers to what the bridge relays on this leg. Raises InvalidError for a line
        that does not parse."""
        text = _headers_text(headers) if headers is not None else None
        rc = _c.sip_call_set_headers(self._handle(), text)
        if rc < 0:
            raise _fail(rc, "bad header lines" if rc == _c.SIP_EINVAL else "cannot set headers")

    # -- handlers ---------------------------------------------------------------------------

    def on(self, event: str, fn: Optional[F] = None) -> Any:
        """Registers fn for an event, as a decorator (``@call.on("info")``) or a call:
        "state" fn(state, msg); "response" fn(rsp) for each response to a placed call's
        INVITE; "reinvite" fn(req) after a re-INVITE or UPDATE from the other side was
        answered; "request" fn(req) for any request inside the call; a method name ("info",
        "options", "message", "notify", "refer") fn(req) for that method; "offer" fn(msg)
        when the other side offers and the call has no media engine (answer with
        answer_offer(), refuse with reject_offer(), now or later for an offer in a request;
        the offer in the 2xx of an INVITE sent without one must be answered inside the
        handler, before it first waits: its ACK goes when the handler returns; without a
        handler an offer in a request gets 488); "media" fn() when an exchange changed local_sdp and remote_sdp; "modified"
        fn(rsp) when a re-INVITE or UPDATE of ours got its final response. Any handler may be
        ``async def`` (a task of the asyncio loop). A request handler
        answers with req.reply(); one not answered when the handler (or its task) returns
        gets 200 (INFO, OPTIONS) or 501."""
        if not isinstance(event, str):
            raise TypeError(f"event must be a str, not {type(event).__name__}")
        key = event.lower()

        def deco(f: F) -> F:
            if not callable(f):
                raise TypeError(f"the handler must be callable, not {type(f).__name__}")
            if key == "state":
                self._state_fns.append(f)
            elif key == "response":
                self._response_fns.append(f)
            elif key == "reinvite":
                self._reinvite_fns.append(f)
            elif key == "offer":
                self._offer_fns.append(f)
            elif key == "media":
                self._media_fns.append(f)
            elif key == "modified":
                self._modified_fns.append(f)
            elif key == "request":
                self._request_fns.setdefault("*", []).append(f)
            elif key.isalpha() and key not in ("invite", "ack", "cancel", "bye", "prack",
                                               "update"):
                self._request_fns.setdefault(key.upper(), []).append(f)
            else:
                raise InvalidError(_c.SIP_EINVAL, f"no call event {event!r} (state, response, "
                                   "reinvite, offer, media, modified, request, or a method "
                                   "such as info)")
            return f
        return deco(fn) if fn is not None else deco

    def on_state(self, fn: F) -> F:
        """fn(state, msg) on each state change (msg: the message that caused it, or None);
        usable as a decorator."""
        return self.on("state", fn)  # type: ignore[no-any-return]

    def on_request(self, fn: F) -> F:
        """fn(req) for every request inside the call that the call does not handle itself
        (see on()); usable as a decorator."""
        return self.on("request", fn)  # type: ignore[no-any-return]

    # -- reading ----------------------------------------------------------------------------

    @property
    def state(self) -> CallState:
        """The CallState (ENDED once the UA closed)."""
        if self._closed_by_ua or self._h is None:
            return CallState.ENDED
        return CallState(_c.sip_call_get_state(self._h))

    @property
    def is_uac(self) -> bool:
        """True for a call this side placed."""
        return bool(_c.sip_call_is_uac(self._h))

    @property
    def end_status(self) -> int:
        """Why the call ended: the final status of a failed INVITE (486, 487, 408 ...), 200
        for a BYE either way; 0 while it has not."""
        return _c.sip_call_get_end_status(self._h)

    @property
    def ended_locally(self) -> bool:
        """True when this side ended it (hangup, reject, CANCEL)."""
        return bool(_c.sip_call_ended_locally(self._h))

    @property
    def dialog(self) -> Optional[Dialog]:
        """The Dialog (the confirmed one, or the last early one), or None before any."""
        d = _c.sip_call_get_dialog(self._h)
        return Dialog._adopt(_c.sip_dialog_ref(d), self._loop) if d is not None else None

    @property
    def invite(self) -> Optional[Message]:
        """The INVITE sent or received, while its transaction is on for the call (None once
        the call is established or ended: the core keeps only the dialog and session)."""
        m = _c.sip_call_get_invite(self._h)
        return Message._adopt(_c.sip_msg_ref(m)) if m is not None else None

    @property
    def remote_sdp(self) -> Optional[str]:
        """The session description last received, or None."""
        return _text(_c.sip_call_get_remote_sdp(self._h)) or None

    @property
    def local_sdp(self) -> Optional[str]:
        """The session description last sent, or None."""
        return _text(_c.sip_call_get_local_sdp(self._h)) or None

    @property
    def remote_hold(self) -> bool:
        """True while the other side holds this one (its last SDP is sendonly or inactive;
        with the media engine)."""
        return bool(_c.sip_call_is_remote_hold(self._h))

    @property
    def oa(self) -> Optional[OfferAnswer]:
        """The call's offer/answer engine (an OfferAnswer: its hold, local and remote SDP),
        or None for a call without media capabilities."""
        h = _c.sip_call_get_oa(self._h)
        if h is None:
            return None
        o = OfferAnswer.__new__(OfferAnswer)
        o._h = _c.sip_oa_ref(h)
        return o

    @property
    def response(self) -> Optional[Message]:
        """A placed call: the final response to its INVITE once it came, else None."""
        return self._final

    @property
    def ua(self) -> "UA":
        """The UA the call belongs to."""
        return self._ua

    @safe_repr
    def __repr__(self) -> str:
        role = "uac" if self.is_uac else "uas"
        end = f" end_status={self.end_status}" if self.state is CallState.ENDED else ""
        return f"<Call {role} {self.state.name}{end}>"


# ---- the B2BUA -------------------------------------------------------------------------------


class BridgeLeg(Enum):
    """The two legs of a Bridge (sip_bridge_leg_t)."""
    A = _c.SIP_BRIDGE_A
    B = _c.SIP_BRIDGE_B


def _on_bridge_event(wbr: "weakref.ref[Bridge]", _h: Any, event: int, leg: int, msg: Any
                     ) -> None:
    br = wbr()
    if br is not None:
        br._event(event, leg, msg)


class Bridge:
    """A B2BUA bridge (sip_bridge_t) from ua.bridge(call, target): the incoming call (leg A)
    bridged to an outgoing one (leg B) with a new Call-ID, tags and Via. Provisionals with
    early media, the answer, re-INVITE/UPDATE offers, INFO and other requests go across; a
    CANCEL of A cancels B; a BYE on either leg ends the other.

    ``await ua.bridge(...)`` (``await bridge.answered()``) waits until B answered (status 200)
    or failed (status B's final status, 408 without one) and returns the bridge; it never
    raises for a failure: read ``bridge.status``. A live bridge is kept by its UA until both
    legs end.
    """

    __slots__ = ("_h", "_ua", "_loop", "_a", "_b", "status", "response", "_decided",
                 "_over", "_closed", "_ended_leg", "_fns", "_answered", "_ended",
                 "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("bridges come from ua.bridge()")

    @classmethod
    def _new(cls, ua: "UA", a: Call) -> "Bridge":
        b = object.__new__(cls)
        b._h = None
        b._ua = ua
        b._loop = ua._stack.loop
        b._a = a
        b._b: Optional[Call] = None
        #: B's final status once it answered (200) or failed; 0 before
        b.status = 0
        #: B's final response (None before, or after a failure without one)
        b.response: Optional[Message] = None
        b._decided = False
        b._over = False
        b._closed = False
        b._ended_leg: Optional[BridgeLeg] = None
        b._fns: Dict[str, List[Callable[..., Any]]] = {}
        b._answered: List[Any] = []
        b._ended: List[Any] = []
        return b

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="bridge is closed")
        return h

    def __del__(self, _unref: Any = _c.sip_bridge_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    def _leg_b(self) -> Optional[Call]:
        if self._b is None and self._h is not None:
            h = _c.sip_bridge_get_call(self._h, _c.SIP_BRIDGE_B)
            if h is not None:
                c = Call._new(self._ua)
                c._h = _c.sip_call_ref(h)
                self._b = c
        return self._b

    def _event(self, event: int, leg: int, msg: Any) -> None:
        m = Message._adopt(_c.sip_msg_ref(msg)) if msg is not None else None
        b = self._leg_b()
        if event == _c.SIP_BRIDGE_EVENT_RELAY:
            for fn in list(self._fns.get("relay", ())):
                fn(BridgeLeg(leg), m)  # sync: set_sdp() works only before the relay
        elif event in (_c.SIP_BRIDGE_EVENT_ANSWERED, _c.SIP_BRIDGE_EVENT_FAILED):
            answered = event == _c.SIP_BRIDGE_EVENT_ANSWERED
            self.status = 200 if answered else (m.status if m is not None else 408)
            if m is not None:
                self.response = m
            if b is not None:
                # Leg B has no event callback of its own: the bridge's events drive its waits.
                if answered:
                    b._confirmed = True
                    _settle(b._answered, b, None)
                else:
                    b._final = m
            self._decide()
            for fn in list(self._fns.get("answered" if answered else "failed", ())):
                _run_handler(self._ua, fn, (m,), _noop)
        elif event == _c.SIP_BRIDGE_EVENT_ENDED:
            self._ended_leg = BridgeLeg(leg)
            self._decide()
            self._end()
            for fn in list(self._fns.get("ended", ())):
                _run_handler(self._ua, fn, (self._ended_leg,), _noop)

    def _decide(self) -> None:
        if not self._decided:
            self._decided = True
            _settle(self._answered, self, None)

    def _end(self) -> None:
        if self._over:
            return
        self._over = True
        self._ua._bridges.discard(self)
        b = self._b
        if b is not None and not b._over:
            b._end()
        _settle(self._ended, self._ended_leg, None)

    def _ua_closed(self) -> None:
        if self._over:
            return
        self._over = True
        self._closed = True
        exc = ClosedError(message="the bridge's UA was closed")
        _settle(self._answered, None, exc)
        _settle(self._ended, None, exc)
        b = self._b
        if b is not None:
            b._ua_closed()

    async def answered(self, timeout: Optional[float] = None) -> "Bridge":
        """Waits until leg B answered (A was answered with its session: ``status`` 200) or
        failed (``status`` its final status; A got it too, unless keep_a_on_failure left A
        to the script) and returns the bridge. ClosedError when the UA closes,
        asyncio.TimeoutError after timeout seconds."""
        if self._decided:
            return self
        if self._closed:
            raise ClosedError(message="the bridge's UA was closed")
        fut = asyncio.get_running_loop().create_future()
        self._answered.append(fut)
        return await (asyncio.wait_for(fut, timeout) if timeout is not None else fut)

    async def ended(self, timeout: Optional[float] = None) -> BridgeLeg:
        """Waits until both legs are over and returns the leg that ended first. Raises
        ClosedError when the UA closes, asyncio.TimeoutError after timeout seconds."""
        if self._closed:
            raise ClosedError(message="the bridge's UA was closed")
        if self._over:
            assert self._ended_leg is not None
            return self._ended_leg
        fut = asyncio.get_running_loop().create_future()
        self._ended.append(fut)
        return await (asyncio.wait_for(fut, timeout) if timeout is not None else fut)

    def __await__(self) -> Generator[Any, None, "Bridge"]:
        return self.answered().__await__()

    def on(self, event: str, fn: Optional[F] = None) -> Any:
        """Registers fn for an event, as a decorator (``@bridge.on("relay")``) or a call:
        "relay" fn(leg, msg) before each message the bridge relays to leg (a BridgeLeg): msg
        is what was received on the other leg (a provisional, the answer, a re-INVITE,
        UPDATE, INFO, a BYE); inside fn (sync: it runs before the relay) set_sdp() replaces
        the SDP that goes out and bridge.a or bridge.b .set_headers() adds headers.
        "answered" fn(rsp) once B answered and A was answered with its session; "failed"
        fn(rsp) when B failed (rsp None for a timeout); "ended" fn(leg) when both legs are
        over (leg: the one that ended first). Those three may be ``async def``."""
        if not isinstance(event, str):
            raise TypeError(f"event must be a str, not {type(event).__name__}")
        if event not in ("relay", "answered", "failed", "ended"):
            raise InvalidError(_c.SIP_EINVAL, f"no bridge event {event!r} (relay, answered, "
                               "failed, ended)")

        def deco(f: F) -> F:
            if not callable(f):
                raise TypeError(f"the handler must be callable, not {type(f).__name__}")
            self._fns.setdefault(event, []).append(f)
            return f
        return deco(fn) if fn is not None else deco

    def set_sdp(self, sdp: SdpArg) -> None:
        """In a "relay" handler: the SDP to send instead of the received one (a media
        relay's address). Raises InvalidError outside a relay that carries SDP."""
        rc = _c.sip_bridge_set_sdp(self._handle(), _sdp_text("sdp", sdp))
        if rc < 0:
            raise _fail(rc, "cannot replace the SDP (only inside a relay that carries SDP)")

    def hangup(self, reason: Optional[str] = None) -> _Done:
        """Ends both legs (CANCEL, reject or BYE, as Call.hangup()); reason is a Reason
        header value for both. Raises ClosedError once the bridge is over."""
        rc = _c.sip_bridge_hangup(self._handle(), _opt_str("reason", reason))
        if rc < 0:
            raise _fail(rc, "cannot hang up the bridge")
        self._loop._kick()
        return _DONE

    @property
    def a(self) -> Call:
        """Leg A: the incoming call."""
        return self._a

    @property
    def b(self) -> Optional[Call]:
        """Leg B: the outgoing call the bridge placed (its waits follow the bridge's
        events), or None."""
        return self._leg_b()

    @property
    def active(self) -> bool:
        """True while both legs are up or being set up."""
        h = self._h
        return h is not None and not self._over and bool(_c.sip_bridge_is_active(h))

    @property
    def ua(self) -> "UA":
        """The UA both legs belong to."""
        return self._ua

    @safe_repr
    def __repr__(self) -> str:
        return f"<Bridge {'active' if self.active else 'over'} status={self.status}>"


# ---- the user agent --------------------------------------------------------------------------


def _on_ua_request(wua: "weakref.ref[UA]", _h: Any, txn: Any, req: Any) -> None:
    ua = wua()
    if ua is None or ua._h is None:
        return
    ua._incoming(txn, req)


_UA_STR = ("user_agent", "allow", "supported", "accept", "schemes", "recv_info",
           "contact_user", "contact_host")
_UA_STR += ("events",)  # RFC 6665 §8.2.1: the packages this UA is a notifier of
_UA_MS = ("t1_ms", "t2_ms")


def _invite_opts(sdp: SdpArg, from_: Optional[str], headers: Union[HeaderArg, str],
                 timeout: Optional[float], media: SdpArg, media_address: Optional[str],
                 late_offer: bool, rel100: Optional[str], session_timer: Optional[str],
                 session_expires: Optional[int], min_se: Optional[int],
                 refresher: Optional[str]) -> Any:
    """The sip_call_opts_t of a call this side places (ua.invite(), call.accept_transfer())."""
    o = _c.sip_call_opts_t()
    _c.sip_call_opts_init(o)
    s = _sdp_text("sdp", sdp)
    if s is not None:
        o.sdp = s
    f = _opt_str("from_", from_)
    if f is not None:
        o._from = f  # SWIG names the field `from` _from (a Python keyword)
    hd = _headers_text(headers)
    if hd is not None:
        o.headers = hd
    ms = _timeout_ms(timeout)
    if ms is not None:
        o.timeout_ms = ms
    _session_opts(o, media, media_address, rel100, session_timer, session_expires, min_se,
                  refresher)
    if not isinstance(late_offer, bool):
        raise TypeError(f"late_offer must be a bool, not {type(late_offer).__name__}")
    o.late_offer = int(late_offer)
    return o


class UA(_UARequests):
    """A user agent (sip_ua_t) on a Stack's transaction layer (the stack needs
    transactions=True): the dialog table, 481 for an unknown dialog, the checks of RFC 3261
    §8.2 and the headers a UA sends (every keyword is a field of sip_ua_opts_t; None keeps
    the default, "" leaves the header out):

        ua = libsip.UA(stack, user_agent="demo/1.0", contact_user="alice")

    Out-of-dialog INVITEs go to @ua.on_invite, other out-of-dialog requests to
    @ua.on_request, else to the Stack's own @stack.on_request handlers, else the UA answers
    them itself (OPTIONS 200 with its capabilities, INVITE 480, others 405 or 501). close()
    (or leaving a ``with`` block, or closing the Stack) ends every live call without
    sending and gives the layer back to the Stack.

    credentials (one mapping of add_credential()'s keywords, or a list of them) are answered
    to every digest challenge of a request the UA sends (RFC 3261 §22.2): ``UA(stack,
    credentials={"user": "alice", "password": "secret"})``. ua.request(), ua.message() and
    ua.options() send requests outside calls.

    events names the event packages the UA is a notifier of ("message-summary, dialog"): a
    SUBSCRIBE for another is answered 489 Bad Event; subscriptions are libsip.sub's
    (ua.subscribe(), ua.accept_subscription(), ua.refer()).
    """

    def __init__(self, stack: "Stack", *, user_agent: Optional[str] = None,
                 allow: Optional[str] = None, supported: Optional[str] = None,
                 accept: Optional[str] = None, schemes: Optional[str] = None,
                 recv_info: Optional[str] = None, contact_user: Optional[str] = None,
                 contact_host: Optional[str] = None,
                 t1_ms: Optional[int] = None, t2_ms: Optional[int] = None,
                 credentials: Any = None,
                 events: Optional[str] = None) -> None:
        from .stack import Stack
        from .requests import _credential_list
        self._h: Any = None
        self._pending: Set[Any] = set()
        _credential_list(credentials)
        if not isinstance(stack, Stack):
            raise TypeError(f"stack must be a libsip.Stack, not {type(stack).__name__}")
        values = {"user_agent": user_agent, "allow": allow, "supported": supported,
                  "accept": accept, "schemes": schemes, "recv_info": recv_info,
                  "contact_user": contact_user, "contact_host": contact_host}
        values["events"] = events
        o = _c.sip_ua_opts_t()
        _c.sip_ua_opts_init(o)
        for k in _UA_STR:
            v = _opt_str(k, values[k])
            if v is not None:
                setattr(o, k, v)
        for k, v in (("t1_ms", t1_ms), ("t2_ms", t2_ms)):
            ms = _opt_ms(k, v)
            if ms is not None:
                setattr(o, k, ms)
        if stack.closed:
            raise ClosedError(message="stack is closed")
        layer = stack.transactions
        if layer is None:
            raise InvalidError(_c.SIP_EINVAL, "a UA needs a stack made with "
                               "Stack(transactions=True): it works on the transaction layer")
        if any(u._h is not None for u in stack._uas):
            raise InvalidError(_c.SIP_EINVAL, "this stack already has a UA (close it first)")
        self._stack = stack
        self._calls: Set[Call] = set()
        self._bridges: Set[Bridge] = set()
        self._tasks: Set[Any] = set()
        self._invite_fn: Optional[Callable[[Call], Any]] = None
        self._request_fn: Optional[Callable[["Request"], Any]] = None
        self._accept_opts: Any = None
        self._user_agent = o.user_agent or ""
        self._allow = o.allow or ""
        self._supported = o.supported or ""
        self._accept = o.accept or ""
        rc, h = _c.sip_ua_create(layer._handle(), o,
                                 functools.partial(_on_ua_request, weakref.ref(self)))
        if rc < 0:
            raise error(rc, f"cannot create the UA: {_c.sip_strerror(rc)}")
        self._h = h
        stack._uas.add(self)
        try:
            self._add_credentials(credentials)
        except BaseException:
            self.close()
            raise

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="UA is closed")
        return h

    # -- out-of-dialog requests -------------------------------------------------------------

    def _incoming(self, txn: Any, req: Any) -> None:
        method = _c.sip_msg_get_method(req)
        if method == Method.INVITE and self._invite_fn is not None:
            self._accept_call(txn)
            return
        fn = self._request_fn
        stack = self._stack
        if fn is None and method != Method.INVITE:
            # The Stack's own handlers, as when no UA is there.
            name = _c.sip_msg_get_method_str(req).decode("utf-8", "replace")
            fn = stack._by_id.get(method) if method else stack._requests.get(name)
            fn = fn or stack._any
        if fn is None:
            _default_answer(self, txn, method)
            return
        from .stack import Request
        r = object.__new__(Request)
        r._h = _c.sip_msg_ref(req)
        r._stack = stack
        st = ServerTransaction._adopt(_c.sip_txn_ref(txn), stack.loop)
        r._txn = st

        def answer_500() -> None:
            h = st._h
            if h is not None and _c.sip_txn_get_state(h) in _NO_FINAL:
                _c.sip_txn_respond(h, 500, None)

        _run_handler(self, fn, (r,), answer_500)

    def _accept_call(self, txn: Any) -> None:
        call = Call._new(self)
        o = self._accept_opts
        rc, h = _c.sip_call_accept(self._h, txn, o, call._callback())
        if rc == _c.SIP_ENOTACCEPTABLE:
            # The call answered it (488, 420, 421, 422: the options cannot serve it).
            logger.debug("an incoming call was refused by the call options")
            return
        if rc < 0:
            logger.error("cannot accept an incoming call: %s", _c.sip_strerror(rc))
            if _c.sip_txn_get_state(txn) in _NO_FINAL:
                _c.sip_txn_respond(txn, 500, None)
            return
        call._h = h
        self._calls.add(call)

        def reject_500() -> None:
            # A handler that failed leaves no caller waiting (RFC 3261 §8.2: every request
            # gets a final response).
            if not call._over and call.state in (CallState.INCOMING, CallState.EARLY):
                _c.sip_call_reject(h, 500, None)
                self._stack.loop._kick()

        assert self._invite_fn is not None
        _run_handler(self, self._invite_fn, (call,), reject_500)

    def on_invite(self, fn: Optional[F] = None, *, media: SdpArg = None,
                  media_address: Optional[str] = None, rel100: Optional[str] = None,
                  session_timer: Optional[str] = None, session_expires: Optional[int] = None,
                  min_se: Optional[int] = None, refresher: Optional[str] = None) -> Any:
        """Decorator: fn(call) for each INVITE outside a dialog, with the Call made of it
        (state INCOMING). fn may be ``async def``: it runs as a task of the asyncio loop
        serving the stack, and reads top to bottom (await call.ring(), await
        call.answer(sdp), await call.ended()). A handler that raises rejects a call not
        answered yet with 500. Without a handler, INVITEs go to on_request, else get 480.
        ``@ua.on_invite(media=caps, ...)`` sets the options of the calls it accepts, as
        ua.invite() takes them: media gives each call the offer/answer engine with these
        local capabilities (call.answer() answers the offer from them, 488 when it cannot);
        rel100, session_timer, session_expires, min_se and refresher the RFC 3262 and RFC
        4028 behaviour. An INVITE they cannot serve is answered by the call (488, 420, 421,
        422) and fn does not run."""
        o = None
        if any(v is not None for v in (media, media_address, rel100, session_timer,
                                       session_expires, min_se, refresher)):
            o = _c.sip_call_opts_t()
            _c.sip_call_opts_init(o)
            _session_opts(o, media, media_address, rel100, session_timer, session_expires,
                          min_se, refresher)

        def deco(f: F) -> F:
            if not callable(f):
                raise TypeError(f"the handler must be callable, not {type(f).__name__}")
            self._invite_fn = f
            self._accept_opts = o
            return f
        return deco(fn) if fn is not None else deco

    def on_request(self, fn: F) -> F:
        """Decorator: fn(req) for each out-of-dialog request other than an INVITE taken by
        on_invite (OPTIONS, MESSAGE, ...): a Request to answer with req.reply(); an async fn
        runs as a task. Unset, the Stack's @stack.on_request handlers get them."""
        if not callable(fn):
            raise TypeError(f"the handler must be callable, not {type(fn).__name__}")
        self._request_fn = fn
        return fn

    # -- placing calls ----------------------------------------------------------------------

    def invite(self, target: str, *, sdp: SdpArg = None, from_: Optional[str] = None,
               headers: Union[HeaderArg, str] = None, timeout: Optional[float] = None,
               dst: Any = None, media: SdpArg = None, media_address: Optional[str] = None,
               late_offer: bool = False, rel100: Optional[str] = None,
               session_timer: Optional[str] = None, session_expires: Optional[int] = None,
               min_se: Optional[int] = None, refresher: Optional[str] = None) -> Call:
        """Places a call to target ("sip:bob@127.0.0.1:5070"): the INVITE (with sdp as the
        offer; none: the offer comes in the 2xx) goes out at once and the Call comes back at
        once, CALLING. ``await ua.invite(...)`` (or ``await call.answered()``) waits until it
        is answered and raises CallFailed otherwise. from_ is the From address, headers extra
        headers (a mapping, (name, value) pairs or "Name: value" lines), timeout the seconds
        before a CANCEL when nobody answers, dst where to send ("udp:host:port", a NetInfo)
        when not where the URI says (RFC 3263). media gives the call the offer/answer engine
        with these local capabilities (an SDP of m= lines; sdp is then not used): it makes the
        offer (none in the INVITE with late_offer=True: it answers the 2xx's in the ACK),
        checks the answer, and handles hold and re-offers; media_address is its c=/o= address
        (default: the Contact host). rel100 ("supported", the default; "off"; "required")
        sets reliable provisionals (RFC 3262: the core PRACKs each one); session_timer
        ("supported", the default; "off"; "always"; "required"), session_expires and min_se
        (seconds) and refresher ("auto", "local", "remote") the session timer (RFC 4028: the
        core refreshes, or ends the call with BYE and end_status 408 when the session
        expires)."""
        if not isinstance(target, str):
            raise TypeError(f"target must be a str, not {type(target).__name__}")
        o = _invite_opts(sdp, from_, headers, timeout, media, media_address, late_offer,
                         rel100, session_timer, session_expires, min_se, refresher)
        ni = NetInfo.parse(dst)._to_c() if dst is not None else None
        if ni is not None:
            o.dst = ni
        call = Call._new(self)
        rc, h = _c.sip_call_invite(self._handle(), target, o, call._callback())
        if rc < 0:
            if rc == _c.SIP_EURI:
                raise error(rc, f"bad target URI {target!r}")
            raise _fail(rc, f"cannot call {target}")
        call._h = h
        self._calls.add(call)
        self._stack.loop._kick()
        return call

    invite.OPTIONS = ("from", "sdp", "headers", "timeout_ms", "dst", "media",  # type: ignore
                      "media_address", "late_offer", "rel100", "session_timer",
                      "session_expires", "min_se", "refresher")

    def bridge(self, call: Call, target: str, *, from_: Optional[str] = None,
               headers: Union[HeaderArg, str] = None, timeout: Optional[float] = None,
               keep_a_on_failure: bool = False, dst: Any = None,
               sdp: SdpArg = None) -> Bridge:
        """B2BUA: bridges call (an incoming call of this UA, not answered yet, with an offer
        and without the media engine) to a new outgoing call to target, and returns the
        Bridge at once; ``await ua.bridge(...)`` waits until B answered or failed (read
        ``.status``). from_ is B's From (default: A's, with a new tag), headers extra headers
        for B's INVITE, timeout the seconds before B is cancelled, dst where B's INVITE goes.
        When B fails, A gets B's final status, unless keep_a_on_failure: then A is left to
        the script (ring it on, bridge it elsewhere, reject it). sdp is the offer B's INVITE
        carries instead of A's (a topology-hiding B2BUA rewrites A's o= line). Raises
        InvalidError for a
        call that cannot be bridged, Error (SIP_EBUSY) for one bridged already."""
        if not isinstance(call, Call):
            raise TypeError(f"call must be a libsip.Call, not {type(call).__name__}")
        if not isinstance(target, str):
            raise TypeError(f"target must be a str, not {type(target).__name__}")
        if call._ua is not self:
            raise InvalidError(_c.SIP_EINVAL, "the call belongs to another UA")
        o = _c.sip_bridge_opts_t()
        _c.sip_bridge_opts_init(o)
        f = _opt_str("from_", from_)
        if f is not None:
            o._from = f  # SWIG names the field `from` _from (a Python keyword)
        hd = _headers_text(headers)
        if hd is not None:
            o.headers = hd
        ms = _timeout_ms(timeout)
        if ms is not None:
            o.timeout_ms = ms
        if not isinstance(keep_a_on_failure, bool):
            raise TypeError("keep_a_on_failure must be a bool, not "
                            f"{type(keep_a_on_failure).__name__}")
        o.keep_a_on_failure = int(keep_a_on_failure)
        ni = NetInfo.parse(dst)._to_c() if dst is not None else None
        if ni is not None:
            o.dst = ni
        offer = _sdp_text("sdp", sdp)
        if offer is not None:
            o.sdp = offer
        self._handle()
        br = Bridge._new(self, call)
        rc, h = _c.sip_bridge_create(call._handle(), target, o,
                                     functools.partial(_on_bridge_event, weakref.ref(br)))
        if rc < 0:
            if rc == _c.SIP_EURI:
                raise error(rc, f"bad target URI {target!r}")
            if rc == _c.SIP_EBUSY:
                raise error(rc, "the call is bridged already")
            if rc == _c.SIP_EINVAL:
                raise InvalidError(rc, "cannot bridge this call: it must be incoming, not "
                                   "answered yet, with an offer and without the media engine")
            raise _fail(rc, f"cannot bridge to {target}")
        br._h = h
        self._bridges.add(br)
        self._stack.loop._kick()
        return br

    bridge.OPTIONS = ("from", "headers", "timeout_ms", "keep_a_on_failure",  # type: ignore
                      "dst", "sdp")

    # -- reading and closing ----------------------------------------------------------------

    @property
    def stack(self) -> "Stack":
        """The Stack whose transaction layer the UA works on."""
        return self._stack

    @property
    def calls(self) -> List[Call]:
        """The live calls (placed and answered, not ended yet)."""
        return list(self._calls)

    @property
    def dialog_count(self) -> int:
        """The number of dialogs in the table (0 once closed)."""
        h = self._h
        return 0 if h is None else _c.sip_ua_dialog_count(h)

    @property
    def call_count(self) -> int:
        """The number of live calls of the C core (0 once closed)."""
        h = self._h
        return 0 if h is None else _c.sip_ua_call_count(h)

    @property
    def closed(self) -> bool:
        """True once closed (or its Stack closed)."""
        return self._h is None

    def close(self) -> None:
        """Ends every live call without sending (their waiters raise ClosedError), cancels the
        handlers' tasks and leaves the transport's handler chain: the Stack's own handlers get
        every request again. Idempotent."""
        h, self._h = self._h, None
        if h is None:
            return
        calls, self._calls = list(self._calls), set()
        bridges, self._bridges = list(self._bridges), set()
        pending, self._pending = list(self._pending), set()
        _c.sip_ua_close(h)
        _c.sip_ua_unref(h)
        for p in pending:
            p._fail(ClosedError(message="UA closed before the final response"))
        for br in bridges:
            br._ua_closed()
        for call in calls:
            call._ua_closed()
        for sub in list(self.__dict__.get("_subs", ())):
            sub._ua_closed()  # subscriptions (sub.py), which the C close ended too
        try:
            current = asyncio.current_task()
        except RuntimeError:
            current = None
        for t in list(self._tasks):
            if t is not current:
                t.cancel()
        self._stack._uas.discard(self)

    def __enter__(self) -> "UA":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self, _unref: Any = _c.sip_ua_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            st = getattr(self, "_stack", None)
            release(st.loop if st is not None else None, _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<UA closed>"
        return f"<UA {len(self._calls)} calls, {self.dialog_count} dialogs>"


__all__ = ["Bridge", "BridgeLeg", "Call", "CallFailed", "CallState", "Dialog", "DialogState",
           "UA"]
