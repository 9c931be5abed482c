#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Serves two event packages: message-summary (RFC 3842, a voicemail box) and dialog (RFC 4235,
this UA's calls).

usage: event_notifier.py [--listen udp:127.0.0.1:5064]... [--messages N] [-v] [--trace]

A SUBSCRIBE for either package is accepted (the UA answers one for another package 489 Bad
Event with Allow-Events), and the first NOTIFY carries the state: the mailbox's summary, or a
dialog-info document of the calls. A new message every --every seconds notifies the
message-summary subscribers again; calls answered here (with an SDP answer) and their end
notify the dialog subscribers. Refreshes, expiry and unsubscribes are the library's (RFC 6665).
SIGINT and SIGTERM end it (each subscription with a NOTIFY terminated;reason=noresource) with
status 0.
"""

import argparse
import asyncio
import logging
import signal
import sys
from typing import Dict, List

import libsip

log = logging.getLogger("event_notifier")

MWI = "application/simple-message-summary"
DIALOG = "application/dialog-info+xml"


class Box:
    """The mailbox and the calls, and the subscriptions that watch them."""

    def __init__(self, messages: int) -> None:
        self.new = messages
        self.old = 0
        self.version = 0
        self.calls: Dict[str, str] = {}  # Call-ID -> "confirmed" or "terminated"
        self.watchers: Dict[str, List[libsip.Subscription]] = {"message-summary": [],
                                                                "dialog": []}

    def summary(self) -> str:
        # RFC 3842 §5.2: the summary, then one line per message class.
        return (f"Messages-Waiting: {'yes' if self.new else 'no'}\r\n"
                f"Message-Account: sip:voicemail@example.com\r\n"
                f"Voice-Message: {self.new}/{self.old} (0/0)\r\n")

    def dialog_info(self, entity: str) -> str:
        # RFC 4235 §4: a full document, its version one higher each time.
        self.version += 1
        items = "".join(f'  <dialog id="{cid}"><state>{st}</state></dialog>\n'
                        for cid, st in self.calls.items())
        return ('<?xml version="1.0"?>\n'
                '<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" '
                f'version="{self.version}" state="full" entity="{entity}">\n'
                f'{items}</dialog-info>\n')

    def body(self, event: str) -> str:
        return self.summary() if event == "message-summary" else self.dialog_info(
            "sip:notifier@example.com")

    def notify(self, event: str) -> None:
        kind = MWI if event == "message-summary" else DIALOG
        for sub in list(self.watchers[event]):
            if sub.state is libsip.SubState.TERMINATED:
                self.watchers[event].remove(sub)
            else:
                sub.notify(self.body(event), kind)


def make_ua(stack: libsip.Stack, box: Box) -> libsip.UA:
    ua = libsip.UA(stack, events="message-summary, dialog")

    @ua.on_request
    def request(req: libsip.Request) -> None:
        if req.method != "SUBSCRIBE":
            req.reply(405)
            return
        event = req.headers["Event"][0].token
        kind = MWI if event == "message-summary" else DIALOG
        sub = ua.accept_subscription(req, body=box.body(event), content_type=kind)
        box.watchers[event].append(sub)
        log.info("%s subscription from %s", event, req.headers["From"][0].uri)

    @ua.on_invite
    async def incoming(call: libsip.Call) -> None:
        cid = call.invite.call_id
        await call.answer(sdp="v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
                              "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")
        box.calls[cid] = "confirmed"
        box.notify("dialog")
        await call.ended()
        box.calls[cid] = "terminated"
        box.notify("dialog")

    return ua


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    aloop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, stop.set)
    box = Box(args.messages)
    with libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5064"], trace=args.trace,
                      transactions=True) as stack, make_ua(stack, box):
        for a in stack.addresses:
            print(f"listening on {a}", flush=True)
        server = asyncio.ensure_future(stack.serve())
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), args.every)
            except asyncio.TimeoutError:
                box.new += 1  # a new voicemail
                box.notify("message-summary")
        for subs in box.watchers.values():
            for sub in subs:
                if sub.state is not libsip.SubState.TERMINATED:
                    sub.terminate("noresource")
        await asyncio.sleep(0.2)  # the final NOTIFYs go out
        stack.stop()
        await server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable)")
    ap.add_argument("--messages", type=int, default=2, help="new messages at start")
    ap.add_argument("--every", type=float, default=1.0, metavar="S",
                    help="seconds between new messages (default 1)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per subscription")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args))
    print("bye", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
