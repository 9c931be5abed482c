#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A GB28181 platform (GB/T 28181-2016) on libsip: device registration, keepalives, catalog and
live streams, in the shape of the reference servers (wvp-GB28181, the seed's).

usage: gb_platform.py [--listen udp:0.0.0.0:5060]... [--id 34020000002000000001]
                   [--domain 3402000000] [--password 12345678] [--device ID:PASSWORD]...
                   [--media-ip 192.0.2.10] [--media-port 30000] [--keepalive-interval 60]
                   [--keepalive-missed 3] [--play] [-v] [--trace]

What it does (the tests in tests/examples/test_gb28181.py run each step against gb_device.py):

- REGISTER (GB/T 28181-2016 §9.1): digest MD5 in the realm --domain, the device ID as the user
  name (the From's user must be the same ID); the password is the device's --device one, else
  --password (the reference servers use one password for every device). The 200 carries Date
  in the standard's form, 2026-12-07T21:51:33.123 (the devices set their clocks from it; it
  is no RFC 3261 SIP-date, and libsip reads it as an exception). A new registration is
  followed by a Catalog query; Expires: 0 unregisters (offline).
- Keepalive (§9.6): MESSAGE <Notify><CmdType>Keepalive</CmdType>... from a registered device
  keeps it online; after --keepalive-missed intervals of --keepalive-interval seconds without
  one (or once its registration expires) it is marked offline. A keepalive from a device that
  is not registered gets 403, so that it registers again.
- Catalog (§9.5.2): MESSAGE <Query><CmdType>Catalog</CmdType>; the device answers 200, then
  sends MESSAGE <Response> with a DeviceList (in several MESSAGEs when SumNum is larger than
  one page); the channels are kept per device.
- Live stream (§9.2, Annex F): INVITE to a channel (Request-URI sip:CHANNEL@DOMAIN, Subject
  CHANNEL:SSRC,PLATFORM:0) offering recvonly PS over RTP to the media server (--media-ip,
  --media-port) with y= (the SSRC: 0 for live, the domain's digits 4-8, a sequence number) and
  f=; the device answers with its own y= and f=, read with libsip.Sdp (sdp.ssrc,
  sdp.format). The call ends with BYE. With --play every channel a catalog lists is played
  once for a few seconds (a smoke test with a real camera).

Type commands on stdin while it runs: `devices`, `catalog DEVICE`, `play DEVICE CHANNEL`,
`stop DEVICE CHANNEL`. SIGINT and SIGTERM end it with status 0.
"""

import argparse
import asyncio
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import libsip

import manscdp

log = logging.getLogger("gb28181.platform")


@dataclass
class Stream:
    """A live stream: the INVITE's call and what its answer said."""
    device: str
    channel: str
    ssrc: str                 # the y= the device answered (the one offered when it had none)
    format: str               # the device's f=
    address: str              # where the device sends from (its c=)
    port: int                 # its m= port
    call: Any = None          # the libsip.Call


@dataclass
class Device:
    """A device as the platform knows it."""
    id: str
    contact: str = ""
    netinfo: Any = None       # where its REGISTER came from: requests go back there (NAT)
    registered: bool = False
    online: bool = False
    expires_at: float = 0.0
    last_keepalive: float = 0.0
    keepalives: int = 0
    channels: Dict[str, Dict[str, str]] = field(default_factory=dict)
    catalog_sum: int = -1     # SumNum of the last catalog answer (-1: none yet)


class Platform:
    """The platform on a Stack made with transactions=True. Events (registered,
    unregistered, online, offline, keepalive, catalog) go to on_event(event, device)."""

    def __init__(self, stack: libsip.Stack, *, platform_id: str = "34020000002000000001",
                 domain: Optional[str] = None, password: Optional[str] = "12345678",
                 passwords: Optional[Dict[str, str]] = None, media_ip: str = "127.0.0.1",
                 media_port: int = 30000, keepalive_interval: float = 60.0,
                 keepalive_missed: int = 3, stream_format: str = "v/////a///",
                 on_event: Optional[Callable[[str, Device], None]] = None) -> None:
        self.id = platform_id
        # §4.3.2: the first ten digits of a code are its domain (province, city, district).
        self.domain = domain or platform_id[:10]
        self.password = password
        self.passwords = dict(passwords or {})
        self.media_ip = media_ip
        self.media_port = media_port
        self.keepalive_interval = keepalive_interval
        self.keepalive_missed = keepalive_missed
        self.stream_format = stream_format
        self.on_event = on_event
        self.devices: Dict[str, Device] = {}
        self.streams: Dict[str, Stream] = {}   # by Call-ID
        self._sn = 0
        self._ssrc_seq = 0
        self._changed = asyncio.Event()
        self._catalog_waiters: Dict[str, List["asyncio.Future[Dict[str, Dict[str, str]]]"]] = {}
        self.auth = libsip.AuthServer(self.domain, algorithms=("MD5",))
        self.ua = libsip.UA(stack, user_agent="libsip-gb28181", contact_user=platform_id,
                            allow="INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, REGISTER, INFO")
        self.ua.on_request(self._on_request)
        self._watchdog = asyncio.ensure_future(self._watch())

    def close(self) -> None:
        """Stops the watchdog and the UA (live streams end without BYE)."""
        self._watchdog.cancel()
        self.ua.close()
        self.auth.close()

    # -- events ----------------------------------------------------------------------------

    def _event(self, event: str, dev: Device) -> None:
        log.info("%s %s", event, dev.id)
        self._changed.set()
        if self.on_event is not None:
            self.on_event(event, dev)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Waits until predicate() holds (checked at each event); TimeoutError after
        timeout seconds."""
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout)

    def _set_online(self, dev: Device, online: bool) -> None:
        if dev.online != online:
            dev.online = online
            self._event("online" if online else "offline", dev)

    async def _watch(self) -> None:
        # §9.6.2: a device that missed keepalive_missed keepalives is offline.
        while True:
            await asyncio.sleep(min(self.keepalive_interval / 2, 5.0))
            now = time.monotonic()
            for dev in list(self.devices.values()):
                if dev.registered and now >= dev.expires_at:
                    dev.registered = False
                    self._event("expired", dev)
                if dev.online and (not dev.registered or now - dev.last_keepalive >
                                   self.keepalive_interval * self.keepalive_missed):
                    self._set_online(dev, False)

    # -- requests from devices -------------------------------------------------------------

    async def _on_request(self, req: libsip.Request) -> None:
        if req.method == "REGISTER":
            await self._register(req)
        elif req.method == "MESSAGE":
            self._message(req)
        else:
            req.reply(405, headers={"Allow": "REGISTER, MESSAGE"})

    def _lookup(self, user: str, realm: str, algorithm: str) -> Optional[str]:
        return self.passwords.get(user, self.password)

    async def _register(self, req: libsip.Request) -> None:
        check = await self.auth.check(req, lambda c: self._lookup(c.user, c.realm,
                                                                  c.algorithm))
        if not check.ok:
            check.reply()
            return
        dev_id = check.user
        if req.from_.uri.user != dev_id:
            # §9.1.2.1: the device registers its own ID.
            req.reply(403, "Device ID Mismatch")
            return
        contacts = req.headers.getall("Contact")
        expires = req.expires
        if expires is None and contacts and contacts[0].parsed.expires is not None:
            expires = contacts[0].parsed.expires
        if expires is None:
            expires = 3600
        dev = self.devices.get(dev_id)
        now = time.time()
        headers: Dict[str, Any] = {
            # §9.1.2.1: the 200 carries the time for the device's clock, in the standard's
            # form (local time, no zone), not RFC 3261 §20.17's: the devices parse this one.
            "Date": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) +
                    ".%03d" % (int(now * 1000) % 1000),
            "Expires": expires,
        }
        if expires == 0:
            check.reply(200, headers=headers)
            if dev is not None and dev.registered:
                dev.registered = False
                self._event("unregistered", dev)
                self._set_online(dev, False)
            return
        if contacts:
            headers["Contact"] = str(contacts[0])
        check.reply(200, headers=headers)
        new = dev is None or not dev.registered
        if dev is None:
            dev = self.devices[dev_id] = Device(dev_id)
        dev.contact = str(contacts[0]) if contacts else ""
        dev.netinfo = req.netinfo
        dev.registered = True
        dev.expires_at = time.monotonic() + expires
        dev.last_keepalive = time.monotonic()
        if new:
            self._event("registered", dev)
            self._set_online(dev, True)
            asyncio.ensure_future(self._catalog_quietly(dev_id))

    def _message(self, req: libsip.Request) -> None:
        if not manscdp.is_manscdp(req.content_type):
            req.reply(415, headers={"Accept": manscdp.CONTENT_TYPE})
            return
        try:
            root = manscdp.parse(req.body)
        except ValueError:
            req.reply(400, "Bad MANSCDP Body")
            return
        cmd = manscdp.text(root, "CmdType")
        dev = self.devices.get(req.from_.uri.user)
        if dev is None or not dev.registered:
            req.reply(403, "Not Registered")
            return
        if root.tag == "Notify" and cmd == "Keepalive":
            req.reply(200)
            dev.last_keepalive = time.monotonic()
            dev.keepalives += 1
            self._set_online(dev, True)
            self._event("keepalive", dev)
        elif root.tag == "Response" and cmd == "Catalog":
            req.reply(200)
            self._catalog_page(dev, root)
        else:
            req.reply(200)
            log.info("%s: %s %s not handled", dev.id, root.tag, cmd)

    def _catalog_page(self, dev: Device, root: Any) -> None:
        try:
            total = int(manscdp.text(root, "SumNum", "0"))
        except ValueError:
            total = 0
        if dev.catalog_sum < 0 or len(dev.channels) >= dev.catalog_sum:
            dev.channels = {}       # a new answer replaces the last one
        dev.catalog_sum = total
        for item in manscdp.items(root, "DeviceList"):
            if item.get("DeviceID"):
                dev.channels[item["DeviceID"]] = item
        if len(dev.channels) >= total:
            self._event("catalog", dev)
            for fut in self._catalog_waiters.pop(dev.id, []):
                if not fut.done():
                    fut.set_result(dict(dev.channels))

    # -- requests to devices ---------------------------------------------------------------

    def _device(self, dev_id: str) -> Device:
        dev = self.devices.get(dev_id)
        if dev is None or not dev.registered:
            raise LookupError(f"device {dev_id} is not registered")
        return dev

    def _from(self) -> str:
        return f"<sip:{self.id}@{self.domain}>"

    async def catalog(self, dev_id: str, timeout: float = 10.0) -> Dict[str, Dict[str, str]]:
        """Queries a device's catalog and gives its channels (channel ID to the fields of its
        <Item>: Name, Manufacturer, Status...)."""
        dev = self._device(dev_id)
        self._sn += 1
        body = manscdp.build("Query", [("CmdType", "Catalog"), ("SN", str(self._sn)),
                                       ("DeviceID", dev_id)])
        fut = asyncio.get_running_loop().create_future()
        self._catalog_waiters.setdefault(dev_id, []).append(fut)
        rsp = await self.ua.message(f"sip:{dev_id}@{dev_id[:10]}", body,
                                    content_type=manscdp.CONTENT_TYPE, from_=self._from(),
                                    dst=dev.netinfo)
        if rsp.status != 200:
            raise RuntimeError(f"catalog query to {dev_id}: {rsp.status} {rsp.reason}")
        return await asyncio.wait_for(fut, timeout)

    async def _catalog_quietly(self, dev_id: str) -> None:
        try:
            await self.catalog(dev_id)
        except (Exception, asyncio.TimeoutError) as e:
            log.warning("catalog of %s: %s", dev_id, e)

    def next_ssrc(self, playback: bool = False) -> str:
        """A ten-digit SSRC of Annex F: 0 (live) or 1 (playback), the 4th to 8th digits of
        the domain, and a four-digit sequence."""
        self._ssrc_seq = self._ssrc_seq % 9999 + 1
        return f"{1 if playback else 0}{self.domain[3:8]}{self._ssrc_seq:04d}"

    async def play(self, dev_id: str, channel: str, timeout: float = 10.0) -> Stream:
        """Asks a device for a channel's live stream towards the media server; gives the
        Stream once the device answered (the ACK is sent). CallFailed when it refused."""
        dev = self._device(dev_id)
        ssrc = self.next_ssrc()
        offer = manscdp.play_sdp(self.id, self.media_ip, self.media_port, ssrc,
                                 self.stream_format, "recvonly")
        call = self.ua.invite(f"sip:{channel}@{dev_id[:10]}", sdp=offer, from_=self._from(),
                              headers={"Subject": f"{channel}:{ssrc},{self.id}:0"},
                              dst=dev.netinfo)
        await call.answered(timeout=timeout)
        answer = libsip.Sdp.parse(call.remote_sdp or "")
        media = answer.media[0] if answer.media else None
        conn = (media.connection if media is not None else None) or answer.connection
        st = Stream(dev_id, channel, ssrc=answer.ssrc or ssrc, format=answer.format,
                    address=conn.address if conn is not None else "",
                    port=media.port if media is not None else 0, call=call)
        self.streams[call.dialog.call_id] = st
        log.info("playing %s/%s: ssrc %s from %s:%d", dev_id, channel, st.ssrc, st.address,
                 st.port)
        return st

    async def stop(self, stream: Stream, timeout: float = 10.0) -> int:
        """Ends a live stream with BYE; gives the call's end status (200)."""
        self.streams = {k: v for k, v in self.streams.items() if v is not stream}
        await stream.call.hangup()
        return await stream.call.ended(timeout=timeout)


# -- the program -----------------------------------------------------------------------------


async def _commands(platform: Platform) -> None:
    """Reads commands from stdin: devices, catalog ID, play ID CHANNEL, stop ID CHANNEL."""
    aloop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await aloop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError):
        return
    while True:
        line = (await reader.readline()).decode(errors="replace")
        if not line:
            return
        words = line.split()
        try:
            if words == ["devices"]:
                for d in platform.devices.values():
                    print(f"{d.id} {'online' if d.online else 'offline'} "
                          f"{'registered' if d.registered else 'unregistered'} "
                          f"{len(d.channels)} channels", flush=True)
            elif len(words) == 2 and words[0] == "catalog":
                for ch, item in (await platform.catalog(words[1])).items():
                    print(f"{ch} {item.get('Name', '')} {item.get('Status', '')}", flush=True)
            elif len(words) == 3 and words[0] == "play":
                st = await platform.play(words[1], words[2])
                print(f"playing {st.channel} ssrc {st.ssrc} from {st.address}:{st.port} "
                      f"f={st.format}", flush=True)
            elif len(words) == 3 and words[0] == "stop":
                for st in list(platform.streams.values()):
                    if (st.device, st.channel) == (words[1], words[2]):
                        print(f"stopped {st.channel}: {await platform.stop(st)}", flush=True)
            elif words:
                print("commands: devices | catalog ID | play ID CHANNEL | stop ID CHANNEL",
                      flush=True)
        except Exception as e:  # a command's failure is reported, the platform goes on
            print(f"{line.strip()}: {type(e).__name__}: {e}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    aloop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, stop.set)

    def on_event(event: str, dev: Device) -> None:
        if event != "keepalive" or args.verbose:
            print(f"{event} {dev.id}", flush=True)
        if event == "catalog" and args.play:
            for ch in dev.channels:
                asyncio.ensure_future(smoke(platform, dev.id, ch))

    with libsip.Stack(listen=args.listen or ["udp:0.0.0.0:5060"], trace=args.trace,
                      transactions=True) as stack:
        platform = Platform(stack, platform_id=args.id, domain=args.domain,
                            password=args.password,
                            passwords=dict(d.split(":", 1) for d in args.device),
                            media_ip=args.media_ip, media_port=args.media_port,
                            keepalive_interval=args.keepalive_interval,
                            keepalive_missed=args.keepalive_missed, on_event=on_event)
        for a in stack.addresses:
            print(f"listening on {a}", flush=True)
        server = asyncio.ensure_future(stack.serve())
        commands = asyncio.ensure_future(_commands(platform))
        await stop.wait()
        commands.cancel()
        platform.close()
        stack.stop()
        await server


async def smoke(platform: Platform, dev_id: str, channel: str) -> None:
    """--play: a few seconds of each channel."""
    try:
        st = await platform.play(dev_id, channel)
        print(f"playing {channel} ssrc {st.ssrc} from {st.address}:{st.port} f={st.format}",
              flush=True)
        await asyncio.sleep(5)
        await platform.stop(st)
    except Exception as e:
        print(f"play {channel}: {type(e).__name__}: {e}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable)")
    ap.add_argument("--id", default="34020000002000000001", help="the platform's SIP ID")
    ap.add_argument("--domain", help="the SIP domain and digest realm (default: the ID's "
                                     "first ten digits)")
    ap.add_argument("--password", default="12345678",
                    help="the password of devices without their own --device")
    ap.add_argument("--device", action="append", default=[], metavar="ID:PASSWORD",
                    help="a device's own password (repeatable)")
    ap.add_argument("--media-ip", default="127.0.0.1", help="the media server's address")
    ap.add_argument("--media-port", type=int, default=30000, help="its RTP port")
    ap.add_argument("--keepalive-interval", type=float, default=60, metavar="S",
                    help="the devices' keepalive interval (default 60)")
    ap.add_argument("--keepalive-missed", type=int, default=3, metavar="N",
                    help="keepalives missed before a device is offline (default 3)")
    ap.add_argument("--play", action="store_true", help="play each channel a catalog lists")
    ap.add_argument("-v", "--verbose", action="store_true", help="log keepalives too")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
