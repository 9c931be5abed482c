# SPDX-License-Identifier: MIT
"""SIP messages, headers and URIs over the flat core (libsip._core)."""

from __future__ import annotations

from typing import (Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple,
                    Union)

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, UriError, _text, check, error, parse_error

BytesLike = Union[bytes, bytearray, memoryview, str]


def _s(b: Optional[bytes]) -> str:
    """Text of a copied view. Messages are UTF-8 (RFC 3261 §7.3.1); bad octets survive."""
    return b.decode("utf-8", "surrogateescape") if b else ""


def _params(raw: bytes, sep: str = ";") -> Dict[str, str]:
    """A params view as a dict (name -> value, "" for a flag such as lr); order kept. A
    gen-value is never empty (RFC 3261 §25.1), so "" is a flag, as Uri.param() and Lua's
    params tables say."""
    out: Dict[str, str] = {}
    rest = raw
    if sep != ";":
        # sip_params_next walks ';' lists only: URI headers use '&'.
        for part in _s(raw).split(sep):
            if part:
                name, eq, value = part.partition("=")
                out[name] = value
        return out
    while rest:
        found, rest, name, value = _c.sip_params_next(rest)
        if not found:
            break
        out[_s(name)] = _s(value)
    return out


class Method(Enum):
    """Request methods libsip knows (sip_method_t); extension methods are UNKNOWN."""
    UNKNOWN = 0
    INVITE = _c.SIP_METHOD_INVITE
    ACK = _c.SIP_METHOD_ACK
    BYE = _c.SIP_METHOD_BYE
    CANCEL = _c.SIP_METHOD_CANCEL
    OPTIONS = _c.SIP_METHOD_OPTIONS
    REGISTER = _c.SIP_METHOD_REGISTER
    PRACK = _c.SIP_METHOD_PRACK
    UPDATE = _c.SIP_METHOD_UPDATE
    SUBSCRIBE = _c.SIP_METHOD_SUBSCRIBE
    NOTIFY = _c.SIP_METHOD_NOTIFY
    REFER = _c.SIP_METHOD_REFER
    MESSAGE = _c.SIP_METHOD_MESSAGE
    INFO = _c.SIP_METHOD_INFO
    PUBLISH = _c.SIP_METHOD_PUBLISH


class HeaderKind(Enum):
    """The shape a header value is parsed into (sip_hdr_kind_t)."""
    TEXT = _c.SIP_HK_TEXT
    ADDR = _c.SIP_HK_ADDR
    VIA = _c.SIP_HK_VIA
    CSEQ = _c.SIP_HK_CSEQ
    NUM = _c.SIP_HK_NUM
    TOKEN = _c.SIP_HK_TOKEN
    MEDIA = _c.SIP_HK_MEDIA
    AUTH = _c.SIP_HK_AUTH
    WARNING = _c.SIP_HK_WARNING
    RACK = _c.SIP_HK_RACK
    DATE = _c.SIP_HK_DATE


# ---- URIs -----------------------------------------------------------------------------------


