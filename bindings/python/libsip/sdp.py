# SPDX-License-Identifier: MIT
"""SDP session descriptions (RFC 8866) and multipart bodies (RFC 5621) over the flat core."""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Tuple

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import BodyError, ClosedError, SdpError, check, error
from .message import BytesLike, _check_body, _header_name, _header_text, _s


class Direction(Enum):
    """Media direction attributes (RFC 3264 §5.1): SENDRECV, SENDONLY, RECVONLY, INACTIVE."""

    SENDRECV = _c.SIP_SDP_SENDRECV
    SENDONLY = _c.SIP_SDP_SENDONLY
    RECVONLY = _c.SIP_SDP_RECVONLY
    INACTIVE = _c.SIP_SDP_INACTIVE


class Origin(NamedTuple):
    username: str
    sess_id: str
    sess_version: str
    nettype: str
    addrtype: str
    address: str


class Connection(NamedTuple):
    nettype: str
    addrtype: str
    address: str
    ttl: Optional[int]
    count: int


class RtpMap(NamedTuple):
    payload: int
    encoding: str
    clock_rate: int
    channels: int
    params: str


def _conn(c: Any) -> Optional[Connection]:
    if c is None:
        return None
    return Connection(_s(c.nettype), _s(c.addrtype), _s(c.address),
                      None if c.ttl < 0 else c.ttl, c.count)


def _attrs(count: int, at: Any) -> List[Tuple[str, Optional[str]]]:
    out: List[Tuple[str, Optional[str]]] = []
    for i in range(count):
        a = at(i)
        out.append((_s(a.name), _s(a.value) if a.has_value else None))
    return out


def _attr_args(name: Any, value: Any) -> None:
    # Checked here so that SWIG's own message ("argument 2 of type 'char const *'") never
    # reaches a script, as in Lua.
    if not isinstance(name, str):
        raise TypeError(f"an attribute name must be a str, not {type(name).__name__}")
    if value is not None and not isinstance(value, str):
        raise TypeError(f"the value of a={name} must be a str or None, not "
                        f"{type(value).__name__}")


