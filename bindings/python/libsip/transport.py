# SPDX-License-Identifier: MIT
"""Transports (UDP, TCP, TLS, WS, WSS listening points and connections), sends, DNS location."""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any, Callable, Dict, Generator, Iterable, List, Mapping, Optional, Union

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, check, error
from .loop import Loop, release
from .message import Message, NetInfo, Uri

Dest = Union[str, NetInfo, tuple]


class SendOp:
    """The outcome of an asynchronous send: ``status`` is None until done, then 0 or the
    negative libsip error. ``await op`` gives the status (inside asyncio)."""

    __slots__ = ("status", "_fut", "_callbacks", "__weakref__")

    def __init__(self) -> None:
        self.status: Optional[int] = None
        self._fut: Any = None
        self._callbacks: List[Callable[[int], Any]] = []

    @property
    def done(self) -> bool:
        """True once the send (or lookup) has finished; ``status`` then holds the outcome."""
        return self.status is not None

    def add_done_callback(self, fn: Callable[[int], Any]) -> None:
        """fn(status) once done (at once when already done)."""
        if self.status is not None:
            fn(self.status)
        else:
            self._callbacks.append(fn)

    def _complete(self, status: int) -> None:
        self.status = status
        fut, self._fut = self._fut, None
        if fut is not None and not fut.done():
            fut.set_result(status)
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(status)

    def __await__(self) -> Generator[Any, None, int]:
        if self.status is None:
            if self._fut is None:
                self._fut = asyncio.get_running_loop().create_future()
            return (yield from self._fut.__await__())
        return self.status

    @safe_repr
    def __repr__(self) -> str:
        return f"<SendOp {'pending' if self.status is None else self.status}>"


def _sent(op: SendOp, _tp: Any, status: int) -> None:
    op._complete(status)


def _on_message(wtp: "weakref.ref[Transport]", _tp: Any, msg: Any) -> None:
    tp = wtp()
    if tp is None or tp._handler is None:
        return
    # The message is Borrowed for the call: take a reference the Message object owns.
    cls = tp._request_class if _c.sip_msg_is_request(msg) else Message
    tp._handler(cls._adopt(_c.sip_msg_ref(msg)))


class HandlerPriority(Enum):
    """Where a handler added with Transport.add_handler() runs in the chain of received
    messages, lower first (sip_handler_prio_t; any int may be used)."""
    FIRST = _c.SIP_HANDLER_PRIO_FIRST  # taps that see every message before any layer
    TXN = _c.SIP_HANDLER_PRIO_TXN      # the transaction layer: retransmissions, responses
    UA = _c.SIP_HANDLER_PRIO_UA        # a user agent core, registrar or proxy: new requests
    APP = _c.SIP_HANDLER_PRIO_APP      # the application (and on_message's slot)


def _on_handler(wtp: "weakref.ref[Transport]", fn: Callable[[Message], Any], _tp: Any,
                msg: Any) -> bool:
    if wtp() is None:
        return False
    # The message is Borrowed for the call: take a reference the Message object owns.
    return bool(fn(Message._adopt(_c.sip_msg_ref(msg))))


_OPTS = ("udp_buffer", "mtu", "max_connections", "max_conn_buffer", "idle_timeout_ms",
         "handshake_timeout_ms", "parse", "tls_ca_file", "tls_cert_file", "tls_key_file",
         "tls_verify", "tls_verify_client", "ws_path", "via_host", "reuseport")
_TEXT_OPTS = ("tls_ca_file", "tls_cert_file", "tls_key_file", "ws_path", "via_host")
_PARSE_OPTS = ("max_size", "max_headers", "max_line", "stream")


def _set_opt(o: Any, what: str, k: str, v: Any) -> None:
    """One field of an options struct, with an error that names it (not SWIG's)."""
    if isinstance(v, bool):
        v = int(v)
    elif k in _TEXT_OPTS:
        if v is not None and not isinstance(v, str):
            raise TypeError(f"{what} option {k} must be a str, not {type(v).__name__}")
    elif not isinstance(v, int):
        raise TypeError(f"{what} option {k} must be an int, not {type(v).__name__}")
    try:
        setattr(o, k, v)
    except (TypeError, OverflowError, ValueError):
        raise error(_c.SIP_EINVAL, f"{what} option {k}={v!r} is out of range") from None


