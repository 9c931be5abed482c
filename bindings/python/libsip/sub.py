# SPDX-License-Identifier: MIT
"""Subscriptions (sip/sub.h, RFC 6665): the subscriber's ``ua.subscribe()``, an async iterator
of the NOTIFYs it receives, and the notifier's ``ua.accept_subscription()`` with notify() and
terminate(), for asyncio scripts.

    sub = await ua.subscribe("sip:alice@127.0.0.1:5070", "message-summary",
                             expires=600, accept="application/simple-message-summary")
    async for n in sub:
        print(n.state, n.body)
        if done:
            await sub.unsubscribe()

    ua = libsip.UA(stack, events="message-summary")

    @ua.on_request
    def on_request(req):
        if req.method == "SUBSCRIBE":
            sub = ua.accept_subscription(req, body=summary, content_type=MWI)

The core does the protocol (refreshes, the 200 to each NOTIFY, the NOTIFY after each refresh,
expiry, 481, 489); this module only turns its events into futures and an iterator.
"""

from __future__ import annotations

import asyncio
import functools
import urllib.parse
import weakref
from typing import Any, Dict, Generator, List, Optional, Union

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, Error, InvalidError, error
from .calls import (UA, Call, Dialog, SdpArg, _headers_text, _invite_opts, _opt_str, _settle,
                    _text, _wait)
from .loop import release
from .message import BytesLike, HeaderArg, Message, NetInfo, status_phrase


class SubState(Enum):
    """Where a subscription stands (sip_sub_state_t; RFC 6665 §4.1.2)."""
    INIT = _c.SIP_SUB_INIT
    NOTIFY_WAIT = _c.SIP_SUB_NOTIFY_WAIT
    PENDING = _c.SIP_SUB_PENDING
    ACTIVE = _c.SIP_SUB_ACTIVE
    TERMINATED = _c.SIP_SUB_TERMINATED


class SubscriptionFailed(Error):
    """A subscription ended before it was established: ``status`` is the final status (489
    Bad Event, 404, 408 when no NOTIFY came ...), ``reason`` its phrase (also ``phrase``) and
    ``response`` the final response when one arrived (else None)."""

    def __init__(self, status: int, reason: str = "", response: Optional[Message] = None
                 ) -> None:
        self.status = status
        self.reason = reason or (status_phrase(status) if status else "")
        self.phrase = self.reason
        self.response = response
        super().__init__(_c.SIP_EIO, f"subscription failed: {status} {self.reason}".rstrip())


_STATES = {"active": SubState.ACTIVE, "pending": SubState.PENDING,
           "terminated": SubState.TERMINATED}


class Notify:
    """A NOTIFY a subscription received (the core answered it 200): ``body`` (bytes),
    ``content_type``, ``state`` (its Subscription-State), ``reason``, ``expires`` and
    ``retry_after`` (None when absent), ``message`` (the request) and ``subscription`` (the
    one it belongs to: a fork of a forked SUBSCRIBE has its own)."""

    __slots__ = ("message", "subscription", "state", "reason", "expires", "retry_after")

    def __init__(self, message: Message, subscription: "Subscription") -> None:
        self.message = message
        self.subscription = subscription
        self.state = SubState.ACTIVE
        self.reason = ""
        self.expires: Optional[int] = None
        self.retry_after: Optional[int] = None
        hs = message.headers.get("Subscription-State") or []
        if hs:
            tok = hs[0]
            self.state = _STATES.get(str(tok.token).lower(), SubState.ACTIVE)
            params = {k.lower(): v for k, v in tok.params.items()}
            self.reason = str(params.get("reason") or "")
            for k in ("expires", "retry_after"):
                v = params.get(k.replace("_", "-"))
                if v is not None and str(v).isdigit():
                    setattr(self, k, int(v))

    @property
    def body(self) -> bytes:
        """The body: the resource's state."""
        return self.message.body

    @property
    def status(self) -> Optional[int]:
        """The status code of a message/sipfrag body (a REFER's NOTIFY, RFC 3515 §2.4.5:
        "SIP/2.0 180 Ringing" gives 180), or None."""
        return _sipfrag_status(self.message.body)

    @property
    def content_type(self) -> str:
        """The body's type ("application/simple-message-summary"), or ""."""
        ct = self.message.headers.get("Content-Type") or []
        return f"{ct[0].type}/{ct[0].subtype}" if ct else ""

    @safe_repr
    def __repr__(self) -> str:
        return f"<Notify {self.state.name.lower()} {len(self.body)} bytes>"


