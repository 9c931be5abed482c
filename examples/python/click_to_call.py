#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Click-to-call: calls A, then B, and connects them so that their media flows directly (3PCC).

usage: click_to_call.py --a SIP-URI --b SIP-URI [--listen udp:127.0.0.1:5066]...
                        [--duration S] [--timeout S] [-v] [--trace]

Third party call control (RFC 3725) on libsip.UA in asyncio. The controller sends no media; it
places a call to each party and hands each one the other's SDP:

  1. INVITE without SDP to A (RFC 3725 §4.1, Flow I, message 1). A's 200 carries its offer; the
     ACK answers it at once with a held "black hole" answer (c=0.0.0.0, a=inactive: the answer1
     of §4.3 Flow III), because the UA layer sends the ACK of a 2xx as soon as it arrives.
  2. INVITE to B with A's offer (Flow I, message 3); B's 200 carries B's answer; the core ACKs.
  3. re-INVITE to A offering B's answer, under the controller's o= line one version up (RFC 3264
     §8). A answers; A sends to B and B to A.
  4. A BYE on either call ends the other; --duration hangs both up, so do SIGINT and SIGTERM.

Flow I proper would put B's answer in A's ACK (message 6). That needs the ACK held back while B
rings, and the call layer answers an offer in a 2xx only from inside its "offer" event.

Each party sees the other as the caller (the From of its INVITE). A re-INVITE or UPDATE of A or
B later in the call is refused with 488 (the session stays as it was): relaying it is a B2BUA's
work (ua.bridge).

exit status: 0  A and B were connected (and the call has ended)
             1  A did not answer (busy, rejected, or nobody within --timeout)
             2  bad command line
             3  B did not answer, or A hung up first (A was hung up)
             4  A refused B's session (its re-INVITE failed; both were hung up)
             5  SIGINT or SIGTERM before A and B were connected
"""

import argparse
import asyncio
import logging
import re
import signal
import sys

import libsip

log = logging.getLogger("click_to_call")

CONNECTED, A_FAILED, USAGE, B_FAILED, A_REFUSED, INTERRUPTED = range(6)


class Origin:
    """The controller's o= line towards A (RFC 4566 §5.2): one session, its version going up by
    one with each SDP the controller sends A (RFC 3264 §8)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.version = 0

    def next(self) -> str:
        self.version += 1
        family = "IP6" if ":" in self.address else "IP4"
        return f"o=3pcc 1 {self.version} IN {family} {self.address}"


def held_answer(offer: str, origin: str) -> str:
    """An answer to offer that takes every stream without sending or receiving (RFC 3725 §4.3:
    a black hole, c=0.0.0.0, and a=inactive, RFC 3264 §6.1): each accepted stream with its first
    format, a refused one (port 0) refused again."""
    lines = ["v=0", origin, "s=-", "c=IN IP4 0.0.0.0", "t=0 0"]
    for m in libsip.Sdp.parse(offer).media:
        fmt = m.formats[0]
        lines.append(f"m={m.type} {9 if m.port else 0} {m.proto} {fmt}")
        lines += [f"a=rtpmap:{v}" for k, v in m.attributes
                  if k == "rtpmap" and v and v.split()[0] == fmt]
        lines.append("a=inactive")
    return "\r\n".join(lines) + "\r\n"


def with_origin(sdp: str, origin: str) -> str:
    """sdp with its o= line replaced: another party's SDP sent as the controller's own."""
    return re.sub(r"(?m)^o=[^\r\n]*", origin, sdp, count=1)


def host_of(spec: str) -> str:
    """The host of a listening point spec ("udp:127.0.0.1:5066", "udp:[::1]:5066")."""
    host = spec.split(":", 1)[1].rsplit(":", 1)[0]
    return host.strip("[]")