class Uri:
    """A parsed URI (sip, sips, tel or any absolute URI). Compares with RFC 3261 §19.1.4 rules.

    A Uri made from text owns a copy of it; one taken from a message keeps the message alive.
    """

    __slots__ = ("_p", "_owner")

    def __init__(self, text: BytesLike) -> None:
        if not isinstance(text, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"a URI is str or bytes, not {type(text).__name__}")
        rc, p = _c.sip_uri_parse(text)
        if rc < 0:
            raise UriError(rc, f"malformed URI {text!r}")
        self._p: Any = p
        self._owner: Any = None

    @classmethod
    def _view(cls, p: Any, owner: Any) -> "Uri":
        u = cls.__new__(cls)
        u._p = p
        u._owner = owner
        return u

    def _ptr(self) -> Any:
        # A view into a message is only good while the message is: closed raises.
        if self._owner is not None:
            self._owner._handle()
        return self._p

    @property
    def scheme(self) -> str:
        """The scheme in lower case ("sip", "sips", "tel", "urn", ...)."""
        return _s(self._ptr().scheme_str).lower()

    @property
    def user(self) -> str:
        """The user part ("" when absent), escapes kept as written."""
        return _s(self._ptr().user)

    @property
    def password(self) -> str:
        """The password of user:password ("" when absent; RFC 3261 §19.1.1 advises against it)."""
        return _s(self._ptr().password)

    @property
    def host(self) -> str:
        """The host; IPv6 references keep their brackets."""
        return _s(self._ptr().host)

    @property
    def port(self) -> Optional[int]:
        """The port, or None when the URI has none."""
        return self._ptr().port or None

    @property
    def params(self) -> Dict[str, str]:
        """URI parameters (name -> value, "" for a flag such as lr)."""
        return _params(self._ptr().params)

    @property
    def headers(self) -> Dict[str, str]:
        """URI headers ("?a=b&c=d")."""
        return _params(self._ptr().headers, "&")

    @property
    def transport(self) -> str:
        """The transport parameter as written ("" when absent)."""
        return _s(self._ptr().transport)

    @property
    def maddr(self) -> str:
        """The maddr parameter ("" when absent)."""
        return _s(self._ptr().maddr)

    @property
    def user_param(self) -> str:
        """The user parameter ("phone", "ip"; "" when absent; RFC 3261 §19.1.1)."""
        return _s(self._ptr().user_param)

    @property
    def method(self) -> str:
        """The method parameter ("" when absent; RFC 3261 §19.1.1)."""
        return _s(self._ptr().method)

    @property
    def ttl(self) -> Optional[int]:
        """The ttl parameter, or None when the URI has none (RFC 3261 §19.1.1)."""
        ttl = self._ptr().ttl
        return None if ttl < 0 else ttl

    @property
    def lr(self) -> bool:
        """True when the URI has the lr flag (a loose router, RFC 3261 §19.1.1)."""
        return bool(self._ptr().lr)

    @property
    def opaque(self) -> str:
        """The whole scheme-specific part of a URI other than sip, sips and tel."""
        return _s(self._ptr().opaque)

    def param(self, name: str) -> Optional[str]:
        """A URI parameter by name (any case): its value, "" for a flag, None when absent."""
        found, value = _c.sip_uri_param(self._ptr(), name)
        return _s(value) if found else None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (str, bytes)):
            try:
                other = Uri(other)
            except UriError:
                return False
        if not isinstance(other, Uri):
            return NotImplemented
        return bool(_c.sip_uri_equal(self._ptr(), other._ptr()))

    def __hash__(self) -> int:
        # Equal URIs share scheme and host (case-insensitively); that is enough for a hash.
        return hash((self.scheme, self.host.lower()))

    def __bytes__(self) -> bytes:
        rc, text = _c.sip_uri_print(self._ptr())
        check(rc)
        return text

    def __str__(self) -> str:
        return _s(bytes(self))

    @safe_repr
    def __repr__(self) -> str:
        if self._owner is not None and self._owner._h is None:
            return "<Uri (message closed)>"
        return f"Uri({str(self)!r})"


# ---- typed header values --------------------------------------------------------------------


class _Value:
    """Base of the typed header values: plain copies, no link to the message."""

    __slots__ = ()

    @safe_repr
    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__
                           if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Via(_Value):
    """A Via value (RFC 3261 §20.42, RFC 3581): ``transport`` ("UDP"...), ``host``, ``port``
    (None when absent), ``branch``, ``received``, ``rport`` (None absent, 0 bare, else the
    port), ``maddr``, ``ttl`` (None when absent) and every ``params`` (name -> value)."""

    __slots__ = ("transport", "host", "port", "branch", "received", "rport", "maddr", "ttl",
                 "params")

    def __init__(self, v: Any) -> None:
        self.transport = _s(v.transport)
        self.host = _s(v.host)
        self.port: Optional[int] = v.port or None
        self.branch = _s(v.branch)
        self.received = _s(v.received)
        #: None when absent, 0 for a bare ";rport", else the port.
        self.rport: Optional[int] = None if v.rport < 0 else v.rport
        self.maddr = _s(v.maddr)
        self.ttl: Optional[int] = None if v.ttl < 0 else v.ttl
        self.params = _params(v.params)


class Address(_Value):
    """A name-addr or addr-spec with header params (From, To, Contact, Route, ...):
    ``display`` (as written, quotes kept), ``uri`` (a Uri; None for Contact ``*``), ``tag``,
    ``params`` (name -> value), ``star``, ``expires`` and ``q`` (Contact; None when absent).
    str() gives the header value; an Address is a value add_header() takes."""

    __slots__ = ("display", "uri", "tag", "params", "star", "expires", "q", "_ptext")

    def __init__(self, a: Any, owner: Any) -> None:
        self._ptext = _s(a.params)
        self.display = _s(a.display)
        self.star = bool(a.star)
        self.uri: Optional[Uri] = None if self.star else Uri._view(a.uri, owner)
        self.tag = _s(a.tag)
        self.params = _params(a.params)
        self.expires: Optional[int] = None if a.expires < 0 else a.expires
        #: Contact q in thousandths (q=0.5 gives 500), or None.
        self.q: Optional[int] = None if a.q < 0 else a.q

    def __str__(self) -> str:
        """The value as a header carries it: '"Bob" <sip:bob@example.com>;tag=a1', or "*"."""
        if self.star:
            return "*"
        text = f"<{self.uri}>"
        if self.display:
            text = f"{self.display} {text}"
        return f"{text};{self._ptext}" if self._ptext else text


class CSeq(_Value):
    """A CSeq value (RFC 3261 §20.16): ``seq`` (int) and ``method`` (str)."""

    __slots__ = ("seq", "method")

    def __init__(self, c: Any) -> None:
        self.seq: int = c.seq
        self.method = _s(c.method_str)


