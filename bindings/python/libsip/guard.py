# SPDX-License-Identifier: MIT
"""A guard against abuse from the open internet, per source address (sip/guard.h).

Like Kamailio's pike and the fail2ban jails beside it: a request-rate limit and a limit on
failed digest authentications per source address, each with a block time, and networks that
are never limited. Given to a transport, it drops what blocked sources send before parsing
it; given to a Proxy, it is told of every failed authentication::

    guard = libsip.Guard(stack.loop, rate_max=200, rate_window_ms=2000,
                         auth_max_failures=10, allow=["10.0.0.0/8", "::1"])
    stack.transport.guard = guard
    proxy = libsip.Proxy(stack, auth=server, users=users, guard=guard)

The table of sources is bounded (max_sources; the least recently seen leaves first, blocked
ones last), and a warning line about blocks is written at most every log_interval_ms.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, InvalidError, error
from .loop import Loop, release

__all__ = ["Guard"]

_OPTS = ("rate_window_ms", "rate_max", "rate_block_ms", "auth_window_ms", "auth_max_failures",
         "auth_block_ms", "max_sources", "log_interval_ms")


def _ip(ip: Any, what: str) -> str:
    if not isinstance(ip, str):
        raise TypeError(f"{what}: an IP address is a str, not {type(ip).__name__}")
    return ip


def _ms(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    if not 0 <= v < 1 << 32:
        raise InvalidError(_c.SIP_EINVAL, f"{what}={v!r} is out of range")
    return v


class Guard:
    """Per-source limits (sip_guard_t) on a loop, whose clock, log and counters it uses.

    Options are the fields of sip_guard_opts_t, in milliseconds and counts: rate_window_ms
    (default 2000), rate_max (requests per source and window before a block; default 0, no
    rate limit), rate_block_ms (60000), auth_window_ms (600000), auth_max_failures (default
    10; 0: no limit), auth_block_ms (900000), max_sources (sources remembered, 65536),
    log_interval_ms (at most one warning line per interval, 10000). ``allow`` lists addresses
    and networks never limited ("192.0.2.7", "10.0.0.0/8", "2001:db8::/32").

    Raises TypeError for an argument of the wrong type or an unknown option, InvalidError for
    a value out of range, a limit with a zero window or block time, or a malformed network.
    The guard closes with its loop (it limits nothing after that); close() drops this
    object's reference (a transport or proxy given the guard keeps its own)."""

    __slots__ = ("_h", "_loop", "_opts", "__weakref__")
    #: The option names Guard(loop, **options) and set_opts() take (sip_guard_opts_t).
    OPTIONS = _OPTS

    def __init__(self, loop: Loop, allow: Iterable[str] = (), **opts: Any) -> None:
        self._h: Any = None
        if not isinstance(loop, Loop):
            raise TypeError(f"loop must be a libsip.Loop, not {type(loop).__name__}")
        if isinstance(allow, str):
            allow = [allow]
        allow = list(allow)
        for a in allow:
            _ip(a, "Guard allow")
        self._loop = loop
        o = self._make_opts(opts)
        rc, h = _c.sip_guard_create(loop._handle(), o)
        if rc == _c.SIP_EINVAL:
            raise error(rc, "cannot create the guard: a limit needs a window and a block time, "
                            "max_sources at least 1")
        if rc < 0:
            raise error(rc, f"cannot create the guard: {_c.sip_strerror(rc)}")
        self._h = h
        self._opts = {k: getattr(o, k) for k in _OPTS}
        for a in allow:
            self.allow(a)

    @staticmethod
    def _make_opts(opts: Dict[str, Any], base: Optional[Dict[str, int]] = None) -> Any:
        o = _c.sip_guard_opts_t()
        _c.sip_guard_opts_init(o)
        for k, v in (base or {}).items():
            setattr(o, k, v)
        for k, v in opts.items():
            if k not in _OPTS:
                raise TypeError(f"unknown guard option {k!r} (known: {', '.join(_OPTS)})")
            setattr(o, k, _ms(v, f"guard option {k}"))
        return o

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="guard is closed")
        return h

    @property
    def loop(self) -> Loop:
        """The loop whose clock, log and counters the guard uses."""
        return self._loop

    @property
    def options(self) -> Dict[str, int]:
        """The limits in force (a copy): the OPTIONS names and their values."""
        return dict(self._opts)

    def set_opts(self, **opts: Any) -> None:
        """Changes the limits named (a configuration reload); the others stay. Sources keep
        their counts and blocks. Raises as the constructor does."""
        h = self._handle()
        o = self._make_opts(opts, self._opts)
        rc = _c.sip_guard_set_opts(h, o)
        if rc < 0:
            raise error(rc, "guard options refused: a limit needs a window and a block time, "
                            "max_sources at least 1")
        self._opts = {k: getattr(o, k) for k in _OPTS}

    def allow(self, cidr: str) -> None:
        """Never limits or blocks these addresses: "192.0.2.7", "10.0.0.0/8", "::1",
        "2001:db8::/32". Raises InvalidError for a malformed one."""
        rc = _c.sip_guard_allow(self._handle(), _ip(cidr, "allow"))
        if rc < 0:
            raise error(rc, f"allow: {cidr!r} is not an address or network "
                            "(\"10.0.0.0/8\", \"2001:db8::/32\")")

    def _call(self, fn: Any, ip: Any, what: str) -> int:
        rc = fn(self._handle(), _ip(ip, what))
        if rc == _c.SIP_EINVAL:
            raise error(rc, f"{what}: {ip!r} is not an IP address")
        return int(rc)

    def check(self, ip: str) -> bool:
        """Counts one request from ip against the rate limit. True when it may go on, False
        when the source is blocked (now, or by this request)."""
        return self._call(_c.sip_guard_check, ip, "check") == 0

    def auth_failed(self, ip: str) -> bool:
        """Reports a failed authentication from ip (a wrong password, an unknown user). True
        when the source may go on, False when it is blocked (now, or by this failure)."""
        return self._call(_c.sip_guard_auth_failed, ip, "auth_failed") == 0

    def is_blocked(self, ip: str) -> bool:
        """Whether ip is blocked now (counts nothing)."""
        return self._call(_c.sip_guard_is_blocked, ip, "is_blocked") == 1

    def block(self, ip: str, ms: int = 0) -> None:
        """Blocks ip for ms milliseconds (0: rate_block_ms) by hand. An allowed address is
        never blocked."""
        ms = _ms(ms, "block: ms")
        rc = _c.sip_guard_block(self._handle(), _ip(ip, "block"), ms)
        if rc < 0:
            raise error(rc, f"block: {ip!r} is not an IP address" if rc == _c.SIP_EINVAL
                        else None)

    def unblock(self, ip: str) -> None:
        """Lifts a block and forgets the source's counts. Raises NotFoundError for a source
        the guard does not know."""
        rc = self._call(_c.sip_guard_unblock, ip, "unblock")
        if rc < 0:
            raise error(rc, f"unblock: the guard knows nothing of {ip}")

    @property
    def blocked_count(self) -> int:
        """The number of sources blocked now."""
        h = self._h
        return int(_c.sip_guard_blocked_count(h)) if h is not None else 0

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._h is None

    def close(self) -> None:
        """Drops this object's reference: a transport or proxy given the guard keeps using
        it. Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            _c.sip_guard_unref(h)

    def __del__(self, _unref: Any = _c.sip_guard_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    def __enter__(self) -> "Guard":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __str__(self) -> str:
        """The limits and the blocked count, as repr()."""
        return repr(self)

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<Guard closed>"
        return (f"<Guard rate {self._opts['rate_max']}/{self._opts['rate_window_ms']} ms, "
                f"auth {self._opts['auth_max_failures']}/{self._opts['auth_window_ms']} ms, "
                f"{self.blocked_count} blocked>")