class Sdp:
    """A session description (sip_sdp_t). ``Sdp.parse(text)``, ``Sdp()`` for a minimal one to
    build on; ``str(sdp)`` prints it."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        rc, h = _c.sip_sdp_create()
        check(rc)
        self._h: Any = h

    @classmethod
    def parse(cls, data: BytesLike) -> "Sdp":
        """Parses a session description (RFC 8866). Raises SdpError with line, column and the line
        type at fault."""
        rc, h, err = _c.sip_sdp_parse(data)
        if rc < 0:
            if err is None:
                raise error(rc)
            t = err.type
            raise SdpError(rc, err.reason, err.line, err.column,
                           t if t and t != "\x00" else "")
        s = cls.__new__(cls)
        s._h = h
        return s

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="session description is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_sdp_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Drops the session description now (later use raises ClosedError). Idempotent."""
        self.__del__()

    def __enter__(self) -> "Sdp":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return getattr(self, "_h", None) is None

    def __bytes__(self) -> bytes:
        rc, text = _c.sip_sdp_print(self._handle())
        check(rc)
        return text

    def __str__(self) -> str:
        return _s(bytes(self))

    @safe_repr
    def __repr__(self) -> str:
        if self.closed:
            return "<Sdp closed>"
        return f"<Sdp {len(self.media)} media>"

    # -- session level ----------------------------------------------------------------------

    @property
    def origin(self) -> Origin:
        """The o= line as an Origin."""
        o = _c.sip_sdp_get_origin(self._handle())
        return Origin(_s(o.username), _s(o.sess_id), _s(o.sess_version), _s(o.nettype),
                      _s(o.addrtype), _s(o.address))

    def set_origin(self, username: str, sess_id: str, sess_version: str, address: str,
                   nettype: str = "IN", addrtype: str = "IP4") -> None:
        """Sets the o= line (RFC 8866 §5.2)."""
        _sdp_check(_c.sip_sdp_set_origin(self._handle(), username, sess_id, sess_version,
                                         nettype, addrtype, address), "o=")

    @property
    def session_name(self) -> str:
        """The s= line (" " when the offerer had none to give); settable."""
        return _s(_c.sip_sdp_get_session_name(self._handle()))

    @session_name.setter
    def session_name(self, name: str) -> None:
        _sdp_check(_c.sip_sdp_set_session_name(self._handle(), name), "s=")

    @property
    def info(self) -> str:
        """The session i= text ("" when absent; RFC 8866 §5.4)."""
        return _s(_c.sip_sdp_get_info(self._handle()))

    @property
    def uri(self) -> str:
        """The u= text ("" when absent; RFC 8866 §5.5)."""
        return _s(_c.sip_sdp_get_uri(self._handle()))

    @property
    def ssrc(self) -> str:
        """The GB28181 y= value, the stream's SSRC ("" when absent; GB/T 28181-2016 Annex
        F)."""
        return _s(_c.sip_sdp_get_ssrc(self._handle()))

    @property
    def format(self) -> str:
        """The GB28181 f= value, the media format ("" when absent or empty; GB/T 28181-2016
        Annex F)."""
        return _s(_c.sip_sdp_get_format(self._handle()))

    def set_time(self, start: int, stop: int) -> None:
        """Replaces every time description with one "t=start stop" line (NTP seconds; 0 0: an
        unbounded session, RFC 8866 §5.9)."""
        for name, v in (("start", start), ("stop", stop)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name} must be an int, not {type(v).__name__}")
            if v < 0:
                raise error(_c.SIP_EINVAL, f"SDP t=: {name} must not be negative, not {v}")
        _sdp_check(_c.sip_sdp_set_time(self._handle(), start, stop), "t=")

    @property
    def connection(self) -> Optional[Connection]:
        """The session-level c= line as a Connection, or None."""
        return _conn(_c.sip_sdp_get_connection(self._handle()))

    def set_connection(self, address: Optional[str], nettype: str = "IN",
                       addrtype: str = "IP4") -> None:
        """Sets the session-level c= line (None removes it)."""
        _sdp_check(_c.sip_sdp_set_connection(self._handle(), nettype, addrtype, address), "c=")

    @property
    def attributes(self) -> List[Tuple[str, Optional[str]]]:
        """Session a= lines as (name, value) in order (value None for a flag)."""
        h = self._handle()
        return _attrs(_c.sip_sdp_attr_count(h), lambda i: _c.sip_sdp_attr_at(h, i))

    def attr(self, name: str, index: int = 0) -> Optional[str]:
        """A session attribute's value ("" for a flag), or None when absent."""
        a = _c.sip_sdp_attr_get(self._handle(), name, index)
        return None if a is None else _s(a.value)

    def add_attr(self, name: str, value: Optional[str] = None) -> None:
        """Adds a session a= line (value None: a flag)."""
        _attr_args(name, value)
        _sdp_check(_c.sip_sdp_add_attr(self._handle(), name, value), "a=")

    def remove_attr(self, name: str) -> int:
        """Removes every session a= line of that name; gives how many."""
        return _sdp_check(_c.sip_sdp_remove_attr(self._handle(), name), "a=")

    @property
    def direction(self) -> Direction:
        """The session-level direction attribute (SENDRECV when none); settable."""
        return Direction(_c.sip_sdp_get_direction(self._handle()))

    @direction.setter
    def direction(self, d: int) -> None:
        _sdp_check(_c.sip_sdp_set_direction(self._handle(), int(d)), "direction")

    # -- media ------------------------------------------------------------------------------

    @property
    def media(self) -> List["Media"]:
        """The m= sections in order, as Media objects (each keeps this session alive)."""
        return [Media(self, i) for i in range(_c.sip_sdp_media_count(self._handle()))]

    def add_media(self, type: str, port: int, proto: str, formats: Any) -> "Media":
        """Adds an m= line; formats is "0 8 101" or a list."""
        if not isinstance(formats, str):
            formats = " ".join(str(f) for f in formats)
        idx = _sdp_check(_c.sip_sdp_add_media(self._handle(), type, port, proto, formats),
                         "m=")
        return Media(self, idx)


def _sdp_check(rc: int, what: str) -> int:
    if rc < 0:
        raise error(rc, f"SDP {what}: {_c.sip_strerror(rc)}")
    return rc


