# SPDX-License-Identifier: MIT
"""Exceptions of the libsip package: one class per family of libsip error codes."""

from __future__ import annotations

from typing import Any, Optional

from . import _core


class Error(Exception):
    """A libsip call failed. ``code`` is the negative libsip error code, ``name`` its name."""

    def __init__(self, code: int, message: Optional[str] = None) -> None:
        self.code = code
        self.name = _core.sip_err_name(code)
        super().__init__(message if message is not None else
                         f"{self.name}: {_core.sip_strerror(code)}")


class ClosedError(Error):
    """The object (or the loop it belongs to) is closed."""

    def __init__(self, code: int = _core.SIP_ECLOSED, message: Optional[str] = None) -> None:
        super().__init__(code, message)


class ParseError(Error):
    """A message did not parse: where (line, column, header), why, and what to answer."""

    def __init__(self, code: int, reason: str = "", line: int = 0, column: int = 0,
                 header: str = "", status: int = 0, phrase: str = "") -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.header = header
        self.status = status
        self.phrase = phrase
        where = f" at line {line}, column {column}" if line else ""
        super().__init__(code, f"{_core.sip_err_name(code)}{where}: {reason or 'parse error'}")


class UriError(Error):
    """A URI did not parse."""


class SdpError(Error):
    """A session description did not parse or an edit was refused."""

    def __init__(self, code: int, reason: str = "", line: int = 0, column: int = 0,
                 type: str = "") -> None:
        self.reason = reason
        self.line = line
        self.column = column
        self.type = type
        super().__init__(code, reason or None)


class BodyError(Error):
    """A multipart body did not parse."""


class NotFoundError(Error, LookupError):
    """Nothing of that name or index (SIP_ENOENT)."""


class InvalidError(Error, ValueError):
    """A bad argument (SIP_EINVAL, SIP_ERANGE)."""


class TransactionError(Error):
    """A client transaction ended without a final response: ``status`` is 408 (no answer
    before Timer B or F, RFC 3261 §17.1) or 503 (the transport failed, §8.1.3.1)."""

    def __init__(self, status: int, message: Optional[str] = None) -> None:
        self.status = status
        what = "request timed out" if status == 408 else "transport error"
        super().__init__(_core.SIP_EIO, message or f"{what} (status {status}, no response)")


_BY_CODE = {
    _core.SIP_ECLOSED: ClosedError,
    _core.SIP_EURI: UriError,
    _core.SIP_ESDP: SdpError,
    _core.SIP_EBODY: BodyError,
    _core.SIP_ENOENT: NotFoundError,
    _core.SIP_EINVAL: InvalidError,
    _core.SIP_ERANGE: InvalidError,
}


def error(code: int, message: Optional[str] = None) -> Error:
    """The exception for a libsip error code."""
    if code == _core.SIP_ENOMEM:
        raise MemoryError(_core.sip_strerror(code))
    if code in (_core.SIP_EPARSE, _core.SIP_ETOOBIG, _core.SIP_EVERSION, _core.SIP_EINCOMPLETE):
        return ParseError(code, message or _core.sip_strerror(code))
    cls: Any = _BY_CODE.get(code, Error)
    return cls(code, message)


def check(rc: int) -> int:
    """Raises the matching exception for a negative return code; gives rc back otherwise."""
    if rc < 0:
        raise error(rc)
    return rc


def _text(b: Any) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b or "")


def parse_error(rc: int, err: Any) -> ParseError:
    """A ParseError from a sip_parse_error_t copy (or None)."""
    if err is None:
        return ParseError(rc, _core.sip_strerror(rc))
    return ParseError(err.code or rc, _text(err.reason), err.line, err.column, _text(err.header),
                      err.status, _text(err.phrase))