class Number(_Value):
    """Content-Length, Max-Forwards, Expires, Retry-After, ...: ``value``, ``params`` and
    ``comment``; for Date, ``time`` (seconds since the epoch)."""

    __slots__ = ("value", "params", "comment", "time")

    def __init__(self, n: Any) -> None:
        self.value: int = n.value
        self.params = _params(n.params)
        self.comment = _s(n.comment)
        self.time: int = n.time


class Token(_Value):
    """A token value with params (Event, Supported, Allow, Call-ID, ...): ``token`` and ``params``.
    """

    __slots__ = ("token", "params")

    def __init__(self, t: Any) -> None:
        self.token = _s(t.value)
        self.params = _params(t.params)


class MediaType(_Value):
    """A Content-Type or Accept value: ``type``, ``subtype`` and ``params``; str() gives
    "type/subtype"."""

    __slots__ = ("type", "subtype", "params")

    def __init__(self, m: Any) -> None:
        self.type = _s(m.type)
        self.subtype = _s(m.subtype)
        self.params = _params(m.params)

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}"


class Auth(_Value):
    """An Authorization, Proxy-Authorization, WWW-Authenticate, Proxy-Authenticate or
    Authentication-Info value (RFC 3261 §22, RFC 7616): scheme and the digest parameters, each ""
    when absent."""

    __slots__ = ("scheme", "realm", "nonce", "opaque", "algorithm", "qop", "domain", "stale",
                 "username", "uri", "response", "cnonce", "nc", "nextnonce", "rspauth")

    def __init__(self, a: Any) -> None:
        for k in self.__slots__:
            setattr(self, k, _s(getattr(a, k)))


class Warning(_Value):  # noqa: A001 - the header's name
    """A Warning value (RFC 3261 §20.43): ``code`` (int, 3xx), ``agent`` and ``text`` (the
    quoted text, quotes removed). Header.parsed gives it; the package does not export the name,
    which would shadow Python's built-in Warning."""

    __slots__ = ("code", "agent", "text")

    def __init__(self, w: Any) -> None:
        self.code: int = w.code
        self.agent = _s(w.agent)
        self.text = _s(w.text)


class RAck(_Value):
    """A RAck value (RFC 3262 §7.2): ``rseq``, ``cseq`` and ``method``."""

    __slots__ = ("rseq", "cseq", "method")

    def __init__(self, r: Any) -> None:
        self.rseq: int = r.rseq
        self.cseq: int = r.cseq
        self.method = _s(r.method_str)


def _typed(h: Any, owner: Any) -> Any:
    kind = _c.sip_hdr_kind(_c.sip_header_get_id(h))
    if kind == _c.SIP_HK_VIA:
        v = _c.sip_header_via(h)
        return Via(v) if v is not None else None
    if kind == _c.SIP_HK_ADDR:
        a = _c.sip_header_addr(h)
        return Address(a, owner) if a is not None else None
    if kind == _c.SIP_HK_CSEQ:
        c = _c.sip_header_cseq(h)
        return CSeq(c) if c is not None else None
    if kind in (_c.SIP_HK_NUM, _c.SIP_HK_DATE):
        n = _c.sip_header_num(h)
        return Number(n) if n is not None else None
    if kind == _c.SIP_HK_TOKEN:
        t = _c.sip_header_token(h)
        return Token(t) if t is not None else None
    if kind == _c.SIP_HK_MEDIA:
        m = _c.sip_header_media(h)
        return MediaType(m) if m is not None else None
    if kind == _c.SIP_HK_AUTH:
        a = _c.sip_header_auth(h)
        return Auth(a) if a is not None else None
    if kind == _c.SIP_HK_WARNING:
        w = _c.sip_header_warning(h)
        return Warning(w) if w is not None else None
    if kind == _c.SIP_HK_RACK:
        r = _c.sip_header_rack(h)
        return RAck(r) if r is not None else None
    return None


class Header:
    """One header value of a message. Keeps its message alive; ``parsed`` is the typed value
    (Via, Address, CSeq, ...), whose fields are also reachable on the header itself
    (``msg.headers["Via"][0].branch``)."""

    __slots__ = ("_msg", "_h", "_parsed")

    def __init__(self, msg: "Message", h: Any) -> None:
        self._msg = msg
        self._h = h
        self._parsed: Any = False

    def _hdr(self) -> Any:
        self._msg._handle()
        return self._h

    @property
    def name(self) -> str:
        """The name as written ("v" stays "v")."""
        return _s(_c.sip_header_get_name(self._hdr()))

    @property
    def canonical_name(self) -> str:
        """The long name of a known header ("Via" for "v"), else the name as written."""
        return _c.sip_hdr_name(_c.sip_header_get_id(self._hdr())) or self.name

    @property
    def value(self) -> str:
        """The value as written (one value of a comma list), as text."""
        return _s(_c.sip_header_get_value(self._hdr()))

    @property
    def kind(self) -> HeaderKind:
        """The HeaderKind the value parses into (TEXT for unknown headers)."""
        return HeaderKind(_c.sip_hdr_kind(_c.sip_header_get_id(self._hdr())))

    @property
    def parsed(self) -> Any:
        """The typed value (Via, Address, CSeq, Number, Token, MediaType, Auth, Warning, RAck), or
        None for a text header or a value that did not parse."""
        if self._parsed is False:
            self._parsed = _typed(self._hdr(), self._msg)
        return self._parsed

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        parsed = self.parsed
        if parsed is not None and name in getattr(type(parsed), "__slots__", ()):
            return getattr(parsed, name)
        raise AttributeError(f"{self.name} header has no field {name!r}")

    def replace(self, value: Any) -> None:
        """Replaces this value in place (same position); the new value must be one value."""
        text = _header_text(self.name, value)
        rc = _c.sip_msg_update_header(self._msg._handle(), self._h, text)
        if rc < 0:
            raise error(rc, f"bad {self.name} header value {value!r}")
        self._parsed = False

    def __str__(self) -> str:
        return self.value

    @safe_repr
    def __repr__(self) -> str:
        if self._msg._h is None:
            return "<Header (message closed)>"
        return f"Header({self.name!r}, {self.value!r})"


