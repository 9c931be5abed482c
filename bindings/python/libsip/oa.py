# SPDX-License-Identifier: MIT
"""SDP offer/answer (RFC 3264, sip/oa.h): one OfferAnswer negotiator per session."""

from __future__ import annotations

from typing import Any, Optional, Union

from . import _core as _c
from ._base import Enum, safe_repr
from ._errors import ClosedError, Error, SdpError, error
from .message import BytesLike
from .sdp import Sdp

SdpLike = Union[Sdp, BytesLike]


class OaState(Enum):
    """Where an offer/answer exchange stands (sip_oa_state_t; RFC 3264 §4)."""
    IDLE = _c.SIP_OA_IDLE
    LOCAL_OFFER = _c.SIP_OA_LOCAL_OFFER
    REMOTE_OFFER = _c.SIP_OA_REMOTE_OFFER
    DONE = _c.SIP_OA_DONE


class NotAcceptableError(Error):
    """No offered stream can be accepted (SIP_ENOTACCEPTABLE): a session answers the offer
    with ``status`` 488 Not Acceptable Here. ``reason`` names the stream at fault and
    ``stream`` is its index (-1 when several)."""

    def __init__(self, code: int = _c.SIP_ENOTACCEPTABLE, reason: str = "",
                 stream: int = -1) -> None:
        self.reason = reason
        self.stream = stream
        self.status = 488
        super().__init__(code, reason or None)


def _raise(rc: int, err: Any) -> None:
    reason = err.reason if err is not None else ""
    stream = err.stream if err is not None else -1
    if rc == _c.SIP_ENOTACCEPTABLE:
        raise NotAcceptableError(rc, reason, stream)
    if rc == _c.SIP_ESDP:
        e = SdpError(rc, reason)
        e.stream = stream  # type: ignore[attr-defined]
        raise e
    raise error(rc, reason or None)


def _sdp_in(value: SdpLike, what: str) -> Sdp:
    if isinstance(value, Sdp):
        return value
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        return Sdp.parse(value)
    raise TypeError(f"{what} must be an Sdp, str or bytes, not {type(value).__name__}")


def _sdp_out(h: Any, borrowed: bool) -> Optional[Sdp]:
    if h is None:
        return None
    if borrowed:
        _c.sip_sdp_ref(h)
    s = Sdp.__new__(Sdp)
    s._h = h
    return s


