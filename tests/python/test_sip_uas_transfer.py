# SPDX-License-Identifier: MIT
"""sip-uas --accept-transfer as the transferee (RFC 3515, RFC 5589) on loopback: a libsip UA
calls it and transfers it to a second libsip UA, blind; sip-uas follows the REFER with a new
call (Referred-By copied) and reports it in NOTIFYs; a busy target is reported as 486 and the
first call stays. Every wait is bounded."""

import asyncio
import signal

import libsip
from test_wire import WAIT, Uas

ALLOW_REFER = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, NOTIFY, REFER"
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 4000 RTP/AVP 0\r\n")


def _stop(uas):
    """Stops sip-uas and returns what it printed."""
    uas.p.send_signal(signal.SIGINT)
    uas.p.wait(timeout=10)
    out = uas.p.stdout.read().decode(errors="replace")
    uas.stop()
    return out


def test_sip_uas_follows_a_blind_transfer():
    uas = Uas("--accept-transfer")
    try:
        async def main():
            loop = libsip.Loop(strict=True)
            stacks = [libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
                      for _ in range(2)]
            server = asyncio.ensure_future(loop.serve())
            try:
                alice, carol = (s.ua(allow=ALLOW_REFER) for s in stacks)
                with alice, carol:
                    carol_uri = "sip:carol@" + stacks[1].address().split(":", 1)[1]
                    seen = {"busy": False, "calls": []}

                    @carol.on_invite
                    async def at_carol(call):
                        seen["calls"].append(call)
                        if seen["busy"]:
                            await call.reject(486)
                            return
                        seen["referred_by"] = call.invite.headers["Referred-By"][0].value
                        await call.answer(sdp=SDP)

                    target = f"sip:sip-uas@127.0.0.1:{uas.ports['udp']}"
                    call = await alice.invite(target, sdp=SDP)
                    status = await call.transfer(carol_uri, referred_by="<sip:alice@127.0.0.1>",
                                                 timeout=WAIT)
                    assert status == 200
                    assert seen["referred_by"] == "<sip:alice@127.0.0.1>"
                    await call.hangup()
                    assert await call.ended(timeout=WAIT) == 200
                    new = seen["calls"][0]
                    assert new.state is libsip.CallState.CONFIRMED
                    await new.hangup()
                    assert await new.ended(timeout=WAIT) == 200

                    # A busy target: 486 reported, the call to sip-uas stays up.
                    seen["busy"] = True
                    call = await alice.invite(target, sdp=SDP)
                    assert await call.transfer(carol_uri, timeout=WAIT) == 486
                    assert call.state is libsip.CallState.CONFIRMED
                    await call.hangup()
                    assert await call.ended(timeout=WAIT) == 200
                    seen.clear()
            finally:
                for s in stacks:
                    s.close()
                loop.stop()
                await asyncio.wait_for(server, WAIT)
                loop.close()

        asyncio.run(main())
    finally:
        out = _stop(uas)
    assert "transfer answered: 200 OK" in out, out
    assert "transfer ended: 200 OK" in out, out
    assert "transfer failed: 486 Busy Here" in out, out