class Headers(Mapping[str, List[Header]]):
    """The headers of a message by name (long or compact form, any case): each name gives the
    list of its values in order. Iterating gives the names in wire order, once each."""

    __slots__ = ("_msg",)

    def __init__(self, msg: "Message") -> None:
        self._msg = msg

    def __getitem__(self, name: str) -> List[Header]:
        found = self.getall(name)
        if not found:
            raise KeyError(name)
        return found

    def getall(self, name: str) -> List[Header]:
        """Every value of a header (empty list when absent)."""
        name = _header_name(name)
        h = self._msg._handle()
        out = []
        i = 0
        while True:
            p = _c.sip_msg_header_by_name(h, name, i)
            if p is None:
                return out
            out.append(Header(self._msg, p))
            i += 1

    def first(self, name: str) -> Optional[Header]:
        """The first value of a header, or None when absent."""
        name = _header_name(name)
        p = _c.sip_msg_header_by_name(self._msg._handle(), name, 0)
        return Header(self._msg, p) if p is not None else None

    def all(self) -> List[Header]:
        """Every header value in wire order."""
        out = []
        p = _c.sip_msg_header_first(self._msg._handle())
        while p is not None:
            out.append(Header(self._msg, p))
            p = _c.sip_header_next(p)
        return out

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and \
            _c.sip_msg_header_by_name(self._msg._handle(), name, 0) is not None

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for h in self.all():
            key = h.canonical_name.lower()
            if key not in seen:
                seen.add(key)
                yield h.canonical_name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @safe_repr
    def __repr__(self) -> str:
        if self._msg._h is None:
            return "<Headers (message closed)>"
        return f"Headers({[(h.name, h.value) for h in self.all()]!r})"


# ---- checking what scripts pass in ------------------------------------------------------------


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - only for a message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _header_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a header name must be a str, not {type(name).__name__} "
                        f"({_short(name)})")
    return name


def _header_text(name: Any, value: Any) -> str:
    """The text of one header value: a str as it is, an int for a numeric header (Expires,
    Max-Forwards, ...), an Address or Uri for an address header (From, Contact, Route, ...).
    Anything else (None, bytes, a list, a bool) raises TypeError naming the header."""
    name = _header_name(name)
    if isinstance(value, str):
        return value
    kind = _c.sip_hdr_kind(_c.sip_hdr_id_from_name(name))
    if isinstance(value, int) and not isinstance(value, bool) and kind == _c.SIP_HK_NUM:
        return str(int(value))
    if isinstance(value, (Uri, Address)) and kind == _c.SIP_HK_ADDR:
        return str(value)
    allowed = "a str"
    if kind == _c.SIP_HK_NUM:
        allowed = "a str or an int"
    elif kind == _c.SIP_HK_ADDR:
        allowed = "a str, an Address or a Uri"
    raise TypeError(f"the {name} header value must be {allowed}, not {type(value).__name__} "
                    f"({_short(value)})")


