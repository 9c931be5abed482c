#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A topology-hiding B2BUA: each call it receives is placed again towards --to, and neither
side learns anything of the other's network from the signalling.

usage: b2bua_hide.py --to URI [--listen udp:0.0.0.0:5060]... [--domain D] [--timeout S]
                     [-v] [--trace]

A call from side A to any URI of this host is bridged (libsip.UA.bridge, docs/PYTHON.md
"Calls") to --to; the Request-URI's user replaces --to's when --to has none
(--to sip:gw.example.net sends sip:1234@... to sip:1234@gw.example.net). B then sees:

- Via, Contact, Call-ID, CSeq, From and To tags of the B2BUA's own making (the bridge places
  a new call: A's Via, Record-Route, Contact, Call-ID and tags stay on A's leg; none of A's
  other headers is copied);
- a From with A's user and display name but this B2BUA's --domain as its host (A's host may
  be an address or a domain naming A's network);
- SDP whose o= line is the B2BUA's: username "-", a session ID of its own and its address
  (RFC 8866 §5.2 makes o= a globally unique name of the session: A's gives away its host and
  its software), and s=- (A's session name may name its software too). The o= version goes
  up by one each time A's does, so a re-offer that changes nothing stays a refresh (RFC 3264
  §8).

The same holds the other way round: A sees B's answers, re-INVITEs and BYE under the B2BUA's
identity and o= line. c= and m= are left alone: the media still flows between A and B, so
their addresses show in c=; hiding those too takes a media relay (rtpengine, rtpproxy) whose
addresses a B2BUA like this one writes into c= and m= instead.

Run:  b2bua_hide.py --listen udp:0.0.0.0:5060 --to sip:pbx.internal.example --domain example.com
tests/examples/test_b2bua_hide.py calls across it and checks every message B receives.
SIGINT and SIGTERM end it with status 0.
"""

import argparse
import asyncio
import logging
import random
import signal
import sys
from typing import Optional

import libsip

log = logging.getLogger("b2bua_hide")


class Origin:
    """The o= line this B2BUA shows one side in place of the other side's (RFC 8866 §5.2):
    its own session ID, and a version that follows the hidden side's changes."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sess_id = str(random.randrange(1, 2 ** 62))
        self.version = 0
        self.seen: Optional[str] = None     # the hidden side's last (sess-id, version)

    def rewrite(self, sdp_text: str) -> str:
        sdp = libsip.Sdp.parse(sdp_text)
        o = sdp.origin
        seen = f"{o.sess_id} {o.sess_version}"
        if seen != self.seen:
            # RFC 3264 §8: a new version for a changed description, the same for a refresh.
            self.seen = seen
            self.version += 1
        addrtype = "IP6" if ":" in self.address else "IP4"
        sdp.set_origin("-", self.sess_id, str(self.version), self.address, addrtype=addrtype)
        # s= names the session as the other side's software put it: "-" says nothing.
        sdp.session_name = "-"
        return str(sdp)


def b_target(to: str, req_uri: Optional[libsip.Uri]) -> str:
    """--to, with the Request-URI's user when --to has none."""
    uri = libsip.Uri(to)
    if uri.user or req_uri is None or not req_uri.user:
        return to
    scheme, _, rest = to.partition(":")
    return f"{scheme}:{req_uri.user}@{rest}"


def b_from(invite: libsip.Message, domain: str) -> str:
    """A's From as B sees it: A's display name and user, our domain."""
    f = invite.from_
    user = f.uri.user if f.uri is not None else ""
    display = f"{f.display} " if f.display else ""
    return f"{display}<sip:{user + '@' if user else ''}{domain}>"


def attach(ua: libsip.UA, args: argparse.Namespace) -> None:
    """Makes ua a topology-hiding B2BUA towards args.to."""

    @ua.on_invite
    async def incoming(call: libsip.Call) -> None:
        inv = call.invite
        if inv is None or not call.remote_sdp:
            await call.reject(488)          # nothing to relay (an offerless INVITE)
            return
        target = b_target(args.to, inv.uri)
        domain = args.domain or libsip.Uri(target).host
        # Each side gets its own o= line for the other's descriptions. The address B sees is
        # the one B's leg goes out from: the domain's host, as we do not know it before the
        # INVITE leaves; A sees the address it reached us on.
        to_b = Origin(args.sdp_address or domain)
        to_a = Origin(inv.uri.host.strip("[]") if inv.uri is not None else domain)
        await call.ring()
        br = ua.bridge(call, target, from_=b_from(inv, domain), timeout=args.timeout,
                       sdp=to_b.rewrite(call.remote_sdp))

        @br.on("relay")
        def relay(leg: libsip.BridgeLeg, msg: libsip.Message) -> None:
            # Every description that crosses gets the o= of the side it goes to.
            if msg is not None and msg.body and \
                    str(msg.content_type or "").lower() == "application/sdp":
                origin = to_b if leg == libsip.BridgeLeg.B else to_a
                br.set_sdp(origin.rewrite(msg.body.decode()))

        await br
        log.info("%s -> %s: %d", inv.from_.uri, target, br.status)
        if br.status < 300:
            leg = await br.ended()
            log.info("%s -> %s: ended by %s", inv.from_.uri, target, leg.name)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    aloop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, stop.set)
    with libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5060"], trace=args.trace,
                      transactions=True) as stack:
        ua = libsip.UA(stack, user_agent="b2bua", contact_user="b2bua")
        attach(ua, args)
        for a in stack.addresses:
            print(f"listening on {a}", flush=True)
        server = asyncio.ensure_future(stack.serve())
        await stop.wait()
        ua.close()
        stack.stop()
        await server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable)")
    ap.add_argument("--to", required=True, metavar="URI", help="where calls go (side B)")
    ap.add_argument("--domain", help="the host of the From B sees (default: --to's host)")
    ap.add_argument("--sdp-address", help="the address in the o= line B sees "
                                          "(default: --domain)")
    ap.add_argument("--timeout", type=float, default=60, metavar="S",
                    help="seconds B may ring (default 60)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per call")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
