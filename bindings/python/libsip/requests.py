# SPDX-License-Identifier: MIT
"""Requests a UA sends outside its calls (sip_ua_send_request()), the credentials it answers
digest challenges with (RFC 3261 §22.2, on every request it sends: calls, their in-dialog
requests and these), MESSAGE (RFC 3428) and OPTIONS (RFC 3261 §11):

    ua = libsip.UA(stack, credentials=[{"user": "alice", "password": "secret"}])
    rsp = await ua.message("sip:bob@example.com", "hello")
    caps = await ua.options("sip:bob@example.com")
    print(caps.status, caps.headers["Allow"])

The core answers each 401 and 407 its credentials can (the request goes again with the CSeq
one higher); the script sees the final response only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Iterable, List, Optional

from . import _core as _c
from ._errors import InvalidError, error
from .message import BytesLike, HeaderArg, Message, NetInfo, _check_body, _header_items

if TYPE_CHECKING:
    from .calls import _Pending

_CRED_KEYS = ("user", "password", "realm", "ha1", "algorithm")


def _cred_text(name: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def _credential_list(credentials: Any) -> List[Mapping]:
    """credentials= of UA(): one mapping of add_credential()'s keywords, or a sequence of them."""
    if credentials is None:
        return []
    if isinstance(credentials, Mapping):
        return [credentials]
    if isinstance(credentials, (str, bytes)) or not isinstance(credentials, Iterable):
        raise TypeError("credentials must be a mapping or a sequence of mappings, not "
                        f"{type(credentials).__name__}")
    out = []
    for c in credentials:
        if not isinstance(c, Mapping):
            raise TypeError(f"each credential must be a mapping, not {type(c).__name__}")
        out.append(c)
    return out


