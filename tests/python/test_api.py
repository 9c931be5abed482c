# SPDX-License-Identifier: MIT
"""The package's surface: identifier generators as in Lua, repr() of every public class in
odd states, enums printed by name, docstrings everywhere."""

import re

import libsip


def test_branch_tag_and_call_id_generators():
    b = libsip.branch()
    assert re.fullmatch(r"z9hG4bK[0-9a-f]{16}", b)  # RFC 3261 §8.1.1.7 magic cookie
    assert libsip.branch() != b
    t = libsip.tag()
    assert re.fullmatch(r"[0-9a-f]{16}", t) and libsip.tag() != t
    c = libsip.call_id()
    assert re.fullmatch(r"[0-9a-f]{32}", c) and libsip.call_id() != c
    assert re.fullmatch(r"[0-9a-f]{32}@host\.example", libsip.call_id("host.example"))
    # Each works in a message as it stands.
    m = libsip.Message.request("OPTIONS", "sip:a@example.com", headers=[
        ("Via", f"SIP/2.0/UDP h.example;branch={b}"), ("From", f"<sip:b@example.com>;tag={t}"),
        ("Call-ID", c)])
    assert (m.via.branch, m.from_.tag, m.call_id) == (b, t, c)