def _sipfrag_status(body: bytes) -> Optional[int]:
    parts = body.split(b"\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"SIP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def _on_sub_event(wsub: "weakref.ref[Subscription]", h: Any, event: int, msg: Any) -> None:
    sub = wsub()
    if sub is None:
        return
    sub._dispatch(h, event, msg)


class Subscription:
    """A subscription (sip_sub_t): a subscriber's from ua.subscribe(), a notifier's from
    ua.accept_subscription().

    A subscriber's is an async iterator of the NOTIFYs it receives (Notify), which ends once
    the subscription has ended (and the forks of its SUBSCRIBE have: their NOTIFYs come here
    too). ``await sub`` is ``await sub.established()``. A live subscription is kept by its UA
    until it ends; dropping the last reference to one that goes on unsubscribes (a notifier's:
    terminates it with reason noresource). Closing the UA ends it without sending.
    """

    __slots__ = ("_h", "_ua", "_loop", "_root", "_forks", "_by_ptr", "_notifies", "_getters",
                 "_established", "_ended", "_up", "_over", "_final", "_closed_by_ua",
                 "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("subscriptions come from ua.subscribe() and ua.accept_subscription()")

    @classmethod
    def _new(cls, ua: UA, root: Optional["Subscription"] = None) -> "Subscription":
        s = object.__new__(cls)
        s._h = None
        s._ua = ua
        s._loop = ua._stack.loop
        s._root = root
        s._forks: List[Subscription] = []
        s._by_ptr: Dict[int, Subscription] = {}
        s._notifies: List[Notify] = []
        s._getters: List[Any] = []
        s._established: List[Any] = []
        s._ended: List[Any] = []
        s._up = False
        s._over = False
        s._final: Optional[Message] = None
        s._closed_by_ua = False
        return s

    def _callback(self) -> Any:
        return functools.partial(_on_sub_event, weakref.ref(self))

    def _handle(self) -> Any:
        h = self._h
        if h is None or self._closed_by_ua:
            raise ClosedError(message="the subscription's UA is closed")
        return h

    def __del__(self, _unref: Any = _c.sip_sub_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    # -- events ---------------------------------------------------------------------------

    def _dispatch(self, h: Any, event: int, msg: Any) -> None:
        """An event of this subscription or of a fork of its SUBSCRIBE (they share the C
        callback): the fork's own object takes it."""
        target = self
        if self._h is None or int(h) != int(self._h):
            target = self._by_ptr.get(int(h))  # type: ignore[assignment]
            if target is None:
                if event != _c.SIP_SUB_EVENT_FORKED:
                    return
                target = Subscription._new(self._ua, self)
                target._h = _c.sip_sub_ref(h)
                self._by_ptr[int(h)] = target
                self._forks.append(target)
                _subs_of(self._ua).add(target)
        target._event(event, msg)

    def _event(self, event: int, msg: Any) -> None:
        m = Message._adopt(_c.sip_msg_ref(msg)) if msg is not None else None
        if event == _c.SIP_SUB_EVENT_NOTIFY and m is not None:
            n = Notify(m, self)
            self._push(n)
            if self._root is not None:
                self._root._push(n)
        elif event == _c.SIP_SUB_EVENT_RESPONSE:
            if m is not None and m.status >= 200:
                self._final = m
        elif event == _c.SIP_SUB_EVENT_STATE:
            state = self.state
            if state in (SubState.NOTIFY_WAIT, SubState.PENDING, SubState.ACTIVE):
                if not self._up:
                    self._up = True
                    _settle(self._established, self, None)
            elif state is SubState.TERMINATED and not self._over:
                self._end()

    def _push(self, n: Notify) -> None:
        if self._getters:
            _settle(self._getters, n, None)
        else:
            self._notifies.append(n)

    def _all_over(self) -> bool:
        return self._over and all(f._over for f in self._forks)

    def _end(self) -> None:
        self._over = True
        _subs_of(self._ua).discard(self)
        st = self.end_status
        if not self._up and 200 <= st < 300:
            # Over without a failure before it was up (a REFER taken without a subscription,
            # RFC 4488; an unsubscribe before the 2xx): established all the same.
            _settle(self._established, self, None)
        elif not self._up:
            rsp = self._final
            reason = rsp.reason if rsp is not None and rsp.status == st else ""
            _settle(self._established, None, SubscriptionFailed(st, reason, rsp))
        _settle(self._ended, self.end_status, None)
        for s in (self, self._root):
            if s is not None and s._all_over():
                _settle(s._getters, None, StopAsyncIteration())

    def _ua_closed(self) -> None:
        """The UA closed: the C subscription ended without an event; so do its waiters."""
        if self._over:
            return
        self._closed_by_ua = True
        self._over = True
        exc = ClosedError(message="the subscription's UA was closed")
        _settle(self._established, None, exc)
        _settle(self._ended, None, exc)
        _settle(self._getters, None, exc)

    # -- waiting ----------------------------------------------------------------------------

    async def established(self, timeout: Optional[float] = None) -> "Subscription":
        """Waits until the subscription is accepted (its 2xx, or a first NOTIFY) and returns
        it. Raises SubscriptionFailed(status, reason) when it ends first (489, 404, 408...),
        ClosedError when its UA closes, asyncio.TimeoutError after timeout seconds."""
        if self._up:
            return self
        if self._closed_by_ua:
            raise ClosedError(message="the subscription's UA was closed")
        if self._over and 200 <= self.end_status < 300:
            return self
        if self._over:
            rsp = self._final
            st = self.end_status
            raise SubscriptionFailed(
                st, rsp.reason if rsp is not None and rsp.status == st else "", rsp)
        return await _wait(self._established, timeout)

    async def ended(self, timeout: Optional[float] = None) -> int:
        """Waits until the subscription has ended and returns end_status. Raises ClosedError
        when its UA closes, asyncio.TimeoutError after timeout seconds."""
        if self._closed_by_ua:
            raise ClosedError(message="the subscription's UA was closed")
        if self._over:
            return self.end_status
        return await _wait(self._ended, timeout)

    async def next_notify(self, timeout: Optional[float] = None) -> Optional[Notify]:
        """The next NOTIFY received (one received earlier at once), or None once the
        subscription (and every fork) has ended. Raises asyncio.TimeoutError after timeout
        seconds, ClosedError when its UA closes."""
        if self._notifies:
            return self._notifies.pop(0)
        if self._closed_by_ua:
            raise ClosedError(message="the subscription's UA was closed")
        if self._all_over():
            return None
        try:
            return await _wait(self._getters, timeout)
        except StopAsyncIteration:
            return None

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Notify:
        n = await self.next_notify()
        if n is None:
            raise StopAsyncIteration
        return n

    def __await__(self) -> Generator[Any, None, "Subscription"]:
        return self.established().__await__()

    # -- acting -----------------------------------------------------------------------------

    def unsubscribe(self) -> "asyncio.Future[int]":
        """Subscriber: unsubscribes (a SUBSCRIBE with Expires: 0; RFC 6665 §4.1.2.3) and
        returns an awaitable of end_status, done once the NOTIFY that ends it came (or at
        once for one not established yet)."""
        rc = _c.sip_sub_unsubscribe(self._handle())
        if rc == _c.SIP_EINVAL:
            raise InvalidError(rc, "unsubscribe() is the subscriber's (a notifier terminates)")
        if rc < 0 and rc != _c.SIP_ECLOSED:
            raise error(rc, f"cannot unsubscribe: {_c.sip_strerror(rc)}")
        self._loop._kick()
        return asyncio.ensure_future(self.ended())

    def notify(self, body: Optional[BytesLike] = None, content_type: Optional[str] = None,
               state: str = "active") -> None:
        """Notifier: sends a NOTIFY with the resource's state (body, of content_type: the
        last one given when None) and state "active" or "pending" (RFC 6665 §4.2.2)."""
        st = {"active": _c.SIP_SUB_ACTIVE, "pending": _c.SIP_SUB_PENDING}.get(state)
        if not isinstance(state, str) or st is None:
            raise InvalidError(_c.SIP_EINVAL, f"state must be 'active' or 'pending', not "
                               f"{state!r}")
        rc = _c.sip_sub_notify(self._handle(), st, _body_text("body", body),
                               _opt_str("content_type", content_type))
        if rc == _c.SIP_EINVAL:
            raise InvalidError(rc, "notify() is the notifier's")
        if rc == _c.SIP_ECLOSED:
            raise ClosedError(message="the subscription has ended")
        if rc < 0:
            raise error(rc, f"cannot notify: {_c.sip_strerror(rc)}")
        self._loop._kick()

    def terminate(self, reason: Optional[str] = None, retry_after: Optional[int] = None,
                  body: Optional[BytesLike] = None) -> None:
        """Notifier: ends the subscription with a NOTIFY Subscription-State: terminated
        (reason "deactivated", "probation", "rejected", "timeout", "giveup", "noresource",
        "invariant"; retry_after in seconds; a last body)."""
        if retry_after is not None and (not isinstance(retry_after, int) or
                                        isinstance(retry_after, bool)):
            raise TypeError(f"retry_after must be an int, not {type(retry_after).__name__}")
        if retry_after is not None and not 0 <= retry_after < 2 ** 31:
            raise InvalidError(_c.SIP_EINVAL, f"retry_after must be 0 or more, not "
                               f"{retry_after}")
        rc = _c.sip_sub_terminate(self._handle(), _opt_str("reason", reason),
                                  -1 if retry_after is None else retry_after,
                                  _body_text("body", body))
        if rc == _c.SIP_EINVAL:
            raise InvalidError(rc, "terminate() is the notifier's, with a reason token")
        if rc == _c.SIP_ECLOSED:
            raise ClosedError(message="the subscription has ended")
        if rc < 0:
            raise error(rc, f"cannot terminate: {_c.sip_strerror(rc)}")
        self._loop._kick()

    def close(self) -> None:
        """Ends the subscription at once without sending (the other side finds out by a 481).
        Idempotent."""
        h = self._h
        if h is not None and not self._over:
            _c.sip_sub_close(h)
            self._ua_closed_quiet()

    def _ua_closed_quiet(self) -> None:
        self._over = True
        _subs_of(self._ua).discard(self)
        exc = ClosedError(message="the subscription was closed")
        _settle(self._established, None, exc)
        _settle(self._ended, 0, None)
        _settle(self._getters, None, StopAsyncIteration())

    # -- reading ----------------------------------------------------------------------------

    @property
    def state(self) -> SubState:
        """The state."""
        h = self._h
        return SubState(_c.sip_sub_get_state(h)) if h is not None else SubState.TERMINATED

    @property
    def is_subscriber(self) -> bool:
        """True for a subscriber's subscription, False for a notifier's."""
        return bool(_c.sip_sub_is_subscriber(self._h))

    @property
    def event(self) -> str:
        """The event package ("message-summary")."""
        return _text(_c.sip_sub_get_event(self._h))

    @property
    def id(self) -> str:
        """The Event id, or ""."""
        return _text(_c.sip_sub_get_id(self._h))

    @property
    def expires(self) -> int:
        """The seconds the subscription has left (0 once ended)."""
        return int(_c.sip_sub_get_expires(self._h))

    @property
    def end_status(self) -> int:
        """Why it ended: the failure status (489, 404...), 408 for a timeout or an expiry,
        481 when the other side forgot it, 200 for a NOTIFY terminated or a completed
        unsubscribe; 0 while it has not."""
        return int(_c.sip_sub_get_end_status(self._h))

    @property
    def reason(self) -> str:
        """The reason of the terminated Subscription-State sent or received, or ""."""
        return _text(_c.sip_sub_get_reason(self._h))

    @property
    def retry_after(self) -> Optional[int]:
        """The retry-after seconds of the terminated Subscription-State, or None."""
        v = int(_c.sip_sub_get_retry_after(self._h))
        return None if v < 0 else v

    @property
    def dialog(self) -> Optional[Dialog]:
        """The Dialog, or None while there is none."""
        d = _c.sip_sub_get_dialog(self._h)
        return Dialog._adopt(_c.sip_dialog_ref(d), self._loop) if d is not None else None

    @property
    def forks(self) -> List["Subscription"]:
        """The subscriptions other forks of the SUBSCRIBE made (RFC 6665 §4.1.2.4)."""
        return list(self._forks)

    @property
    def ua(self) -> UA:
        """The UA."""
        return self._ua

    @safe_repr
    def __repr__(self) -> str:
        role = "subscriber" if self.is_subscriber else "notifier"
        return f"<Subscription {role} {self.event} {self.state.name.lower()}>"


# ---- the UA's side ---------------------------------------------------------------------------


def _subs_of(ua: UA) -> "set[Subscription]":
    """The UA's live subscriptions (UA.close() ends them)."""
    return ua.__dict__.setdefault("_subs", set())


def _body_text(name: str, body: Any) -> Optional[str]:
    if body is None:
        return None
    if isinstance(body, str):
        return body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body).decode("utf-8")
    raise TypeError(f"{name} must be a str or bytes, not {type(body).__name__}")


def _uint(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int (seconds), not {type(value).__name__}")
    if not 0 <= value < 2 ** 32:
        raise InvalidError(_c.SIP_EINVAL, f"{name} must be 0 to 2**32-1, not {value}")
    return int(value)


def _fail(rc: int, what: str) -> Error:
    if rc == _c.SIP_ECLOSED:
        return ClosedError(message=f"{what}: the UA is closed")
    if rc == _c.SIP_EINVAL:
        return InvalidError(rc, f"{what}: invalid arguments")
    return error(rc, f"{what}: {_c.sip_strerror(rc)}")


def subscribe(self: UA, target: Optional[str], event: str, *, id: Optional[str] = None,
              expires: int = 3600, accept: Optional[str] = None, from_: Optional[str] = None,
              body: Optional[BytesLike] = None, content_type: Optional[str] = None,
              headers: Union[HeaderArg, str] = None, dst: Any = None, call: Any = None
              ) -> Subscription:
    """Subscribes to event (the package: "message-summary", "dialog"...) at target
    ("sip:alice@127.0.0.1:5070") and returns the Subscription at once; ``await
    ua.subscribe(...)`` waits until it is accepted and raises SubscriptionFailed otherwise
    (489 Bad Event, 404, 408 when no NOTIFY came). id is the Event id, expires the seconds
    asked (the core refreshes before the granted ones run out), accept the Accept header,
    from_ the From address, body and content_type a body (a filter), headers extra headers,
    dst where to send when not where the URI says. call= subscribes inside that Call's dialog
    (RFC 5057: the dialog's second usage; target is then None)."""
    from .calls import Call
    if target is not None and not isinstance(target, str):
        raise TypeError(f"target must be a str, not {type(target).__name__}")
    if not isinstance(event, str):
        raise TypeError(f"event must be a str, not {type(event).__name__}")
    if not event:
        raise InvalidError(_c.SIP_EINVAL, "event must name an event package")
    o = _c.sip_sub_opts_t()
    _c.sip_sub_opts_init(o)
    o.event = event
    for k, v in (("id", id), ("accept", accept), ("content_type", content_type)):
        v = _opt_str(k, v)
        if v is not None:
            setattr(o, k, v)
    f = _opt_str("from_", from_)
    if f is not None:
        o._from = f  # SWIG names the field `from` _from (a Python keyword)
    o.expires = _uint("expires", expires)
    b = _body_text("body", body)
    if b is not None:
        o.body = b
    hd = _headers_text(headers)
    if hd is not None:
        o.headers = hd
    ni = NetInfo.parse(dst)._to_c() if dst is not None else None
    if ni is not None:
        o.dst = ni
    if call is not None:
        if not isinstance(call, Call):
            raise TypeError(f"call must be a libsip.Call, not {type(call).__name__}")
        d = _c.sip_call_get_dialog(call._handle())
        if d is None:
            raise InvalidError(_c.SIP_EINVAL, "the call has no dialog yet")
        o.dialog = d
    elif target is None:
        raise TypeError("target must be a str (or call= given)")
    sub = Subscription._new(self)
    rc, h = _c.sip_sub_subscribe(self._handle(), target, o, sub._callback())
    if rc < 0:
        if rc == _c.SIP_EURI:
            raise error(rc, f"bad target URI {target!r}")
        raise _fail(rc, f"cannot subscribe to {target}")
    sub._h = h
    _subs_of(self).add(sub)
    self._stack.loop._kick()
    return sub


def accept_subscription(self: UA, req: Any, *, body: Optional[BytesLike] = None,
                        content_type: Optional[str] = None, state: str = "active",
                        expires: int = 3600, status: int = 200,
                        headers: Union[HeaderArg, str] = None) -> Subscription:
    """Notifier: accepts a SUBSCRIBE the UA's (or the Stack's) request handler received
    (RFC 6665 §4.2.1): answers it status (200, or 202) with the Expires granted (the one
    asked, at most expires seconds) and sends the first NOTIFY at once, in state ("active" or
    "pending") with body of content_type. Returns the Subscription (notify(), terminate()).
    The core answers refreshes (each followed by a NOTIFY with the last body) and ends an
    expired subscription with a NOTIFY terminated;reason=timeout. Raises InvalidError for a
    request that is not an unanswered SUBSCRIBE."""
    from .stack import Request
    if not isinstance(req, Request):
        raise TypeError(f"req must be a libsip.Request, not {type(req).__name__}")
    st = {"active": _c.SIP_SUB_ACTIVE, "pending": _c.SIP_SUB_PENDING}.get(state)
    if not isinstance(state, str) or st is None:
        raise InvalidError(_c.SIP_EINVAL, f"state must be 'active' or 'pending', not {state!r}")
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, not {type(status).__name__}")
    if status not in (200, 202):
        raise InvalidError(_c.SIP_EINVAL, f"status must be 200 or 202, not {status}")
    o = _c.sip_sub_opts_t()
    _c.sip_sub_opts_init(o)
    o.state = st
    o.status = status
    o.expires = _uint("expires", expires)
    b = _body_text("body", body)
    if b is not None:
        o.body = b
    ct = _opt_str("content_type", content_type)
    if ct is not None:
        o.content_type = ct
    hd = _headers_text(headers)
    if hd is not None:
        o.headers = hd
    txn = req._txn._h if req._txn is not None else None
    if txn is None:
        raise InvalidError(_c.SIP_EINVAL, "the request has no server transaction")
    sub = Subscription._new(self)
    rc, h = _c.sip_sub_accept(self._handle(), txn, o, sub._callback())
    if rc < 0:
        if rc == _c.SIP_EINVAL:
            raise InvalidError(rc, "cannot accept: not an unanswered SUBSCRIBE with an Event")
        raise _fail(rc, "cannot accept the subscription")
    sub._h = h
    sub._up = True
    if sub.state is SubState.TERMINATED:
        sub._over = True  # a fetch, or a REFER taken without a subscription (RFC 4488)
    else:
        _subs_of(self).add(sub)
    self._stack.loop._kick()
    return sub


def refer(self: UA, target: Optional[str], refer_to: str, *, call: Any = None,
          from_: Optional[str] = None, referred_by: Optional[str] = None,
          headers: Union[HeaderArg, str] = None, dst: Any = None,
          norefersub: bool = False) -> Subscription:
    """Sends a REFER (RFC 3515) asking the other side to send a request to refer_to (an INVITE
    for a sip: URI: a transfer), inside call's dialog (call=, target None) or out of dialog to
    target, and returns its implicit subscription at once: ``await`` it for the 202 (raises
    SubscriptionFailed for 403, 405, 603...), then iterate it for the NOTIFYs, whose
    ``n.status`` is the status of the request the other side sent (100, 180, 200...).
    referred_by is the Referred-By address (RFC 3892); headers extra headers; from_ and dst
    as ua.subscribe(). norefersub=True asks for no subscription (RFC 4488): when granted, the
    subscription ends with the 202 (end_status 200) and no NOTIFY comes."""
    from .calls import Call
    if target is not None and not isinstance(target, str):
        raise TypeError(f"target must be a str, not {type(target).__name__}")
    if not isinstance(refer_to, str):
        raise TypeError(f"refer_to must be a str, not {type(refer_to).__name__}")
    if not refer_to:
        raise InvalidError(_c.SIP_EINVAL, "refer_to must be a URI")
    o = _c.sip_sub_opts_t()
    _c.sip_sub_opts_init(o)
    f = _opt_str("from_", from_)
    if f is not None:
        o._from = f  # SWIG names the field `from` _from (a Python keyword)
    lines = []
    rb = _opt_str("referred_by", referred_by)
    if rb is not None:
        lines.append(f"Referred-By: {rb}")
    hd = _headers_text(headers)
    if hd:
        lines.append(hd)
    if lines:
        o.headers = "\r\n".join(lines)
    ni = NetInfo.parse(dst)._to_c() if dst is not None else None
    if ni is not None:
        o.dst = ni
    if not isinstance(norefersub, bool):
        raise TypeError(f"norefersub must be a bool, not {type(norefersub).__name__}")
    o.norefersub = int(norefersub)
    if call is not None:
        if not isinstance(call, Call):
            raise TypeError(f"call must be a libsip.Call, not {type(call).__name__}")
        d = _c.sip_call_get_dialog(call._handle())
        if d is None:
            raise InvalidError(_c.SIP_EINVAL, "the call has no dialog yet")
        o.dialog = d
    elif target is None:
        raise TypeError("target must be a str (or call= given)")
    sub = Subscription._new(self)
    rc, h = _c.sip_sub_refer(self._handle(), target, refer_to, o, sub._callback())
    if rc < 0:
        if rc == _c.SIP_EURI:
            raise error(rc, f"bad target URI {target!r}")
        raise _fail(rc, f"cannot refer to {refer_to}")
    sub._h = h
    _subs_of(self).add(sub)
    self._stack.loop._kick()
    return sub


def _replaces_uri(call: Any) -> str:
    """The URI an attended transfer refers to (RFC 3891 §3, RFC 5589 §7): the other call's
    remote target with a Replaces header naming that call from its far end's view."""
    d = call.dialog
    if d is None:
        raise InvalidError(_c.SIP_EINVAL, "to_call has no dialog")
    rep = f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}"
    sep = "&" if "?" in d.remote_target else "?"
    return f"<{d.remote_target}{sep}Replaces={urllib.parse.quote(rep, safe='')}>"


async def transfer(self: Any, target: Optional[str] = None, *, to_call: Any = None,
                   referred_by: Optional[str] = None, timeout: Optional[float] = None) -> int:
    """Transfers the other side of this call (RFC 3515, RFC 5589): blind to target, or
    attended to to_call's far end (a call of this UA, usually the consultation call): the
    REFER then names to_call with Replaces (RFC 3891), so that the far end's new call replaces
    it. Waits until the transferee reports the outcome of its new call and returns that final
    status (200 when it was answered, 486, 487, 481...). Raises SubscriptionFailed when the
    REFER is refused (403, 405, 603...), asyncio.TimeoutError after timeout seconds. This call
    goes on: hang it up once transferred (to_call ends from its far end)."""
    if (target is None) == (to_call is None):
        raise TypeError("transfer() takes a target or to_call=, one of them")
    if to_call is not None:
        if not isinstance(to_call, Call):
            raise TypeError(f"to_call must be a libsip.Call, not {type(to_call).__name__}")
        target = _replaces_uri(to_call)
    assert target is not None
    sub = refer(self._ua, None, target, call=self, referred_by=referred_by)
    status = 0

    async def run() -> int:
        nonlocal status
        await sub.established()
        async for n in sub:
            if n.status is not None:
                status = n.status
        if sub.end_status != 200 and not status:
            raise SubscriptionFailed(sub.end_status)
        return status

    return await asyncio.wait_for(run(), timeout)


def accept_transfer(self: Any, req: Any, *, sdp: SdpArg = None, from_: Optional[str] = None,
                    headers: Union[HeaderArg, str] = None, timeout: Optional[float] = None,
                    media: SdpArg = None, media_address: Optional[str] = None,
                    late_offer: bool = False, rel100: Optional[str] = None,
                    session_timer: Optional[str] = None, session_expires: Optional[int] = None,
                    min_se: Optional[int] = None, refresher: Optional[str] = None) -> Call:
    """Transferee: carries out a REFER received in this call (``@call.on("refer")``) as RFC
    3515 and RFC 5589 say, and returns the new call at once (``await`` it for its answer, as
    ua.invite()'s): the REFER is accepted (202 and a NOTIFY "SIP/2.0 100 Trying"; none with
    norefersub, RFC 4488), the new call goes to the Refer-To URI with its headers (Replaces
    for an attended transfer) and the REFER's Referred-By, and the transferor hears its
    provisionals and its final status in sipfrag NOTIFYs, the last terminating the
    subscription. After a 2xx the transferor normally hangs this call up; when it has not
    after 64*T1, this side does. A failed new call (486, 481...) leaves this call as it is.
    The keywords are ua.invite()'s. Raises TypeError for a req that is not a Request,
    InvalidError for one that is not an unanswered REFER, libsip.Error (SIP_ENOTACCEPTABLE)
    when the REFER was refused: 416 for a Refer-To that is not a SIP or SIPS URI, 400 for a
    missing or bad one. Without this, a REFER is the handler's to answer (the manual way:
    ua.accept_subscription(req), refer_target(req), ua.invite(), sub.notify())."""
    from .stack import Request
    if not isinstance(req, Request):
        raise TypeError(f"req must be a libsip.Request, not {type(req).__name__}")
    o = _invite_opts(sdp, from_, headers, timeout, media, media_address, late_offer, rel100,
                     session_timer, session_expires, min_se, refresher)
    txn = req._txn._h if req._txn is not None else None
    if txn is None:
        raise InvalidError(_c.SIP_EINVAL, "the request has no server transaction")
    ua = self._ua
    call = Call._new(ua)
    rc, h = _c.sip_call_accept_transfer(self._handle(), txn, o, call._callback())
    if rc < 0:
        if rc == _c.SIP_EINVAL:
            raise InvalidError(rc, "cannot accept the transfer: not an unanswered REFER")
        if rc == _c.SIP_ENOTACCEPTABLE:
            raise error(rc, "the REFER was refused (416: Refer-To not a SIP or SIPS URI; "
                            "400: no usable Refer-To)")
        raise _fail(rc, "cannot accept the transfer")
    call._h = h
    ua._calls.add(call)
    ua._stack.loop._kick()
    return call


def refer_target(req: Any) -> "tuple[str, Dict[str, str]]":
    """The transferee's reading of a REFER (RFC 3515 §2.1, RFC 3261 §19.1.1): the Refer-To URI
    without its headers, and those headers (Replaces...) to put in the request sent to it,
    unescaped."""
    v = req.headers["Refer-To"][0].value.strip()
    if v.startswith("<") or "<" in v:
        v = v[v.index("<") + 1:v.index(">")]
    uri, _, query = v.partition("?")
    headers: Dict[str, str] = {}
    for part in query.split("&") if query else ():
        name, _, value = part.partition("=")
        headers[urllib.parse.unquote(name)] = urllib.parse.unquote(value)
    return uri, headers


# The fields of sip_sub_opts_t the package takes: event, id, accept, from (from_), expires,
# body, content_type, headers, dst and dialog (the call= keyword) by ua.subscribe(); status and
# state (with expires, body, content_type, headers) by ua.accept_subscription(); norefersub by
# ua.refer().
subscribe.OPTIONS = ("event", "id", "accept", "from", "expires", "body",  # type: ignore
                     "content_type", "headers", "dst", "dialog", "status", "state",
                     "norefersub")

# The UA's subscription calls live here, beside the subscriptions they make.
UA.subscribe = subscribe  # type: ignore[attr-defined]
UA.accept_subscription = accept_subscription  # type: ignore[attr-defined]
UA.refer = refer  # type: ignore[attr-defined]
Call.transfer = transfer  # type: ignore[attr-defined]
Call.accept_transfer = accept_transfer  # type: ignore[attr-defined]

__all__ = ["Notify", "SubState", "Subscription", "SubscriptionFailed", "refer_target"]