class Media:
    """One m= section; keeps its session alive."""

    __slots__ = ("_sdp", "_i")

    def __init__(self, sdp: Sdp, index: int) -> None:
        self._sdp = sdp
        self._i = index

    def _m(self) -> Any:
        m = _c.sip_sdp_media_at(self._sdp._handle(), self._i)
        if m is None:
            raise IndexError(self._i)
        return m

    @property
    def index(self) -> int:
        """The position of this m= section in the session (0 for the first)."""
        return self._i

    @property
    def type(self) -> str:
        """The media type ("audio", "video", "application", ...)."""
        return _s(_c.sip_sdp_media_get_type(self._m()))

    @property
    def port(self) -> int:
        """The transport port (0: the stream is rejected or disabled, RFC 3264 §6); settable."""
        return _c.sip_sdp_media_get_port(self._m())

    @port.setter
    def port(self, port: int) -> None:
        _sdp_check(_c.sip_sdp_media_set_port(self._sdp._handle(), self._i, port), "port")

    @property
    def port_count(self) -> int:
        """The "/n" number of ports of the m= line (1 when absent; RFC 8866 §5.14)."""
        return _c.sip_sdp_media_get_port_count(self._m())

    @property
    def proto(self) -> str:
        """The transport protocol ("RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", ...)."""
        return _s(_c.sip_sdp_media_get_proto(self._m()))

    @property
    def formats(self) -> List[str]:
        """The media formats of the m= line, in order (RTP payload types as text)."""
        m = self._m()
        return [_s(_c.sip_sdp_media_format_at(m, i))
                for i in range(_c.sip_sdp_media_format_count(m))]

    @property
    def connection(self) -> Optional[Connection]:
        """The connection that applies: the media's own c=, else the session's."""
        return _conn(_c.sip_sdp_media_get_connection(self._m()))

    def set_connection(self, address: Optional[str], nettype: str = "IN",
                       addrtype: str = "IP4") -> None:
        """Sets this section's c= line (None removes it, so the session's applies)."""
        _sdp_check(_c.sip_sdp_media_set_connection(self._sdp._handle(), self._i, nettype,
                                                   addrtype, address), "c=")

    @property
    def attributes(self) -> List[Tuple[str, Optional[str]]]:
        """This section's a= lines as (name, value) in order (value None for a flag)."""
        m = self._m()
        return _attrs(_c.sip_sdp_media_attr_count(m), lambda i: _c.sip_sdp_media_attr_at(m, i))

    def attr(self, name: str, index: int = 0) -> Optional[str]:
        """A media attribute's value ("" for a flag), or None when absent; index picks among
        repeats."""
        a = _c.sip_sdp_media_attr_get(self._m(), name, index)
        return None if a is None else _s(a.value)

    def add_attr(self, name: str, value: Optional[str] = None) -> None:
        """Adds an a= line to this section (value None: a flag such as a=sendonly)."""
        _attr_args(name, value)
        _sdp_check(_c.sip_sdp_media_add_attr(self._sdp._handle(), self._i, name, value), "a=")

    def remove_attr(self, name: str) -> int:
        """Removes every a= line of that name from this section; gives how many."""
        return _sdp_check(_c.sip_sdp_media_remove_attr(self._sdp._handle(), self._i, name),
                          "a=")

    @property
    def direction(self) -> Direction:
        """The direction that applies (this section's attribute, else the session's, else SENDRECV);
        settable."""
        return Direction(_c.sip_sdp_media_get_direction(self._m()))

    @direction.setter
    def direction(self, d: int) -> None:
        _sdp_check(_c.sip_sdp_media_set_direction(self._sdp._handle(), self._i, int(d)),
                   "direction")

    @property
    def ptime(self) -> Optional[int]:
        """The a=ptime packet time in milliseconds, or None."""
        v = _c.sip_sdp_media_get_ptime(self._m())
        if v == -1:
            return None
        return _sdp_check(v, "ptime")

    def rtpmap(self, payload: int) -> Optional[RtpMap]:
        """The a=rtpmap of a payload type, or None."""
        rc, r = _c.sip_sdp_media_rtpmap(self._m(), payload)
        if rc == _c.SIP_ENOENT:
            return None
        _sdp_check(rc, "rtpmap")
        return RtpMap(r.payload, _s(r.encoding), r.clock_rate, r.channels, _s(r.params))

    def fmtp(self, fmt: str) -> Optional[str]:
        """The a=fmtp parameters of a format, or None."""
        rc, f = _c.sip_sdp_media_fmtp(self._m(), str(fmt))
        if rc == _c.SIP_ENOENT:
            return None
        _sdp_check(rc, "fmtp")
        return _s(f.params)

    @safe_repr
    def __repr__(self) -> str:
        if self._sdp.closed:
            return "<Media (session description closed)>"
        return f"<Media {self.type} {self.port} {self.proto} {' '.join(self.formats)}>"


