# SPDX-License-Identifier: MIT
"""HTTP digest authentication for SIP (sip/auth.h; RFC 3261 §22, RFC 7616, RFC 8760).

The client half answers 401 and 407 challenges with stored credentials::

    ac = libsip.AuthClient()
    ac.add("alice", "secret", realm="example.com")
    ac.authorize(next_request, sent_request, challenge)   # adds Authorization

The server half challenges requests and checks their credentials. The lookup gives the
password (or the HA1) of a user; it may be a coroutine, which runs as an asyncio task, so a
database or a network service answers without blocking the loop::

    server = libsip.AuthServer("example.com")

    async def lookup(check):                  # check.user, check.realm, check.algorithm
        row = await db.fetch(check.user)
        return row.password if row else None  # None: no such user

    @stack.on_request("REGISTER")
    async def register(req):
        check = await server.check(req, lookup)
        if not check.ok:
            check.reply()                      # 401 with challenges, or 400
            return
        check.reply(200)                       # with Authentication-Info

``libsip.auth.check(req, lookup)`` does the same with one server per realm, made on first use.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _core as _c
from . import _errors
from ._base import Enum, safe_repr
from ._errors import ClosedError, Error, InvalidError, error
from .message import HeaderArg, Message, _header_items

logger = logging.getLogger("libsip")

_SEP = ", "


class Algorithm(enum.IntFlag):
    """Digest algorithms (sip_auth_algorithm_t; RFC 7616 §3.2, RFC 8760), as flags so that
    a set of them is one value: ``Algorithm.SHA256 | Algorithm.MD5``. Everywhere an algorithm
    is taken, its name ("SHA-256") is taken too."""
    MD5 = _c.SIP_AUTH_MD5
    MD5_SESS = _c.SIP_AUTH_MD5_SESS
    SHA256 = _c.SIP_AUTH_SHA256
    SHA256_SESS = _c.SIP_AUTH_SHA256_SESS
    SHA512_256 = _c.SIP_AUTH_SHA512_256
    SHA512_256_SESS = _c.SIP_AUTH_SHA512_256_SESS

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        # As libsip's other enums: the name, or the number for a numeric spec.
        return str(self) if not spec else int.__format__(int(self), spec)


class Verdict(Enum):
    """What a check found (sip_auth_verdict_t)."""
    PENDING = _c.SIP_AUTH_PENDING
    OK = _c.SIP_AUTH_OK
    CHALLENGE = _c.SIP_AUTH_CHALLENGE
    STALE = _c.SIP_AUTH_STALE
    FAILED = _c.SIP_AUTH_FAILED
    REPLAY = _c.SIP_AUTH_REPLAY
    MALFORMED = _c.SIP_AUTH_MALFORMED


class AuthError(Error):
    """No stored credential answers a challenge, or the server refused the one sent (a wrong
    password): SIP_EAUTH."""

    def __init__(self, code: int = _c.SIP_EAUTH, message: Optional[str] = None) -> None:
        super().__init__(code, message)


# error(SIP_EAUTH) anywhere in the package raises AuthError.
_errors._BY_CODE[_c.SIP_EAUTH] = AuthError

# A lookup returns LATER when it will answer with check.answer(...) itself, from a callback.
LATER = object()


def algorithm_name(algorithm: int) -> Optional[str]:
    """The name of one algorithm ("SHA-256"), or None."""
    return _c.sip_auth_algorithm_name(int(algorithm))


def algorithm_from_name(name: str) -> int:
    """The algorithm a name gives (any case), or 0 for an unknown one."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    return _c.sip_auth_algorithm_from_name(name)


def _algorithm(value: Any, what: str) -> int:
    if isinstance(value, str):
        a = _c.sip_auth_algorithm_from_name(value)
        if not a:
            raise InvalidError(_c.SIP_EINVAL, f"{what}: unknown algorithm {value!r}")
        return a
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"{what} must be an algorithm name or Algorithm, not "
                    f"{type(value).__name__}")


def _algorithms(value: Any, what: str) -> int:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return _algorithm(value, what)
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{what} must be algorithm names or Algorithm flags") from None
    out = 0
    for v in items:
        out |= _algorithm(v, what)
    return out


_QOPS = {"auth": _c.SIP_AUTH_QOP_AUTH, "auth-int": _c.SIP_AUTH_QOP_AUTH_INT}


