#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Click-to-call: connects two phones by third party call control (3PCC, RFC 3725).

usage: click_to_call.py [--listen udp:127.0.0.1:0] [--hold S] [--timeout S] [-v] A B

Calls A with a placeholder session (its media goes to this host's discard port until B is
there), then calls B with A's session description as the offer, and finally re-INVITEs A with
B's answer: A and B then send media to each other directly, while this program stays in the
signalling path only (RFC 3725 §4). After --hold seconds, or when either side hangs up, it ends
both calls. Exit status 0 when both answered, 1 otherwise.
"""

import argparse
import asyncio
import logging
import sys

import libsip

log = logging.getLogger("click_to_call")


def placeholder(ip: str) -> str:
    """The first offer to A: the usual audio codecs, media to the discard port (9) of this host.
    sendrecv, so that A's answer is what B must see (a held offer would be answered held)."""
    return ("v=0\r\n"
            f"o=click2call 1 1 IN IP4 {ip}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {ip}\r\n"
            "t=0 0\r\n"
            "m=audio 9 RTP/AVP 0 8 101\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-15\r\n"
            "a=sendrecv\r\n")


async def connect(ua: libsip.UA, ip: str, a_uri: str, b_uri: str, hold: float,
                  timeout: float) -> int:
    a = ua.invite(a_uri, sdp=placeholder(ip), timeout=timeout)
    try:
        await a.answered()
    except libsip.CallFailed as e:
        print(f"A failed: {e.status} {e.reason}", flush=True)
        return 1
    print(f"A answered: {a_uri}", flush=True)

    # B gets A's session as its offer; B's answer is then offered to A, in a re-INVITE whose o=
    # line is still this side's, one version up (RFC 3264 §8).
    b = ua.invite(b_uri, sdp=a.remote_sdp, timeout=timeout)
    try:
        await b.answered()
    except libsip.CallFailed as e:
        await a.hangup()
        print(f"B failed: {e.status} {e.reason}", flush=True)
        return 1
    print(f"B answered: {b_uri}", flush=True)
    offer = libsip.Sdp.parse(b.remote_sdp)
    offer.set_origin("click2call", "1", "2", ip)
    rsp = await asyncio.wait_for(a.reinvite(offer), timeout)
    if rsp.status >= 300:
        await a.hangup()
        await b.hangup()
        print(f"A refused B's session: {rsp.status} {rsp.reason}", flush=True)
        return 1
    print("connected", flush=True)

    # Until --hold seconds pass or either side hangs up.
    ends = [asyncio.ensure_future(c.ended()) for c in (a, b)]
    await asyncio.wait(ends, timeout=hold, return_when=asyncio.FIRST_COMPLETED)
    for c in (a, b):
        if c.state is not libsip.CallState.ENDED:
            await c.hangup()
    await asyncio.wait(ends, timeout=timeout)
    log.info("A ended %d, B ended %d", a.end_status, b.end_status)
    print("ended", flush=True)
    return 0


async def main_async(args: argparse.Namespace) -> int:
    with libsip.Stack(listen=[args.listen], transactions=True) as stack, stack.ua() as ua:
        ip = stack.addresses[0].split(":")[1]
        server = asyncio.ensure_future(stack.serve())
        try:
            return await connect(ua, ip, args.a, args.b, args.hold, args.timeout)
        finally:
            stack.stop()
            await server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", metavar="A", help="the first phone, called first (sip:alice@host)")
    ap.add_argument("b", metavar="B", help="the second phone (sip:bob@host)")
    ap.add_argument("--listen", default="udp:127.0.0.1:0", help="transport:ipv4:port")
    ap.add_argument("--hold", type=float, default=30, metavar="S",
                    help="seconds before both calls are ended (default 30)")
    ap.add_argument("--timeout", type=float, default=30, metavar="S",
                    help="seconds each phone has to answer (default 30)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log how the calls ended")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
