# SPDX-License-Identifier: MIT
"""Several worker processes serving one endpoint (sip/worker.h): the hub in the parent process
and each worker's link to it, for scripts.

    # the parent
    hub = libsip.Hub(loop, workers=2, location=libsip.Location(loop, db_path=DB))
    fd = hub.link(0)                  # inherited by the worker process (subprocess pass_fds)
    # each worker process
    w = libsip.Worker(loop, index=0, count=2, fd=fd)
    loc = libsip.Location(loop, worker=w)     # the hub's index; writes through the hub
    srv = libsip.Server(cfg, loop=loop, worker=w)

A request goes to the worker that owns its Call-ID (every request of a call), a response to the
worker whose branch it answers, a message for another worker's connection to that worker;
location writes go through the hub. The core does all of it; this module only holds the handles.
"""

from __future__ import annotations

from typing import Any, Optional

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, InvalidError, error
from .loop import Loop, release

__all__ = ["Hub", "Worker"]


def _uint(what: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    if v < 0:
        raise InvalidError(_c.SIP_EINVAL, f"{what} must be >= 0, not {v}")
    return v


def _loop(loop: Any, what: str) -> Loop:
    if not isinstance(loop, Loop):
        raise TypeError(f"{what}: loop must be a Loop, not {type(loop).__name__}")
    return loop


class Hub:
    """The parent process's side (sip_hub_t): one link per worker. workers is how many (1 to
    SIP_WORKERS_MAX); location, a Location on the same loop, is the service the workers'
    writes are applied to and that a starting worker is given (None: the workers share their
    writes only). link(index) makes the link of a worker before its process starts and returns
    the descriptor the process inherits; unlink(index) when it ended. close() (or ``with``)
    closes every link: the workers see their hub go."""

    __slots__ = ("_h", "_loop", "_location", "__weakref__")

    def __init__(self, loop: Loop, *, workers: int = 1, location: Any = None) -> None:
        self._h: Any = None
        self._loop = _loop(loop, "Hub")
        o = _c.sip_hub_opts_t()
        _c.sip_hub_opts_init(o)
        o.workers = _uint("workers", workers)
        if location is not None:
            from .location import Location
            if not isinstance(location, Location):
                raise TypeError(f"location must be a Location, not {type(location).__name__}")
            o.location = location._handle()
        self._location = location
        rc, h = _c.sip_hub_create(loop._handle(), o)
        if rc < 0:
            raise error(rc, "cannot create the hub: workers must be 1-"
                        f"{_c.SIP_WORKERS_MAX} and location on the same loop"
                        if rc == _c.SIP_EINVAL else None)
        self._h = h

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="the hub is closed")
        return h

    def link(self, index: int) -> int:
        """Makes the link of worker index (again, after its process ended) and returns the
        descriptor for the worker process to inherit; close it in the parent once the child
        has it. Raises InvalidError for an index out of range."""
        rc, fd = _c.sip_hub_link(self._handle(), _uint("index", index))
        if rc < 0:
            raise error(rc, f"link worker {index}: {_c.sip_strerror(rc)}")
        return int(fd)

    def unlink(self, index: int) -> None:
        """Worker index ended (its process exited): its link closes and the other workers are
        told its connections are gone. Idempotent."""
        _c.sip_hub_unlink(self._handle(), _uint("index", index))

    @property
    def ready_count(self) -> int:
        """How many workers are linked and ready."""
        return int(_c.sip_hub_ready_count(self._h)) if self._h is not None else 0

    @property
    def loop(self) -> Loop:
        """The loop the hub lives on."""
        return self._loop

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._h is None

    def close(self) -> None:
        """Closes every link (the workers see their hub go). Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            _c.sip_hub_close(h)
            _c.sip_hub_unref(h)

    def __enter__(self) -> "Hub":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self, _unref: Any = _c.sip_hub_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        return "<Hub closed>" if self._h is None else f"<Hub {self.ready_count} ready>"


class Worker:
    """A worker process's link to its hub and its siblings (sip_worker_t): index (0 to
    count-1) of count workers, over fd, the descriptor the hub's link() made and this process
    inherited (the Worker owns it from here, whatever happens). Creating it tells the hub it
    is ready and waits for the links to the other workers and the location index (raises
    Error with SIP_EIO when the hub does not answer). attach(stack) makes a Stack part of the
    set; Location(loop, worker=w) and Server(..., worker=w) use it."""

    __slots__ = ("_h", "_loop", "_stack", "__weakref__")

    def __init__(self, loop: Loop, *, index: int = 0, count: int = 1, fd: int = -1) -> None:
        self._h: Any = None
        self._stack: Any = None
        self._loop = _loop(loop, "Worker")
        o = _c.sip_worker_opts_t()
        _c.sip_worker_opts_init(o)
        o.index = _uint("index", index)
        o.count = _uint("count", count)
        if not isinstance(fd, int) or isinstance(fd, bool):
            raise TypeError(f"fd must be an int, not {type(fd).__name__}")
        o.fd = fd
        rc, h = _c.sip_worker_create(loop._handle(), o)
        if rc < 0:
            raise error(rc, "the hub did not answer" if rc == _c.SIP_EIO else None)
        self._h = h

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="the worker is closed")
        return h

    def attach(self, stack: Any) -> None:
        """Makes a Stack (its transport and transaction layer) part of the worker set: messages
        another worker owns go to it before any handler here sees them, and what the others
        pass here enters as received. Its listening points should share their ports
        (Stack(..., reuseport=True)); it needs its transactions (Stack(..., transactions=True)).
        One stack per worker: a second raises Error (SIP_EEXIST)."""
        from .stack import Stack
        if not isinstance(stack, Stack):
            raise TypeError(f"stack must be a Stack, not {type(stack).__name__}")
        layer = stack.transactions
        if layer is None:
            raise InvalidError(_c.SIP_EINVAL, "the stack has no transaction layer")
        rc = _c.sip_worker_attach(self._handle(), stack.transport._handle(), layer._handle())
        if rc < 0:
            raise error(rc, f"attach: {_c.sip_strerror(rc)}")
        self._stack = stack

    @property
    def index(self) -> int:
        """This worker's index."""
        return int(_c.sip_worker_index(self._h)) if self._h is not None else 0

    @property
    def count(self) -> int:
        """How many workers there are."""
        return int(_c.sip_worker_count(self._h)) if self._h is not None else 0

    @property
    def secret(self) -> str:
        """The worker set's secret (hex) the hub gave in the handshake: what the workers' digest
        servers and proxies share (AuthServer(secret=...), Proxy(secret=...))."""
        rc, text = _c.sip_worker_secret(self._handle())
        if rc < 0:
            raise error(rc, f"secret: {_c.sip_strerror(rc)}")
        return text if isinstance(text, str) else text.decode()

    @property
    def linked(self) -> bool:
        """True while the link to the hub is up."""
        return self._h is not None and bool(_c.sip_worker_is_linked(self._h))

    @property
    def loop(self) -> Loop:
        """The loop the worker lives on."""
        return self._loop

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._h is None

    def close(self) -> None:
        """Closes the links. Idempotent."""
        h, self._h = self._h, None
        self._stack = None
        if h is not None:
            _c.sip_worker_close(h)
            _c.sip_worker_unref(h)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self, _unref: Any = _c.sip_worker_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<Worker closed>"
        return f"<Worker {self.index} of {self.count}{'' if self.linked else ' unlinked'}>"


def _worker_handle(w: Optional[Worker]) -> Any:
    if w is None:
        return None
    if not isinstance(w, Worker):
        raise TypeError(f"worker must be a Worker, not {type(w).__name__}")
    return w._handle()
