# SPDX-License-Identifier: MIT
"""Shared pieces of the package's classes: enums that print as names, repr() that never
raises."""

from __future__ import annotations

import enum
import functools
from typing import Any, Callable


class Enum(enum.IntEnum):
    """An IntEnum that prints as its name, repr() and str() alike ("TxnState.COMPLETED"); it
    still compares and converts as the C value."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        # f"{state}" reads as the name; a numeric spec ("{:d}") formats the value.
        return str(self) if not spec else int.__format__(int(self), spec)


def safe_repr(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    """Wraps a __repr__ so that it never raises: an object that is closed, half made or
    otherwise odd still prints (as "<Class ?>" with the reason)."""

    @functools.wraps(fn)
    def wrapper(self: Any) -> str:
        try:
            return fn(self)
        except Exception as e:  # noqa: BLE001 - repr() must not raise
            try:
                why = type(e).__name__
            except Exception:  # noqa: BLE001
                why = "error"
            return f"<{type(self).__name__} ? ({why})>"

    return wrapper