def _transport_opts(opts: Dict[str, Any]) -> Any:
    o = _c.sip_transport_opts_t()
    _c.sip_transport_opts_init(o)
    for k, v in opts.items():
        if k not in _OPTS:
            raise TypeError(f"unknown transport option {k!r} (known: {', '.join(_OPTS)})")
        if k == "parse":
            # sip_parse_opts_t for received messages: a dict of its fields.
            if not isinstance(v, Mapping):
                raise TypeError("transport option parse must be a dict of "
                                f"{', '.join(_PARSE_OPTS)}, not {type(v).__name__}")
            p = o.parse
            for pk, pv in v.items():
                if pk not in _PARSE_OPTS:
                    raise TypeError(f"unknown parse option {pk!r} (known: "
                                    f"{', '.join(_PARSE_OPTS)})")
                _set_opt(p, "parse", pk, pv)
            o.parse = p
        else:
            _set_opt(o, "transport", k, v)
    return o


class Transport:
    """The listening points and connections of one endpoint (sip_transport_t).

    Options are the fields of sip_transport_opts_t: udp_buffer, mtu, max_connections,
    max_conn_buffer, idle_timeout_ms, handshake_timeout_ms, tls_ca_file, tls_cert_file,
    tls_key_file, tls_verify, tls_verify_client, ws_path, via_host, reuseport (listening points
    shared with the other worker processes of one server, SO_REUSEPORT), and parse (a dict of
    sip_parse_opts_t fields for received messages: max_size, max_headers, max_line, stream).
    An unknown option raises TypeError."""

    #: The option names Transport(**options) and Stack(**options) take.
    OPTIONS = _OPTS

    def __init__(self, loop: Loop, listen: Iterable[str] = (),
                 on_message: Optional[Callable[[Message], Any]] = None, **opts: Any) -> None:
        if not isinstance(loop, Loop):
            raise TypeError(f"loop must be a libsip.Loop, not {type(loop).__name__}")
        if isinstance(listen, str):
            listen = [listen]
        o = _transport_opts(opts)
        rc, h = _c.sip_transport_create(loop._handle(), o)
        check(rc)
        self._h: Any = h
        self._loop = loop
        self._handler: Optional[Callable[[Message], Any]] = None
        self._request_class: Any = Message
        self._resolver: Optional[Resolver] = None
        self._guard: Any = None
        # A Stack's own transport: its messages go to the stack's handlers.
        self._stack_owned = False
        check(_c.sip_transport_set_handler(h, functools.partial(_on_message, weakref.ref(self))))
        if on_message is not None:
            self.on_message = on_message
        for spec in listen:
            self.listen(spec)

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="transport is closed")
        return h

    @property
    def loop(self) -> Loop:
        """The Loop this transport runs on."""
        return self._loop

    @property
    def on_message(self) -> Optional[Callable[[Message], Any]]:
        """Called with every Message received (requests and responses)."""
        return self._handler

    @on_message.setter
    def on_message(self, fn: Optional[Callable[[Message], Any]]) -> None:
        if self._stack_owned:
            raise error(_c.SIP_EINVAL, "a stack's transport hands its messages to the stack: "
                                       "use @stack.on_request and @stack.on_response")
        if fn is not None and not callable(fn):
            raise TypeError(f"on_message must be callable, not {type(fn).__name__}")
        self._handler = fn

    def listen(self, spec: str) -> NetInfo:
        """Opens a listening point ("udp:127.0.0.1:0"; port 0 picks one) and describes it."""
        if not isinstance(spec, str):
            raise TypeError(f"a listening point is a str such as \"udp:127.0.0.1:5060\", not "
                            f"{type(spec).__name__}")
        rc = _c.sip_transport_listen(self._handle(), spec)
        if rc < 0:
            raise error(rc, f"cannot listen on {spec!r}: {_c.sip_strerror(rc)}")
        self._loop._kick()
        return self.listeners[rc]

    @property
    def listeners(self) -> List[NetInfo]:
        """The listening points (their local side is set)."""
        h = self._handle()
        out = []
        for i in range(_c.sip_transport_listener_count(h)):
            rc, info = _c.sip_transport_listener_info(h, i)
            check(rc)
            out.append(NetInfo._from(info))
        return out

    @property
    def connection_count(self) -> int:
        """Open stream connections (TCP, TLS, WS, WSS), accepted and made."""
        return _c.sip_transport_connection_count(self._handle())

    def send(self, msg: Message, dst: Dest) -> SendOp:
        """Sends a request (or any message) to an explicit address; the top Via is filled in.
        Returns a SendOp (await it inside asyncio); raises at once when the send cannot
        start."""
        if not isinstance(msg, Message):
            raise TypeError(f"msg must be a libsip.Message, not {type(msg).__name__}")
        op = SendOp()
        h = msg._handle()
        rc = _c.sip_transport_send(self._handle(), h, NetInfo.parse(dst)._to_c(),
                                   functools.partial(_sent, op))
        if rc == _c.SIP_ENOENT and _c.sip_msg_get_via(h) is None:
            what = f"the {msg.method} request" if msg.is_request else "the response"
            raise error(rc, f"cannot send to {dst!r}: {what} has no Via (a request needs "
                            "one with a branch, RFC 3261 §8.1.1.7: libsip.branch())")
        if rc < 0:
            raise error(rc, f"cannot send to {dst!r}: {_c.sip_strerror(rc)}")
        self._loop._kick()
        return op

    def send_request(self, msg: Message) -> SendOp:
        """Sends a request where its routing says (Route, else Request-URI, located by RFC 3263
        through the resolver set with set_resolver())."""
        op = SendOp()
        rc = _c.sip_transport_send_request(self._handle(), msg._handle(),
                                           functools.partial(_sent, op))
        check(rc)
        self._loop._kick()
        return op

    def send_response(self, rsp: Message) -> None:
        """Sends a response back the way its request came (RFC 3261 §18.2.2)."""
        check(_c.sip_transport_send_response(self._handle(), rsp._handle()))
        self._loop._kick()

    def set_resolver(self, resolver: Optional["Resolver"]) -> None:
        """Sets the RFC 3263 resolver that send_request() locates requests with (None removes it); a
        Stack sets its own."""
        check(_c.sip_transport_set_resolver(self._handle(),
                                            resolver._handle() if resolver else None))
        self._resolver = resolver

    @property
    def guard(self) -> Any:
        """The Guard in front of everything received (None: none). Setting it (or
        set_guard()) makes the transport drop what blocked sources send before parsing it,
        count each request against the guard's rate limit and close new connections from
        blocked sources at once; None removes it. A guard set elsewhere (a Server's) is
        returned as a Guard too."""
        h = self._h
        gh = _c.sip_transport_get_guard(h) if h is not None else None
        if gh is None:
            return None
        g = getattr(self, "_guard", None)
        if g is not None and g._h is not None:
            return g
        from .guard import Guard
        g = Guard._adopt(_c.sip_guard_ref(gh), getattr(self, "_loop", None))
        self._guard = g
        return g

    @guard.setter
    def guard(self, guard: Any) -> None:
        self.set_guard(guard)

    def set_guard(self, guard: Any) -> None:
        """Puts a Guard in front of everything received (None removes it); see ``guard``."""
        from .guard import Guard
        if guard is not None and not isinstance(guard, Guard):
            raise TypeError(f"guard must be a libsip.Guard or None, not {type(guard).__name__}")
        rc = _c.sip_transport_set_guard(self._handle(),
                                        guard._handle() if guard is not None else None)
        if rc == _c.SIP_EINVAL:
            raise error(rc, "set_guard: the guard was made on another loop than the "
                            "transport's")
        check(rc)
        self._guard = guard

    def add_handler(self, fn: Callable[[Message], Any],
                    priority: int = HandlerPriority.APP) -> int:
        """Adds fn(msg) to the chain every received Message goes through, by priority (lower
        first; equal priorities in the order added): HandlerPriority.TXN is the transaction
        layer, UA a user agent core, APP the application (on_message, or a Stack's handlers).
        fn runs inside the dispatch and returns True to take the message (the chain stops
        there) or a false value to pass it on; an exception passes it on and is logged. A
        message nobody takes is dropped. Returns the handler's id for remove_handler(); the
        transport keeps fn until then or close()."""
        if not callable(fn):
            raise TypeError(f"a handler must be callable, not {type(fn).__name__}")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise TypeError(f"priority must be an int, not {type(priority).__name__}")
        try:
            rc = _c.sip_transport_add_handler(self._handle(), int(priority),
                                              functools.partial(_on_handler, weakref.ref(self),
                                                                fn))
        except OverflowError:
            raise error(_c.SIP_EINVAL, f"priority {priority} is out of range") from None
        if rc < 0:
            raise error(rc, f"cannot add the handler: {_c.sip_strerror(rc)}")
        return rc

    def remove_handler(self, handler_id: int) -> None:
        """Removes a handler add_handler() returned the id of; it is not called again (also
        when removed from inside a handler). Raises NotFoundError for an unknown id."""
        if isinstance(handler_id, bool) or not isinstance(handler_id, int):
            raise TypeError(f"a handler id is an int, not {type(handler_id).__name__}")
        if handler_id <= 0:
            raise error(_c.SIP_ENOENT, f"no handler {handler_id}")
        rc = _c.sip_transport_remove_handler(self._handle(), handler_id)
        if rc < 0:
            raise error(rc, f"cannot remove handler {handler_id}: {_c.sip_strerror(rc)}")

    def close(self) -> None:
        """Closes every listening point and connection. Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            self._handler = None
            self._guard = None
            _c.sip_transport_close(h)
            _c.sip_transport_unref(h)

    def __del__(self, _unref: Any = _c.sip_transport_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<Transport closed>"
        return f"<Transport {[n.local for n in self.listeners]}>"


class ResolveOp(SendOp):
    """The outcome of Resolver.resolve(): ``status``, then ``targets`` (NetInfo list)."""

    __slots__ = ("targets",)

    def __init__(self) -> None:
        super().__init__()
        self.targets: List[NetInfo] = []


def _resolved(op: ResolveOp, _r: Any, status: int, targets: List[Any]) -> None:
    op.targets = [NetInfo._from(t) for t in targets]
    op._complete(status)


def _transport_bits(transports: Iterable[Union[str, int]]) -> int:
    """sip_resolver_opts_t.transports: one bit (1 << sip_transport_type_t) per transport."""
    if isinstance(transports, (str, bytes)):
        transports = [transports]  # type: ignore[list-item]
    bits = 0
    for t in transports:
        if isinstance(t, str):
            n = _c.sip_transport_from_name(t)
            if n == _c.SIP_TRANSPORT_NONE:
                raise error(_c.SIP_EINVAL, f"unknown transport {t!r} in transports "
                                           "(udp, tcp, tls, ws, wss)")
        elif isinstance(t, int) and not isinstance(t, bool):
            n = int(t)
            if not _c.SIP_TRANSPORT_UDP <= n <= _c.SIP_TRANSPORT_WSS:
                raise error(_c.SIP_EINVAL, f"unknown transport {t!r} in transports")
        else:
            raise TypeError(f"transports takes names or TransportType values, not "
                            f"{type(t).__name__}")
        bits |= 1 << n
    if not bits:
        raise error(_c.SIP_EINVAL, "transports must name at least one transport")
    return bits


class Resolver:
    """RFC 3263 server location (sip_resolver_t): NAPTR, SRV and A/AAAA lookups with a cache.

        Resolver(loop, servers="127.0.0.1:5353")               # on a loop, at once
        Stack(resolver=Resolver(transports=["udp", "tcp"]))    # on the stack's loop

    servers: DNS servers as "host:port" items separated by commas ("127.0.0.1:5353,[::1]:53";
    None: the system's, /etc/resolv.conf). timeout_ms and tries: per DNS try (0: the defaults,
    2000 ms and 2). transports: the transports this endpoint can use, names ("udp", "tcp",
    "tls", "ws", "wss") or TransportType values (None: UDP, TCP and TLS); RFC 3263 only picks
    targets among them. cache_max: cached DNS answers at most (None: 1024; 0 disables the
    cache). Made without a loop, the resolver starts when a Stack (or bind()) gives it one."""

    def __init__(self, loop: Optional[Loop] = None, servers: Optional[str] = None,
                 timeout_ms: int = 0, tries: int = 0, *,
                 transports: Optional[Iterable[Union[str, int]]] = None,
                 cache_max: Optional[int] = None) -> None:
        o = _c.sip_resolver_opts_t()
        _c.sip_resolver_opts_init(o)
        if servers is not None:
            if not isinstance(servers, str):
                raise TypeError(f"servers must be a str such as \"127.0.0.1:5353\", not "
                                f"{type(servers).__name__}")
            o.servers = servers
        for name, value in (("timeout_ms", timeout_ms), ("tries", tries)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < 0:
                raise error(_c.SIP_EINVAL, f"{name} must not be negative (0: the default)")
            if value:
                setattr(o, name, value)
        if transports is not None:
            o.transports = _transport_bits(transports)
        if cache_max is not None:
            if not isinstance(cache_max, int) or cache_max < 0:
                raise error(_c.SIP_EINVAL, f"cache_max must be an int >= 0, not {cache_max!r}")
            o.cache_max = cache_max
        self._opts = o
        self._h: Any = None
        self._loop: Optional[Loop] = None
        self._closed = False
        if loop is not None:
            self.bind(loop)

    def bind(self, loop: Loop) -> "Resolver":
        """Starts the resolver on a loop (Stack(resolver=...) does it). Binding again to the
        same loop does nothing; another loop raises InvalidError."""
        if self._closed:
            raise ClosedError(message="resolver is closed")
        if self._h is not None:
            if self._loop is not loop:
                raise error(_c.SIP_EINVAL, "this Resolver already runs on another loop")
            return self
        rc, h = _c.sip_resolver_create(loop._handle(), self._opts)
        if rc < 0:
            raise error(rc, f"cannot make a resolver (servers {self._opts.servers!r}): "
                            f"{_c.sip_strerror(rc)}")
        self._h = h
        self._loop = loop
        return self

    @property
    def servers(self) -> Optional[str]:
        """The DNS servers given ("127.0.0.1:5353"), or None for the system's."""
        return self._opts.servers

    @property
    def transports(self) -> List[str]:
        """The transports RFC 3263 may pick, by name."""
        bits = self._opts.transports
        return [_c.sip_transport_param(t) for t in range(_c.SIP_TRANSPORT_UDP,
                                                         _c.SIP_TRANSPORT_WSS + 1)
                if bits & (1 << t)]

    def _handle(self) -> Any:
        if self._h is None:
            if self._closed:
                raise ClosedError(message="resolver is closed")
            raise error(_c.SIP_EINVAL, "this Resolver has no loop yet: pass it to "
                                       "Stack(resolver=...) or call bind(loop)")
        return self._h

    def resolve(self, uri: Union[str, Uri]) -> ResolveOp:
        """Looks up where to send a request for uri; await the op (or poll op.done)."""
        u = uri if isinstance(uri, Uri) else Uri(uri)
        op = ResolveOp()
        check(_c.sip_resolve(self._handle(), u._ptr(), functools.partial(_resolved, op)))
        self._loop._kick()
        return op

    def flush(self) -> None:
        """Forgets every cached answer: the next lookups ask the DNS servers again."""
        _c.sip_resolver_flush(self._handle())

    @property
    def closed(self) -> bool:
        """True once close() ran (or the loop closed it)."""
        return self._closed

    def close(self) -> None:
        """Cancels every pending lookup (their ops never complete) and releases the resolver.
        Idempotent."""
        self._closed = True
        h, self._h = self._h, None
        if h is not None:
            _c.sip_resolver_close(h)
            _c.sip_resolver_unref(h)

    def __del__(self, _unref: Any = _c.sip_resolver_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        state = "closed" if self._closed else "not started" if self._h is None else "on a loop"
        servers = self._opts.servers or "system DNS"
        return f"<Resolver {state} {servers} {'/'.join(self.transports)}>"

    def __enter__(self) -> "Resolver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
