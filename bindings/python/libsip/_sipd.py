# SPDX-License-Identifier: MIT
"""The Python side of sipd's routing-script host (tools/sipd/script_py.c). Private.

sipd's C loop (libuv) stays the only loop that sleeps. asyncio runs inside it: a routing
coroutine is stepped at once in the route callback (libsip.server), and only what waits on
asyncio (a lookup, a relay's outcome, asyncio.sleep, a socket) goes through an asyncio loop
that never blocks. Its ready queue, its next timer and its selector's file descriptor are
watched by libuv handles of the host (wake(), set_timer() and the fd below), so a wake-up of
the C loop costs Python nothing unless asyncio has work.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import itertools
import logging
import os
import sys
import traceback
from typing import Any, Optional

from . import _core as _c
from .server import Server

_counter = itertools.count(1)


class _HostLoop(asyncio.SelectorEventLoop):
    """An asyncio loop driven from outside: drain() runs one non-blocking iteration; adding
    work asks the host for a drain (one C call per batch, none while draining)."""

    def __init__(self, host: Any) -> None:
        super().__init__()
        self._host = host
        self._woken = False
        self._draining = False
        self._armed: Optional[float] = None

    def _call_soon(self, callback: Any, args: Any, context: Any) -> Any:
        handle = super()._call_soon(callback, args, context)
        if not self._woken and not self._draining:
            self._woken = True
            self._host.wake()
        return handle

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        handle = super().call_at(when, callback, *args, context=context)
        if not self._draining and (self._armed is None or when < self._armed):
            self._arm(when)
        return handle

    def _arm(self, when: Optional[float]) -> None:
        self._armed = when
        if when is None:
            self._host.set_timer(-1)
        else:
            self._host.set_timer(max(0, int((when - self.time()) * 1000 + 0.999)))

    def drain(self) -> None:
        """One iteration that never blocks, then the next wake-up asked for."""
        self._woken = False
        self._draining = True
        try:
            # _run_once waits for nothing when the loop is stopping (a run_forever is never
            # running here, so the flag has no other effect).
            self._stopping = True
            self._run_once()
        except Exception:
            logging.getLogger("libsip").error("asyncio iteration failed\n%s",
                                              traceback.format_exc())
        finally:
            self._draining = False
        if self._ready:
            self._woken = True
            self._host.wake()
        sched = self._scheduled
        self._arm(sched[0]._when if sched else None)


class _LogToLoop(logging.Handler):
    """Python's log records (a route's traceback among them) go to sipd's logger."""

    _LEVELS = ((logging.ERROR, _c.SIP_LOG_ERROR), (logging.WARNING, _c.SIP_LOG_WARN),
               (logging.INFO, _c.SIP_LOG_INFO))

    def __init__(self, loop_h: Any) -> None:
        super().__init__()
        self._loop_h = loop_h

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            level = _c.SIP_LOG_DEBUG
            for py, sip in self._LEVELS:
                if record.levelno >= py:
                    level = sip
                    break
            _c.sip_log_write(self._loop_h, level, "script", text)
        except Exception:
            self.handleError(record)


def _load(path: str) -> Any:
    """The script as a fresh module object (a reload makes another one)."""
    name = f"sipd_route_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python file")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    route = getattr(mod, "route", None)
    if not callable(route):
        raise TypeError(f"{path}: no route(req) function at module level")
    return mod


class Host:
    """What script_py.c holds: the server, the asyncio loop and the module in force."""

    def __init__(self, capsule: Any, path: str, host: Any) -> None:
        self.server = Server._adopt(_c.sipbind_server_from_capsule(capsule))
        self.aloop = _HostLoop(host)
        asyncio.set_event_loop(self.aloop)
        # The route's code runs inside the C loop, never inside run_forever(): the loop is
        # "running" for the main thread for as long as the host lives, so get_running_loop(),
        # create_task() and the package's futures work in a route.
        asyncio.events._set_running_loop(self.aloop)
        handler = _LogToLoop(self.server.loop._h)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log = logging.getLogger()
        log.addHandler(handler)
        if log.level > logging.INFO or log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
        self._handler = handler
        self.module = _load(path)
        self.server.route = self.module.route
        # What module level made lives as long as the script: the cyclic collector need not
        # walk it again and again while requests come and go.
        gc.freeze()

    def fileno(self) -> int:
        """The selector's file descriptor (readable when a watched socket is)."""
        return self.aloop._selector.fileno()  # type: ignore[attr-defined,no-any-return]

    def drain(self) -> None:
        self.aloop.drain()

    def reload(self, path: str) -> None:
        """A new module instance routes new requests; the old one finishes what it took. On
        an error the old one stays."""
        mod = _load(path)
        self.server.route = mod.route
        self.module = mod
        # The old instance is collectable again once the requests it took are over.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        """Back to the default routing; the tasks of routes still waiting are cancelled
        (their requests answered 500); the server's parts are dropped, not closed: they are
        the host program's."""
        srv = self.server
        if srv._h is not None and srv._route_set:
            try:
                srv.route = None
            except Exception:
                pass
        for t in list(asyncio.all_tasks(self.aloop)):
            t.cancel()
        try:
            self.aloop.drain()
        except Exception:
            pass
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        logging.getLogger().removeHandler(self._handler)
        srv._release()
        self.aloop.close()


def open_host(capsule: Any, path: str, host: Any) -> Host:
    """Loads the script and makes its route the server's (script_py.c's sipd_script_open)."""
    # The script's own folder comes first, so that it imports its helper modules.
    if "" in sys.path:
        sys.path.remove("")
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    return Host(capsule, path, host)