def _header_items(headers: "HeaderArg") -> List[Tuple[str, str]]:
    """headers= of request(), response() and reply(): a mapping or (name, value) pairs; a list
    or tuple value gives one header per item. Every value is checked (_header_text)."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        items: Iterable[Any] = headers.items()
    elif isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        raise TypeError("headers must be a mapping or a sequence of (name, value) pairs, not "
                        f"{type(headers).__name__}")
    else:
        items = headers
    out = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"headers must hold (name, value) pairs, not {_short(item)}")
        name, value = item
        for v in value if isinstance(value, (list, tuple)) else (value,):
            out.append((_header_name(name), _header_text(name, v)))
    return out


def _status(status: Any) -> int:
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, not {type(status).__name__} "
                        f"({_short(status)})")
    if not 100 <= status <= 699:
        raise error(_c.SIP_EINVAL, f"status must be 100-699, not {status}")
    return int(status)


def _optional_text(what: str, value: Any) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {type(value).__name__} "
                        f"({_short(value)})")
    return value


_BODY_TYPES = (bytes, bytearray, memoryview, str)


def _check_body(body: Any, content_type: Any, has_type: bool = False) -> None:
    """A body needs bytes or str, and a content type (given, or kept from the message)."""
    if body is not None and not isinstance(body, _BODY_TYPES):
        raise TypeError(f"body must be bytes or str, not {type(body).__name__}")
    _optional_text("content_type", content_type)
    if body and content_type is None and not has_type:
        raise error(_c.SIP_EINVAL, "a body needs a content type: pass content_type "
                                   "(\"application/sdp\", \"text/plain\", ...)")


def _request_problem(msg: "Message") -> Optional[str]:
    """Why a request cannot start a client transaction, in words (the C layer answers only a
    code), or None when nothing is found wrong with it."""
    h = msg._handle()
    if not _c.sip_msg_is_request(h):
        return "a response cannot start a client transaction"
    method = msg.method
    if method == "ACK":
        return ("an ACK is not sent in a client transaction (RFC 3261 §17.1.1.3): send it "
                "with stack.send()")
    # The transaction layer adds the Via: what else is wrong is C's to say (sip_msg_validate
    # names the first header missing or repeated, RFC 3261 §8.1.1 and §7.3.1).
    rc, probe = _c.sip_msg_clone(h)
    if rc == 0:
        try:
            if _c.sip_msg_get_via(probe) is None:
                _c.sip_msg_add_header(probe, "Via", "SIP/2.0/UDP invalid;branch=z9hG4bKcheck")
            rc, err = _c.sip_msg_validate(probe)
            if rc < 0 and err is not None:
                return f"the {method} request is not valid: {_text(err.reason)} (RFC 3261 §8.1.1)"
        finally:
            _c.sip_msg_unref(probe)
    return None


# ---- messages -------------------------------------------------------------------------------


HeaderArg = Union[Mapping[str, Any], Iterable[Tuple[str, Any]], None]


class Message:
    """A SIP request or response (sip_msg_t). Parse with Message.parse(), build with
    Message.request() and msg.response(); ``bytes(msg)`` and ``str(msg)`` give the wire form."""

    __slots__ = ("_h", "__weakref__")

    def __init__(self, *_: Any) -> None:
        raise TypeError("use Message.parse(), Message.request() or msg.response()")

    @classmethod
    def _adopt(cls, h: Any) -> "Message":
        """Wraps a handle whose reference this object now owns."""
        m = object.__new__(cls)
        m._h = h
        return m

    def _handle(self) -> Any:
        h = self._h
        if h is None:
            raise ClosedError(message="message is closed")
        return h

    def __del__(self, _unref: Any = _c.sip_msg_unref) -> None:
        # Runs once per message received or sent: kept to one slot read in the common case.
        try:
            h = self._h
        except AttributeError:
            return
        if h is not None:
            self._h = None
            _unref(h)

    def close(self) -> None:
        """Drops the message now (later use raises ClosedError)."""
        self.__del__()

    def __enter__(self) -> "Message":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- making ---------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: BytesLike, *, stream: bool = False, max_size: Optional[int] = None,
              max_headers: Optional[int] = None, max_line: Optional[int] = None) -> "Message":
        """Parses one message (bytes or str). Raises ParseError with line, column and the
        response a server should send. The options are sip_parse_opts_t's: stream (the
        buffer came from a stream transport: Content-Length required and exact), max_size,
        max_headers and max_line (limits; None: the defaults)."""
        if not isinstance(data, _BODY_TYPES):
            raise TypeError(f"a message to parse is bytes or str, not {type(data).__name__}")
        if stream or max_size is not None or max_headers is not None or max_line is not None:
            opts = _c.sip_parse_opts_t()
            _c.sip_parse_opts_init(opts)
            opts.stream = int(stream)
            for k, v in (("max_size", max_size), ("max_headers", max_headers),
                         ("max_line", max_line)):
                if v is not None:
                    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                        raise TypeError(f"{k} must be an int >= 0, not {_short(v)}")
                    setattr(opts, k, v)
            rc, h, err = _c.sip_msg_parse_ex(data, opts)
        else:
            rc, h, err = _c.sip_msg_parse(data)
        if rc in (_c.SIP_EINVAL, _c.SIP_ENOMEM):
            raise error(rc)
        if rc < 0:
            raise parse_error(rc, err)
        return cls._adopt(h)

    @classmethod
    def request(cls, method: str, uri: Union[str, Uri], headers: HeaderArg = None,
                body: Optional[BytesLike] = None, content_type: Optional[str] = None
                ) -> "Message":
        """A new request "METHOD uri SIP/2.0" with the given headers (added in order; see
        add_header() for the values taken). A body needs its content_type."""
        if not isinstance(method, str):
            raise TypeError(f"method must be a str, not {type(method).__name__}")
        if not isinstance(uri, (str, Uri)):
            raise TypeError(f"uri must be a str or a Uri, not {type(uri).__name__}")
        items = _header_items(headers)
        _check_body(body, content_type)
        rc, h = _c.sip_msg_create_request(method, str(uri))
        if rc < 0:
            raise error(rc, f"cannot make a {method} request to {str(uri)!r}: "
                            f"{_c.sip_strerror(rc)}")
        m = cls._adopt(h)
        m._fill(items, body, content_type)
        return m

    def response(self, status: int, reason: Optional[str] = None, headers: HeaderArg = None,
                 body: Optional[BytesLike] = None, content_type: Optional[str] = None,
                 to_tag: Optional[str] = None) -> "Message":
        """A response to this request (RFC 3261 §8.2.6.2: Via, From, To, Call-ID, CSeq copied;
        a To tag added for status > 100). Raises InvalidError "status must be 100-699" and
        TypeError for a value of the wrong type."""
        handle = self._handle()
        status = _status(status)
        _optional_text("reason", reason)
        _optional_text("to_tag", to_tag)
        items = _header_items(headers)
        _check_body(body, content_type)
        rc, h = _c.sip_msg_create_response(handle, status, reason, to_tag)
        if rc == _c.SIP_EINVAL and not _c.sip_msg_is_request(handle):
            raise error(rc, "a response is made from a request, not from a response")
        if rc < 0:
            raise error(rc, f"cannot make a {status} response to this request: "
                            f"{_c.sip_strerror(rc)}")
        m = Message._adopt(h)
        m._fill(items, body, content_type)
        return m

    def validate(self) -> None:
        """Checks what the grammar alone does not (sip_msg_validate): To, From, CSeq, Call-ID
        and Via present (RFC 3261 §8.1.1); Call-ID, CSeq, From, To, Max-Forwards and
        Content-Length at most once (§7.3.1). Raises ParseError naming the header
        (``header``; for a request ``status`` 400 and the ``phrase`` to answer with)."""
        rc, err = _c.sip_msg_validate(self._handle())
        if rc < 0:
            raise parse_error(rc, err)

    def copy(self) -> "Message":
        """An independent deep copy."""
        rc, h = _c.sip_msg_clone(self._handle())
        check(rc)
        return Message._adopt(h)

    def _fill(self, items: List[Tuple[str, str]], body: Optional[BytesLike],
              content_type: Optional[str]) -> None:
        """Adds checked header items (_header_items), then the body."""
        for name, value in items:
            self.add_header(name, value)
        if body is not None or content_type is not None:
            self.set_body(body or b"", content_type)

    # -- editing --------------------------------------------------------------------------

    def add_header(self, name: str, value: Any) -> None:
        """Adds a header after the others (a comma list adds several values). The value is a
        str, an int for a numeric header (Max-Forwards, Expires, ...) or an Address or Uri
        for an address header (From, To, Contact, Route, ...); anything else (None, bytes, a
        list) raises TypeError. A value that does not parse raises an Error naming the header
        and the value."""
        rc = _c.sip_msg_add_header(self._handle(), name, _header_text(name, value))
        if rc < 0:
            raise error(rc, f"bad {name} header value {value!r}")

    def prepend_header(self, name: str, value: Any) -> None:
        """Adds a header before every other one (a proxy's Via)."""
        rc = _c.sip_msg_prepend_header(self._handle(), name, _header_text(name, value))
        if rc < 0:
            raise error(rc, f"bad {name} header value {value!r}")

    def copy_headers(self, src: "Message", name: str) -> int:
        """Adds a copy of every value of header ``name`` from message ``src``, already parsed:
        nothing is parsed again, so a Contact or Allow kept in a template message costs less
        than add_header() with its text. Returns how many values were copied."""
        handle, sh, n = self._handle(), src._handle(), 0
        while True:
            h = _c.sip_msg_header_by_name(sh, name, n)
            if h is None:
                return n
            rc = _c.sip_msg_add_header_copy(handle, h)
            if rc < 0:
                raise error(rc, f"cannot copy the {name} header")
            n += 1

    def set_header(self, name: str, value: Any) -> None:
        """Replaces a header's value in place: the first value keeps its position and the
        others are removed; add_header() appends instead. Values as add_header() takes."""
        rc = _c.sip_msg_set_header(self._handle(), name, _header_text(name, value))
        if rc < 0:
            raise error(rc, f"bad {name} header value {value!r}")

    def remove_header(self, name: str, index: Optional[int] = None) -> int:
        """Removes one value (index) or every value of a header; gives the count removed."""
        name = _header_name(name)
        if index is None:
            return check(_c.sip_msg_remove_headers(self._handle(), name))
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"a header index must be an int, not {type(index).__name__} "
                            f"({_short(index)})")
        check(_c.sip_msg_remove_header(self._handle(), name, index))
        return 1

    def set_body(self, body: BytesLike, content_type: Optional[str] = None) -> None:
        """Sets the body (bytes or str) and its Content-Type. A non-empty body needs a
        content_type; an empty one with content_type None removes the body and the
        Content-Type."""
        h = self._handle()
        if body is None:
            raise TypeError("body must be bytes or str (b\"\" removes the body), not None")
        _check_body(body, content_type)
        rc = _c.sip_msg_set_body(h, content_type, body)
        if rc < 0:
            raise error(rc, f"bad content type {content_type!r}" if rc == _c.SIP_EINVAL
                        and content_type is not None else None)

    def set_status(self, status: int, reason: Optional[str] = None) -> None:
        """Changes a response's status code and reason phrase (None: the standard phrase)."""
        h = self._handle()
        status = _status(status)
        _optional_text("reason", reason)
        rc = _c.sip_msg_set_status(h, status, reason)
        if rc < 0:
            raise error(rc, "a request has no status" if _c.sip_msg_is_request(h) else None)

    def set_uri(self, uri: Union[str, Uri]) -> None:
        """Changes a request's Request-URI (a str or a Uri)."""
        if not isinstance(uri, (str, Uri)):
            raise TypeError(f"uri must be a str or a Uri, not {type(uri).__name__}")
        rc = _c.sip_msg_set_uri(self._handle(), str(uri))
        if rc < 0:
            raise error(rc, f"not a Request-URI: {uri!r}")

    # -- reading --------------------------------------------------------------------------

    @property
    def is_request(self) -> bool:
        """True for a request, False for a response."""
        return bool(_c.sip_msg_is_request(self._handle()))

    @property
    def method(self) -> Optional[str]:
        """The request method as written; None for a response."""
        h = self._handle()
        return _s(_c.sip_msg_get_method_str(h)) if _c.sip_msg_is_request(h) else None

    @property
    def method_id(self) -> Method:
        """The method as a Method (UNKNOWN for an extension method or a response)."""
        return Method(_c.sip_msg_get_method(self._handle()))

    @property
    def uri(self) -> Optional[Uri]:
        """The Request-URI (kept alive with this message); None for a response."""
        p = _c.sip_msg_get_uri(self._handle())
        return Uri._view(p, self) if p is not None else None

    @uri.setter
    def uri(self, value: Union[str, Uri]) -> None:
        self.set_uri(value)

    @property
    def status(self) -> int:
        """The status code of a response; 0 for a request."""
        return _c.sip_msg_get_status(self._handle())

    @property
    def reason(self) -> str:
        """The reason phrase of a response ("" for a request)."""
        return _s(_c.sip_msg_get_reason(self._handle()))

    @property
    def body(self) -> bytes:
        """The body as bytes (b"" when none). Setting it keeps the Content-Type; a message without
        one refuses a non-empty body (use set_body(body, content_type))."""
        return _c.sip_msg_get_body(self._handle())

    @body.setter
    def body(self, value: BytesLike) -> None:
        ct = self.content_type
        if value is None:
            raise TypeError("body must be bytes or str (b\"\" removes the body), not None")
        _check_body(value, None, ct is not None)
        self.set_body(value, str(ct) + _ct_params(ct) if ct is not None else None)

    @property
    def headers(self) -> Headers:
        """The headers as a read-only mapping: name (long or compact, any case) to the list of its
        Header values; edit with add_header(), set_header(), remove_header()."""
        return Headers(self)

    @property
    def call_id(self) -> str:
        """The Call-ID ("" when absent)."""
        return _s(_c.sip_msg_get_call_id(self._handle()))

    @property
    def cseq(self) -> Optional[CSeq]:
        """The CSeq (seq and method), or None."""
        c = _c.sip_msg_get_cseq(self._handle())
        return CSeq(c) if c is not None else None

    @property
    def via(self) -> Optional[Via]:
        """The top Via."""
        v = _c.sip_msg_get_via(self._handle())
        return Via(v) if v is not None else None

    @property
    def from_(self) -> Optional[Address]:
        """The From address (display, uri, tag, params), or None."""
        a = _c.sip_msg_get_from(self._handle())
        return Address(a, self) if a is not None else None

    @property
    def to(self) -> Optional[Address]:
        """The To address (display, uri, tag, params), or None."""
        a = _c.sip_msg_get_to(self._handle())
        return Address(a, self) if a is not None else None

    @property
    def max_forwards(self) -> Optional[int]:
        """Max-Forwards as an int, or None."""
        v = _c.sip_msg_get_max_forwards(self._handle())
        return None if v < 0 else v

    @property
    def expires(self) -> Optional[int]:
        """The Expires header as an int (seconds), or None."""
        v = _c.sip_msg_get_expires(self._handle())
        return None if v < 0 else v

    @property
    def content_type(self) -> Optional[MediaType]:
        """The Content-Type as a MediaType, or None."""
        m = _c.sip_msg_get_content_type(self._handle())
        return MediaType(m) if m is not None else None

    @property
    def netinfo(self) -> Optional["NetInfo"]:
        """Where the message came from or went (None before it touched the network)."""
        n = _c.sip_msg_get_netinfo(self._handle())
        return NetInfo._from(n) if n is not None else None

    # -- printing -------------------------------------------------------------------------

    def __bytes__(self) -> bytes:
        rc, text = _c.sip_msg_print(self._handle())
        check(rc)
        return text

    def __str__(self) -> str:
        return _s(bytes(self))

    @safe_repr
    def __repr__(self) -> str:
        if self._h is None:
            return "<Message closed>"
        if self.is_request:
            return f"<Message {self.method} {self.uri}>"
        return f"<Message {self.status} {self.reason}>"


