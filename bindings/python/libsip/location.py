# SPDX-License-Identifier: MIT
"""The location service (sip/location.h): the bindings of each address of record to the contacts
it is reached at (RFC 3261 §10), in memory or persistently on SQLite, with local domains and
aliases, for asyncio scripts.

    loc = libsip.Location(loop, db_path="/var/lib/sipd/location.db")
    loc.add_domain("example.com")
    loc.add_domain("sip.example.com", "example.com")
    await loc.put("sip:alice@example.com", "sip:alice@192.0.2.1:5060",
                  expires=int(time.time()) + 3600, q=0.5)   # durable once awaited
    for b in await loc.lookup("sip:alice@example.com;transport=tcp"):
        print(b.contact, b.q, b.expires)

A write is applied to the memory index at once (lookups see it); awaiting it waits until it is
durable (at once in memory; once its batch is committed on SQLite). The core does everything
(keys, replace rules, ordering, expiry, batching); this module turns its callbacks into awaits.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generator, List, Optional, Union

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, InvalidError, check, error
from .loop import Loop, release
from .message import Uri

__all__ = ["Binding", "Location"]


def _str(what: str, v: Any, optional: bool = True) -> Optional[str]:
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise TypeError(f"{what} must be a str, not {type(v).__name__}")
    return v


def _int(what: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{what} must be an int, not {type(v).__name__}")
    return v


def _uri_text(v: Any) -> str:
    if isinstance(v, Uri):
        return str(v)
    if isinstance(v, str):
        return v
    raise TypeError(f"uri must be a str or a Uri, not {type(v).__name__}")


class Binding:
    """One binding of an address of record to a contact (sip_binding_t), a copy that outlives
    the lookup. Attributes: aor (the AOR key), contact (the Contact URI as registered), params
    (the Contact's other parameters, as they came), expires (UNIX time in seconds), q (0.0-1.0,
    or None when the Contact gave none), call_id and cseq (of the REGISTER that made it), path
    (RFC 3327 Path values, comma-joined), received (where the REGISTER came from, as a URI, ""
    when not known), socket (the local listening point it came in on), conn_id (the stream
    connection of an RFC 5626 flow, 0 for none), instance (+sip.instance), reg_id (0 for none),
    user_agent, updated (UNIX time of the last write)."""

    __slots__ = ("aor", "contact", "params", "expires", "q", "call_id", "cseq", "path",
                 "received", "socket", "conn_id", "instance", "reg_id", "user_agent", "updated")

    def __init__(self, b: Any) -> None:
        self.aor: str = b.aor
        self.contact: str = b.contact
        self.params: str = b.params
        self.expires: int = b.expires
        self.q: Optional[float] = None if b.q < 0 else b.q / 1000.0
        self.call_id: str = b.call_id
        self.cseq: int = b.cseq
        self.path: str = b.path
        self.received: str = b.received
        self.socket: str = b.socket
        self.conn_id: int = b.conn_id
        self.instance: str = b.instance
        self.reg_id: int = b.reg_id
        self.user_agent: str = b.user_agent
        self.updated: int = b.updated

    @safe_repr
    def __repr__(self) -> str:
        q = "" if self.q is None else f" q={self.q:g}"
        return f"<Binding {self.aor} -> {self.contact}{q} expires={self.expires}>"


def _set_list(s: Any) -> List[Binding]:
    """The bindings of a set, copied out (the set is Borrowed for the callback)."""
    return [Binding(_c.sip_bindings_at(s, i)) for i in range(_c.sip_bindings_count(s))]


class _Write:
    """What put() and remove() return: the write is made; ``await`` it to wait until it is
    durable (raises the error of a write that failed: Error with SIP_EIO for a failed commit,
    ClosedError when the service closed first). Works outside a coroutine too (then it is not
    awaited)."""

    __slots__ = ("_status", "_fut", "_loop")

    def __init__(self, loop: Loop) -> None:
        self._status: Optional[int] = None
        self._fut: Optional["asyncio.Future[None]"] = None
        self._loop = loop

    def _done(self, status: int) -> None:
        self._status = status
        f = self._fut
        if f is not None and not f.done():
            if status < 0:
                f.set_exception(error(status, f"write failed: {_c.sip_err_name(status)}"))
            else:
                f.set_result(None)

    @property
    def done(self) -> bool:
        """True once the write is durable or failed."""
        return self._status is not None

    def __await__(self) -> Generator[Any, None, None]:
        if self._status is None:
            self._fut = asyncio.get_running_loop().create_future()
            self._loop._kick()
            yield from self._fut.__await__()
            return None
        if self._status < 0:
            raise error(self._status, f"write failed: {_c.sip_err_name(self._status)}")
        return None

    def __repr__(self) -> str:
        if self._status is None:
            return "<write pending>"
        return "<write durable>" if self._status == 0 else f"<write failed {self._status}>"


class Location:
    """A location service (sip_location_t) on a loop: in memory, or persistent on SQLite with
    db_path (every binding stored there that has not expired is loaded before this returns;
    writes are committed in batches by a worker thread, so the loop never waits on the disk),
    or shared on Redis with redis_url ("redis://host:port[/db]": loaded at once too; every
    node using that Redis sees the others' changes; while Redis is away writes fail with
    SIP_EIO and lookups answer from memory). batch_ms is the longest a write waits for others
    to share its commit (0: each loop turn); expire_interval_ms how often expired bindings are
    removed. With worker (a libsip.Worker), the service of one worker process: the hub's index
    is loaded before this returns and a write is durable once the hub acknowledged it. Raises
    Error with SIP_EIO when the database or Redis cannot be opened or read (the reason is
    logged). close() (or ``with``) commits what is queued and stops it; later calls raise
    ClosedError."""

    def __init__(self, loop: Loop, *, db_path: Optional[str] = None, batch_ms: int = 2,
                 expire_interval_ms: int = 1000, redis_url: Optional[str] = None,
                 worker: Any = None) -> None:
        if not isinstance(loop, Loop):
            raise TypeError(f"loop must be a Loop, not {type(loop).__name__}")
        self._loop = loop
        self._h: Any = None
        o = _c.sip_location_opts_t()
        _c.sip_location_opts_init(o)
        if db_path is not None:
            o.db_path = _str("db_path", db_path)
        if redis_url is not None:
            o.redis_url = _str("redis_url", redis_url)
        if worker is not None:
            # A worker process (libsip.Worker): the hub's index, writes through the hub.
            from .worker import _worker_handle
            o.worker = _worker_handle(worker)
        self._worker = worker
        o.batch_ms = _int("batch_ms", batch_ms)
        o.expire_interval_ms = _int("expire_interval_ms", expire_interval_ms)
        if batch_ms < 0 or expire_interval_ms < 0:
            raise InvalidError(_c.SIP_EINVAL, "batch_ms and expire_interval_ms must be >= 0")
        rc, h = _c.sip_location_create(loop._handle(), o)
        if rc < 0:
            where = db_path if redis_url is None else redis_url
            raise error(rc, f"cannot open the location store {where!r} (see the log)"
                        if rc == _c.SIP_EIO else None)
        self._h = h

    # -- plumbing ---------------------------------------------------------------------------

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="location service is closed")
        return h

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._h is None

    @property
    def loop(self) -> Loop:
        """The loop the service lives on."""
        return self._loop

    def close(self) -> None:
        """Commits every queued write (waiting for it: a clean stop loses nothing), closes the
        database and drops the service. Idempotent."""
        h, self._h = self._h, None
        if h is not None:
            _c.sip_location_close(h)
            _c.sip_location_unref(h)

    def __del__(self, _unref: Any = _c.sip_location_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            release(getattr(self, "_loop", None), _unref, h)

    def __enter__(self) -> "Location":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<Location closed>"
        return f"<Location {self.count} bindings, {self.aor_count} AORs>"

    # -- domains and aliases ----------------------------------------------------------------

    def add_domain(self, domain: str, canonical: Optional[str] = None) -> None:
        """Adds a domain the service is responsible for; with canonical, an alias of that
        domain (added before), whose AORs are kept under it. Raises InvalidError (empty, or
        canonical unknown), Error SIP_EEXIST (added already)."""
        rc = _c.sip_location_add_domain(self._handle(), _str("domain", domain, False),
                                        _str("canonical", canonical))
        if rc < 0:
            raise error(rc, f"add_domain {domain!r}: {_c.sip_strerror(rc)}")

    def is_local(self, host: str) -> bool:
        """True when host is one of the domains (or an alias of one); with no domain added,
        every host is taken as local."""
        return bool(_c.sip_location_is_local(self._handle(), _str("host", host, False)))

    @property
    def domain_count(self) -> int:
        """The number of domains, aliases included (0: every domain is local)."""
        return int(_c.sip_location_domain_count(self._handle()))

    def add_alias(self, alias: Union[str, Uri], aor: Union[str, Uri]) -> None:
        """Makes a lookup of the alias AOR find the bindings of aor (as Kamailio's alias_db).
        Raises UriError, InvalidError, Error SIP_EEXIST."""
        rc = _c.sip_location_add_alias(self._handle(), _uri_text(alias), _uri_text(aor))
        if rc < 0:
            raise error(rc, f"add_alias {alias!s}: {_c.sip_strerror(rc)}")

    def remove_alias(self, alias: Union[str, Uri]) -> None:
        """Removes an alias. Raises NotFoundError when there is none."""
        check(_c.sip_location_remove_alias(self._handle(), _uri_text(alias)))

    def aor(self, uri: Union[str, Uri]) -> str:
        """The AOR key of a URI (RFC 3261 §10.3 step 5): "sip:user@domain", parameters and
        password dropped, the domain canonical. Raises UriError (not sip/sips, no user)."""
        h = self._handle()
        rc, u = _c.sip_uri_parse(_uri_text(uri))
        if rc < 0:
            raise error(rc, f"not a URI: {uri!s}")
        rc, key = _c.sip_location_aor(h, u)
        if rc < 0:
            raise error(rc, f"no AOR in {uri!s}: {_c.sip_strerror(rc)}")
        return str(key.decode("utf-8", "replace"))

    # -- lookups and writes -----------------------------------------------------------------

    async def lookup(self, uri: Union[str, Uri]) -> List[Binding]:
        """The bindings of an AOR or Request-URI (aliases followed) that have not expired,
        best first (q, then the most recent); [] when there is none. Raises UriError."""
        h = self._handle()
        out: List[Any] = []
        fut: List[Any] = []

        def done(_loc: Any, status: int, s: Any) -> None:
            res = (status, _set_list(s) if status == 0 else [])
            out.append(res)
            if fut and not fut[0].done():
                fut[0].set_result(res)

        rc = _c.sip_location_lookup(h, _uri_text(uri), done)
        if rc < 0:
            raise error(rc, f"lookup {uri!s}: {_c.sip_strerror(rc)}")
        if not out:  # a store that answers later
            fut.append(asyncio.get_running_loop().create_future())
            self._loop._kick()
            await fut[0]
        status, found = out[0]
        if status < 0 and status != _c.SIP_ENOENT:
            raise error(status)
        return list(found)

    def lookup_now(self, uri: Union[str, Uri]) -> List[Binding]:
        """lookup() without waiting, for the stores that keep every binding in memory (memory,
        SQLite): a proxy's fast path. Raises UriError."""
        h = self._handle()
        rc, u = _c.sip_uri_parse(_uri_text(uri))
        if rc < 0:
            raise error(rc, f"not a URI: {uri!s}")
        rc, s = _c.sip_location_lookup_now(h, u)
        if rc < 0:
            raise error(rc, f"lookup {uri!s}: {_c.sip_strerror(rc)}")
        try:
            return _set_list(s)
        finally:
            _c.sip_bindings_unref(s)

    def put(self, aor: Union[str, Uri], contact: Union[str, Uri], *, expires: int,
            q: Optional[float] = None, params: str = "", call_id: str = "", cseq: int = 0,
            path: str = "", received: str = "", socket: str = "", conn_id: int = 0,
            instance: str = "", reg_id: int = 0, user_agent: str = "",
            updated: int = 0) -> _Write:
        """Adds or replaces the binding of aor to contact (the one with the same instance and
        reg_id when instance is given, RFC 5626 §6; else the one with an equal contact URI,
        RFC 3261 §10.3). expires is the UNIX time it ends (a time past removes it); q is
        0.0-1.0 or None; updated 0 is now. The memory index has it when this returns; await
        the result to wait until it is durable. Raises UriError, InvalidError, ClosedError."""
        h = self._handle()
        if q is not None and (not isinstance(q, (int, float)) or isinstance(q, bool)):
            raise TypeError(f"q must be a number or None, not {type(q).__name__}")
        if q is not None and not 0 <= q <= 1:
            raise InvalidError(_c.SIP_EINVAL, f"q must be 0.0-1.0, not {q}")
        args = [_str(n, v, False) for n, v in (("params", params), ("call_id", call_id),
                                               ("path", path), ("received", received),
                                               ("socket", socket), ("instance", instance),
                                               ("user_agent", user_agent))]
        nums = [_int(n, v) for n, v in (("expires", expires), ("cseq", cseq),
                                        ("conn_id", conn_id), ("reg_id", reg_id),
                                        ("updated", updated))]
        w = _Write(self._loop)
        rc = _c.sip_location_put(h, _uri_text(aor), _uri_text(contact), args[0], nums[0],
                                 -1 if q is None else int(round(q * 1000)), args[1], nums[1],
                                 args[2], args[3], args[4], nums[2], args[5], nums[3], args[6],
                                 nums[4], lambda _l, status: w._done(status))
        if rc < 0:
            raise error(rc, f"put {aor!s} -> {contact!s}: {_c.sip_strerror(rc)}")
        return w

    def remove(self, aor: Union[str, Uri], contact: Optional[Union[str, Uri]] = None
               ) -> _Write:
        """Removes the binding of aor to contact, or every binding of aor without contact
        (removing what is not there succeeds). Await the result as put()'s."""
        h = self._handle()
        w = _Write(self._loop)
        rc = _c.sip_location_remove(h, _uri_text(aor),
                                    None if contact is None else _uri_text(contact),
                                    lambda _l, status: w._done(status))
        if rc < 0:
            raise error(rc, f"remove {aor!s}: {_c.sip_strerror(rc)}")
        return w

    def expire(self) -> int:
        """Removes the bindings that have expired now (a timer does it on its own); returns how
        many."""
        return int(_c.sip_location_expire(self._handle()))

    @property
    def count(self) -> int:
        """The number of bindings (every AOR)."""
        return int(_c.sip_location_count(self._handle()))

    @property
    def aor_count(self) -> int:
        """The number of AORs with at least one binding."""
        return int(_c.sip_location_aor_count(self._handle()))
