# SPDX-License-Identifier: MIT
"""Transports (UDP, TCP, TLS, WS, WSS listening points and connections), sends, DNS location."""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any, Callable, Generator, Iterable, List, Optional, Union

from . import _core as _c
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


_OPTS = ("udp_buffer", "mtu", "max_connections", "max_conn_buffer", "idle_timeout_ms",
         "handshake_timeout_ms", "tls_ca_file", "tls_cert_file", "tls_key_file", "tls_verify",
         "tls_verify_client", "ws_path", "via_host")


class Transport:
    """The listening points and connections of one endpoint (sip_transport_t).

    Options are the fields of sip_transport_opts_t (udp_buffer, mtu, tls_cert_file, ...)."""

    def __init__(self, loop: Loop, listen: Iterable[str] = (),
                 on_message: Optional[Callable[[Message], Any]] = None, **opts: Any) -> None:
        o = _c.sip_transport_opts_t()
        _c.sip_transport_opts_init(o)
        for k, v in opts.items():
            if k not in _OPTS:
                raise TypeError(f"unknown transport option {k!r}")
            setattr(o, k, int(v) if isinstance(v, bool) else v)
        rc, h = _c.sip_transport_create(loop._handle(), o)
        check(rc)
        self._h: Any = h
        self._loop = loop
        self._handler: Optional[Callable[[Message], Any]] = None
        self._request_class: Any = Message
        self._resolver: Optional[Resolver] = None
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
        return self._loop

    @property
    def on_message(self) -> Optional[Callable[[Message], Any]]:
        """Called with every Message received (requests and responses)."""
        return self._handler

    @on_message.setter
    def on_message(self, fn: Optional[Callable[[Message], Any]]) -> None:
        self._handler = fn

    def listen(self, spec: str) -> NetInfo:
        """Opens a listening point ("udp:127.0.0.1:0"; port 0 picks one) and describes it."""
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
        return _c.sip_transport_connection_count(self._handle())

    def send(self, msg: Message, dst: Dest) -> SendOp:
        """Sends a request (or any message) to an explicit address; the top Via is filled in.
        Returns a SendOp (await it inside asyncio); raises at once when the send cannot
        start."""
        op = SendOp()
        rc = _c.sip_transport_send(self._handle(), msg._handle(), NetInfo.parse(dst)._to_c(),
                                   functools.partial(_sent, op))
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
        check(_c.sip_transport_set_resolver(self._handle(),
                                            resolver._handle() if resolver else None))
        self._resolver = resolver

    def close(self) -> None:
        """Closes every listening point and connection. Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            self._handler = None
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


class Resolver:
    """RFC 3263 server location (sip_resolver_t) on a loop."""

    def __init__(self, loop: Loop, servers: Optional[str] = None, timeout_ms: int = 0,
                 tries: int = 0) -> None:
        o = _c.sip_resolver_opts_t()
        _c.sip_resolver_opts_init(o)
        if servers is not None:
            o.servers = servers
        if timeout_ms:
            o.timeout_ms = timeout_ms
        if tries:
            o.tries = tries
        rc, h = _c.sip_resolver_create(loop._handle(), o)
        check(rc)
        self._h: Any = h
        self._loop = loop

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="resolver is closed")
        return self._h

    def resolve(self, uri: Union[str, Uri]) -> ResolveOp:
        """Looks up where to send a request for uri; await the op (or poll op.done)."""
        u = uri if isinstance(uri, Uri) else Uri(uri)
        op = ResolveOp()
        check(_c.sip_resolve(self._handle(), u._ptr(), functools.partial(_resolved, op)))
        self._loop._kick()
        return op

    def flush(self) -> None:
        _c.sip_resolver_flush(self._handle())

    def close(self) -> None:
        h, self._h = self._h, None
        if h is not None:
            _c.sip_resolver_close(h)
            _c.sip_resolver_unref(h)

    def __del__(self, _unref: Any = _c.sip_resolver_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    def __enter__(self) -> "Resolver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
