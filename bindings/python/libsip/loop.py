# SPDX-License-Identifier: MIT
"""The event loop, timers, work posted from other threads, logging, and callback errors."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Callable, List, Optional, Set, Union

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, InvalidError, check, error

logger = logging.getLogger("libsip")


class LogLevel(Enum):
    """libsip log levels (sip_log_level_t), most severe first."""
    ERROR = _c.SIP_LOG_ERROR
    WARN = _c.SIP_LOG_WARN
    INFO = _c.SIP_LOG_INFO
    DEBUG = _c.SIP_LOG_DEBUG
    TRACE = _c.SIP_LOG_TRACE


#: logging level of each libsip level; TRACE sits below DEBUG.
TRACE = 5
_TO_PY = {LogLevel.ERROR: logging.ERROR, LogLevel.WARN: logging.WARNING,
          LogLevel.INFO: logging.INFO, LogLevel.DEBUG: logging.DEBUG, LogLevel.TRACE: TRACE}


def _from_py(level: int) -> LogLevel:
    """The most verbose libsip level that a logging level lets through."""
    for sip in (LogLevel.TRACE, LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN):
        if _TO_PY[sip] >= level:
            return sip
    return LogLevel.ERROR


def _log_line(_loop: Any, level: int, module: str, text: str) -> None:
    # Holds no reference to any Loop: the C side keeps this function until the loop closes.
    logger.log(_TO_PY.get(LogLevel(level), logging.INFO), "%s: %s", module, text,
               extra={"sip_module": module})


# ---- exceptions raised by callbacks ---------------------------------------------------------

_tls = threading.local()


def _running() -> List["Loop"]:
    stack = getattr(_tls, "loops", None)
    if stack is None:
        stack = _tls.loops = []
    return stack


def _callback_error(exc: BaseException) -> None:
    """Receives every exception a callback raised (set as the core's hook at import).

    Inside a strict loop, or for KeyboardInterrupt/SystemExit, the loop stops and run() (or
    serve()) raises it; otherwise it is logged to the "libsip" logger and the loop goes on."""
    loops = _running()
    loop = loops[-1] if loops else None
    fatal = isinstance(exc, (KeyboardInterrupt, SystemExit))
    if loop is not None and (loop.strict or fatal):
        if loop._pending is None:
            loop._pending = exc
        loop._stop_running()
        return
    logger.error("exception in a libsip callback", exc_info=exc)


_c.set_callback_error_hook(_callback_error)


# ---- releasing handles ----------------------------------------------------------------------


def release(loop: Optional["Loop"], unref: Callable[[Any], None], h: Any) -> None:
    """Drops a C reference of a handle of loop. The garbage collector may run __del__ on any
    thread; libsip is not thread-safe, so while the loop runs on another thread the unref is
    handed to it with sip_loop_post (the one thread-safe call)."""
    if (loop is not None and loop._h is not None and loop._depth
            and loop._thread != threading.get_ident()):
        if _c.sip_loop_post(loop._h, lambda _l: unref(h)) == 0:
            return
    unref(h)


# ---- the loop -------------------------------------------------------------------------------


class Loop:
    """A libsip event loop (sip_loop_t). Log lines go to logging.getLogger("libsip").

    strict: an exception raised by a callback stops the loop and run() raises it (by default it
    is logged and the loop continues). Closing leaves every object safe: later calls raise
    ClosedError. log_level (a LogLevel or a logging level) is the most verbose level the C side
    delivers; by default the "libsip" logger's effective level when the loop is made."""

    def __init__(self, *, strict: bool = False, log_level: Optional[int] = None,
                 trace: bool = False) -> None:
        rc, h = _c.sip_loop_create()
        check(rc)
        self._h: Any = h
        self.strict = strict
        self._pending: Optional[BaseException] = None
        self._depth = 0
        self._stop_pending = False
        self._run_lock = threading.Lock()
        self._close_after_run = False
        self._thread = threading.get_ident()
        self._timers: Set["Timer"] = set()
        self._signals: Set["SignalWatch"] = set()
        self._driver: Any = None
        if log_level is None:
            level = _from_py(logger.getEffectiveLevel())
        elif isinstance(log_level, LogLevel):
            level = log_level
        else:
            level = _from_py(log_level)
        check(_c.sip_loop_set_log(h, int(level), _log_line))
        if trace:
            _c.sip_loop_set_trace(h, 1)

    # -- plumbing ---------------------------------------------------------------------------

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="loop is closed")
        return h

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._h is None

    def _kick(self) -> None:
        """Called after work was added from Python: an asyncio driver runs an iteration soon."""
        if self._driver is not None:
            self._driver.kick()

    def _stop_running(self) -> None:
        if self._driver is not None:
            self._driver.stop()
        if self._h is not None and self._depth:
            _c.sip_loop_stop(self._h)

    def _raise_pending(self) -> None:
        exc, self._pending = self._pending, None
        if exc is not None:
            raise exc

    # -- running ----------------------------------------------------------------------------

    def _enter(self) -> Any:
        """Marks the loop running on this thread. One run at a time: run() inside a callback,
        or from a second thread while the loop runs, would re-enter uv_run()."""
        h = self._handle()
        with self._run_lock:
            if self._depth or self._driver is not None:
                raise InvalidError(_c.SIP_EINVAL, "the loop is already running")
            self._depth = 1
        self._thread = threading.get_ident()
        _running().append(self)
        return h

    def _leave(self) -> None:
        self._depth = 0
        _running().remove(self)
        if self._close_after_run:
            self.close()
        self._raise_pending()

    def run(self) -> None:
        """Runs until stop(), until nothing is left to do, or (strict) until a callback
        raises. Other Python threads run meanwhile. A stop() asked before run() makes it
        return at once. Raises InvalidError "the loop is already running" inside a callback
        of this loop, from another thread while it runs, or while asyncio serves it."""
        h = self._enter()
        self._stop_pending = False
        try:
            rc = _c.sip_loop_run(h)
        finally:
            self._leave()
        check(rc)

    def run_once(self, wait: bool = True) -> bool:
        """Runs one iteration; True when more work is pending. Raises InvalidError when the
        loop is already running (see run())."""
        h = self._enter()
        self._stop_pending = False
        try:
            rc = _c.sip_loop_run_once(h, int(wait))
        finally:
            self._leave()
        return check(rc) > 0

    def stop(self) -> None:
        """Makes run() return after the current iteration; asked before run() or serve()
        started, it makes them return at once. Loop thread only (other threads:
        loop.post(loop.stop))."""
        if self._h is not None and not self._depth and self._driver is None:
            # As in C (uv_stop before uv_run): the next run returns at once.
            self._stop_pending = True
            _c.sip_loop_stop(self._h)
        self._stop_running()

    def close(self) -> None:
        """Closes every handle on the loop and the loop itself. Idempotent. From inside a
        callback, the loop stops and closes when run() returns."""
        if self._h is None:
            return
        if self._depth:
            self._close_after_run = True
            self._stop_running()
            return
        if self._driver is not None:
            self._driver.stop()
        h, self._h = self._h, None
        self._timers.clear()
        self._signals.clear()
        _c.sip_loop_close(h)
        _c.sip_loop_unref(h)

    def __del__(self, _unref: Any = _c.sip_loop_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def __enter__(self) -> "Loop":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- work -------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The loop's cached monotonic time in milliseconds."""
        return _c.sip_loop_now(self._handle())

    def post(self, fn: Callable[[], Any]) -> None:
        """Runs fn() on the loop thread in a later iteration. Safe from any thread."""
        check(_c.sip_loop_post(self._handle(), lambda _loop: fn()))

    def call_later(self, delay: float, fn: Callable[[], Any]) -> "Timer":
        """Runs fn() once after delay seconds. The loop keeps the timer until it fires or is
        cancelled (timer.stop())."""
        holder: List["Timer"] = []
        # Weak: the C side keeps fire() until the timer ends, and must not keep the loop.
        wloop = weakref.ref(self)

        def fire() -> None:
            loop = wloop()
            if loop is not None and holder:
                loop._timers.discard(holder.pop())
            fn()

        t = Timer(self, delay, fire)
        holder.append(t)
        self._timers.add(t)
        return t

    def on_signal(self, sig: Union[int, str], fn: Callable[[int], Any]) -> "SignalWatch":
        """Runs fn(signum) on the loop when the signal (signal.SIGTERM, or "TERM") arrives,
        instead of its default action, until the watch is stopped. It wakes a loop blocked in
        run() at once. A watch alone does not keep run() going. Python's own handler for that
        signal (SIGINT's KeyboardInterrupt) is replaced while watched; once the last watch
        stops, the default action is back, not Python's handler."""
        w = SignalWatch(self, sig, fn)
        self._signals.add(w)
        return w

    # -- logging ----------------------------------------------------------------------------

    def set_log_level(self, level: int) -> None:
        """The most verbose level delivered: a LogLevel or a logging level."""
        if isinstance(level, LogLevel):
            sip = level
        else:
            sip = _from_py(level)
        _c.sip_loop_set_log_level(self._handle(), int(sip))

    def set_trace(self, on: bool = True) -> None:
        """Logs every SIP message sent and received (INFO, module "trace")."""
        _c.sip_loop_set_trace(self._handle(), int(on))

    def log(self, level: int, module: str, text: str) -> None:
        """Writes one line through the loop's logger."""
        _c.sip_log_write(self._handle(), int(level), module, text)

    # -- driving from another event loop ----------------------------------------------------

    @property
    def backend_fd(self) -> int:
        """The file descriptor another event loop polls for this loop's readiness (-1 once closed).
        """
        return _c.sip_loop_backend_fd(self._handle())

    @property
    def backend_timeout(self) -> int:
        """Milliseconds until this loop's next timer (-1: none, 0: work is pending), valid after an
        iteration."""
        return _c.sip_loop_backend_timeout(self._handle())

    async def serve(self) -> None:
        """Runs this loop inside the running asyncio loop until stop() or close()."""
        from ._aio import serve
        await serve(self)

    @safe_repr
    def __repr__(self) -> str:
        return "<Loop closed>" if self._h is None else f"<Loop fd={self.backend_fd}>"


class SignalWatch:
    """A watch on a signal (sip_signal_t) made by Loop.on_signal; the loop keeps it until
    stop()."""

    def __init__(self, loop: Loop, sig: Union[int, str], fn: Callable[[int], Any]) -> None:
        self._loop = loop
        num = _c.sip_signal_number(sig) if isinstance(sig, str) else int(sig)
        if num < 0:
            raise error(num, f"unknown signal {sig!r}")
        rc, h = _c.sip_signal_start(loop._handle(), num, lambda _s, signum: fn(signum))
        if rc < 0:
            raise error(rc, f"cannot watch signal {sig!r}")
        self._h: Any = h
        self.signum = num

    @property
    def active(self) -> bool:
        """True while the watch runs (until stop() or the loop closes)."""
        return self._h is not None and bool(_c.sip_signal_is_active(self._h))

    def stop(self) -> None:
        """No callback after this returns; the signal's default action is back once no watch
        is left. Idempotent."""
        h, self._h = self._h, None
        self._loop._signals.discard(self)
        if h is not None:
            _c.sip_signal_stop(h)
            _c.sip_signal_unref(h)

    close = stop

    def __del__(self, _unref: Any = _c.sip_signal_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        return f"<SignalWatch {self.signum} {'active' if self.active else 'stopped'}>"

    def __enter__(self) -> "SignalWatch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Timer:
    """A timer (sip_timer_t): fn() after timeout seconds, then every repeat seconds (0: once).
    Dropping the last reference to it stops it, as in C; Loop.call_later keeps its own."""

    def __init__(self, loop: Loop, timeout: float, fn: Callable[[], Any],
                 repeat: float = 0.0) -> None:
        self._loop = loop
        for what, v in (("delay", timeout), ("repeat", repeat)):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise TypeError(f"a timer {what} is a number of seconds, not "
                                f"{type(v).__name__} ({v!r:.40})")
        # The C side keeps this function: it must not hold the Timer, or the Timer never dies.
        rc, h = _c.sip_timer_start(loop._handle(), int(timeout * 1000), int(repeat * 1000),
                                   lambda _t: fn())
        if rc < 0:
            raise error(rc)
        self._h: Any = h
        loop._kick()

    @property
    def active(self) -> bool:
        """True while the timer will still fire."""
        return self._h is not None and bool(_c.sip_timer_is_active(self._h))

    def stop(self) -> None:
        """No callback after this returns. Idempotent."""
        h, self._h = self._h, None
        self._loop._timers.discard(self)
        if h is not None:
            _c.sip_timer_stop(h)
            _c.sip_timer_unref(h)

    close = stop
    cancel = stop

    def __del__(self, _unref: Any = _c.sip_timer_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        return f"<Timer {'active' if self.active else 'stopped'}>"

    def __enter__(self) -> "Timer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
