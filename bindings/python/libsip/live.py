# SPDX-License-Identifier: MIT
"""Live-object counters (sip/live.h): how many libsip objects of each kind exist now."""

from __future__ import annotations

from typing import Dict

from . import _core as _c


def live_objects() -> Dict[str, int]:
    """How many libsip objects of each kind exist now in the process (sip_live_count), by
    kind name: "msg", "txn", "txn_layer", "transport", "conn", "resolver", "loop", "sdp",
    "dialog", "ua", "call", "oa", "bridge", "auth_server", "auth_query". An object closed but
    still referenced, or still finishing its close, is counted; run gc.collect() first to count
    only what is still reachable. Meant for tests that check that everything a program made is
    gone (then every count is 0), as Lua's sip.live_objects()."""
    out = {}
    for kind in range(_c.SIP_LIVE__COUNT):
        out[_c.sip_live_name(kind)] = _c.sip_live_count(kind)
    return out
