# SPDX-License-Identifier: MIT
"""Registrations (sip/reg.h): a UA binds its contacts to an address of record at a registrar
and keeps them registered (RFC 3261 §10.2), for asyncio scripts.

    reg = await ua.register("sip:alice@example.com", user="alice", password="secret",
                            expires=600)
    print(reg.expires, reg.service_route)

    @reg.on("refreshed")
    def refreshed(status, rsp):
        ...

    async for ev, status, rsp in reg:       # every event, until reg.close()
        ...

    await reg.unregister()

The core does the protocol (refreshes on the granted expiry, 423, challenges answered with the
UA's credentials, retries, Service-Route, Outbound flows); this module only turns its events into
futures and handlers.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any, Callable, Dict, Generator, List, Optional, Tuple, TypeVar, Union

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, Error, InvalidError, error
from .calls import UA, _noop, _run_handler, _settle, _wait
from .loop import release
from .message import Message, NetInfo

F = TypeVar("F", bound=Callable[..., Any])

# How many events a registration keeps for next_event() and `async for` until they are read.
EVENTS_KEPT = 64


class RegState(Enum):
    """Where a registration is (sip_reg_state_t)."""
    REGISTERING = _c.SIP_REG_STATE_REGISTERING
    REGISTERED = _c.SIP_REG_STATE_REGISTERED
    RETRYING = _c.SIP_REG_STATE_RETRYING
    UNREGISTERING = _c.SIP_REG_STATE_UNREGISTERING
    UNREGISTERED = _c.SIP_REG_STATE_UNREGISTERED
    FAILED = _c.SIP_REG_STATE_FAILED


class RegEvent(Enum):
    """What a registration tells its handlers (sip_reg_event_t); reg.on() takes the lower-case
    names ("registered")."""
    REGISTERING = _c.SIP_REG_EVENT_REGISTERING
    REGISTERED = _c.SIP_REG_EVENT_REGISTERED
    REFRESHED = _c.SIP_REG_EVENT_REFRESHED
    UNREGISTERED = _c.SIP_REG_EVENT_UNREGISTERED
    FAILED = _c.SIP_REG_EVENT_FAILED
    FLOW_LOST = _c.SIP_REG_EVENT_FLOW_LOST


# What next_event() and `async for ev, status, rsp in reg` give.
EventItem = Tuple[RegEvent, int, Optional[Message]]


class RegistrationFailed(Error):
    """A REGISTER failed: status (408 for no answer, 503 for a transport error), the reason
    phrase and the response (None without one)."""

    def __init__(self, status: int, reason: str = "", response: Optional[Message] = None
                 ) -> None:
        super().__init__(_c.SIP_EINVAL, f"registration failed: {status} {reason}".strip())
        self.status = status
        self.reason = reason
        self.response = response


def _on_reg_event(wreg: "weakref.ref[Registration]", _h: Any, event: int, status: int,
                  msg: Any) -> None:
    reg = wreg()
    if reg is None or reg._h is None:
        return
    reg._event(event, status, msg)


def _split(text: Any) -> List[str]:
    s = text.decode("utf-8", "replace") if isinstance(text, bytes) else (text or "")
    out, depth, cur, quoted = [], 0, "", False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


_EVENT_NAMES = {e.name.lower(): e for e in RegEvent}


def _regs_of(ua: UA) -> "set[Registration]":
    """The live registrations of a UA, which it keeps alive (made at the first one)."""
    regs = ua.__dict__.get("_regs")
    if regs is None:
        regs = ua.__dict__["_regs"] = set()
    return regs  # type: ignore[no-any-return]


_ua_close = UA.close


def _close_with_regs(self: UA) -> None:
    regs = list(self.__dict__.pop("_regs", ()))
    _ua_close(self)
    # Closing the UA closed its registrations in the core (no event): so do their waiters.
    for r in regs:
        r._ua_closed()


_close_with_regs.__doc__ = _ua_close.__doc__


class Registration:
    """A registration (sip_reg_t), made by ua.register(). ``await reg`` waits until the
    registrar accepted it (raises RegistrationFailed when it refused). The core keeps it fresh
    until reg.unregister() or reg.close() (or the UA closes); a live registration is kept by its
    UA, so dropping every reference does not stop it."""

    __slots__ = ("_h", "_ua", "_loop", "_fns", "_registered", "_unregistered", "_failed",
                 "_last", "_events", "_ev_getters", "_over", "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("registrations come from ua.register()")

    @classmethod
    def _new(cls, ua: UA) -> "Registration":
        r = object.__new__(cls)
        r._h = None
        r._ua = ua
        r._loop = ua._stack.loop
        r._fns: Dict[Optional[RegEvent], List[Callable[..., Any]]] = {}
        r._registered: List[Any] = []
        r._unregistered: List[Any] = []
        r._failed: Optional[RegistrationFailed] = None
        r._last: Optional[Message] = None
        r._events: List[EventItem] = []
        r._ev_getters: List[Any] = []
        r._over = False
        return r

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="the registration is closed")
        return h

    def __del__(self, _unref: Any = _c.sip_reg_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    # -- events -----------------------------------------------------------------------------

    def _event(self, event: int, status: int, msg: Any) -> None:
        m = Message._adopt(_c.sip_msg_ref(msg)) if msg is not None else None
        ev = RegEvent(event)
        if m is not None:
            self._last = m
        if ev in (RegEvent.REGISTERED, RegEvent.REFRESHED):
            self._failed = None
            _settle(self._registered, self, None)
        elif ev is RegEvent.UNREGISTERED:
            _settle(self._unregistered, self, None)
        elif ev is RegEvent.FAILED:
            exc = RegistrationFailed(status, m.reason if m is not None else "", m)
            if self.state is RegState.FAILED:
                self._failed = exc
                _regs_of(self._ua).discard(self)
            _settle(self._registered, None, exc)
            _settle(self._unregistered, None, exc)
        item = (ev, status, m)
        if self._ev_getters:
            _settle(self._ev_getters, item, None)
        else:
            # Kept for `async for`, the oldest dropped past EVENTS_KEPT: a registration nobody
            # iterates lives for days of refreshes.
            self._events.append(item)
            del self._events[:-EVENTS_KEPT]
        for fn in list(self._fns.get(ev, ())):
            _run_handler(self._ua, fn, (status, m), _noop)
        for fn in list(self._fns.get(None, ())):
            _run_handler(self._ua, fn, (ev, status, m), _noop)

    def _ua_closed(self) -> None:
        exc = ClosedError(message="the registration's UA was closed")
        self._over = True
        _settle(self._registered, None, exc)
        _settle(self._unregistered, None, exc)
        _settle(self._ev_getters, None, None)

    # -- waiting and acting ----------------------------------------------------------------

    async def registered(self, timeout: Optional[float] = None) -> "Registration":
        """Waits until the registrar accepted the binding (at once when it is registered) and
        returns the registration. Raises RegistrationFailed when a REGISTER fails first,
        ClosedError when it is closed, asyncio.TimeoutError after timeout seconds."""
        if self._h is None:
            raise ClosedError(message="the registration is closed")
        if self.state is RegState.REGISTERED:
            return self
        if self._failed is not None:
            raise self._failed
        return await _wait(self._registered, timeout)  # type: ignore[no-any-return]

    def __await__(self) -> Generator[Any, None, "Registration"]:
        return self.registered().__await__()

    async def next_event(self, timeout: Optional[float] = None) -> Optional[EventItem]:
        """The next event as ``(event, status, rsp)`` (a RegEvent, the status, the response or
        None), one that came earlier at once (the last EVENTS_KEPT are kept), or None once
        the registration is closed (reg.close(), or its UA closed). Raises
        asyncio.TimeoutError after timeout seconds."""
        if self._events:
            return self._events.pop(0)
        if self._over or self._h is None:
            return None
        return await _wait(self._ev_getters, timeout)  # type: ignore[no-any-return]

    def __aiter__(self) -> "Registration":
        return self

    async def __anext__(self) -> EventItem:
        item = await self.next_event()
        if item is None:
            raise StopAsyncIteration
        return item

    async def unregister(self, contact: Optional[str] = None,
                         timeout: Optional[float] = None) -> "Registration":
        """Removes bindings (RFC 3261 §10.2.2) and waits for the registrar's 2xx: contact None
        removes this registration's contacts (refreshes stop), "*" every binding of the AOR,
        any other value that one contact. Raises RegistrationFailed when the registrar
        refuses, ClosedError, asyncio.TimeoutError after timeout seconds."""
        if contact is not None and not isinstance(contact, str):
            raise TypeError(f"contact must be a str, not {type(contact).__name__}")
        rc = _c.sip_reg_unregister(self._handle(), contact)
        if rc < 0:
            if rc == _c.SIP_EPARSE:
                raise InvalidError(rc, f"bad contact {contact!r}")
            raise error(rc, f"cannot unregister: {_c.sip_strerror(rc)}")
        self._loop._kick()
        return await _wait(self._unregistered, timeout)  # type: ignore[no-any-return]

    def refresh(self) -> None:
        """Sends a REGISTER now (a refresh; after an unregistration or a failure, a
        registration again); ``await reg`` then waits for its answer."""
        self._failed = None
        rc = _c.sip_reg_refresh(self._handle())
        if rc < 0:
            raise error(rc, f"cannot register: {_c.sip_strerror(rc)}")
        _regs_of(self._ua).add(self)
        self._loop._kick()

    def close(self) -> None:
        """Stops the registration without unregistering (the binding expires at the
        registrar): no more refreshes or events. Idempotent."""
        h = self._h
        if h is None:
            return
        _regs_of(self._ua).discard(self)
        _c.sip_reg_close(h)
        self._ua_closed()

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def on(self, event: str, fn: Optional[F] = None) -> Any:
        """Registers fn for an event, as a decorator (``@reg.on("refreshed")``) or a call:
        "registering" (a REGISTER went out after a failure or a lost flow), "registered",
        "refreshed", "unregistered", "failed", "flow_lost" each call fn(status, rsp) (rsp: the
        response, or None); "*" calls fn(event, status, rsp) for every event. fn may be
        ``async def``."""
        if not isinstance(event, str):
            raise TypeError(f"event must be a str, not {type(event).__name__}")
        key = event.lower()
        if key != "*" and key not in _EVENT_NAMES:
            raise InvalidError(_c.SIP_EINVAL, f"no registration event {event!r} ("
                               + ", ".join(_EVENT_NAMES) + ", or *)")

        def deco(f: F) -> F:
            if not callable(f):
                raise TypeError(f"the handler must be callable, not {type(f).__name__}")
            self._fns.setdefault(_EVENT_NAMES.get(key), []).append(f)
            return f
        return deco(fn) if fn is not None else deco

    # -- reading ----------------------------------------------------------------------------

    @property
    def state(self) -> RegState:
        """The state (RegState)."""
        h = self._h
        return RegState.FAILED if h is None else RegState(_c.sip_reg_get_state(h))

    @property
    def expires(self) -> int:
        """The expiry the registrar granted in its last 2xx, in seconds (0 before any)."""
        h = self._h
        return 0 if h is None else _c.sip_reg_get_expires(h)

    @property
    def next_refresh(self) -> Optional[float]:
        """Seconds until the next REGISTER (a refresh or retry), or None when none is due."""
        h = self._h
        ms = -1 if h is None else _c.sip_reg_next_ms(h)
        return None if ms < 0 else ms / 1000.0

    @property
    def aor(self) -> str:
        """The address of record."""
        return _c.sip_reg_get_aor(self._handle())

    @property
    def service_route(self) -> List[str]:
        """The Service-Route of the last 2xx (RFC 3608), which the UA now preloads as the Route
        of its out-of-dialog requests."""
        h = self._h
        return [] if h is None else _split(_c.sip_reg_get_service_route(h))

    @property
    def path(self) -> List[str]:
        """The Path of the last 2xx (RFC 3327)."""
        h = self._h
        return [] if h is None else _split(_c.sip_reg_get_path(h))

    @property
    def bindings(self) -> List[str]:
        """Every Contact the last 2xx listed for the AOR (ours and others')."""
        h = self._h
        return [] if h is None else _split(_c.sip_reg_get_bindings(h))

    @property
    def response(self) -> Optional[Message]:
        """The last response an event carried, or None."""
        return self._last

    @property
    def ua(self) -> UA:
        """The UA that registers."""
        return self._ua

    @property
    def closed(self) -> bool:
        """True once closed (or its UA closed)."""
        return self._h is None or _c.sip_reg_get_ua(self._h) is None

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<Registration closed>"
        return f"<Registration {self.aor} {self.state.name.lower()} expires={self.expires}>"


def _register(self: UA, aor: str, *, user: Optional[str] = None,
              password: Optional[str] = None, realm: Optional[str] = None,
              expires: Optional[int] = None, registrar: Optional[str] = None,
              contacts: Union[str, List[str], None] = None,
              contact_params: Optional[str] = None, from_: Optional[str] = None,
              instance_id: Optional[str] = None, reg_id: Optional[int] = None,
              keepalive: Optional[int] = None, retry: Optional[int] = None,
              max_retry: Optional[int] = None, retry_initial: bool = True,
              dst: Any = None) -> Registration:
    """Registers contacts for the address of record aor ("sip:alice@example.com") and returns
    the Registration at once; ``await ua.register(...)`` waits until the registrar accepted
    it and raises RegistrationFailed when it refused (403, 404, no answer). password (with
    user, default the AOR's user part, and realm, default any) is added to the UA's
    credentials, which answer every challenge. expires is the expiry asked (default 3600);
    registrar the Request-URI (default the AOR's domain); contacts the Contact values to bind
    (a list, or one header value with commas; default the UA's Contact), contact_params
    params added to each; from_ a From other than the AOR (third-party registration);
    instance_id ("<urn:uuid:...>") and reg_id turn on SIP Outbound (RFC 5626: a CRLF
    keep-alive every keepalive seconds on a TCP/TLS flow, and a new REGISTER when the flow
    fails); retry and max_retry the back-off after failures (seconds); retry_initial False
    ends the registration on any failure of its first REGISTER; dst where to send
    ("udp:host:port", a NetInfo) instead of the registrar's RFC 3263 targets."""
    if not isinstance(aor, str):
        raise TypeError(f"aor must be a str, not {type(aor).__name__}")
    o = _c.sip_reg_opts_t()
    _c.sip_reg_opts_init(o)
    for name, value in (("registrar", registrar), ("contact_params", contact_params),
                        ("instance_id", instance_id), ("from_", from_)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if registrar is not None:
        o.registrar = registrar
    if contacts is not None:
        if isinstance(contacts, str):
            o.contacts = contacts
        elif isinstance(contacts, (list, tuple)) and contacts and all(
                isinstance(c, str) for c in contacts):
            o.contacts = ", ".join(contacts)
        else:
            raise TypeError("contacts must be a str or a non-empty list of str")
    if contact_params is not None:
        o.contact_params = contact_params
    if from_ is not None:
        o._from = from_  # SWIG names the field `from` _from (a Python keyword)
    if instance_id is not None:
        o.instance_id = instance_id
    for name, value, field in (("expires", expires, "expires"), ("reg_id", reg_id, "reg_id"),
                               ("keepalive", keepalive, "keepalive_s"),
                               ("retry", retry, "retry_s"),
                               ("max_retry", max_retry, "max_retry_s")):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
            raise InvalidError(_c.SIP_EINVAL, f"{name} must be an int of 0 to 2**32-1 seconds")
        setattr(o, field, value)
    if not isinstance(retry_initial, bool):
        raise TypeError(f"retry_initial must be a bool, not {type(retry_initial).__name__}")
    o.retry_initial = int(retry_initial)
    ni = NetInfo.parse(dst)._to_c() if dst is not None else None
    if ni is not None:
        o.dst = ni
    h = self._handle()
    if password is not None:
        if not isinstance(password, str):
            raise TypeError(f"password must be a str, not {type(password).__name__}")
        u = user
        if u is None:
            rest = aor.split(":", 1)[-1]
            u = rest.split("@", 1)[0] if "@" in rest else ""
        if not u:
            raise InvalidError(_c.SIP_EINVAL, "a password needs a user (the AOR has none)")
        self.add_credential(u, password, realm=realm)  # type: ignore[attr-defined]
    reg = Registration._new(self)
    rc, rh = _c.sip_reg_create(h, aor, o, functools.partial(_on_reg_event, weakref.ref(reg)))
    if rc < 0:
        if rc == _c.SIP_EURI:
            raise error(rc, f"bad AOR or registrar URI {aor!r}")
        if rc == _c.SIP_EPARSE:
            raise InvalidError(rc, "bad contacts or from_")
        raise error(rc, f"cannot register {aor}: {_c.sip_strerror(rc)}")
    reg._h = rh
    _regs_of(self).add(reg)
    self._stack.loop._kick()
    return reg


_register.OPTIONS = ("registrar", "contacts", "contact_params", "from", "expires",  # type: ignore
                     "instance_id", "reg_id", "keepalive_s", "retry_s", "max_retry_s",
                     "retry_initial", "dst")

UA.register = _register  # type: ignore[attr-defined]
UA.close = _close_with_regs  # type: ignore[method-assign]

__all__ = ["RegEvent", "RegState", "Registration", "RegistrationFailed"]
