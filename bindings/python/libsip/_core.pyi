# SPDX-License-Identifier: MIT
# The generated flat core: one function per C function (see bindings/libsip.i for the
# conventions). Private; untyped on purpose.
from typing import Any

def __getattr__(name: str) -> Any: ...
