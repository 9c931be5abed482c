# SPDX-License-Identifier: MIT
"""A dual-stack UA (listening on ::1 and 127.0.0.1) gives each peer the Contact of the peer's
address family: an IPv4 peer never gets the IPv6 Contact it cannot reach, and later requests
of the dialog (BYE) arrive. Ports 47800-47809 (the examples' range)."""

import asyncio
import gc

import libsip
from libsip import UA

OFFER = ("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 0\r\n")


def test_contact_of_the_targets_family():
    async def main():
        loop = libsip.Loop(strict=True)
        dual = libsip.Stack(["udp:[::1]:47800", "udp:127.0.0.1:47801"], loop=loop,
                            transactions=True, t1_ms=50)
        v4 = libsip.Stack(["udp:127.0.0.1:47802"], loop=loop, transactions=True, t1_ms=50)
        v6 = libsip.Stack(["udp:[::1]:47803"], loop=loop, transactions=True, t1_ms=50)
        server = asyncio.ensure_future(loop.serve())
        try:
            with UA(dual, contact_user="d") as d, UA(v4) as b4, UA(v6) as b6:
                seen = []
                for ua in (b4, b6):
                    @ua.on_invite
                    async def on_invite(call):
                        seen.append(str(call.invite.headers["Contact"][0]))
                        await call.answer(sdp=OFFER)
                for target in ("sip:b@127.0.0.1:47802", "sip:b@[::1]:47803",
                               "sip:b@127.0.0.1:47802"):
                    call = await asyncio.wait_for(d.invite(target, sdp=OFFER), 5)
                    await call.hangup()
                    assert await call.ended(timeout=5) == 200
                return seen
        finally:
            for s in (dual, v4, v6):
                s.close()
            loop.stop()
            await asyncio.wait_for(server, 5)
            loop.close()

    seen = asyncio.run(main())
    assert seen == ["<sip:d@127.0.0.1:47801>", "<sip:d@[::1]:47800>",
                    "<sip:d@127.0.0.1:47801>"]
    gc.collect()