def _qop(value: Any) -> int:
    if isinstance(value, str):
        value = [value]
    out = 0
    try:
        items = list(value)
    except TypeError:
        raise TypeError("qop must be a list of \"auth\" and \"auth-int\"") from None
    for v in items:
        if v not in _QOPS:
            raise InvalidError(_c.SIP_EINVAL, f"qop: {v!r} is not \"auth\" or \"auth-int\"")
        out |= _QOPS[v]
    return out


def _msg(m: Any, what: str) -> Any:
    if not isinstance(m, Message):
        raise TypeError(f"{what} must be a libsip.Message, not {type(m).__name__}")
    return m._handle()


def _opt_str(name: str, v: Any) -> Optional[str]:
    if v is not None and not isinstance(v, str):
        raise TypeError(f"{name} must be a str, not {type(v).__name__}")
    return v


# ---- client ------------------------------------------------------------------------------


class AuthClient:
    """A store of digest credentials and the challenges they answered (sip_auth_client_t):
    answers 401 and 407 with the strongest algorithm offered that it has a credential for,
    and authorises later requests to the same realms at once (prepare)."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h: Any = None
        rc, h = _c.sip_auth_client_create()
        if rc < 0:
            raise error(rc)
        self._h = h

    @classmethod
    def _borrow(cls, h: Any) -> "AuthClient":
        """Wraps a Borrowed handle (a UA's store), taking a reference of its own."""
        ac = object.__new__(cls)
        ac._h = _c.sip_auth_client_ref(h)
        return ac

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="credential store is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_auth_client_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Drops the store now (later use raises ClosedError). Idempotent."""
        self.__del__()

    def __enter__(self) -> "AuthClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def add(self, user: str, password: Optional[str] = None, *, realm: Optional[str] = None,
            ha1: Optional[str] = None, algorithm: Union[str, int, None] = None) -> None:
        """Adds a credential: a password, or the HA1 (H(user:realm:password) in hex) of
        ``algorithm`` (default MD5) for a named realm. realm None or "*" answers any realm.
        One for the same realm and user replaces the earlier one. Raises InvalidError for a
        credential that cannot be used (no password nor ha1; ha1 without realm or of the
        wrong length)."""
        self._handle()
        c = _c.sip_auth_cred_t()
        c.user = _opt_str("user", user)
        if user is None:
            raise TypeError("user must be a str, not None")
        if password is not None:
            c.password = _opt_str("password", password)
        if ha1 is not None:
            c.ha1 = _opt_str("ha1", ha1)
        if realm is not None:
            c.realm = _opt_str("realm", realm)
        c.algorithm = 0 if algorithm is None else _algorithm(algorithm, "algorithm")
        rc = _c.sip_auth_client_add(self._h, c)
        if rc < 0:
            raise error(rc, "add: a credential needs a user and a password, or an HA1 of the "
                            "algorithm's length for a named realm")

    def clear(self) -> None:
        """Forgets every credential and every cached challenge."""
        _c.sip_auth_client_clear(self._handle())

    @property
    def count(self) -> int:
        """The number of credentials."""
        return _c.sip_auth_client_count(self._handle())

    def authorize(self, next: Message, sent: Message, challenge: Message) -> None:
        """Answers the challenges of a 401 or 407 (``challenge``) to ``sent``: adds
        Authorization or Proxy-Authorization to ``next`` (the request to send instead, with
        its CSeq raised), replacing those it had for the same realms. Raises AuthError when
        no credential answers, or when the challenge says the credentials ``sent`` carried
        were wrong; InvalidError when ``challenge`` is not a 401/407 with a Digest
        challenge."""
        rc = _c.sip_auth_client_authorize(self._handle(), _msg(next, "next"),
                                          _msg(sent, "sent"), _msg(challenge, "challenge"))
        if rc < 0:
            if rc == _c.SIP_EAUTH:
                raise AuthError(rc, "no credential answers the challenge, or the password "
                                    "was refused")
            raise error(rc, "authorize: challenge must be a 401 or 407 with a Digest "
                            "challenge, next a request")

    def prepare(self, req: Message) -> None:
        """Authorises a new request at once with the challenges answered before (the same
        nonce, the nonce count one higher, RFC 7616 §3.4)."""
        rc = _c.sip_auth_client_prepare(self._handle(), _msg(req, "req"))
        if rc < 0:
            raise error(rc)

    def update(self, req: Message, rsp: Message) -> None:
        """Takes in the response to a request this client authorised (RFC 7616 §3.5): its
        Authentication-Info's rspauth is checked and its nextnonce becomes the realm's nonce
        (the nonce count starting again at 1), so the next request is authorised with it.
        Raises AuthError for a rspauth the credentials sent do not give (its nextnonce is not
        taken); a response without Authentication-Info changes nothing."""
        rc = _c.sip_auth_client_update(self._handle(), _msg(req, "req"), _msg(rsp, "rsp"))
        if rc < 0:
            if rc == _c.SIP_EAUTH:
                raise AuthError(rc, "the server's rspauth does not match the credentials sent")
            raise error(rc, "update: req must be a request, rsp a response")

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<AuthClient closed>"
        return f"<AuthClient {self.count} credentials>"


