#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Answers calls: INVITE gets 180, then 200 with an SDP answer after --ring ms; BYE ends them.

usage: call_answerer.py [--listen udp:127.0.0.1:5062]... [--ring MS] [-v] [--trace]

Runs on the user agent layer (libsip.UA) in asyncio: the 2xx retransmission until the ACK (RFC
3261 §13.3.1.4, on every transport), CANCEL (487), BYE, OPTIONS and the SDP answer (the call's
offer/answer engine, from CAPS) are the library's; what is left here is the call logic, top to
bottom. SIGINT and SIGTERM end it with status 0.
"""

import argparse
import asyncio
import logging
import signal
import sys
import time

import libsip

log = logging.getLogger("call_answerer")

# What this side can receive: one PCMU audio stream (no media is sent). The engine answers the
# caller's offer from it (RFC 3264 §6), or offers it when the INVITE has no offer.
CAPS = ("v=0\r\n"
        "o=- 1 1 IN IP4 0.0.0.0\r\n"
        "s=-\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "t=0 0\r\n"
        "m=audio 40000 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=sendrecv\r\n")


def make_ua(stack: libsip.Stack, ring_ms: int) -> libsip.UA:
    ua = libsip.UA(stack)

    @ua.on_invite(media=CAPS)
    async def incoming(call: libsip.Call) -> None:
        started = time.monotonic()
        call_id = call.invite.call_id
        await call.ring()
        if ring_ms > 0:
            try:
                # Rings for ring_ms, unless the caller gives up first (CANCEL).
                await asyncio.wait_for(call.ended(), ring_ms / 1000)
            except asyncio.TimeoutError:
                pass
        if call.state is not libsip.CallState.ENDED:
            await call.answer()
        status = await call.ended()
        how = {200: "BYE", 487: "cancelled"}.get(status, f"status {status}")
        log.info("call %s ended: %s after %.3f s", call_id, how, time.monotonic() - started)

    return ua


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    aloop = asyncio.get_running_loop()
    # SIGINT and SIGTERM end the run the same way.
    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, stop.set)
    with libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5062"], trace=args.trace,
                      transactions=True) as stack, make_ua(stack, args.ring):
        for a in stack.addresses:
            print(f"listening on {a}", flush=True)
        server = asyncio.ensure_future(stack.serve())
        await stop.wait()
        stack.stop()
        await server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable)")
    ap.add_argument("--ring", type=int, default=0, metavar="MS",
                    help="time between the 180 and the 200 (default 0)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per call end")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    if args.ring < 0:
        ap.error("--ring must be 0 or more")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args))
    print("bye", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