class _UARequests:
    """The UA's requests and credentials (mixed into UA: see libsip.UA)."""

    # Provided by UA.
    _stack: Any
    _pending: Any

    def _handle(self) -> Any:  # pragma: no cover - UA's
        raise NotImplementedError

    def add_credential(self, user: str, password: Optional[str] = None, *,
                       realm: Optional[str] = None, ha1: Optional[str] = None,
                       algorithm: Optional[str] = None) -> None:
        """Adds a credential the UA answers 401 and 407 challenges with (RFC 3261 §22.2), on
        every request it sends: calls (INVITE, BYE, re-INVITE...), request(), message(),
        options(). realm None answers any realm; instead of the password, ha1 is
        H(user:realm:password) in hex for algorithm ("MD5", the default, "SHA-256",
        "SHA-512-256"; realm is then required). One for the same realm and user replaces the
        earlier one. Raises TypeError for a wrong type, InvalidError for a credential the core
        refuses (no password nor ha1, ha1 without realm or of the wrong length, an unknown
        algorithm)."""
        if not isinstance(user, str):
            raise TypeError(f"user must be a str, not {type(user).__name__}")
        cred = _c.sip_auth_cred_t()
        cred.user = user
        for name, value in (("password", password), ("realm", realm), ("ha1", ha1)):
            v = _cred_text(name, value)
            if v is not None:
                setattr(cred, name, v)
        alg = _cred_text("algorithm", algorithm)
        if alg is not None:
            a = _c.sip_auth_algorithm_from_name(alg)
            if a == 0:
                raise InvalidError(_c.SIP_EINVAL, f"unknown digest algorithm {alg!r}")
            cred.algorithm = a
        rc = _c.sip_ua_add_credential(self._handle(), cred)
        if rc < 0:
            if rc == _c.SIP_EINVAL:
                raise InvalidError(rc, "the credential needs a password, or ha1 of its "
                                       "algorithm's length with a realm")
            raise error(rc, f"cannot add the credential: {_c.sip_strerror(rc)}")

    def _add_credentials(self, credentials: Any) -> None:
        for c in _credential_list(credentials):
            unknown = sorted(set(c) - set(_CRED_KEYS))
            if unknown:
                raise TypeError(f"unknown credential key {unknown[0]!r} (user, password, "
                                "realm, ha1, algorithm)")
            if "user" not in c:
                raise TypeError("a credential needs its user")
            self.add_credential(c["user"], c.get("password"), realm=c.get("realm"),
                                ha1=c.get("ha1"), algorithm=c.get("algorithm"))

    def request(self, method: str, uri: str, body: Optional[BytesLike] = None, *,
                content_type: Optional[str] = None, headers: HeaderArg = None,
                from_: Optional[str] = None, dst: Any = None) -> "_Pending":
        """Sends a request outside any dialog (OPTIONS, MESSAGE, SUBSCRIBE...; not INVITE:
        ua.invite() places calls) to uri, with a new Call-ID, From tag and CSeq 1, and returns
        at once; ``await`` it for the final response (a Message of any status: a timeout or a
        transport failure is a 408 or 503 made here). Challenges the UA's credentials answer
        are not seen: the request goes again with them (CSeq one higher), and the final
        response is that request's; a challenge they cannot answer is the final response.
        body needs its content_type; headers are extra headers (a mapping or (name, value)
        pairs); from_ is the From address; dst where to send ("udp:host:port", a NetInfo)
        when not where the URI says (RFC 3263). Raises TypeError for a wrong type,
        InvalidError for INVITE, ACK or CANCEL, Error for a bad URI."""
        from .calls import _Pending
        if not isinstance(method, str) or not method:
            raise TypeError(f"method must be a non-empty str, not {type(method).__name__}")
        if not isinstance(uri, str):
            raise TypeError(f"uri must be a str, not {type(uri).__name__}")
        if method.upper() in ("INVITE", "ACK", "CANCEL"):
            raise InvalidError(_c.SIP_EINVAL, f"{method.upper()} is not sent with request(): "
                               "ua.invite() places calls, and calls send their ACK and CANCEL")
        f = _cred_text("from_", from_)
        items = _header_items(headers)
        _check_body(body, content_type)
        ni = NetInfo.parse(dst)._to_c() if dst is not None else None
        rc, h = _c.sip_ua_create_request(self._handle(), method, uri, f)
        if rc < 0:
            if rc == _c.SIP_EURI:
                raise error(rc, f"bad request URI {uri!r}")
            raise error(rc, f"cannot make the {method} request: {_c.sip_strerror(rc)}")
        m = Message._adopt(h)
        m._fill(items, body, content_type)
        p = _Pending(self._stack.loop)
        pending = self._pending
        pending.add(p)

        def on_response(_ua: Any, _req: Any, rsp: Any) -> None:
            st = _c.sip_msg_get_status(rsp)
            p._on_response(None, st, rsp)
            if st >= 200:
                pending.discard(p)

        rc = _c.sip_ua_send_request(self._handle(), m._handle(), ni, on_response)
        if rc < 0:
            pending.discard(p)
            raise error(rc, f"cannot send {method}: {_c.sip_strerror(rc)}")
        self._stack.loop._kick()
        return p

    def message(self, uri: str, text: BytesLike, content_type: str = "text/plain", *,
                headers: HeaderArg = None, from_: Optional[str] = None,
                dst: Any = None) -> "_Pending":
        """Sends a MESSAGE (RFC 3428) with text as its body outside any dialog; ``await`` it
        for the final response, as request(). Inside a call, call.message() sends one in its
        dialog."""
        if not isinstance(text, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"text must be str or bytes, not {type(text).__name__}")
        if not isinstance(content_type, str):
            raise TypeError(f"content_type must be a str, not {type(content_type).__name__}")
        return self.request("MESSAGE", uri, text, content_type=content_type, headers=headers,
                            from_=from_, dst=dst)

    def options(self, uri: str, *, headers: HeaderArg = None, from_: Optional[str] = None,
                dst: Any = None) -> "_Pending":
        """Asks uri for its capabilities with an OPTIONS outside any dialog (RFC 3261 §11);
        ``await`` it for the response (its Allow, Accept, Supported headers), as
        request()."""
        return self.request("OPTIONS", uri, headers=headers, from_=from_, dst=dst)


__all__: List[str] = []