# ---- server ------------------------------------------------------------------------------


class AuthCheck:
    """One check of a request's credentials (sip_auth_query_t). The lookup receives it
    (``user``, ``realm``, ``algorithm``, ``request``) and answers with a password, an HA1 or
    None; afterwards ``verdict``, ``ok`` and ``status`` say what was found, ``response()``
    makes the 401/407/400 it asks for and ``add_info()`` adds Authentication-Info to a 2xx.
    ``await check`` waits until the verdict is in."""

    __slots__ = ("_h", "_server", "_request", "_waiters", "_task", "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("use AuthServer.check()")

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="check is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_auth_query_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Stops a check still waiting for its lookup (no verdict comes), and drops it.
        Idempotent."""
        h = getattr(self, "_h", None)
        if h is not None:
            _c.sip_auth_query_close(h)
        task, self._task = getattr(self, "_task", None), None
        if task is not None:
            task.cancel()
        self._wake()
        self.__del__()

    def __enter__(self) -> "AuthCheck":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def server(self) -> "AuthServer":
        """The AuthServer that checks."""
        return self._server

    @property
    def request(self) -> Message:
        """The request checked."""
        return self._request

    @property
    def user(self) -> str:
        """The username of the credentials ("" without credentials)."""
        return _c.sip_auth_query_get_user(self._handle()).decode("utf-8", "replace")

    @property
    def realm(self) -> str:
        """The realm (the server's)."""
        return _c.sip_auth_query_get_realm(self._handle()).decode("utf-8", "replace")

    @property
    def algorithm(self) -> Optional[str]:
        """The algorithm of the credentials ("SHA-256"), whose hash an HA1 answer must use
        (a -sess algorithm takes its base's HA1); None without credentials."""
        return _c.sip_auth_algorithm_name(_c.sip_auth_query_get_algorithm(self._handle()))

    @property
    def verdict(self) -> Verdict:
        """What the check found; Verdict.PENDING until the lookup answered."""
        return Verdict(_c.sip_auth_query_get_verdict(self._handle()))

    @property
    def ok(self) -> bool:
        """True when the credentials are right (Verdict.OK): ``user`` is who sent it."""
        return self.verdict == Verdict.OK

    @property
    def pending(self) -> bool:
        """True while the lookup has not answered."""
        return self.verdict == Verdict.PENDING

    @property
    def status(self) -> int:
        """The status to answer with: 401 (407 for a proxy) for a challenge, stale nonce,
        failure or replay, 400 for malformed credentials, 0 while pending or when OK."""
        return _c.sip_auth_query_get_status(self._handle())

    def answer(self, password: Optional[str] = None, *, ha1: Optional[str] = None) -> None:
        """Answers the lookup (for one that returned libsip.auth.LATER): with the user's
        password, or HA1 for ``algorithm``'s hash; neither: no such user (the verdict is
        then FAILED, reached with the same work as a wrong password)."""
        h = self._handle()
        if password is not None and ha1 is not None:
            raise TypeError("answer with a password or an ha1, not both")
        if password is not None:
            rc = _c.sip_auth_query_answer_password(h, _opt_str("password", password))
        elif ha1 is not None:
            rc = _c.sip_auth_query_answer_ha1(h, _opt_str("ha1", ha1))
        else:
            rc = _c.sip_auth_query_answer_unknown(h)
        if rc == _c.SIP_EBUSY:
            raise InvalidError(rc, "answer: the lookup was answered already")
        if rc < 0:
            raise error(rc, "answer: an HA1 is the hex of the algorithm's hash "
                            f"({self.algorithm})" if rc == _c.SIP_EINVAL else None)

    def response(self) -> Message:
        """The response the verdict asks for (not OK): 401/407 with the challenges
        (stale=true for a stale nonce), or 400."""
        rc, rsp = _c.sip_auth_query_create_response(self._handle())
        if rc < 0:
            raise error(rc, "response: the check is pending or OK (answer it yourself, with "
                            "add_info)")
        return Message._adopt(rsp)

    def add_info(self, rsp: Message) -> None:
        """Adds Authentication-Info (nextnonce, rspauth: RFC 7616 §3.5) to the 2xx of a
        check that is OK."""
        rc = _c.sip_auth_query_add_info(self._handle(), _msg(rsp, "rsp"))
        if rc < 0:
            raise error(rc, "add_info: the check is not OK" if rc == _c.SIP_EINVAL else None)

    def reply(self, status: Optional[int] = None, reason: Optional[str] = None,
              headers: HeaderArg = None, body: Any = None,
              content_type: Optional[str] = None) -> Message:
        """Answers the request checked (one a Stack received) and returns the response:
        without a status, the one the verdict asks for (its challenges or 400); with one
        (a 2xx when OK), that response, with Authentication-Info when OK."""
        req = self._request
        if not hasattr(req, "reply"):
            raise InvalidError(_c.SIP_EINVAL, "reply: not a request received by a Stack")
        extra: List[Tuple[str, str]] = []
        if status is None:
            made = self.response()
            status = made.status
            extra = [(h.name, h.value) for h in made.headers.all()
                     if h.name.lower() in ("www-authenticate", "proxy-authenticate")]
            made.close()
        elif self.ok and 200 <= status < 300:
            # RFC 7616 §3.5: with auth-int, rspauth covers the response's body.
            made = self._request.response(status, reason, None, body, content_type)
            self.add_info(made)
            extra = [(h.name, h.value) for h in made.headers.all()
                     if h.name.lower() == "authentication-info"]
            made.close()
        items = _header_items(headers) + extra
        return req.reply(status, reason, items, body, content_type)  # type: ignore[attr-defined]

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(self)

    def __await__(self) -> Any:
        if self._h is not None and self.pending:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            yield from fut.__await__()
        return self

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<AuthCheck closed>"
        who = f" {self.user!r}" if self.user else ""
        return f"<AuthCheck {self.verdict.name.lower()}{who}>"


def _lookup_answer(chk: AuthCheck, r: Any) -> None:
    """Answers chk with what a lookup returned."""
    if r is LATER:
        return
    if chk._h is None or not chk.pending:
        return
    if r is None or r is False:
        chk.answer()
    elif isinstance(r, str):
        chk.answer(r)
    elif isinstance(r, dict) and set(r) <= {"password", "ha1"} and len(r) == 1:
        chk.answer(r.get("password"), ha1=r.get("ha1"))
    else:
        raise TypeError("a lookup returns a password (str), {\"ha1\": hex}, "
                        "{\"password\": str}, None (no such user) or libsip.auth.LATER, not "
                        f"{type(r).__name__}")


def _run_lookup(chk: AuthCheck, lookup: Callable[[AuthCheck], Any]) -> None:
    """Runs the lookup; a coroutine becomes a task of the running asyncio loop. A lookup that
    raises counts as "no such user" (logged): the check never hangs on it."""
    def failed() -> None:
        if chk._h is not None and chk.pending:
            _c.sip_auth_query_answer_unknown(chk._h)

    try:
        r = lookup(chk)
        if not asyncio.iscoroutine(r):
            _lookup_answer(chk, r)
            return
    except Exception:
        logger.error("exception in a libsip auth lookup", exc_info=True)
        failed()
        return

    async def guarded() -> None:
        try:
            _lookup_answer(chk, await r)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.error("exception in a libsip auth lookup", exc_info=True)
            failed()
        finally:
            chk._task = None

    try:
        chk._task = asyncio.get_running_loop().create_task(guarded())
    except RuntimeError:
        r.close()
        failed()
        raise RuntimeError("an async lookup needs a running asyncio loop "
                           "(await stack.serve())") from None


class AuthServer:
    """A digest server for one realm (sip_auth_server_t): challenges requests and checks
    their credentials with stateless nonces signed with ``secret`` (random when None: the
    nonces end with the server), good for ``nonce_lifetime`` seconds. ``algorithms`` are
    offered one challenge each, strongest first; ``qop`` is a list of "auth" and
    "auth-int" (empty: RFC 2069's none); ``proxy`` challenges with 407 and
    Proxy-Authenticate; ``replay_slots`` bounds the nonces whose counts are remembered."""

    __slots__ = ("_h", "__weakref__")
    # The C options these keywords set, for tests/bindings_coverage.py: nonce_lifetime is
    # nonce_lifetime_s.
    OPTIONS = ("realm", "secret", "nonce_lifetime_s", "algorithms", "qop", "proxy",
               "replay_slots")

    def __init__(self, realm: str, *, secret: Optional[str] = None,
                 nonce_lifetime: int = 300,
                 algorithms: Union[Iterable[Union[str, int]], str, int] = ("SHA-256", "MD5"),
                 qop: Iterable[str] = ("auth",), proxy: bool = False,
                 replay_slots: int = 4096) -> None:
        self._h: Any = None
        if not isinstance(realm, str):
            raise TypeError(f"realm must be a str, not {type(realm).__name__}")
        o = _c.sip_auth_server_opts_t()
        _c.sip_auth_server_opts_init(o)
        o.realm = realm
        if secret is not None:
            o.secret = _opt_str("secret", secret)
        for name, v in (("nonce_lifetime", nonce_lifetime), ("replay_slots", replay_slots)):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2 ** 32:
                raise TypeError(f"{name} must be an int of 0 or more, not {v!r}")
        o.nonce_lifetime_s = nonce_lifetime
        o.replay_slots = replay_slots
        o.algorithms = _algorithms(algorithms, "algorithms")
        o.qop = _qop(qop)
        o.proxy = 1 if proxy else 0
        rc, h = _c.sip_auth_server_create(o)
        if rc < 0:
            raise error(rc, f"AuthServer: bad options (realm {realm!r}, algorithms "
                            f"{algorithms!r})")
        self._h = h

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="auth server is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_auth_server_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Drops the server now (checks in progress finish). Idempotent."""
        self.__del__()

    def __enter__(self) -> "AuthServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def realm(self) -> str:
        """The realm."""
        return _c.sip_auth_server_get_realm(self._handle())

    def check(self, req: Message, lookup: Callable[[AuthCheck], Any]) -> AuthCheck:
        """Checks the credentials of ``req`` and returns the AuthCheck; ``await`` it for the
        verdict. lookup(check) runs when the request carries credentials for the realm: it
        returns the user's password (str), {"ha1": hex} for ``check.algorithm``, None for no
        such user, or libsip.auth.LATER and calls check.answer() itself later; it may be a
        coroutine (an asyncio task). A lookup that raises counts as no such user."""
        h = self._handle()
        rh = _msg(req, "req")
        if not callable(lookup):
            raise TypeError(f"lookup must be callable, not {type(lookup).__name__}")
        chk = object.__new__(AuthCheck)
        chk._h = None
        chk._server = self
        chk._request = req
        chk._waiters = []
        chk._task = None

        def on_event(q: Any, event: int) -> None:
            if chk._h is None:
                chk._h = _c.sip_auth_query_ref(q)
            if event == _c.SIP_AUTH_EVENT_LOOKUP:
                _run_lookup(chk, lookup)
            else:
                chk._wake()

        rc, q = _c.sip_auth_server_check(h, rh, on_event)
        if rc < 0:
            raise error(rc)
        if chk._h is None:
            chk._h = q
        else:
            _c.sip_auth_query_unref(q)
        return chk

    def challenge(self, rsp: Message, stale: bool = False) -> None:
        """Adds the challenges to a response (one per algorithm, a fresh nonce)."""
        rc = _c.sip_auth_server_challenge(self._handle(), _msg(rsp, "rsp"), 1 if stale else 0)
        if rc < 0:
            raise error(rc, "challenge: rsp must be a response")

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<AuthServer closed>"
        return f"<AuthServer {self.realm!r}>"


_servers: Dict[Tuple[str, bool], AuthServer] = {}


def check(req: Message, lookup: Callable[[AuthCheck], Any], *, realm: Optional[str] = None,
          proxy: bool = False) -> AuthCheck:
    """AuthServer.check() with one server per realm (and role), made on first use with the
    defaults: SHA-256 and MD5, qop auth, a random secret. realm defaults to the host of the
    request's Request-URI (RFC 3261 §22.1: usually the domain)."""
    if realm is None:
        h = _msg(req, "req")
        uri = _c.sip_msg_get_uri(h)
        if uri is None:
            raise InvalidError(_c.SIP_EINVAL, "check: req must be a request")
        realm = uri.host.decode("utf-8", "replace")
    key = (realm, bool(proxy))
    srv = _servers.get(key)
    if srv is None or srv._h is None:
        srv = _servers[key] = AuthServer(realm, proxy=proxy)
    return srv.check(req, lookup)
