# SPDX-License-Identifier: MIT
"""The dst field of the options structs (sip_reg_opts_t, sip_sub_opts_t, sip_call_opts_t,
sip_bridge_opts_t): assigning a sip_netinfo_t leaves it the script's (it used to be disowned,
and nothing freed it), the options object keeps it alive until the call that copies it, and 200
registrations with dst= each leave their netinfo owned. The peer listens on 127.0.0.1:36100."""

import asyncio
import gc
import os

import pytest

import libsip
from libsip import UA, _core as _c
from libsip.message import NetInfo

WAIT = 5  # seconds: the bound of every wait
PEER = "udp:127.0.0.1:36100"

OPTS = [_c.sip_reg_opts_t, _c.sip_sub_opts_t, _c.sip_call_opts_t, _c.sip_bridge_opts_t]


def _gone():
    gc.collect()
    return {k: v for k, v in libsip.live_objects().items() if v}


@pytest.mark.parametrize("make", OPTS, ids=lambda m: m.__name__)
def test_dst_assignment_keeps_ownership(make):
    o = make()
    for _ in range(200):
        ni = NetInfo.parse(PEER)._to_c()
        o.dst = ni
        assert ni.thisown, "the netinfo stays the script's"
        assert o.dst.remote_port == 36100
    o.dst = None
    assert o.dst is None
    assert ni.thisown


@pytest.mark.parametrize("make", OPTS, ids=lambda m: m.__name__)
def test_dst_outlives_the_scripts_reference(make):
    o = make()
    o.dst = NetInfo.parse(PEER)._to_c()  # no other reference
    gc.collect()
    assert o.dst.remote_ip == "127.0.0.1"
    assert o.dst.remote_port == 36100
    with pytest.raises(TypeError):
        o.dst = "udp:127.0.0.1:36100"  # a struct, not a string, at the core


def test_register_with_dst_200_times_keeps_each_netinfo_owned(monkeypatch):
    made = []
    to_c = NetInfo._to_c

    def recording(self):
        n = to_c(self)
        made.append(n)
        return n

    monkeypatch.setattr(NetInfo, "_to_c", recording)

    async def main():
        loop = libsip.Loop(strict=True)
        a = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
        b = libsip.Stack([PEER], loop=loop, transactions=True, t1_ms=50)
        seen = []

        @b.on_request("REGISTER")
        def register(req):
            seen.append(req)
            req.reply(200)

        server = asyncio.ensure_future(loop.serve())
        try:
            with UA(a) as ua:
                async def body():
                    for i in range(200):
                        # registrar.invalid never resolves: only dst takes the REGISTER there.
                        reg = ua.register(f"sip:u{i}@example.com",
                                          registrar="sip:registrar.invalid", dst=PEER)
                        assert await reg is reg
                        reg.close()
                await asyncio.wait_for(body(), 6 * WAIT)
            return len(seen)
        finally:
            a.close()
            b.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    assert asyncio.run(main()) >= 200
    assert len(made) == 200
    assert all(n.thisown for n in made), "no netinfo was disowned"
    made.clear()
    assert _gone() == {}


def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


def test_option_strings_are_kept_not_copied():
    # SWIG's default setter of a const char * field malloc'd a copy that nothing freed: 300
    # assignments of 1 MiB grew the process by 300 MiB. The str is kept by the options instead.
    o = _c.sip_call_opts_t()
    before = _rss_kb()
    for i in range(300):
        o.headers = "X-Pad: " + "a" * (1 << 20) + str(i)
    if not os.environ.get("LIBSIP_SANITIZED"):  # ASan's quarantine holds freed memory
        assert _rss_kb() - before < 64 * 1024
    assert o.__dict__["headers"] == "X-Pad: " + "a" * (1 << 20) + "299"
    o.headers = "X-" + "Kept: yes".lower()  # no other reference to this str
    gc.collect()
    assert o.headers == "X-kept: yes"
    o.headers = None
    assert o.headers is None
