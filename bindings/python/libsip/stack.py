# SPDX-License-Identifier: MIT
"""Stack: a loop and a transport with request and response handlers, for scripts."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, TypeVar

from .loop import Loop, Timer
from .message import BytesLike, HeaderArg, Message
from .transport import Dest, SendOp, Transport

logger = logging.getLogger("libsip")

F = TypeVar("F", bound=Callable[..., Any])


def _noop() -> None:
    pass


class Request(Message):
    """A received request, with reply()."""

    __slots__ = ("_stack",)

    @property
    def stack(self) -> "Stack":
        return self._stack

    def reply(self, status: int, reason: Optional[str] = None, headers: HeaderArg = None,
              body: Optional[BytesLike] = None, content_type: Optional[str] = None) -> Message:
        """Sends a response back the way the request came; returns it."""
        rsp = self.response(status, reason, headers, body, content_type)
        self._stack.transport.send_response(rsp)
        return rsp


class Stack:
    """A loop, a transport listening on ``listen`` and handlers:

        with libsip.Stack(listen=["udp:127.0.0.1:5060"]) as stack:
            @stack.on_request("OPTIONS")
            def options(req): req.reply(200)
            stack.run()          # or: await stack.serve()
    """

    def __init__(self, listen: Iterable[str] = (), *, loop: Optional[Loop] = None,
                 strict: bool = False, trace: bool = False, **transport_opts: Any) -> None:
        self._own_loop = loop is None
        self.loop = loop if loop is not None else Loop(strict=strict, trace=trace)
        self._requests: Dict[str, Callable[[Request], Any]] = {}
        self._responses: List[Callable[[Message], Any]] = []
        self.transport = Transport(self.loop, **transport_opts)
        self.transport._request_class = Request
        self.transport.on_message = self._dispatch
        for spec in listen:
            self.transport.listen(spec)

    # -- handlers ---------------------------------------------------------------------------

    def on_request(self, method: Optional[str] = None) -> Callable[[F], F]:
        """Decorator: handles requests of one method (None or "*": every method without its
        own handler). The handler gets a Request."""
        def deco(fn: F) -> F:
            self._requests[method or "*"] = fn
            return fn
        return deco

    def on_response(self, fn: F) -> F:
        """Decorator: called with every response received."""
        self._responses.append(fn)
        return fn

    def _dispatch(self, msg: Message) -> None:
        if msg.is_request:
            fn = self._requests.get(msg.method or "") or self._requests.get("*")
            if fn is None:
                logger.debug("no handler for %s request; ignored", msg.method)
                return
            assert isinstance(msg, Request)
            msg._stack = self
            fn(msg)
        else:
            for fn in list(self._responses):
                fn(msg)

    # -- addresses and sending --------------------------------------------------------------

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

    def send(self, msg: Message, dst: Dest) -> SendOp:
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
        return self.loop.run_once(wait)

    def stop(self) -> None:
        self.loop.stop()

    async def serve(self) -> None:
        """Runs inside asyncio until stop() or close()."""
        await self.loop.serve()

    def close(self) -> None:
        """Closes the transport and (when the stack made it) the loop. Idempotent."""
        self.transport.close()
        if self._own_loop:
            self.loop.close()

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Stack {self.addresses if self.transport._h is not None else 'closed'}>"
