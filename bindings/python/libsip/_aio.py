# SPDX-License-Identifier: MIT
"""Runs a libsip loop inside asyncio: its backend fd is watched with add_reader, its next timer
with call_later, and each wake-up runs one non-blocking iteration (sip_loop_run_once)."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Optional

from . import _core as _c
from ._errors import InvalidError
from .loop import _running

if TYPE_CHECKING:
    from .loop import Loop


class _Driver:
    def __init__(self, loop: "Loop", aloop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.aloop = aloop
        self.fd = loop.backend_fd
        self.done: asyncio.Future[None] = aloop.create_future()
        self.timer: Optional[asyncio.TimerHandle] = None
        self.soon: Optional[asyncio.Handle] = None
        self.reading = False

    def start(self) -> None:
        self.aloop.add_reader(self.fd, self.step)
        self.reading = True
        self.kick()

    def kick(self) -> None:
        """Work was added from Python (a send, a timer): iterate soon, since libuv may have
        queued its completion without making the backend fd readable."""
        if self.soon is None and not self.done.done():
            self.soon = self.aloop.call_soon(self.step)

    def step(self) -> None:
        self.soon = None
        if self.done.done():
            return
        loop = self.loop
        h = loop._h
        if h is None:
            self.stop()
            return
        stack = _running()
        stack.append(loop)
        loop._depth += 1
        loop._thread = threading.get_ident()
        try:
            rc = _c.sip_loop_run_once(h, 0)
        finally:
            loop._depth -= 1
            stack.remove(loop)
        if loop._close_after_run:
            loop.close()
        if rc < 0 or self.done.done() or loop._h is None:
            self.stop()
            return
        self.schedule()

    def schedule(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        t = _c.sip_loop_backend_timeout(self.loop._h)
        if t == 0:
            self.kick()
        elif t > 0:
            self.timer = self.aloop.call_later(t / 1000.0, self.step)

    def stop(self) -> None:
        if self.reading:
            self.reading = False
            try:
                self.aloop.remove_reader(self.fd)
            except (ValueError, OSError, RuntimeError):
                pass
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.soon is not None:
            self.soon.cancel()
            self.soon = None
        if not self.done.done():
            exc, self.loop._pending = self.loop._pending, None
            if exc is not None:
                self.done.set_exception(exc)
            else:
                self.done.set_result(None)


async def serve(loop: "Loop") -> None:
    """Drives loop from the running asyncio loop until loop.stop() or loop.close(). A stop()
    asked before makes it return at once."""
    loop._handle()
    with loop._run_lock:
        if loop._depth or loop._driver is not None:
            raise InvalidError(_c.SIP_EINVAL, "the loop is already running")
        d = None if loop._stop_pending else _Driver(loop, asyncio.get_running_loop())
        loop._driver = d
    if d is None:
        # One iteration that returns at once consumes the C side's stop as well (uv_run
        # clears it), so a later run() or serve() runs normally.
        loop.run_once(False)
        return
    d.start()
    try:
        await d.done
    finally:
        d.stop()
        loop._driver = None


def future_for(loop: "Loop") -> Any:
    """A future of the running asyncio loop, or None outside asyncio."""
    try:
        return asyncio.get_running_loop().create_future()
    except RuntimeError:
        return None
