# SPDX-License-Identifier: MIT
"""Proxies and routing programs (sip/proxy.h): a proxy on a Stack's transaction layer, and the
per-request API a route function uses, for asyncio scripts.

    proxy = libsip.Proxy(stack, location=loc, registrar=reg, auth=server, users=users)

    @proxy.route
    async def route(req):
        if req.method == "REGISTER":
            if await req.authenticate() is None:
                return req.challenge()
            return await req.save()
        out = await req.proxy(await req.lookup(), timeout=20)
        if out.status in (486, 487, 408):
            out = await req.proxy(["sip:vm@192.0.2.9"])
        # returning without an answer forwards the best response of the last relay

Each request runs the route as an asyncio task (a plain function runs at once): an ``await``
never blocks the loop and keeps the function's locals, so failure routing is plain code. The
core does the protocol (RFC 3261 §16: validation, Via, Max-Forwards, Record-Route, forking,
response aggregation, CANCEL, timer C); this module only turns its callbacks into futures.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import traceback
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Dict, Generator, Iterable, List, Optional,
                    Set, TypeVar, Union)

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, Error, InvalidError, NotFoundError, error
from .auth import AuthServer
from .location import Binding, Location
from .loop import release
from .message import HeaderArg, Message, Uri, _header_items, _short
from .registrar import Registrar, UserDB
from .txn import ServerTransaction

if TYPE_CHECKING:
    from .stack import Stack

logger = logging.getLogger("libsip")

F = TypeVar("F", bound=Callable[..., Any])


# ---- values ---------------------------------------------------------------------------------


class Branch:
    """One branch of a relay: ``index`` (among every branch of the request), ``target`` (its
    Request-URI), ``status`` (its final status; the last provisional's while it has none; 0
    before any) and ``response`` (that response, or None)."""

    __slots__ = ("index", "target", "status", "response")

    def __init__(self, index: int, target: str, status: int, response: Optional[Message]
                 ) -> None:
        self.index, self.target, self.status, self.response = index, target, status, response

    @safe_repr
    def __repr__(self) -> str:
        return f"<Branch {self.index} {self.target} {self.status}>"


class Outcome:
    """What ``await req.proxy(...)`` gives once every branch ended (or one answered 2xx):
    ``status`` (the best final status, RFC 3261 §16.7: 2xx when a branch answered, a 6xx, else
    the lowest class; 408 when no branch answered), ``reason``, ``response`` (the best response,
    None when there is none) and ``branches`` (the Branch of each target of this relay)."""

    __slots__ = ("status", "_response", "_branches", "_src")

    def __init__(self, status: int, response: Optional[Message], branches: List[Branch]
                 ) -> None:
        self.status = status
        self._response = response
        self._branches: Optional[List[Branch]] = branches
        self._src: Any = None

    @classmethod
    def _of_relay(cls, status: int, best: Any, req: "ProxyRequest", first: int
                  ) -> "Outcome":
        """The outcome of a relay, read from the request when asked: a route that does not
        look at it (most) pays for no Message and no Branch. It holds the C request, not the
        ProxyRequest (which holds it as its last outcome)."""
        out = object.__new__(cls)
        out.status = status
        out._response = None
        out._branches = None
        h = req._h
        if h is None:
            out._src = None
            out._response = Message._adopt(_c.sip_msg_ref(best)) if best is not None else None
            out._branches = []
            return out
        out._src = (_c.sip_proxy_req_ref(h), first, _c.sip_proxy_req_branch_count(h),
                    _c.sip_msg_ref(best) if best is not None else None)
        return out

    def _take(self) -> None:
        src, self._src = self._src, None
        if src is None:
            return
        h, first, count, best = src
        if best is not None:
            self._response = Message._adopt(best)
        branches = []
        try:
            for i in range(first, count):
                rsp = _c.sip_proxy_req_branch_response(h, i)
                branches.append(Branch(i, _text(_c.sip_proxy_req_branch_target(h, i)),
                                       _c.sip_proxy_req_branch_status(h, i),
                                       Message._adopt(_c.sip_msg_ref(rsp))
                                       if rsp is not None else None))
        finally:
            _c.sip_proxy_req_unref(h)
        self._branches = branches

    @property
    def response(self) -> Optional[Message]:
        """The best response (made by the proxy for a 408), or None."""
        if self._src is not None:
            self._take()
        return self._response

    @property
    def reason(self) -> str:
        """The best response's reason phrase ("" without one)."""
        r = self.response
        return r.reason if r is not None else ""

    @property
    def branches(self) -> List[Branch]:
        """The Branch of each target of this relay."""
        if self._src is not None:
            self._take()
        return self._branches or []

    @property
    def ok(self) -> bool:
        """True for a 2xx outcome (the 2xx already went upstream)."""
        return 200 <= self.status < 300

    def __del__(self, _unref: Any = _c.sip_msg_unref,
                _unref_req: Any = _c.sip_proxy_req_unref) -> None:
        src = getattr(self, "_src", None)
        if src is not None:
            self._src = None
            _unref_req(src[0])
            if src[3] is not None:
                _unref(src[3])

    @safe_repr
    def __repr__(self) -> str:
        return f"<Outcome {self.status} {self.reason} ({len(self.branches)} branches)>"


# ---- helpers --------------------------------------------------------------------------------


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "")


def _bool(name: str, v: Any) -> int:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be a bool, not {type(v).__name__}")
    return int(v)


def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a str, not {type(v).__name__} ({_short(v)})")
    return v


def _seconds_ms(name: str, v: Any) -> int:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise TypeError(f"{name} must be a number of seconds, not {type(v).__name__}")
    if v < 0 or v * 1000 >= 2 ** 32:
        raise InvalidError(_c.SIP_EINVAL, f"{name} must be 0 to 4294967 seconds, not {v}")
    return int(round(v * 1000))


def _handle_of(name: str, v: Any, cls: type) -> Any:
    """The C handle of a package object given as an option (a Location, Registrar, UserDB,
    AuthServer), checked by its class."""
    if not isinstance(v, cls):
        raise TypeError(f"{name} must be a libsip.{cls.__name__}, not {type(v).__name__}")
    return v._handle()