def _ct_params(ct: MediaType) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in ct.params.items())


# ---- network facts --------------------------------------------------------------------------


class TransportType(Enum):
    """Transport protocols (sip_transport_type_t)."""
    NONE = _c.SIP_TRANSPORT_NONE
    UDP = _c.SIP_TRANSPORT_UDP
    TCP = _c.SIP_TRANSPORT_TCP
    TLS = _c.SIP_TRANSPORT_TLS
    WS = _c.SIP_TRANSPORT_WS
    WSS = _c.SIP_TRANSPORT_WSS


class NetInfo(_Value):
    """Addresses of a received or sent message, or a destination ("udp:127.0.0.1:5060"):
    ``transport`` (a TransportType), ``remote_ip``, ``remote_port``, ``local_ip``,
    ``local_port``, ``conn_id`` (the stream connection, 0 for none) and ``server_name`` (the
    domain a target was located from, sent as TLS SNI and checked against the certificate:
    RFC 5922; "" for an address)."""

    __slots__ = ("transport", "local_ip", "local_port", "remote_ip", "remote_port", "conn_id",
                 "server_name")

    def __init__(self, transport: Union[str, int] = "udp", remote_ip: str = "",
                 remote_port: int = 0, local_ip: str = "", local_port: int = 0,
                 conn_id: int = 0, server_name: str = "") -> None:
        if isinstance(transport, str):
            t = _c.sip_transport_from_name(transport)
            if t == _c.SIP_TRANSPORT_NONE:
                raise error(_c.SIP_EINVAL, f"unknown transport {transport!r}")
            transport = t
        self.transport = TransportType(transport)
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self.local_ip = local_ip
        self.local_port = local_port
        self.conn_id = conn_id
        self.server_name = server_name

    @classmethod
    def parse(cls, spec: Union[str, "NetInfo", Sequence[Any]]) -> "NetInfo":
        """"udp:127.0.0.1:5060", "tcp:[::1]:5070", ("udp", "127.0.0.1", 5060) or a NetInfo."""
        if isinstance(spec, NetInfo):
            return spec
        if not isinstance(spec, str):
            t, ip, port = spec
            return cls(t, ip, int(port))
        t, sep, rest = spec.partition(":")
        host, sep2, port = rest.rpartition(":")
        if not sep or not sep2 or not port.isdigit():
            raise error(_c.SIP_EINVAL, f"bad address {spec!r} (want transport:host:port)")
        return cls(t, host.strip("[]"), int(port))

    @classmethod
    def _from(cls, n: Any) -> "NetInfo":
        return cls(n.transport, n.remote_ip, n.remote_port, n.local_ip, n.local_port, n.conn_id,
                   n.server_name)

    def _to_c(self) -> Any:
        n = _c.sip_netinfo_t()
        n.transport = int(self.transport)
        n.remote_ip = self.remote_ip
        n.remote_port = self.remote_port
        n.local_ip = self.local_ip
        n.local_port = self.local_port
        n.conn_id = self.conn_id
        n.server_name = self.server_name
        return n

    @property
    def local(self) -> str:
        """The local side as a spec ("udp:127.0.0.1:5060")."""
        return _spec(self.transport, self.local_ip, self.local_port)

    @property
    def remote(self) -> str:
        """The remote side as a spec ("udp:127.0.0.1:5060")."""
        return _spec(self.transport, self.remote_ip, self.remote_port)


