#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Watches an event package of a notifier (RFC 6665): message-summary (RFC 3842) or dialog
(RFC 4235), printing each NOTIFY's state and body, then unsubscribes.

usage: event_watcher.py TARGET [--event message-summary] [--count N] [--listen SPEC] [--trace]

TARGET is the notifier's URI ("sip:voicemail@127.0.0.1:5064"). After --count NOTIFYs (default
2) it unsubscribes and waits for the NOTIFY that ends the subscription. Exits 0 when it got
them, 1 when the subscription failed (489 Bad Event, 404, no NOTIFY) or ended first.
"""

import argparse
import asyncio
import sys

import libsip

ACCEPT = {"message-summary": "application/simple-message-summary",
          "dialog": "application/dialog-info+xml"}


def waiting(body: bytes) -> str:
    """The Messages-Waiting line of a summary (RFC 3842 §5.2), or ""."""
    for line in body.decode("utf-8", "replace").splitlines():
        if line.lower().startswith("messages-waiting:"):
            return line.split(":", 1)[1].strip()
    return ""


async def watch(args: argparse.Namespace) -> int:
    with libsip.Stack(listen=[args.listen], trace=args.trace, transactions=True) as stack, \
            libsip.UA(stack) as ua:
        server = asyncio.ensure_future(stack.serve())
        try:
            sub = await ua.subscribe(args.target, args.event, expires=600,
                                     accept=ACCEPT.get(args.event))
        except libsip.SubscriptionFailed as e:
            print(f"subscription failed: {e.status} {e.reason}", file=sys.stderr)
            stack.stop()
            await server
            return 1
        got = 0
        async for n in sub:
            got += 1
            extra = f" waiting={waiting(n.body)}" if args.event == "message-summary" else ""
            print(f"NOTIFY {n.state.name.lower()}{extra} ({len(n.body)} bytes)", flush=True)
            if args.event == "dialog":
                print(n.body.decode("utf-8", "replace"), end="", flush=True)
            if got == args.count:
                await sub.unsubscribe()
        print(f"ended: {sub.end_status} {sub.reason}".rstrip(), flush=True)
        stack.stop()
        await server
        return 0 if got >= args.count else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", help="the notifier's URI")
    ap.add_argument("--event", default="message-summary", help="the event package")
    ap.add_argument("--count", type=int, default=2, help="NOTIFYs before unsubscribing")
    ap.add_argument("--listen", default="udp:127.0.0.1:0", help="transport:host:port")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    if args.count < 1:
        ap.error("--count must be 1 or more")
    return asyncio.run(watch(args))


if __name__ == "__main__":
    sys.exit(main())
