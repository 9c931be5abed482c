#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Answers calls: INVITE gets 180, then 200 with an SDP answer after --ring ms; BYE ends them.

usage: call_answerer.py [--listen udp:127.0.0.1:5062]... [--ring MS] [-v] [--trace]

Runs on the transaction layer (Stack(transactions=True)): retransmitted requests, CANCEL (200
and 487) and unhandled methods (501) are the layer's. What is left here is the UAS core: the
calls by Call-ID, the answer, and the retransmission of the 200 until its ACK arrives (RFC 3261
§13.3.1.4; RFC 6026 leaves that to the core). SIGINT and SIGTERM end it with status 0.
"""

import argparse
import logging
import signal
import sys
import time
from typing import Dict, Optional

import libsip

log = logging.getLogger("call_answerer")


class Call:
    """One call from its INVITE to its BYE (or its CANCEL, or 64*T1 without an ACK)."""

    __slots__ = ("req", "answer", "ring_timer", "retx_timer", "interval_ms", "waited_ms",
                 "acked", "started")

    def __init__(self, req: libsip.Request) -> None:
        self.req = req                      # keeps the server transaction alive
        self.answer: Optional[dict] = None  # reply() arguments of the 200, once sent
        self.ring_timer: Optional[libsip.Timer] = None
        self.retx_timer: Optional[libsip.Timer] = None
        self.interval_ms = 0
        self.waited_ms = 0
        self.acked = False
        self.started = time.monotonic()

    def stop_timers(self) -> None:
        for t in (self.ring_timer, self.retx_timer):
            if t is not None:
                t.stop()
        self.ring_timer = self.retx_timer = None


def sdp_answer(ip: str) -> bytes:
    """A fixed answer: one PCMU audio stream on the local address (no media is sent)."""
    family = "IP6" if ":" in ip else "IP4"
    return ("v=0\r\n"
            f"o=- 1 1 IN {family} {ip}\r\n"
            "s=-\r\n"
            f"c=IN {family} {ip}\r\n"
            "t=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=sendrecv\r\n").encode()


def make_stack(args: argparse.Namespace) -> libsip.Stack:
    stack = libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5062"], trace=args.trace,
                         transactions=True)
    layer = stack.transactions
    t1, t2 = layer.t1_ms, layer.t2_ms
    calls: Dict[str, Call] = {}
    verbose = log.isEnabledFor(logging.INFO)

    def end(call_id: str, how: str) -> None:
        call = calls.pop(call_id, None)
        if call is None:
            return
        call.stop_timers()
        if verbose:
            log.info("call %s ended: %s after %.3f s", call_id, how,
                     time.monotonic() - call.started)

    def retransmit(call_id: str) -> None:
        # RFC 3261 §13.3.1.4: the 2xx again at T1, 2*T1, ... capped at T2, until the ACK; after
        # 64*T1 without one the call is given up.
        call = calls.get(call_id)
        if call is None or call.acked:
            return
        call.waited_ms += call.interval_ms
        if call.waited_ms >= 64 * t1:
            end(call_id, "no ACK")
            return
        try:
            call.req.reply(200, **call.answer)
        except libsip.Error:
            end(call_id, "transaction closed")
            return
        call.interval_ms = min(2 * call.interval_ms, t2)
        call.retx_timer = stack.loop.call_later(call.interval_ms / 1000,
                                                lambda: retransmit(call_id))

    def answer(call_id: str) -> None:
        call = calls.get(call_id)
        if call is None:
            return
        call.ring_timer = None
        req = call.req
        ni = req.netinfo
        ip = ni.local_ip if ni is not None else "127.0.0.1"
        port = ni.local_port if ni is not None else 5060
        host = f"[{ip}]" if ":" in ip else ip
        transport = ni.transport.name.lower() if ni is not None else "udp"
        call.answer = {
            "headers": {"Contact": f"<sip:answer@{host}:{port};transport={transport}>"},
            "body": sdp_answer(ip), "content_type": "application/sdp",
        }
        req.reply(200, **call.answer)
        # Over a reliable transport the 200 is sent once (§13.3.1.4 applies to UDP only).
        if transport == "udp":
            call.interval_ms = t1
            call.retx_timer = stack.loop.call_later(t1 / 1000, lambda: retransmit(call_id))

    @stack.on_request("INVITE")
    def invite(req: libsip.Request) -> None:
        call_id = req.call_id
        if call_id in calls:
            # A re-INVITE (or a new INVITE on a Call-ID in use): not supported here.
            req.reply(488)
            return
        calls[call_id] = Call(req)
        req.reply(180)
        # The layer has answered the CANCEL 200 and the INVITE 487: forget the pending answer.
        req.on_cancel(lambda _cancel: end(call_id, "cancelled"))
        if args.ring > 0:
            calls[call_id].ring_timer = stack.loop.call_later(args.ring / 1000,
                                                              lambda: answer(call_id))
        else:
            answer(call_id)

    @stack.on_request("ACK")
    def ack(req: libsip.Request) -> None:
        # The ACK of our 2xx (no transaction, no response): stops the retransmissions.
        call = calls.get(req.call_id)
        if call is not None and not call.acked:
            call.acked = True
            call.stop_timers()

    @stack.on_request("BYE")
    def bye(req: libsip.Request) -> None:
        if req.call_id not in calls:
            req.reply(481)                  # RFC 3261 §15.1.2: no such call
            return
        req.reply(200)
        end(req.call_id, "BYE")

    @stack.on_request("OPTIONS")
    def options(req: libsip.Request) -> None:
        req.reply(200, headers={"Allow": "INVITE, ACK, CANCEL, BYE, OPTIONS",
                                "Accept": "application/sdp"})

    for a in stack.addresses:
        print(f"listening on {a}", flush=True)
    return stack


def interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


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
    # SIGTERM ends the run the way Ctrl-C does: KeyboardInterrupt out of run().
    signal.signal(signal.SIGTERM, interrupt)
    with make_stack(args) as stack:
        try:
            stack.run()
        except KeyboardInterrupt:
            pass
    print("bye", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
