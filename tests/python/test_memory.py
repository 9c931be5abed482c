# SPDX-License-Identifier: MIT
"""Create/destroy cycles through the bindings do not grow resident memory."""

import gc
import os

import pytest

import libsip

MSG = (b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
       b"Max-Forwards: 70\r\n"
       b"To: Bob <sip:bob@biloxi.example.com>\r\n"
       b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
       b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
       b"CSeq: 314159 INVITE\r\n"
       b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
       b"Content-Length: 0\r\n\r\n")
BAD = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: nonsense\r\n\r\n"


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cycle(n):
    for _ in range(n):
        m = libsip.Message.parse(MSG)
        m.headers["Via"][0].branch
        m.from_.uri.host
        bytes(m)
        try:
            libsip.Message.parse(BAD)
        except libsip.ParseError:
            pass


@pytest.mark.skipif(os.environ.get("LIBSIP_SANITIZED") == "1",
                    reason="the sanitizer's allocator keeps freed memory in quarantine")
def test_parse_cycles_do_not_grow_rss():
    cycle(20000)  # warm-up: allocator arenas, caches, interned strings
    gc.collect()
    before = rss_bytes()
    cycle(100000)
    gc.collect()
    grown = rss_bytes() - before
    assert grown < 2 * 1024 * 1024, f"resident memory grew by {grown} bytes"
