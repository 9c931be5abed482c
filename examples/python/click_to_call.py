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

Flow I proper puts B's answer in A's ACK (message 6), and Flows III and IV hold B's ACK until A
has answered B's offer: each needs the ACK of a 2xx held back, which the call layer does not do
(the offer in a 2xx is answered before the "offer" handler first waits: the ACK goes when it
returns). Acknowledging A at once also
spares Flow I's timeout problem: B may ring for all of --timeout while A, answered, is on hold.

Each party sees the other as the caller (the From of its INVITE). Once they are connected, an
offer either one makes (a re-INVITE or UPDATE, to hold for instance) goes to the other in a
re-INVITE, and its answer comes back.

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
from typing import Callable, Dict

import libsip

log = logging.getLogger("click_to_call")

CONNECTED, A_FAILED, USAGE, B_FAILED, A_REFUSED, INTERRUPTED = range(6)


class Origin:
    """The o= line of the session the controller keeps with one party (RFC 4566 §5.2): the same
    user, session id and address in every SDP it sends that party, the version one up each time
    (RFC 3264 §8)."""

    def __init__(self, username: str, sess_id: str, version: int, address: str) -> None:
        self.prefix = f"o={username} {sess_id}"
        self.version = version
        self.suffix = f"IN {'IP6' if ':' in address else 'IP4'} {address}"

    def next(self) -> str:
        self.version += 1
        return f"{self.prefix} {self.version} {self.suffix}"


def held_answer(offer: str, origin: str) -> str:
    """An answer to offer that takes every stream without sending or receiving (RFC 3725 §4.3:
    a black hole, c=0.0.0.0, or :: for IPv6, and a=inactive, RFC 3264 §6.1): each accepted
    stream with its first format, a refused one (port 0) refused again."""
    sdp = libsip.Sdp.parse(offer)
    conns = [c for c in [sdp.connection] + [m.connection for m in sdp.media] if c]
    ip6 = any(c.addrtype.upper() == "IP6" for c in conns)
    lines = ["v=0", origin, "s=-", "c=IN IP6 ::" if ip6 else "c=IN IP4 0.0.0.0", "t=0 0"]
    for m in sdp.media:
        fmt = m.formats[0]
        lines.append(f"m={m.type} {9 if m.port else 0} {m.proto} {fmt}")
        if m.port:
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


def offer_relay(frm: libsip.Call, to: libsip.Call, frm_origin: Origin, to_origin: Origin,
                tasks: set) -> Callable[[libsip.Message], None]:
    """What to do with an offer frm makes in the call (a re-INVITE or UPDATE: hold, a new
    codec): it goes to `to` in a re-INVITE, and `to`'s answer back to frm (the controller stays
    in the path of every later exchange, RFC 3725); a failure refuses frm's offer and the
    session stays as it was."""

    async def relay(offer: str) -> None:
        try:
            rsp = await to.reinvite(with_origin(offer, to_origin.next()))
        except libsip.Error as e:  # `to` has an exchange open (glare), or has ended
            log.info("relaying an offer: %s", e)
            rsp = None
        if frm.state is libsip.CallState.ENDED:
            return
        if rsp is not None and rsp.status < 300:
            frm.answer_offer(with_origin(to.remote_sdp, frm_origin.next()))
        else:  # 491 (RFC 3261 §14.1): frm may try again later
            frm.reject_offer(rsp.status if rsp is not None and rsp.status >= 400 else 491)

    def start(msg: libsip.Message) -> None:
        task = asyncio.ensure_future(relay(msg.body.decode()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return start


def hang_up(*calls: libsip.Call) -> None:
    for c in calls:
        if c is not None and c.state is not libsip.CallState.ENDED:
            c.hangup()


async def click_to_call(ua: libsip.UA, args: argparse.Namespace, stop: asyncio.Event) -> int:
    to_a = Origin("3pcc", "1", 0, host_of(ua.stack.addresses[0]))
    tasks: set = set()
    relay: Dict[str, Callable[[libsip.Message], None]] = {}  # once connected: "a", "b"

    # 1. A, without an offer: A's 200 brings one, answered in the ACK with a held answer.
    a = ua.invite(args.a, from_=f"<{args.b}>", timeout=args.timeout)

    @a.on("offer")
    def a_offers(msg: libsip.Message) -> None:
        if not msg.is_request:  # the 2xx: answered now, in the ACK the core sends next
            a.answer_offer(held_answer(msg.body.decode(), to_a.next()))
        elif "a" in relay:
            relay["a"](msg)
        else:  # a re-INVITE while B is still being called: A may try again later
            a.reject_offer(491)

    won = await first(a.answered(), stop.wait())
    if won.exception() is not None or stop.is_set():
        hang_up(a)
        e = won.exception()
        if isinstance(e, libsip.CallFailed):
            print(f"A did not answer: {e.status} {e.reason}", file=sys.stderr)
            return A_FAILED
        return INTERRUPTED
    offer_a = a.remote_sdp
    if offer_a is None:  # RFC 3261 §13.2.1 wants an offer in this 2xx
        hang_up(a)
        print("A answered without an offer", file=sys.stderr)
        return A_REFUSED
    log.info("A answered, its offer held")

    # 2. B, with A's offer: B's answer says where A is to send.
    b = ua.invite(args.b, sdp=offer_a, from_=f"<{args.a}>", timeout=args.timeout)

    @b.on("offer")
    def b_offers(msg: libsip.Message) -> None:
        if "b" in relay:
            relay["b"](msg)
        else:
            b.reject_offer(491)

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
        rsp = await a.reinvite(with_origin(b.remote_sdp, to_a.next()))
    except libsip.Error as e:  # A hung up meanwhile, or no response to the re-INVITE
        rsp = None
        log.info("re-INVITE to A: %s", e)
    if rsp is None or rsp.status >= 300:
        hang_up(a, b)
        print(f"A refused B's session: {rsp.status if rsp else 'no response'}", file=sys.stderr)
        return A_REFUSED
    print("connected", flush=True)
    # B's session is A's offer's, as B saw it first: its o= line goes on from there.
    o = libsip.Sdp.parse(offer_a).origin
    to_b = Origin(o.username, o.sess_id, int(o.sess_version), o.address)
    relay["a"] = offer_relay(a, b, to_a, to_b, tasks)
    relay["b"] = offer_relay(b, a, to_b, to_a, tasks)

    # 4. Until either leaves (BYE), the duration is over, or a signal.
    waits = [a.ended(), b.ended(), stop.wait()]
    if args.duration:
        waits.append(asyncio.sleep(args.duration))
    await first(*waits)
    how = ("A hung up" if a.state is libsip.CallState.ENDED and not a.ended_locally
           else "B hung up" if b.state is libsip.CallState.ENDED and not b.ended_locally
           else "stopped")
    hang_up(a, b)
    for t in tasks:
        t.cancel()
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