class Multipart:
    """A multipart body (RFC 5621): ``Multipart.parse(content_type, body)`` or
    ``Multipart("mixed", boundary)``; parts are (content_type, headers, body) tuples."""

    __slots__ = ("_h",)

    def __init__(self, subtype: str = "mixed", boundary: str = "libsip-boundary") -> None:
        self._h: Any = None
        for name, v in (("subtype", subtype), ("boundary", boundary)):
            if not isinstance(v, str):
                raise TypeError(f"{name} must be a str, not {type(v).__name__}")
        rc, h = _c.sip_multipart_create(subtype, boundary)
        if rc < 0:
            raise error(rc, f"cannot make a multipart/{subtype} body with boundary "
                            f"{boundary!r}: {_c.sip_strerror(rc)}")
        self._h = h

    @classmethod
    def parse(cls, content_type: BytesLike, body: BytesLike) -> "Multipart":
        """Parses a multipart body with its Content-Type (the boundary is read from it). Raises
        BodyError."""
        for name, v in (("content_type", content_type), ("body", body)):
            if not isinstance(v, (str, bytes, bytearray, memoryview)):
                raise TypeError(f"{name} must be str or bytes, not {type(v).__name__}")
        rc, h = _c.sip_multipart_parse(content_type, body)
        if rc < 0:
            ct = _s(bytes(content_type)) if not isinstance(content_type, str) else content_type
            raise BodyError(rc, f"cannot parse a multipart body of Content-Type {ct!r}: "
                                f"{_c.sip_strerror(rc)}")
        m = cls.__new__(cls)
        m._h = h
        return m

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="multipart body is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_multipart_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Drops the body now (later use raises ClosedError). Idempotent."""
        self.__del__()

    def __enter__(self) -> "Multipart":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return getattr(self, "_h", None) is None

    @safe_repr
    def __repr__(self) -> str:
        if self.closed:
            return "<Multipart closed>"
        return f"<Multipart {self.subtype} {_c.sip_multipart_count(self._h)} parts>"

    @property
    def subtype(self) -> str:
        """The multipart subtype ("mixed", "alternative", "related")."""
        return _s(_c.sip_multipart_get_subtype(self._handle()))

    @property
    def boundary(self) -> str:
        """The boundary string between the parts."""
        return _s(_c.sip_multipart_get_boundary(self._handle()))

    @property
    def content_type(self) -> str:
        """The Content-Type to send this body with ("multipart/mixed;boundary=...")."""
        rc, text = _c.sip_multipart_print_content_type(self._handle())
        check(rc)
        return _s(text)

    @property
    def parts(self) -> List[Tuple[str, List[Tuple[str, str]], bytes]]:
        """The parts as (content_type, [(header, value), ...], body) tuples, in order."""
        h = self._handle()
        out = []
        for i in range(_c.sip_multipart_count(h)):
            p = _c.sip_multipart_part_at(h, i)
            headers = []
            for j in range(_c.sip_multipart_part_header_count(p)):
                rc, name, value = _c.sip_multipart_part_header_at(p, j)
                check(rc)
                headers.append((_s(name), _s(value)))
            out.append((_s(_c.sip_multipart_part_get_content_type(p)), headers,
                        _c.sip_multipart_part_get_body(p)))
        return out

    def add_part(self, content_type: Optional[str], body: BytesLike,
                 headers: Any = ()) -> int:
        """Appends a part with its content type, body and extra (name, value) headers; gives its
        index."""
        items = [(_header_name(n), _header_text(n, v)) for n, v in headers]
        # A part may go without a Content-Type (RFC 2046 §5.1.1: text/plain then).
        _check_body(body, content_type, has_type=True)
        idx = check(_c.sip_multipart_add_part(self._handle(), content_type, body))
        for name, value in items:
            rc = _c.sip_multipart_part_add_header(self._handle(), idx, name, value)
            if rc < 0:
                raise error(rc, f"bad {name} header value {value!r} in a multipart part")
        return idx

    def __bytes__(self) -> bytes:
        rc, text = _c.sip_multipart_print(self._handle())
        check(rc)
        return text