def _spec(t: int, ip: str, port: int) -> str:
    name = _c.sip_transport_param(int(t)) or "none"
    return f"{name}:[{ip}]:{port}" if ":" in ip else f"{name}:{ip}:{port}"


def status_phrase(status: int) -> str:
    """The standard reason phrase of a status code ("Not Found")."""
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, not {type(status).__name__} "
                        f"({_short(status)})")
    return _c.sip_status_phrase(status)


# ---- fresh identifiers ----------------------------------------------------------------------


def _random_hex(bits: int) -> str:
    rc, text = _c.sip_random_hex(bits)
    check(rc)
    return text.decode("ascii")


def branch() -> str:
    """A fresh Via branch: the RFC 3261 §8.1.1.7 magic cookie "z9hG4bK" and 64 random bits
    in hex ("z9hG4bK3f9a..."), as Lua's sip.branch()."""
    return "z9hG4bK" + _random_hex(64)


def tag() -> str:
    """A fresh From or To tag: 64 random bits in hex (RFC 3261 §19.3 asks for at least 32),
    as Lua's sip.tag()."""
    return _random_hex(64)


def call_id(host: Optional[str] = None) -> str:
    """A fresh Call-ID: 128 random bits in hex, then "@host" when host is given (RFC 3261
    §8.1.1.4), as Lua's sip.call_id()."""
    if host is not None and not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    cid = _random_hex(128)
    return f"{cid}@{host}" if host else cid
