# SPDX-License-Identifier: MIT
"""The registrar and the user table (sip/registrar.h; RFC 3261 §10.3).

A Registrar answers REGISTER requests from the location service it writes into: add, refresh,
remove (Expires: 0, ``*``), Call-ID/CSeq ordering, min/max expires and 423, Path (RFC 3327),
Service-Route (RFC 3608) and SIP Outbound flows (RFC 5626). Authentication is the caller's; it
passes the user the request was authenticated as, and the registrar answers 403 for an AOR that
user may not register::

    users = libsip.UserDB("/etc/sipd/users")
    auth = libsip.AuthServer("example.com")
    registrar = libsip.Registrar(location, service_route="<sip:proxy.example.com;lr>")

    @stack.on_request("REGISTER")
    async def register(req):
        check = await auth.check(req, users.lookup())   # answered from the table
        if not check.ok:
            check.reply()
            return
        status, rsp, bindings = await registrar.save(req, check.user)

A UserDB holds HA1 hashes (MD5 and SHA-256, RFC 7616 §3.4.2) per user and realm, in the file
format ``user:realm:algorithm:ha1`` that ``sipd passwd`` writes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, List, Optional, Tuple, Union

from . import _core as _c
from ._base import safe_repr
from ._errors import ClosedError, InvalidError, ParseError, error
from .auth import LATER, AuthCheck, _algorithm
from .location import Binding, Location, _set_list
from .message import Message

# What a save answered: the status (200, 400, 403, 404, 420, 423, 439, 500), the response sent
# (None when none could be made) and, on a 200, the AOR's bindings after it (else []).
_Saved = Tuple[int, Optional[Message], List[Binding]]

def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a str, not {type(v).__name__}")
    return v


def _int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    if v < 0 or v > 0xFFFFFFFF:
        raise InvalidError(_c.SIP_EINVAL, f"{name} out of range: {v}")
    return v


def _txn(target: Any) -> Any:
    """The C server transaction of a received Request or a ServerTransaction."""
    from .stack import Request
    from .txn import ServerTransaction
    if isinstance(target, Request):
        t = target.transaction
        if t is None:
            raise InvalidError(_c.SIP_EINVAL, "save: the request has no server transaction "
                                              "(a Stack made with transactions=True)")
        return t._handle()
    if isinstance(target, ServerTransaction):
        return target._handle()
    raise TypeError("save takes a Request or a ServerTransaction, not "
                    f"{type(target).__name__}")


class Registrar:
    """A registrar writing into a location service (sip_registrar_t). ``min_expires`` (60):
    shorter is answered 423; ``max_expires`` (3600): longer is granted as this;
    ``default_expires`` (3600); ``max_contacts`` (0: 256; more is 403);
    ``service_route``: Service-Route of the 2xx; ``path`` (True): keep and echo Path;
    ``flow_timer`` (120): Flow-Timer of a stream flow; ``outbound`` (True): RFC 5626 flows;
    ``auth_required`` (True): a save without a user is 403; ``server``: the Server header
    (None: libsip's, "": none)."""

    __slots__ = ("_h", "_location", "__weakref__")
    # The C options these keywords set, for tests/bindings_coverage.py.
    OPTIONS = ("min_expires", "max_expires", "default_expires", "max_contacts", "service_route",
               "path", "flow_timer", "outbound", "auth_required", "server")

    def __init__(self, location: Location, *, min_expires: int = 60, max_expires: int = 3600,
                 default_expires: int = 3600, max_contacts: int = 0,
                 service_route: Optional[str] = None, path: bool = True,
                 flow_timer: int = 120, outbound: bool = True, auth_required: bool = True,
                 server: Optional[str] = None) -> None:
        self._h: Any = None
        if not isinstance(location, Location):
            raise TypeError("location must be a libsip.Location, not "
                            f"{type(location).__name__}")
        o = _c.sip_registrar_opts_t()
        _c.sip_registrar_opts_init(o)
        o.min_expires = _int("min_expires", min_expires)
        o.max_expires = _int("max_expires", max_expires)
        o.default_expires = _int("default_expires", default_expires)
        o.max_contacts = _int("max_contacts", max_contacts)
        o.flow_timer = _int("flow_timer", flow_timer)
        if service_route is not None:
            o.service_route = _str("service_route", service_route)
        if server is not None:
            o.server = _str("server", server)
        for name, flag in (("path", path), ("outbound", outbound),
                           ("auth_required", auth_required)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
            setattr(o, name, 1 if flag else 0)
        rc, h = _c.sip_registrar_create(location._handle(), o)
        if rc < 0:
            raise error(rc, "Registrar: bad options (min_expires at most max_expires, which is "
                            "not 0; no line breaks in service_route or server)"
                        if rc == _c.SIP_EINVAL else None)
        self._h = h
        self._location = location

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="registrar is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_registrar_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Drops the registrar (saves in progress finish). Idempotent."""
        self.__del__()

    def __enter__(self) -> "Registrar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def location(self) -> Location:
        """The location service written into."""
        return self._location

    async def _run(self, target: Any, auth_user: Optional[str], fetch: bool) -> _Saved:
        h = self._handle()
        txn = _txn(target)
        if auth_user is not None:
            _str("auth_user", auth_user)
        fut = asyncio.get_running_loop().create_future()

        def done(r: Any, status: int, rsp: Any, set_h: Any) -> None:
            if fut.done():
                return
            m = Message._adopt(_c.sip_msg_ref(rsp)) if rsp is not None else None
            fut.set_result((status, m, _set_list(set_h) if status == 200 and set_h is not None
                            else []))

        if fetch:
            rc = _c.sip_registrar_fetch(h, txn, done)
        else:
            rc = _c.sip_registrar_save(h, txn, auth_user, done)
        if rc < 0:
            raise error(rc, "save: not a REGISTER's server transaction"
                        if rc == _c.SIP_EINVAL else None)
        return await fut

    async def save(self, request: Any, auth_user: Optional[str] = None) -> _Saved:
        """Processes a REGISTER (a received Request or its ServerTransaction) and answers it
        (RFC 3261 §10.3); auth_user is the user it was authenticated as (AuthCheck.user), or
        None (403 unless auth_required is False). Returns (status, response, bindings) once
        the response went out, which on a 200 is after every write is durable: the response
        sent (None when none could be made) and, on a 200, the AOR's bindings (a list of
        libsip.Binding, best first; [] otherwise)."""
        return await self._run(request, auth_user, False)

    async def fetch(self, request: Any) -> _Saved:
        """Answers a REGISTER with the AOR's current bindings only (§10.3 step 8)."""
        return await self._run(request, None, True)

    @safe_repr
    def __repr__(self) -> str:
        return "<Registrar closed>" if getattr(self, "_h", None) is None else "<Registrar>"


class UserDB:
    """A table of users and their HA1 hashes per realm (sip_userdb_t): read from a file
    (``user:realm:algorithm:ha1`` lines, '#' comments) or empty, written with save() (atomic,
    mode 0600). It answers an AuthServer's lookups: ``await server.check(req,
    users.lookup())``, or ``users.answer(check)`` from a lookup of your own. A malformed file
    raises ParseError whose ``line`` is the first bad line."""

    __slots__ = ("_h", "__weakref__")

    def __init__(self, path: Optional[str] = None) -> None:
        self._h: Any = None
        if path is not None:
            _str("path", path)
        rc, h, line = _c.sip_userdb_create(path)
        if rc == _c.SIP_EPARSE:
            raise ParseError(rc, f"UserDB: {path}:{line}: a malformed line", line=line)
        if rc < 0:
            raise error(rc, f"UserDB: {path} cannot be read" if rc == _c.SIP_EIO else None)
        self._h = h

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="user table is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_userdb_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Drops the table. Idempotent."""
        self.__del__()

    def __enter__(self) -> "UserDB":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_password(self, user: str, realm: str, password: str) -> None:
        """Adds or replaces a user's MD5 and SHA-256 HA1 for a realm (the password is not
        kept). Raises InvalidError for an empty user or realm, or one with ':' or a control
        character."""
        rc = _c.sip_userdb_set_password(self._handle(), _str("user", user), _str("realm", realm),
                                        _str("password", password))
        if rc < 0:
            raise error(rc, "set_password: user and realm must be non-empty, without ':' or "
                            "control characters" if rc == _c.SIP_EINVAL else None)

    def remove(self, user: str, realm: str) -> None:
        """Removes a user from a realm; raises NotFoundError when it is not there."""
        rc = _c.sip_userdb_remove(self._handle(), _str("user", user), _str("realm", realm))
        if rc < 0:
            raise error(rc, f"remove: no user {user!r} in realm {realm!r}")

    def get_ha1(self, user: str, realm: str, algorithm: Union[str, int] = "MD5") -> Optional[str]:
        """The hex HA1 of a user for a realm and an algorithm ("MD5", "SHA-256"; a -sess one
        gives its base's), or None."""
        return _c.sip_userdb_get_ha1(self._handle(), _str("user", user), _str("realm", realm),
                                     _algorithm(algorithm, "algorithm"))

    @property
    def count(self) -> int:
        """The number of users (user and realm pairs)."""
        return _c.sip_userdb_count(self._handle())

    def save(self, path: str) -> None:
        """Writes the table to a file, replaced atomically, mode 0600. Raises Error (SIP_EIO)
        when it cannot be written."""
        rc = _c.sip_userdb_save(self._handle(), _str("path", path))
        if rc < 0:
            raise error(rc, f"save: {path} cannot be written")

    def answer(self, check: AuthCheck) -> None:
        """Answers a digest check's lookup from the table: the HA1 of its user, realm and
        algorithm, or "no such user" (which costs the same)."""
        if not isinstance(check, AuthCheck):
            raise TypeError(f"check must be a libsip.AuthCheck, not {type(check).__name__}")
        rc = _c.sip_userdb_answer(self._handle(), check._handle())
        if rc == _c.SIP_EBUSY:
            raise InvalidError(rc, "answer: the lookup was answered already")
        if rc < 0:
            raise error(rc)

    def lookup(self) -> Callable[[AuthCheck], Any]:
        """A lookup for AuthServer.check() that answers from the table:
        ``await server.check(req, users.lookup())``."""
        self._handle()

        def lookup(check: AuthCheck) -> Any:
            self.answer(check)
            return LATER
        return lookup

    @safe_repr
    def __repr__(self) -> str:
        if getattr(self, "_h", None) is None:
            return "<UserDB closed>"
        return f"<UserDB {self.count} users>"