class OfferAnswer:
    """An RFC 3264 offer/answer negotiator (sip_oa_t): local capabilities, the active local
    and remote descriptions, and the offer in flight. ``address`` goes in c= and o=;
    ``caps`` (an Sdp or its text) sets the local capabilities at once (set_local)."""

    __slots__ = ("_h",)

    def __init__(self, address: str, *, username: Optional[str] = None,
                 session_id: Optional[str] = None, version: int = -1,
                 session_name: Optional[str] = None, caps: Optional[SdpLike] = None) -> None:
        self._h: Any = None
        if not isinstance(address, str):
            raise TypeError(f"address must be a str, not {type(address).__name__}")
        for name, v in (("address", address), ("username", username),
                        ("session_id", session_id), ("session_name", session_name)):
            if v is not None and not isinstance(v, str):
                raise TypeError(f"{name} must be a str, not {type(v).__name__}")
        if not isinstance(version, int) or isinstance(version, bool):
            raise TypeError(f"version must be an int, not {type(version).__name__}")
        o = _c.sip_oa_opts_t()
        _c.sip_oa_opts_init(o)
        o.address = address
        if username is not None:
            o.username = username
        if session_id is not None:
            o.session_id = session_id
        if session_name is not None:
            o.session_name = session_name
        if not -1 <= version < 2 ** 63:
            raise error(_c.SIP_EINVAL, f"version must be -1 or more, not {version}")
        o.version = version
        rc, h = _c.sip_oa_create(o)
        if rc < 0:
            raise error(rc, f"OfferAnswer: bad options (address {address!r})")
        self._h = h
        if caps is not None:
            self.set_local(caps)

    def _handle(self) -> Any:
        if self._h is None:
            raise ClosedError(message="offer/answer negotiator is closed")
        return self._h

    def __del__(self, _unref: Any = _c.sip_oa_unref) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            _unref(h)

    def close(self) -> None:
        """Drops the negotiator now (later use raises ClosedError). Idempotent."""
        self.__del__()

    def __enter__(self) -> "OfferAnswer":
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
            return "<OfferAnswer closed>"
        return f"<OfferAnswer {self.state.name.lower()}, {self.media_count} media>"

    def copy(self) -> "OfferAnswer":
        """A copy with the same capabilities, session, offer in flight and hold: a forked INVITE
        gives each early dialog its own."""
        rc, h = _c.sip_oa_clone(self._handle())
        if rc < 0:
            raise error(rc)
        o = OfferAnswer.__new__(OfferAnswer)
        o._h = h
        return o

    def set_local(self, caps: SdpLike) -> None:
        """Sets the local capabilities: the m= lines this side can do, with formats, ports and
        directions. Raises SdpError (``stream`` names the line) for a bad one."""
        s = _sdp_in(caps, "caps")
        rc, err = _c.sip_oa_set_local(self._handle(), s._handle())
        if rc < 0:
            _raise(rc, err)

    def create_offer(self) -> Sdp:
        """Makes an offer (the first, or a re-offer keeping the session's m= lines and o=
        version rules, RFC 3264 §8); the state becomes LOCAL_OFFER."""
        rc, h, err = _c.sip_oa_create_offer(self._handle())
        if rc < 0:
            _raise(rc, err)
        return _sdp_out(h, False)  # type: ignore[return-value]

    def set_local_offer(self, offer: SdpLike) -> None:
        """Makes an offer written elsewhere (a B2BUA relays the other leg's) the offer in
        flight, checked as a re-offer is (RFC 3264 §8); the state becomes LOCAL_OFFER."""
        s = _sdp_in(offer, "offer")
        rc, err = _c.sip_oa_set_local_offer(self._handle(), s._handle())
        if rc < 0:
            _raise(rc, err)

    def set_remote_answer(self, answer: SdpLike) -> None:
        """Takes the peer's answer to our offer (checked against RFC 3264 §6) and completes the
        exchange. Raises SdpError naming the stream for an answer that breaks a rule."""
        s = _sdp_in(answer, "answer")
        rc, err = _c.sip_oa_set_remote_answer(self._handle(), s._handle())
        if rc < 0:
            _raise(rc, err)

    def set_remote_offer(self, offer: SdpLike) -> None:
        """Takes the peer's offer; the state becomes REMOTE_OFFER. Raises SdpError for an
        offer that breaks a rule, InvalidError when an offer is already in flight."""
        s = _sdp_in(offer, "offer")
        rc, err = _c.sip_oa_set_remote_offer(self._handle(), s._handle())
        if rc < 0:
            _raise(rc, err)

    def create_answer(self) -> Sdp:
        """Answers the remote offer from the local capabilities and completes the exchange.
        Raises NotAcceptableError (answer 488) when no offered stream can be accepted."""
        rc, h, err = _c.sip_oa_create_answer(self._handle())
        if rc < 0:
            _raise(rc, err)
        return _sdp_out(h, False)  # type: ignore[return-value]

    def set_local_answer(self, answer: SdpLike) -> None:
        """Completes the exchange with an answer made elsewhere (a B2BUA relays the other
        leg's), checked as a remote answer is."""
        s = _sdp_in(answer, "answer")
        rc, err = _c.sip_oa_set_local_answer(self._handle(), s._handle())
        if rc < 0:
            _raise(rc, err)

    def cancel_offer(self) -> None:
        """Drops the offer in flight (ours or the peer's) and keeps the session as it was.
        Raises NotFoundError when no offer is in flight."""
        rc = _c.sip_oa_cancel_offer(self._handle())
        if rc < 0:
            raise error(rc, "no offer in flight")

    def set_hold(self, hold: bool) -> None:
        """Holds (sendonly, or inactive when the peer holds us too) or resumes from the next
        offer on (RFC 3264 §8.4)."""
        _c.sip_oa_set_hold(self._handle(), 1 if hold else 0)

    @property
    def hold(self) -> bool:
        """True while this side holds (set_hold)."""
        return _c.sip_oa_get_hold(self._handle()) == 1

    @property
    def remote_hold(self) -> bool:
        """True when the peer's active description holds us (sendonly, inactive, 0.0.0.0)."""
        return _c.sip_oa_get_remote_hold(self._handle()) == 1

    @property
    def remote_changed(self) -> bool:
        """True when the last exchange changed the peer's description (False for the same one
        again: a session refresh or an unchanged re-offer)."""
        return _c.sip_oa_get_remote_changed(self._handle()) == 1

    def add_media(self, caps_index: int) -> int:
        """Adds a stream to the next offer from the capabilities' m= line caps_index (0-based);
        returns its index (a port 0 slot of the same type is reused, RFC 3264 §8.1)."""
        if not isinstance(caps_index, int) or isinstance(caps_index, bool) or caps_index < 0:
            raise TypeError(f"caps_index must be an int >= 0, not {caps_index!r}")
        rc = _c.sip_oa_add_media(self._handle(), caps_index)
        if rc < 0:
            raise error(rc, f"no m= line {caps_index} in the local capabilities")
        return rc

    def remove_media(self, index: int) -> None:
        """Removes stream index (0-based) from the next offer: port 0, the line stays."""
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise TypeError(f"index must be an int >= 0, not {index!r}")
        rc = _c.sip_oa_remove_media(self._handle(), index)
        if rc < 0:
            raise error(rc, f"no stream {index}")

    @property
    def media_count(self) -> int:
        """The number of m= lines the next offer has."""
        return _c.sip_oa_media_count(self._handle())

    @property
    def state(self) -> OaState:
        """The state as an OaState."""
        return OaState(_c.sip_oa_get_state(self._handle()))

    @property
    def local_sdp(self) -> Optional[Sdp]:
        """The local description of the active session, or None before the first exchange."""
        return _sdp_out(_c.sip_oa_get_local(self._handle()), True)

    @property
    def remote_sdp(self) -> Optional[Sdp]:
        """The remote description of the active session, or None before the first exchange."""
        return _sdp_out(_c.sip_oa_get_remote(self._handle()), True)

    @property
    def offer(self) -> Optional[Sdp]:
        """The offer in flight (ours or the peer's), or None."""
        return _sdp_out(_c.sip_oa_get_offer(self._handle()), True)