async def first(*aws):
    """Waits for the first of several awaitables and cancels the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(t for t in tasks if t in done)
    finally:
        for t in tasks:
            t.cancel()


def hang_up(*calls: libsip.Call) -> None:
    for c in calls:
        if c is not None and c.state is not libsip.CallState.ENDED:
            c.hangup()


async def click_to_call(ua: libsip.UA, args: argparse.Namespace, stop: asyncio.Event) -> int:
    origin = Origin(host_of(ua.stack.addresses[0]))

    # 1. A, without an offer: A's 200 brings one, answered in the ACK with a held answer.
    a = ua.invite(args.a, from_=f"<{args.b}>", timeout=args.timeout)

    @a.on("offer")
    def offer(msg: libsip.Message) -> None:
        a.answer_offer(held_answer(msg.body.decode(), origin.next()))

    won = await first(a.answered(), stop.wait())
    if won.exception() is not None or stop.is_set():
        hang_up(a)
        e = won.exception()
        if isinstance(e, libsip.CallFailed):
            print(f"A did not answer: {e.status} {e.reason}", file=sys.stderr)
            return A_FAILED
        return INTERRUPTED
    offer_a = a.remote_sdp
    log.info("A answered, its offer held")

    # 2. B, with A's offer: B's answer says where A is to send.
    b = ua.invite(args.b, sdp=offer_a, from_=f"<{args.a}>", timeout=args.timeout)
    won = await first(b.answered(), a.ended(), stop.wait())
    if won.exception() is not None or a.state is libsip.CallState.ENDED or stop.is_set():
        hang_up(a, b)
        e = won.exception()
        if isinstance(e, libsip.CallFailed):
            print(f"B did not answer: {e.status} {e.reason}", file=sys.stderr)
            return B_FAILED
        if stop.is_set():
            return INTERRUPTED
        print("A hung up before B answered", file=sys.stderr)
        return B_FAILED
    log.info("B answered")

    # 3. A gets B's answer as the controller's next offer.
    try:
        rsp = await a.reinvite(with_origin(b.remote_sdp, origin.next()))
    except libsip.Error as e:  # A hung up meanwhile, or no response to the re-INVITE
        rsp = None
        log.info("re-INVITE to A: %s", e)
    if rsp is None or rsp.status >= 300:
        hang_up(a, b)
        print(f"A refused B's session: {rsp.status if rsp else 'no response'}", file=sys.stderr)
        return A_REFUSED
    print("connected", flush=True)

    # 4. Until either leaves (BYE), the duration is over, or a signal.
    waits = [a.ended(), b.ended(), stop.wait()]
    if args.duration:
        waits.append(asyncio.sleep(args.duration))
    await first(*waits)
    how = ("A hung up" if a.state is libsip.CallState.ENDED and not a.ended_locally
           else "B hung up" if b.state is libsip.CallState.ENDED and not b.ended_locally
           else "stopped")
    hang_up(a, b)
    print(f"ended: {how}", flush=True)
    return CONNECTED


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    aloop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, stop.set)
    with libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5066"], trace=args.trace,
                      transactions=True) as stack, stack.ua(contact_user="3pcc") as ua:
        for a in stack.addresses:
            print(f"listening on {a}", flush=True)
        server = asyncio.ensure_future(stack.serve())
        try:
            status = await click_to_call(ua, args, stop)
            # The BYEs and CANCELs are out; their transactions end once answered. Bounded.
            for _ in range(40):
                if ua.dialog_count == 0:
                    break
                await asyncio.sleep(0.05)
            return status
        finally:
            stack.stop()
            await server


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, metavar="SIP-URI", help="the party called first")
    ap.add_argument("--b", required=True, metavar="SIP-URI", help="the party A talks to")
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable; "
                    "default udp:127.0.0.1:5066)")
    ap.add_argument("--duration", type=float, default=0, metavar="S",
                    help="hang up both after S seconds (default 0: when either leaves)")
    ap.add_argument("--timeout", type=float, default=30, metavar="S",
                    help="give up on a party that does not answer within S seconds (default 30)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log each step")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    if args.duration < 0:
        ap.error("--duration must be 0 or more")
    if args.timeout <= 0:
        ap.error("--timeout must be more than 0")
    for name in ("a", "b"):
        try:
            libsip.Uri(getattr(args, name))
        except libsip.Error as e:
            ap.error(f"--{name}: {e}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
