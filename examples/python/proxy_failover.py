#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A registrar and proxy that sends a call to voicemail when the callee is busy or does not answer.

usage: proxy_failover.py --voicemail URI [--listen udp:127.0.0.1:5060]... [--domain D]...
                         [--user USER:PASSWORD]... [--realm R] [--timeout S] [-v] [--trace]

REGISTER for a --domain is authenticated against the --user table (digest, realm --realm, by
default the first domain) and saved in the location service (in memory). A request for a
registered address of record is relayed to its contacts (forking by q, Record-Route); when the
outcome is busy (486, 600, 603), no answer within --timeout seconds (the ringing branches are
cancelled: 487, or 408 when nothing answered at all) or nobody registered (480, 404), the same
request goes to --voicemail instead; after the caller's own CANCEL a relay gives the 487 again,
so the same test is safe. In-dialog requests (BYE, re-INVITE,
the ACK of a 2xx) follow their Route. Anything for another domain gets 403: not an open relay.
SIGINT and SIGTERM end it with status 0.

The route is one async function, top to bottom: the proxy core (RFC 3261 §16) does the
transactions, forking, CANCEL and response aggregation, and `await req.proxy(...)` gives the
outcome to decide on.
"""

import argparse
import asyncio
import logging
import signal
import sys

import libsip

log = logging.getLogger("proxy_failover")

# The outcomes that send the caller to voicemail.
FAILOVER = (404, 408, 480, 486, 487, 600, 603)


def make_proxy(stack: libsip.Stack, args: argparse.Namespace) -> libsip.Proxy:
    loc = libsip.Location(stack.loop)
    for d in args.domain:
        loc.add_domain(d)
    users = dict(u.split(":", 1) for u in args.user)
    auth = libsip.AuthServer(args.realm or args.domain[0])
    proxy = libsip.Proxy(stack, location=loc, registrar=libsip.Registrar(loc), auth=auth,
                         users=users)

    @proxy.route
    async def route(req: libsip.ProxyRequest) -> None:
        if req.routed:
            # Inside a record-routed dialog: on along the Route set.
            await req.default_route()
            return
        if not req.is_local:
            req.reply(403, "Not A Relay")
            return
        if req.method == "REGISTER":
            if await req.authenticate() is None:
                req.challenge()
                return
            status = await req.save()
            log.info("REGISTER %s: %d", req.msg.to.uri, status)
            return
        contacts = await req.lookup()
        out = await req.proxy(contacts, record_route=True, timeout=args.timeout)
        log.info("%s %s: %d from %d branches", req.method, req.uri, out.status,
                 len(out.branches))
        if out.status in FAILOVER and req.method == "INVITE":
            out = await req.proxy([args.voicemail], record_route=True)
            log.info("%s: voicemail answered %d", req.uri, out.status)
        # Returning forwards the last outcome's best response (a 2xx went already).

    return proxy


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    aloop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, stop.set)
    with libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5060"], trace=args.trace,
                      transactions=True) as stack, make_proxy(stack, args):
        for a in stack.addresses:
            print(f"listening on {a}", flush=True)
        server = asyncio.ensure_future(stack.serve())
        await stop.wait()
        stack.stop()
        await server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable)")
    ap.add_argument("--domain", action="append", default=[],
                    help="a domain this registrar serves (repeatable; default: every domain)")
    ap.add_argument("--user", action="append", default=[], metavar="USER:PASSWORD",
                    help="a user who may register (repeatable)")
    ap.add_argument("--realm", help="the digest realm (default: the first --domain)")
    ap.add_argument("--voicemail", required=True, metavar="URI",
                    help="where calls go on busy or no answer")
    ap.add_argument("--timeout", type=float, default=20, metavar="S",
                    help="seconds to ring the registered contacts (default 20)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per decision")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    if not args.domain and not args.realm:
        ap.error("give --domain or --realm")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
