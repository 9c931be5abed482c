# SPDX-License-Identifier: MIT
"""Counters per loop and the /metrics endpoint (sip/stats.h, sip/metrics.h).

Every loop counts what its objects do: requests received by method, responses received and
sent by class, requests sent, transactions, dialogs, registrations, bindings, digest checks,
blocked sources, drops and stream connections. ``loop.stats()`` reads them as a dict keyed by
the Prometheus series name; a Metrics endpoint serves them over HTTP to a Prometheus server::

    with libsip.Loop() as loop, \\
            libsip.Metrics(loop, "127.0.0.1:9090", extra=lambda: "app_up 1\\n") as m:
        print(loop.stats()['sip_requests_received_total{method="INVITE"}'])
        # curl http://127.0.0.1:9090/metrics
        loop.run()

The endpoint is libmicrohttpd run by the loop itself (no thread): GET (and HEAD) /metrics
answers the text exposition format 0.0.4, any other path 404, any other method 405.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, InvalidError, error
from .loop import Loop, release

__all__ = ["Metrics"]

# (id, series key, gauge) of every counter, read once from the core's table.
_SERIES: List[Tuple[int, str, bool]] = []


def _series() -> List[Tuple[int, str, bool]]:
    if not _SERIES:
        for i in range(_c.SIP_STAT__COUNT):
            rc, info = _c.sip_stat_info(i)
            if rc < 0:  # pragma: no cover - every id below the count is known
                continue
            key = f"{info.name}{{{info.labels}}}" if info.labels else info.name
            _SERIES.append((i, key, info.type == _c.SIP_STAT_GAUGE))
    return _SERIES


def _stats(self: Loop) -> Dict[str, int]:
    """The loop's counters (sip/stats.h) by Prometheus series name, as /metrics serves them:
    'sip_requests_received_total{method="INVITE"}', 'sip_transactions', ... (see docs/SIPD.md,
    Metrics). Counters only grow; gauges (sip_transactions, sip_dialogs, sip_bindings,
    sip_connections, sip_blocked_sources) go back down as objects go. A closed loop raises
    ClosedError."""
    h = self._handle()
    out: Dict[str, int] = {}
    for i, key, gauge in _series():
        v = int(_c.sip_stat_get(h, i))
        # A gauge is stored two's complement: one that went below its start reads negative.
        if gauge and v >= 1 << 63:
            v -= 1 << 64
        out[key] = v
    return out


Loop.stats = _stats  # type: ignore[attr-defined]

_OPTS = ("max_connections", "timeout_ms")


class Metrics:
    """An HTTP endpoint that serves a loop's counters at GET /metrics (sip_metrics_t), in the
    Prometheus text format, run by the loop (libmicrohttpd through its epoll descriptor: no
    thread). ``listen`` is "127.0.0.1:9090" or "[::1]:9090" (port 0 picks a free port: see
    ``port``). ``extra`` is called with no argument at each scrape and returns more series as a
    str (a program's own counters, HELP and TYPE lines included) or None; an exception it raises
    is logged and the scrape goes without them. Options: max_connections (HTTP connections at
    once, default 16; more wait in the listen backlog), timeout_ms (an idle connection closes
    after it, default 10000). close() (or ``with``) stops serving and closes open connections;
    closing the loop closes it too. Raises TypeError for an argument of the wrong type or an
    unknown option, InvalidError for a listen address that does not parse or an option out of
    range, Error with the system's code (SIP_EADDRINUSE...) when the port cannot be had."""

    __slots__ = ("_h", "_loop", "_listen", "__weakref__")
    #: The option names Metrics(**options) takes (the fields of sip_metrics_opts_t).
    OPTIONS = _OPTS

    def __init__(self, loop: Loop, listen: str, extra: Optional[Callable[[], Any]] = None,
                 **opts: Any) -> None:
        self._h: Any = None
        if not isinstance(loop, Loop):
            raise TypeError(f"loop must be a libsip.Loop, not {type(loop).__name__}")
        self._loop = loop
        if not isinstance(listen, str):
            raise TypeError(f"listen must be a str, not {type(listen).__name__}")
        self._listen = listen
        if extra is not None and not callable(extra):
            raise TypeError(f"extra must be callable or None, not {type(extra).__name__}")
        o = _c.sip_metrics_opts_t()
        _c.sip_metrics_opts_init(o)
        for k, v in opts.items():
            if k not in _OPTS:
                raise TypeError(f"unknown metrics option {k!r} (known: {', '.join(_OPTS)})")
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"metrics option {k} must be an int, not {type(v).__name__}")
            if not 0 < v < 1 << 32:
                raise InvalidError(_c.SIP_EINVAL, f"metrics option {k}={v!r} is out of range")
            setattr(o, k, v)
        fn = None
        if extra is not None:
            def fn(_m: Any, sink: Any, _extra: Callable[[], Any] = extra) -> None:
                text = _extra()
                if text is None:
                    return
                if not isinstance(text, str):
                    raise TypeError(f"Metrics extra must return a str or None, not "
                                    f"{type(text).__name__}")
                _c.sipbind_text_put(sink, text)
        rc, h = _c.sip_metrics_create(loop._handle(), listen, o, fn)
        if rc < 0:
            raise error(rc, f"cannot serve metrics on {listen!r}: {_c.sip_strerror(rc)}")
        self._h = h

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="metrics endpoint is closed")
        return h

    @property
    def port(self) -> int:
        """The TCP port it listens on (the one chosen for port 0); 0 once closed."""
        h = self._h
        return int(_c.sip_metrics_get_port(h)) if h is not None else 0

    @property
    def loop(self) -> Loop:
        """The loop whose counters it serves."""
        return self._loop

    @property
    def closed(self) -> bool:
        """True once close() ran (or the loop closed)."""
        return self._h is None or _c.sip_metrics_get_port(self._h) == 0

    def close(self) -> None:
        """Stops serving: open HTTP connections are closed, the port is free again.
        Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            _c.sip_metrics_close(h)
            _c.sip_metrics_unref(h)

    def __del__(self, _unref: Any = _c.sip_metrics_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    def __enter__(self) -> "Metrics":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @safe_repr
    def __repr__(self) -> str:
        if self.closed:
            return "<Metrics closed>"
        return f"<Metrics {self._listen} port {self.port}>"