def _fail(rc: int, what: str) -> Error:
    if rc == _c.SIP_ECLOSED:
        return ClosedError(message=f"{what}: the proxy is closed")
    if rc == _c.SIP_EBUSY:
        return error(rc, f"{what}: the request was answered already, or a relay is in progress")
    if rc == _c.SIP_ENOTSUP:
        return error(rc, f"{what}: not for this request (a stateless proxy relays nothing; "
                         "an ACK or CANCEL is forwarded)")
    if rc == _c.SIP_ENOENT:
        return NotFoundError(rc, what)
    return error(rc, f"{what}: {_c.sip_strerror(rc)}")


# ---- the request ------------------------------------------------------------------------------


class _Relay:
    """A relay in progress: ``await`` it for its Outcome."""

    __slots__ = ("_req", "_first", "_waiters", "outcome", "_on_request", "_on_response")

    def __init__(self, req: "ProxyRequest", on_request: Optional[Callable[..., Any]],
                 on_response: Optional[Callable[..., Any]]) -> None:
        self._req = req
        self._first = _c.sip_proxy_req_branch_count(req._h)
        self._waiters: List[Any] = []
        self.outcome: Optional[Outcome] = None
        self._on_request = on_request
        self._on_response = on_response

    def __call__(self, *args: Any) -> int:
        """The relay's C callback: (req, status, best) for the outcome, (req, event, branch,
        msg) for a branch hook (sip_proxy_relay_opts_t.on_branch gets the relay's user too)."""
        if len(args) == 4:
            return self._hook(args[1], args[2], args[3])
        self._done(args[1], args[2])
        return 0

    def _hook(self, event: int, branch: int, msg: Any) -> int:
        fn = self._on_request if event == _c.SIP_PROXY_BRANCH_REQUEST else self._on_response
        if fn is None:
            return 0
        m = Message._adopt(_c.sip_msg_ref(msg))
        try:
            r = fn(m, branch)
            if asyncio.iscoroutine(r):
                r.close()
                raise TypeError("a branch hook runs inside the relay: it cannot be async")
            return 1 if r is True else 0
        except Exception:
            logger.error("exception in a libsip proxy branch hook\n%s", traceback.format_exc())
            return 0
        finally:
            # The message is the branch's (Borrowed for the call): the script's copy goes.
            m.close()

    def _done(self, status: int, best: Any) -> None:
        req = self._req
        out = Outcome._of_relay(status, best, req, self._first)
        self.outcome = out
        if req._relay is self:
            req._relay = None
        req._last = out
        if self._waiters:
            _wake(self._waiters, out, None)
        if req._route_over:
            req._finish()

    def _closed(self) -> None:
        if self.outcome is None:
            _wake(self._waiters, None, ClosedError(message="the proxy closed before the "
                                                           "relay ended"))

    def cancel(self) -> None:
        """Cancels every pending branch (the outcome follows, 487 or what came first)."""
        h = self._req._h
        if h is not None and self.outcome is None:
            _c.sip_proxy_req_cancel(h)
            self._req._kick()

    def __await__(self) -> Generator[Any, None, Outcome]:
        if self.outcome is None:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            return (yield from fut.__await__())  # type: ignore[no-any-return]
        return self.outcome

    @safe_repr
    def __repr__(self) -> str:
        return f"<relay {'done' if self.outcome else 'pending'}>"


# The references to an object, counted by one rule for _detach() and _REFS_1.
_refs = sys.getrefcount


def _refs_of_one() -> int:
    probe = object()  # one reference: this local
    return _refs(probe)


# What _refs() gives for an object with one reference (the interpreter's counting rule).
_REFS_1 = _refs_of_one()


def _wake(futs: List[Any], result: Any, exc: Optional[BaseException]) -> None:
    for f in futs:
        if not f.done():
            if exc is not None:
                f.set_exception(exc)
            else:
                f.set_result(result)
    futs.clear()


_new_object = object.__new__


class _Lookup:
    """What req.lookup() returns: ``await`` it for the bindings. A store that answered inside
    the lookup (memory, SQLite) gives them at once, without a future."""

    __slots__ = ("_status", "_found", "_fut")

    def __init__(self) -> None:
        self._status: Optional[int] = None
        self._found: List[Binding] = []
        self._fut: Any = None

    def __call__(self, status: int, found: List[Binding]) -> None:
        # The answer of a store that answers after the lookup returned.
        if self._status is not None:
            return
        self._status, self._found = status, found
        f = self._fut
        if f is not None and not f.done():
            f.set_result(None)

    def __await__(self) -> Generator[Any, None, List[Binding]]:
        if self._status is None:
            f = self._fut
            if f is None:
                f = self._fut = asyncio.get_running_loop().create_future()
            yield from f.__await__()
        status = self._status
        if status is not None and status < 0 and status != _c.SIP_ENOENT:
            raise _fail(status, "lookup")
        return self._found

    def __repr__(self) -> str:
        return "<lookup pending>" if self._status is None else f"<lookup {len(self._found)}>"


