#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Answers every OPTIONS request with 200 OK on the given listening points until SIGINT.

usage: options_responder.py [--listen udp:127.0.0.1:5060]... [--asyncio] [--trace]
"""

import argparse
import asyncio
import logging
import signal
import sys

import libsip

log = logging.getLogger("options_responder")


def make_stack(args: argparse.Namespace) -> libsip.Stack:
    stack = libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5060"], trace=args.trace)

    # The same headers for every answer: one dict, made once.
    allow = {"Allow": "OPTIONS", "Accept": "application/sdp"}

    # Per-request lines only at DEBUG, decided once: at INFO they cost more than the answer
    # itself (docs/PERFORMANCE.md, "Bindings").
    if log.isEnabledFor(logging.DEBUG):
        @stack.on_request("OPTIONS")
        def options_logged(req: libsip.Request) -> None:
            ni = req.netinfo
            log.debug("OPTIONS from %s:%s", ni.remote_ip if ni else "?", ni.remote_port if ni else 0)
            req.reply(200, headers=allow)
    else:
        @stack.on_request("OPTIONS")
        def options(req: libsip.Request) -> None:
            req.reply(200, headers=allow)

    for a in stack.addresses:
        print(f"listening on {a}", flush=True)
    return stack


def run_plain(args: argparse.Namespace) -> None:
    with make_stack(args) as stack:
        try:
            # Ctrl-C surfaces from run() as KeyboardInterrupt.
            stack.run()
        except KeyboardInterrupt:
            pass


async def run_asyncio(args: argparse.Namespace) -> None:
    with make_stack(args) as stack:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stack.stop)
        await stack.serve()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable)")
    ap.add_argument("--asyncio", action="store_true", help="run inside asyncio")
    ap.add_argument("--trace", action="store_true", help="log every message")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each request (DEBUG)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    if args.asyncio:
        asyncio.run(run_asyncio(args))
    else:
        run_plain(args)
    print("bye", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