class _Now:
    """The awaitable of a call that is over when it returns (default_route())."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        return "<done>"


# The fields of sip_proxy_relay_opts_t proxy() sets (timeout_ms is timeout in seconds,
# on_branch is on_request and on_response, keep_final is always on).
_RELAY_FIELDS = ("record_route", "parallel", "timeout_ms", "follow_redirects", "keep_final",
                 "on_branch")
# The options of relays without a timeout, by (record_route, parallel, follow_redirects, None).
_RELAY_OPTS: Dict[Any, Any] = {}


class ProxyRequest:
    """A request the proxy received, given to the route function (sip_proxy_req_t).

    ``req.msg`` is the request as it will be forwarded: edit its headers and Request-URI (or
    ``req.uri = ...``) before proxy() or forward(); the headers nobody edits go out byte for
    byte. Then decide: proxy() (stateful, awaitable Outcome), forward() (stateless), reply(),
    redirect(), challenge(), save(), drop() or default_route(). A route that returns without
    deciding gets the best response of its last relay forwarded, or 500 when it relayed nothing
    (an ACK is dropped); one that raises gets 500 and its traceback logged."""

    __slots__ = ("_h", "_proxy", "_msg", "_relay", "_last", "_route_over", "_delegated",
                 "_answered", "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("proxy requests come to the route function")

    @classmethod
    def _new(cls, proxy: "Proxy", h: Any) -> "ProxyRequest":
        r = object.__new__(cls)
        r._h = h
        r._proxy = proxy
        r._msg: Optional[Message] = None
        r._relay: Optional[_Relay] = None
        r._last: Optional[Outcome] = None
        r._route_over = False
        r._delegated = False
        r._answered = False
        return r

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="the request is closed (its proxy closed)")
        return h

    def _kick(self) -> None:
        # Loop._kick() inlined: called after each decision, and sipd's loop has no driver.
        d = self._proxy._stack.loop._driver
        if d is not None:
            d.kick()

    def __del__(self, _unref: Any = _c.sip_proxy_req_unref) -> None:
        try:
            h = self._h
        except AttributeError:  # __init__ refused to make it
            return
        if h is not None:
            self._h = None
            # (_h and _proxy are set together.)
            loop = self._proxy._stack.loop
            if loop._depth:
                release(loop, _unref, h)  # maybe on another thread than the loop's
            else:
                _unref(h)

    # -- what the request is ----------------------------------------------------------------

    @property
    def msg(self) -> Message:
        """The request as it will be forwarded (a Message to read and edit: headers, body,
        ``msg.uri``). Edits apply to every branch made after them."""
        m = self._msg
        if m is None:
            m = self._msg = Message._adopt(_c.sip_msg_ref(_c.sip_proxy_req_get_msg(
                self._handle())))
        return m

    @property
    def method(self) -> str:
        """The method ("INVITE")."""
        m = self._msg
        if m is not None:
            return m.method or ""
        # Read from C: a route that only looks at the method makes no Message.
        return _c.sipbind_proxy_req_method(self._h or self._handle())  # type: ignore

    @property
    def uri(self) -> Optional[Uri]:
        """The Request-URI; assigning a URI (str or Uri) rewrites it (``req.msg.uri = ...``)."""
        return self.msg.uri

    @uri.setter
    def uri(self, value: Union[str, Uri]) -> None:
        self.msg.uri = value

    @property
    def transaction(self) -> Optional[ServerTransaction]:
        """The server transaction, or None (a stateless proxy, an ACK or a CANCEL)."""
        t = _c.sip_proxy_req_get_txn(self._handle())
        if t is None:
            return None
        return ServerTransaction._adopt(_c.sip_txn_ref(t), self._proxy._stack.loop)

    @property
    def routed(self) -> bool:
        """True when a Route naming this proxy was removed (RFC 3261 §16.4): a request inside
        a record-routed dialog, or preloaded through this proxy; forward it as it is."""
        return _c.sip_proxy_req_routed(self._h or self._handle()) == 1

    @property
    def done(self) -> bool:
        """True once the request was answered, forwarded, relayed or dropped."""
        h = self._h
        return h is None or _c.sip_proxy_req_is_done(h) == 1

    @property
    def is_local(self) -> bool:
        """True when the Request-URI is for this proxy or one of its domains (the location
        service's; every domain when it lists none)."""
        p = self._proxy._handle()
        u = _c.sip_msg_get_uri(_c.sip_proxy_req_get_msg(self._handle()))
        return u is not None and _c.sip_proxy_is_local(p, u) == 1

    @property
    def auth_user(self) -> Optional[str]:
        """The user the request was authenticated as (authenticate()), or None."""
        u = _c.sip_proxy_req_get_auth_user(self._handle())
        return _text(u) or None

    @property
    def branches(self) -> List[Branch]:
        """Every branch made so far (all relays of the request), with its current status."""
        h = self._handle()
        out = []
        for i in range(_c.sip_proxy_req_branch_count(h)):
            rsp = _c.sip_proxy_req_branch_response(h, i)
            out.append(Branch(i, _text(_c.sip_proxy_req_branch_target(h, i)),
                              _c.sip_proxy_req_branch_status(h, i),
                              Message._adopt(_c.sip_msg_ref(rsp)) if rsp is not None else None))
        return out

    # -- looking up, authenticating, saving ------------------------------------------------

    def lookup(self) -> "_Lookup":
        """Looks the Request-URI up in the proxy's location service; ``await`` it for the
        bindings (a list of Binding, best first; empty when there is none). Raises
        NotFoundError when the proxy has no location service, UriError for a Request-URI
        that is not a SIP URI with a user."""
        h = self._h or self._handle()
        # (Its fields are set once the call returned: found is called later if ever.)
        found = _new_object(_Lookup)
        r = _c.sipbind_proxy_req_lookup(h, found, Binding)
        if type(r) is tuple:
            # The store answered inside the call (memory, SQLite): no future to wait on.
            found._status, found._found = r
            found._fut = None
            return found
        if r is None:
            # A store that answers later: found is called then.
            found._status, found._found, found._fut = None, [], None
            return found
        rc = r
        if rc == _c.SIP_ENOENT:
            raise NotFoundError(rc, "lookup: the proxy has no location service")
        if rc == _c.SIP_EURI:
            raise error(rc, f"lookup: the Request-URI {self.uri} is no AOR")
        raise _fail(rc, "lookup")

    def authenticate(self, lookup: Optional[Callable[[str, str, str], Any]] = None
                     ) -> "asyncio.Future[Optional[str]]":
        """Checks the request's digest credentials with the proxy's auth server (401 realm for
        REGISTER and local requests, 407 for the rest); ``await`` it for the user it was
        authenticated as, or None (then req.challenge() answers with the challenge).
        lookup(user, realm, algorithm) gives the user's password (str), {"ha1": hex} for
        that algorithm, or None for no such user; it may be ``async def``. Without one the
        proxy's users table answers. Raises NotFoundError when the proxy has no auth server,
        InvalidError when neither a lookup nor a users table can answer."""
        h = self._handle()
        proxy = self._proxy
        if lookup is not None and not callable(lookup):
            raise TypeError(f"lookup must be callable, not {type(lookup).__name__}")
        users = proxy._users_h
        if lookup is None and users is None:
            raise InvalidError(_c.SIP_EINVAL, "authenticate: no lookup and the proxy has no "
                                              "users table")
        fut = asyncio.get_running_loop().create_future()
        wself = weakref.ref(self)

        def on_check(q: Any, event: int) -> None:
            if event == _c.SIP_AUTH_EVENT_LOOKUP:
                if lookup is None:
                    _c.sip_userdb_answer(users, q)
                else:
                    _answer_lookup(q, lookup)
                return
            if fut.done():
                return
            me = wself()
            user = None
            if me is not None and me._h is not None and \
                    _c.sip_auth_query_get_verdict(q) == _c.SIP_AUTH_OK:
                user = _text(_c.sip_proxy_req_get_auth_user(me._h)) or None
            fut.set_result(user)

        rc = _c.sip_proxy_req_authenticate(h, on_check)
        if rc < 0:
            if rc == _c.SIP_ENOENT:
                raise NotFoundError(rc, "authenticate: the proxy has no auth server")
            raise _fail(rc, "authenticate")
        return fut

    def challenge(self) -> None:
        """Answers with the challenge of the last authenticate() (401/407; stale=true for a
        stale nonce; 400 for malformed credentials), or a fresh challenge without one."""
        rc = _c.sip_proxy_req_challenge(self._handle())
        if rc < 0:
            if rc == _c.SIP_ENOENT:
                raise NotFoundError(rc, "challenge: the proxy has no auth server")
            raise _fail(rc, "challenge")
        self._answered = True
        self._kick()

    def save(self) -> "asyncio.Future[int]":
        """Saves a REGISTER with the proxy's registrar as the user it was authenticated as
        (RFC 3261 §10.3); ``await`` it for the status answered (200, 403, 423...). Raises
        NotFoundError when the proxy has no registrar."""
        h = self._handle()
        fut = asyncio.get_running_loop().create_future()

        def on_saved(_r: Any, status: int, _rsp: Any, _set: Any) -> None:
            if not fut.done():
                fut.set_result(status)

        rc = _c.sip_proxy_req_save(h, on_saved)
        if rc < 0:
            if rc == _c.SIP_ENOENT:
                raise NotFoundError(rc, "save: the proxy has no registrar")
            raise _fail(rc, "save")
        self._answered = True
        self._kick()
        return fut

    # -- deciding ---------------------------------------------------------------------------

    def proxy(self, targets: Union[None, str, Binding, Iterable[Union[str, Binding]]] = None, *,
              record_route: bool = False, parallel: bool = True,
              timeout: Optional[float] = None, follow_redirects: bool = False,
              on_request: Optional[Callable[[Message, int], Any]] = None,
              on_response: Optional[Callable[[Message, int], Any]] = None) -> _Relay:
        """Relays the request statefully (RFC 3261 §16.6) to targets (URIs, Bindings from
        lookup(), or a mix; None: where the Request-URI or Route set says; an empty list: an
        Outcome 480 at once, nothing relayed) and returns at once; ``await`` it for the
        Outcome. parallel=False forks sequentially by q; timeout
        (seconds) cancels a group of branches without a final response and tries the next;
        follow_redirects turns 3xx Contacts into new targets; record_route adds Record-Route.
        on_request(msg, index) runs as each branch's request goes out (edit it; return True to
        skip that target) and on_response(msg, index) for each response of a branch (edit it;
        return True to drop it); both are plain functions. A 2xx goes upstream at once; a
        non-2xx outcome waits for the route: relay again (failure routing), reply, or return
        to forward it; once the caller cancelled, it relays nothing and gives that outcome
        (487) again. Raises Error (SIP_ENOTSUP) on a stateless proxy or for an ACK or CANCEL,
        Error (SIP_EBUSY) while a relay is in progress or once answered."""
        h = self._h or self._handle()
        key = (record_route, parallel, follow_redirects, timeout)
        # (Only for bools: 1 == True would find the options of True and skip the checks.)
        o = _RELAY_OPTS.get(key) if timeout is None and type(record_route) is bool and \
            type(parallel) is bool and type(follow_redirects) is bool else None
        if o is None:
            o = _c.sip_proxy_relay_opts_t()
            _c.sip_proxy_relay_opts_init(o)
            o.record_route = _bool("record_route", record_route)
            o.parallel = _bool("parallel", parallel)
            o.follow_redirects = _bool("follow_redirects", follow_redirects)
            if timeout is not None:
                o.timeout_ms = max(1, _seconds_ms("timeout", timeout)) if timeout else 0
            # The route decides what a non-2xx outcome becomes (relay again, reply, or
            # forward it when it returns): sip_proxy_req_forward_best() in _finish().
            o.keep_final = 1
            if timeout is None and type(record_route) is bool and type(parallel) is bool \
                    and type(follow_redirects) is bool:
                # The relay copies its options: one object per combination serves every call.
                _RELAY_OPTS[key] = o
        hooked = on_request is not None or on_response is not None
        if hooked:
            for name, fn in (("on_request", on_request), ("on_response", on_response)):
                if fn is not None and not callable(fn):
                    raise TypeError(f"{name} must be callable, not {type(fn).__name__}")
        # A list (a lookup's, most often) is added in one call when it holds only URIs and
        # Bindings; anything else, or a target C refuses, goes the way below, which says why.
        fast = type(targets) is list and targets and self._relay is None
        if fast:
            fast = _c.sipbind_proxy_req_add_targets(h, targets, Binding) == 0
        if not fast:
            items = _targets(targets)
            if self._relay is not None:
                raise error(_c.SIP_EBUSY, "proxy: a relay of this request is in progress")
            if targets is not None and not items:
                # An empty list (a lookup that found nobody) relays nothing: the outcome is
                # 480 (RFC 3261 §21.4.18) at once, for the route to try elsewhere or answer.
                relay = _Relay(self, on_request, on_response)
                relay.outcome = self._last = Outcome(480, None, [])
                return relay
            _c.sip_proxy_req_clear_targets(h)
            for t in items:
                _add_target(h, t)
        relay = _Relay(self, on_request, on_response)
        last, self._last = self._last, None
        # With hooks, the one function gets the branch events too (sip_proxy_branch_cb).
        relay_fn = _c.sipbind_proxy_req_relay_hooked if hooked else _c.sip_proxy_req_relay
        rc = relay_fn(h, o, relay)
        if rc < 0:
            self._last = last
            _c.sip_proxy_req_clear_targets(h)
            if rc == _c.SIP_EBUSY and last is not None and last.status >= 300 and \
                    not self._answered:
                # RFC 3261 §16.10: the caller cancelled (its 487 is the outcome kept): there
                # is nothing left to relay, and failure routing reads that outcome again.
                relay.outcome = last
                return relay
            raise _fail(rc, "proxy")
        if relay.outcome is None:
            self._relay = relay
        d = self._proxy._stack.loop._driver  # _kick() inlined
        if d is not None:
            d.kick()
        return relay

    proxy.OPTIONS = _RELAY_FIELDS  # type: ignore[attr-defined]

    def relay(self, targets: Union[None, str, Binding, Iterable[Union[str, Binding]]] = None,
              *, record_route: bool = False, parallel: bool = True,
              timeout: Optional[float] = None, follow_redirects: bool = False,
              on_request: Optional[Callable[[Message, int], Any]] = None,
              on_response: Optional[Callable[[Message, int], Any]] = None) -> None:
        """proxy() without the outcome (Kamailio's t_relay()): relays to targets with the same
        options and checks, and returns None. A route that returns with the relay in progress
        leaves it to the proxy, which forwards the best response itself (RFC 3261 §16.7) and
        enters no Python for it; a route still running when the outcome comes (it awaited
        something else) has it as after proxy(), forwarded when it returns."""
        self.proxy(targets, record_route=record_route, parallel=parallel, timeout=timeout,
                   follow_redirects=follow_redirects, on_request=on_request,
                   on_response=on_response)

    def forward(self, uri: Optional[Union[str, Uri]] = None, record_route: bool = False
                ) -> None:
        """Forwards the request statelessly (RFC 3261 §16.11): to uri (which becomes the
        Request-URI), or where the Route set or Request-URI says (RFC 3263). ACKs of 2xx and
        CANCELs that match nothing go this way in a stateful proxy too."""
        h = self._h or self._handle()
        if uri is not None and not isinstance(uri, (str, Uri)):
            raise TypeError(f"uri must be a str or Uri, not {type(uri).__name__}")
        rc = _c.sip_proxy_req_forward(h, str(uri) if uri is not None else None,
                                      record_route if type(record_route) is bool
                                      else _bool("record_route", record_route))
        if rc < 0:
            if rc == _c.SIP_EURI:
                raise error(rc, f"forward: bad URI {uri!r}")
            raise _fail(rc, "forward")
        self._answered = True
        d = self._proxy._stack.loop._driver  # _kick() inlined
        if d is not None:
            d.kick()

    def reply(self, status: int, reason: Optional[str] = None, headers: HeaderArg = None
              ) -> None:
        """Answers the request (statefully when it has a server transaction); headers as in
        Message.request(). A provisional status may come before a final one."""
        h = self._handle()
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if not 100 <= status <= 699:
            raise InvalidError(_c.SIP_EINVAL, f"status must be 100-699, not {status}")
        if reason is not None:
            _str("reason", reason)
        items = _header_items(headers)
        if not items:
            rc = _c.sip_proxy_req_reply(h, status, reason)
        else:
            rc, rsp = _c.sip_proxy_req_create_response(h, status, reason)
            if rc < 0:
                raise _fail(rc, f"reply {status}")
            try:
                for name, value in items:
                    hrc = _c.sip_msg_add_header(rsp, name, value)
                    if hrc < 0:
                        raise error(hrc, f"bad {name} header value {value!r}")
                rc = _c.sip_proxy_req_send_response(h, rsp)
            finally:
                _c.sip_msg_unref(rsp)
        if rc < 0:
            raise _fail(rc, f"reply {status}")
        if status >= 200:
            self._answered = True
        self._kick()

    def redirect(self, contacts: Union[None, str, Binding, Iterable[Union[str, Binding]]],
                 status: int = 302) -> None:
        """Answers 3xx (300, 301, 302 or 305) with one Contact per target (a URI, or a Binding
        with its q and expires), or 404 when there is none (480 with status=480)."""
        h = self._handle()
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        items = _targets(contacts)
        if status not in (300, 301, 302, 305, 480) or (status == 480 and items):
            raise InvalidError(_c.SIP_EINVAL, "redirect: status must be 300, 301, 302 or 305 "
                                              f"(480 with no contact), not {status}")
        if not items:
            rc = _c.sip_proxy_req_redirect(h, status, None)
        else:
            rc, rsp = _c.sip_proxy_req_create_response(h, status, None)
            if rc < 0:
                raise _fail(rc, f"redirect {status}")
            try:
                for t in items:
                    hrc = _c.sip_msg_add_header(rsp, "Contact", _contact_value(t))
                    if hrc < 0:
                        raise error(hrc, f"redirect: bad contact {t!r}")
                rc = _c.sip_proxy_req_send_response(h, rsp)
            finally:
                _c.sip_msg_unref(rsp)
        if rc < 0:
            raise _fail(rc, f"redirect {status}")
        self._answered = True
        self._kick()

    def drop(self) -> None:
        """Drops the request without an answer (a stateless proxy's choice for junk)."""
        rc = _c.sip_proxy_req_drop(self._handle())
        if rc < 0:
            raise _fail(rc, "drop")
        self._answered = True

    def cancel(self) -> None:
        """Cancels every pending branch of the relay in progress (its outcome follows)."""
        rc = _c.sip_proxy_req_cancel(self._handle())
        if rc < 0:
            raise NotFoundError(rc, "cancel: no relay in progress")
        self._kick()

    def default_route(self) -> _Now:
        """Routes the request as `sipd` does (sip_proxy_route_default(): REGISTER saved,
        a routed request forwarded, a local AOR relayed to its contacts or 404, another domain
        only for an authenticated local user); awaiting it returns at once."""
        h = self._handle()
        self._delegated = True
        rc = _c.sip_proxy_route_default(h)
        self._kick()
        if rc == _c.SIP_ENOTSUP:
            raise error(rc, "default_route: this library has no default routing (sipd's)")
        if rc < 0:
            raise _fail(rc, "default_route")
        return _Now()

    # -- the end of the route ---------------------------------------------------------------

    def _finish(self) -> None:
        """The route returned (or its task ended): a decision it left to the proxy."""
        self._route_over = True
        h = self._h
        if self._relay is not None:
            return  # the relay's outcome comes back here
        last = self._last
        if h is not None and not self._delegated and not self._answered:
            # (A relay counts as done in C: the script's own answers are what tell here.)
            if last is not None:
                if last.status >= 300:
                    # The route awaited an outcome and let it be: forwarded as §16.7 says (its
                    # status when no relay ran: an empty target list).
                    if _c.sip_proxy_req_forward_best(h) == _c.SIP_ENOENT:
                        _c.sip_proxy_req_reply(h, last.status, None)
                self._kick()
            elif _c.sip_proxy_req_is_done(h):
                pass  # (relayed or forwarded: the decision kicked the loop already)
            else:
                if _c.sip_msg_get_method(_c.sip_proxy_req_get_msg(h)) == _c.SIP_METHOD_ACK:
                    _c.sip_proxy_req_drop(h)
                else:
                    _c.sip_proxy_req_reply(h, 500, None)
                self._kick()
        self._proxy._reqs.discard(self)

    def _detach(self) -> None:
        """The route returned at once, leaving its relay to go on: when nothing can observe
        the relay's outcome any more (no await on it, no branch hook, neither the relay nor
        the request kept by the script), the C proxy forwards the best response itself and
        the outcome enters no Python (sip_proxy_req_relay_detach()). Else the outcome comes
        back to _Relay._done() as before. Called by the caller that holds the request as
        its local `r`, with the request in the proxy's set: the references counted below."""
        relay = self._relay
        if relay is None or relay._waiters or relay._on_request is not None or \
                relay._on_response is not None:
            return
        # relay: req._relay, the C callback (the relay itself), the local above (3);
        # self: the proxy's set, the caller's local, relay._req, this frame's self (4);
        # anything more is the script's, which may still await or read them.
        if _refs(relay) != _REFS_1 + 2 or _refs(self) != _REFS_1 + 3 or \
                weakref.getweakrefcount(self):
            return
        h = self._h
        if h is not None and _c.sip_proxy_req_relay_detach(h) == 0:
            self._relay = None

    def _failed(self) -> None:
        """The route raised: 500 unless it answered already."""
        self._route_over = True
        h = self._h
        if h is not None and not self._delegated:
            relay, self._relay = self._relay, None
            if relay is not None:
                _c.sip_proxy_req_cancel(h)
            if not self._answered and (relay is not None or self._last is not None
                                       or not _c.sip_proxy_req_is_done(h)):
                if _c.sip_msg_get_method(_c.sip_proxy_req_get_msg(h)) == _c.SIP_METHOD_ACK:
                    _c.sip_proxy_req_drop(h)
                else:
                    _c.sip_proxy_req_reply(h, 500, None)
            self._kick()
        self._proxy._reqs.discard(self)

    def _closed(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            relay._closed()
        self.__del__()

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<ProxyRequest closed>"
        return f"<ProxyRequest {self.method} {self.uri}{' done' if self.done else ''}>"


def _targets(targets: Any) -> List[Union[str, Binding]]:
    if targets is None:
        return []
    if isinstance(targets, (str, Uri, Binding)):
        targets = [targets]
    elif not isinstance(targets, Iterable):
        raise TypeError("targets must be a URI, a Binding or a list of them, not "
                        f"{type(targets).__name__}")
    out: List[Union[str, Binding]] = []
    for t in targets:
        if isinstance(t, Uri):
            t = str(t)
        if not isinstance(t, (str, Binding)) and not hasattr(t, "contact"):
            raise TypeError(f"a target must be a URI (str) or a Binding, not "
                            f"{type(t).__name__} ({_short(t)})")
        out.append(t)
    return out


def _add_target(h: Any, t: Any) -> None:
    if isinstance(t, str):
        rc = _c.sipbind_proxy_req_add_target(h, t, -1, None, None, 0)
    else:
        # A binding: its contact, q, Path, flow, and where its REGISTER came from when it is
        # behind a NAT or an RFC 5626 flow (the rule of sip_proxy_req_add_bindings()).
        dst = t.received or None
        if dst and not _c.sip_proxy_binding_uses_received(
                t.contact, getattr(t, "instance", None) or None, getattr(t, "reg_id", 0) or 0):
            dst = None
        rc = _c.sipbind_proxy_req_add_target(h, t.contact, _q_milli(t.q), t.path or None,
                                             dst, t.conn_id or 0)
    if rc < 0:
        what = t if isinstance(t, str) else t.contact
        if rc == _c.SIP_EURI:
            raise error(rc, f"proxy: bad target URI {what!r}")
        if rc == _c.SIP_ERANGE:
            raise InvalidError(rc, "proxy: more targets than the proxy's max_branches")
        raise _fail(rc, f"proxy: target {what!r}")


def _q_milli(q: Any) -> int:
    """A binding's q (0.0-1.0, None for none) in thousandths, -1 for none (sip_proxy_target_t)."""
    if q is None:
        return -1
    if isinstance(q, float):
        return int(round(q * 1000))
    return int(q)


def _contact_value(t: Any) -> str:
    import time
    if isinstance(t, str):
        return t if "<" in t else f"<{t}>"
    v = f"<{t.contact}>"
    q = _q_milli(t.q)
    if q >= 0:
        v += f";q={q / 1000:g}"
    if t.expires:
        v += f";expires={max(0, int(t.expires - time.time()))}"
    return v


def _answer_lookup(q: Any, lookup: Callable[[str, str, str], Any]) -> None:
    """Runs a route's credentials lookup(user, realm, algorithm); a coroutine becomes a task.
    A lookup that raises (or returns what it may not) counts as no such user, logged."""
    _c.sip_auth_query_ref(q)
    user = _text(_c.sip_auth_query_get_user(q))
    realm = _text(_c.sip_auth_query_get_realm(q))
    alg = _c.sip_auth_algorithm_name(_c.sip_auth_query_get_algorithm(q)) or ""

    def answer(r: Any) -> None:
        try:
            if r is None or r is False:
                _c.sip_auth_query_answer_unknown(q)
            elif isinstance(r, str):
                _c.sip_auth_query_answer_password(q, r)
            elif isinstance(r, dict) and len(r) == 1 and set(r) <= {"ha1", "password"}:
                if "ha1" in r:
                    _c.sip_auth_query_answer_ha1(q, _str("ha1", r["ha1"]))
                else:
                    _c.sip_auth_query_answer_password(q, _str("password", r["password"]))
            else:
                raise TypeError("a lookup returns a password (str), {\"ha1\": hex} or None, "
                                f"not {type(r).__name__}")
        except Exception:
            logger.error("bad answer of a libsip proxy credentials lookup\n%s",
                         traceback.format_exc())
            _c.sip_auth_query_answer_unknown(q)
        finally:
            _c.sip_auth_query_unref(q)

    try:
        r = lookup(user, realm, alg)
    except Exception:
        logger.error("exception in a libsip proxy credentials lookup\n%s",
                     traceback.format_exc())
        answer(None)
        return
    if not asyncio.iscoroutine(r):
        answer(r)
        return

    async def later() -> None:
        try:
            v = await r
        except Exception:
            logger.error("exception in a libsip proxy credentials lookup\n%s",
                         traceback.format_exc())
            v = None
        answer(v)

    asyncio.get_running_loop().create_task(later())


# ---- the proxy --------------------------------------------------------------------------------


def _on_route(wproxy: "weakref.ref[Proxy]", _p: Any, req: Any) -> None:
    proxy = wproxy()
    if proxy is None or proxy._h is None:
        return
    proxy._incoming(req)


def _proxies_of(stack: "Stack") -> "Set[Proxy]":
    ps = stack.__dict__.get("_proxies")
    if ps is None:
        ps = stack.__dict__["_proxies"] = set()
    return ps  # type: ignore[no-any-return]


_OPTIONS = ("stateless", "timer_c_ms", "max_branches", "loop_detect", "record_route_host",
            "location", "registrar", "auth", "proxy_auth", "users", "server", "redirect",
            "guard", "secret")


class Proxy:
    """A SIP proxy (sip_proxy_t, RFC 3261 §16) on a Stack's transaction layer (the stack needs
    transactions=True), with a route function that decides about each request:

        proxy = libsip.Proxy(stack, record_route_host="proxy.example.com")

        @proxy.route
        async def route(req):
            out = await req.proxy(["sip:bob@192.0.2.7", "sip:bob@192.0.2.8"])
            if out.status == 486:
                await req.proxy("sip:voicemail@192.0.2.9")

    Without a route function the default routing of `sipd` runs (sip_proxy_route_default()).
    Options are the fields of sip_proxy_opts_t: stateless (no transactions: forward, reply,
    redirect, save), timer_c (seconds, default 180), max_branches, loop_detect,
    record_route_host, location (a Location: lookup() and which domains are local), registrar
    (a Registrar: save()), auth (an AuthServer: challenges for REGISTER and local requests),
    proxy_auth (another one for the rest, 407), users (a UserDB, or a dict of user to
    password for auth's realm, answering authenticate() without a lookup), server (the Server
    header), redirect (the default routing redirects rather than relays), guard (a Guard told
    of every failed authentication with its source; a blocked source's requests are dropped),
    secret (a string keying the branches: proxies sharing it, the workers of one server, take
    each other's stateless responses; default random keys).
    The Stack keeps the proxy until close() (or the stack closes)."""

    OPTIONS = _OPTIONS

    def __init__(self, stack: "Stack", route: Optional[Callable[[ProxyRequest], Any]] = None,
                 *, stateless: bool = False, record_route_host: Optional[str] = None,
                 location: Any = None, registrar: Any = None, auth: Any = None,
                 proxy_auth: Any = None, users: Any = None, timer_c: Optional[float] = None,
                 max_branches: Optional[int] = None, loop_detect: bool = True,
                 server: Optional[str] = None, redirect: bool = False,
                 guard: Any = None, secret: Optional[str] = None) -> None:
        from .stack import Stack
        self._h: Any = None
        if not isinstance(stack, Stack):
            raise TypeError(f"stack must be a libsip.Stack, not {type(stack).__name__}")
        if route is not None and not callable(route):
            raise TypeError(f"route must be callable, not {type(route).__name__}")
        o = _c.sip_proxy_opts_t()
        _c.sip_proxy_opts_init(o)
        o.stateless = _bool("stateless", stateless)
        o.loop_detect = _bool("loop_detect", loop_detect)
        o.redirect = _bool("redirect", redirect)
        if record_route_host is not None:
            o.record_route_host = _str("record_route_host", record_route_host)
        if server is not None:
            o.server = _str("server", server)
        if secret is not None:
            o.secret = _str("secret", secret)
        if timer_c is not None:
            o.timer_c_ms = _seconds_ms("timer_c", timer_c)
        if max_branches is not None:
            if not isinstance(max_branches, int) or isinstance(max_branches, bool):
                raise TypeError(f"max_branches must be an int, not {type(max_branches).__name__}")
            if not 1 <= max_branches < 2 ** 32:
                raise InvalidError(_c.SIP_EINVAL, f"max_branches must be 1 or more, not "
                                                  f"{max_branches}")
            o.max_branches = max_branches
        # The objects the proxy uses: the C side takes its own references; the Python objects
        # are kept too, so that what a script reads from them stays theirs.
        self._keep: List[Any] = []
        if location is not None:
            o.location = _handle_of("location", location, Location)
            self._keep.append(location)
        if registrar is not None:
            o.registrar = _handle_of("registrar", registrar, Registrar)
            self._keep.append(registrar)
        for name, v in (("auth", auth), ("proxy_auth", proxy_auth)):
            if v is not None:
                setattr(o, name, _handle_of(name, v, AuthServer))
                self._keep.append(v)
        if guard is not None:
            from .guard import Guard
            o.guard = _handle_of("guard", guard, Guard)
            self._keep.append(guard)
        self._users_h = None
        if users is not None:
            if isinstance(users, dict):
                users = _users_from_dict(users, [s for s in (auth, proxy_auth)
                                                 if s is not None])
            self._users_h = o.users = _handle_of("users", users, UserDB)
            self._keep.append(users)
        if stack.closed:
            raise ClosedError(message="stack is closed")
        layer = stack.transactions
        if layer is None:
            raise InvalidError(_c.SIP_EINVAL, "a Proxy needs a stack made with "
                                              "Stack(transactions=True): it works on the "
                                              "transaction layer")
        self._stack = stack
        self._route: Optional[Callable[[ProxyRequest], Any]] = route
        self._reqs: Set[ProxyRequest] = set()
        self._tasks: Set[Any] = set()
        rc, h = _c.sip_proxy_create(layer._handle(), o,
                                    functools.partial(_on_route, weakref.ref(self)))
        if rc < 0:
            raise error(rc, f"cannot create the proxy: {_c.sip_strerror(rc)}")
        self._h = h
        # What the proxy was made with, read back from it once: it stays readable after close.
        self._redirect = _c.sip_proxy_get_redirect(h) == 1
        self._stateless = _c.sip_proxy_get_stateless(h) == 1
        self._users: Optional[UserDB] = users if _c.sip_proxy_get_users(h) is not None else None
        _proxies_of(stack).add(self)

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="the proxy is closed")
        return h

    def route(self, fn: F) -> F:
        """Decorator: sets the route function, fn(req) for each request (a ProxyRequest). An
        ``async def`` fn runs as a task of the asyncio loop that serves the stack."""
        if not callable(fn):
            raise TypeError(f"the route must be callable, not {type(fn).__name__}")
        self._route = fn
        return fn

    def _incoming(self, req: Any) -> None:
        r = ProxyRequest._new(self, _c.sip_proxy_req_ref(req))
        fn = self._route
        if fn is None:
            r._delegated = True
            if _c.sip_proxy_route_default(r._h) < 0:
                logger.debug("the default routing answered a request 500")
            r._closed()
            return
        self._reqs.add(r)
        try:
            res = fn(r)
        except Exception:
            logger.error("exception in a libsip route\n%s", traceback.format_exc())
            r._failed()
            return
        if res is None or not asyncio.iscoroutine(res):
            r._finish()
            return

        async def guarded() -> None:
            try:
                await res
            except asyncio.CancelledError:
                r._failed()
                raise
            except Exception:
                # As text: a record holding the traceback would keep the route's frame.
                logger.error("exception in a libsip route\n%s", traceback.format_exc())
                r._failed()
            else:
                r._finish()

        try:
            task = asyncio.get_running_loop().create_task(guarded())
        except RuntimeError:
            res.close()
            r._failed()
            raise RuntimeError("an async route needs the stack served by asyncio "
                               "(await stack.serve())") from None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def is_local(self, uri: Union[str, Uri]) -> bool:
        """True when the URI's host is this proxy (a listening address or the Record-Route
        host) or one of the location service's domains (every domain when it lists none)."""
        u = Uri(uri) if isinstance(uri, str) else uri
        if not isinstance(u, Uri):
            raise TypeError(f"uri must be a str or Uri, not {type(uri).__name__}")
        return _c.sip_proxy_is_local(self._handle(), u._ptr()) == 1

    @property
    def count(self) -> int:
        """The number of requests being routed (made and not freed yet)."""
        h = self._h
        return 0 if h is None else _c.sip_proxy_req_count(h)

    @property
    def redirect(self) -> bool:
        """True when made with redirect=True: the default routing answers a registered AOR
        with a 302 rather than relaying (sip_proxy_get_redirect)."""
        return self._redirect

    @property
    def stateless(self) -> bool:
        """True for a stateless proxy (§16.11): req.proxy() is not available, req.forward() is
        (sip_proxy_get_stateless)."""
        return self._stateless

    @property
    def users(self) -> Optional[UserDB]:
        """The UserDB the proxy authenticates with (the one made from a dict of passwords too),
        or None (sip_proxy_get_users)."""
        return self._users

    @property
    def stack(self) -> "Stack":
        """The Stack whose transaction layer the proxy works on."""
        return self._stack

    @property
    def closed(self) -> bool:
        """True once closed (or its Stack closed)."""
        return self._h is None

    def close(self) -> None:
        """Closes the proxy: it leaves the handler chain; requests in progress are answered
        503 (a relay cancels its branches), awaits on them raise ClosedError and the route
        tasks are cancelled. Idempotent."""
        h, self._h = self._h, None
        if h is None:
            return
        reqs, self._reqs = list(self._reqs), set()
        _c.sip_proxy_close(h)
        for r in reqs:
            r._closed()
        try:
            current = asyncio.current_task()
        except RuntimeError:
            current = None
        for t in list(self._tasks):
            if t is not current:
                t.cancel()
        _c.sip_proxy_unref(h)
        _proxies_of(self._stack).discard(self)
        self._keep = []

    def __enter__(self) -> "Proxy":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self, _unref: Any = _c.sip_proxy_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            st = getattr(self, "_stack", None)
            release(st.loop if st is not None else None, _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<Proxy closed>"
        return f"<Proxy {self.count} requests>"


def _users_from_dict(users: Dict[str, str], servers: List[Any]) -> Any:
    """A UserDB from {user: password}, for the realm of each auth server."""
    if not servers:
        raise InvalidError(_c.SIP_EINVAL, "users as a dict needs auth= (its realm)")
    db = UserDB()
    for user, password in users.items():
        for s in servers:
            db.set_password(_str("user", user), s.realm, _str("password", password))
    return db


def _install() -> None:
    from .stack import Stack
    close = Stack.close

    def close_with_proxies(self: Stack) -> None:
        for p in list(self.__dict__.get("_proxies", ())):
            p.close()
        close(self)

    close_with_proxies.__doc__ = close.__doc__
    Stack.close = close_with_proxies  # type: ignore[method-assign]


_install()

__all__ = ["Branch", "Outcome", "Proxy", "ProxyRequest"]
