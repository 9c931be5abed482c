#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A simulated GB28181 device (an IPC or NVR, GB/T 28181-2016) on libsip, to try gb_platform.py
(and other platforms) without a camera; tests/examples/test_gb28181.py drives the platform with
it.

usage: gb_device.py --server udp:127.0.0.1:5060 [--listen udp:127.0.0.1:5070]
                 [--id 34020000001320000001] [--server-id 34020000002000000001]
                 [--password 12345678] [--channels 2] [--keepalive 60] [--expires 3600]
                 [--media-ip 127.0.0.1] [-v] [--trace]

It registers with digest MD5 (its ID as the user name) to the platform --server-id at
--server, sends a keepalive MESSAGE (<Notify><CmdType>Keepalive</CmdType>) every --keepalive
seconds, answers a Catalog query with 200 and then a MESSAGE <Response> listing --channels
channels (IDs: its own with the type code 131 and a sequence; names in Chinese, sent in
GB2312 as devices do), and answers an INVITE for one of its channels with an SDP of its own
(sendonly, PS/90000) carrying the y= SSRC the platform offered and an f= line; a BYE ends it.
No media is sent. SIGINT and SIGTERM unregister and end it with status 0.
"""

import argparse
import asyncio
import logging
import signal
import sys
from typing import Dict, List, Optional

import libsip

import manscdp

log = logging.getLogger("gb28181.device")

# f= of the answer: H.264 (2), 1080p (5), 25 frames/s, constant rate (1), 4096 kbit/s; audio
# G.711A (1), 64 kbit/s (8... the table's code), 8 kHz (1) (GB/T 28181-2016 Annex F).
STREAM_FORMAT = "v/2/5/25/1/4096a/1/8/1"


class SimDevice:
    """A device on a Stack made with transactions=True."""

    def __init__(self, stack: libsip.Stack, *, device_id: str = "34020000001320000001",
                 server: str, server_id: str = "34020000002000000001",
                 password: str = "12345678", channels: int = 2,
                 keepalive_interval: float = 60.0, expires: int = 3600,
                 media_ip: str = "127.0.0.1", media_port: int = 15060) -> None:
        self.id = device_id
        self.server = server
        self.server_id = server_id
        self.domain = device_id[:10]
        self.server_domain = server_id[:10]
        self.password = password
        self.keepalive_interval = keepalive_interval
        self.expires = expires
        self.media_ip = media_ip
        self.media_port = media_port
        # Channel IDs: the device's centre and industry digits, 131 (a camera), a sequence.
        self.channels: List[str] = [f"{device_id[:10]}131{i:07d}" for i in range(1, channels + 1)]
        self.keepalives_answered = 0
        self.invites: List[libsip.Message] = []     # every INVITE received, for the tests
        self.calls: Dict[str, libsip.Call] = {}
        self._sn = 0
        self._keepalive: Optional["asyncio.Task[None]"] = None
        self.reg: Optional[libsip.Registration] = None
        self.ua = libsip.UA(stack, user_agent="libsip-gb28181-device", contact_user=device_id,
                            allow="INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE, INFO")
        self.ua.on_request(self._on_request)
        self.ua.on_invite(self._on_invite)

    def _from(self) -> str:
        return f"<sip:{self.id}@{self.domain}>"

    def _next_sn(self) -> str:
        self._sn += 1
        return str(self._sn)

    async def start(self) -> None:
        """Registers (raises RegistrationFailed when refused) and starts the keepalives."""
        self.reg = self.ua.register(f"sip:{self.id}@{self.domain}", password=self.password,
                                    expires=self.expires,
                                    registrar=f"sip:{self.server_id}@{self.server_domain}",
                                    dst=self.server)
        await self.reg.registered(timeout=10)
        self.start_keepalives()

    def start_keepalives(self) -> None:
        if self._keepalive is None or self._keepalive.done():
            self._keepalive = asyncio.ensure_future(self._keepalives())

    def stop_keepalives(self) -> None:
        """Stops the keepalives (the platform should mark the device offline)."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    async def stop(self) -> None:
        """Stops the keepalives and unregisters."""
        self.stop_keepalives()
        if self.reg is not None and not self.reg.closed:
            try:
                await self.reg.unregister(timeout=5)
            except Exception as e:
                log.warning("unregister: %s", e)

    async def _keepalives(self) -> None:
        try:
            while True:
                await self.keepalive()
                await asyncio.sleep(self.keepalive_interval)
        except libsip.ClosedError:
            pass        # the UA closed: the device is going away

    async def keepalive(self) -> int:
        """Sends one keepalive; gives the platform's status."""
        body = manscdp.build("Notify", [("CmdType", "Keepalive"), ("SN", self._next_sn()),
                                        ("DeviceID", self.id), ("Status", "OK")])
        rsp = await self.ua.message(f"sip:{self.server_id}@{self.server_domain}", body,
                                    content_type=manscdp.CONTENT_TYPE, from_=self._from(),
                                    dst=self.server)
        if rsp.status == 200:
            self.keepalives_answered += 1
        else:
            log.warning("keepalive: %d %s", rsp.status, rsp.reason)
        return rsp.status

    # -- what the platform asks --------------------------------------------------------------

    def _on_request(self, req: libsip.Request) -> None:
        if req.method != "MESSAGE" or not manscdp.is_manscdp(req.content_type):
            req.reply(415 if req.method == "MESSAGE" else 405)
            return
        try:
            root = manscdp.parse(req.body)
        except ValueError:
            req.reply(400)
            return
        cmd = manscdp.text(root, "CmdType")
        req.reply(200)
        if root.tag == "Query" and cmd == "Catalog":
            asyncio.ensure_future(self._catalog(manscdp.text(root, "SN")))

    async def _catalog(self, sn: str) -> None:
        # §9.5.2: the answer is a MESSAGE of its own, with the query's SN.
        rows = [{"DeviceID": ch, "Name": f"摄像机{i}", "Manufacturer": "libsip",
                 "Model": "sim", "Owner": "Owner", "CivilCode": self.domain[:6],
                 "Address": "Address", "Parental": "0", "ParentID": self.id,
                 "SafetyWay": "0", "RegisterWay": "1", "Secrecy": "0", "Status": "ON"}
                for i, ch in enumerate(self.channels, 1)]
        body = manscdp.build("Response", [("CmdType", "Catalog"), ("SN", sn),
                                          ("DeviceID", self.id),
                                          ("SumNum", str(len(rows)))],
                             ("DeviceList", rows))
        try:
            rsp = await self.ua.message(f"sip:{self.server_id}@{self.server_domain}", body,
                                        content_type=manscdp.CONTENT_TYPE, from_=self._from(),
                                        dst=self.server)
        except libsip.ClosedError:
            return
        if rsp.status != 200:
            log.warning("catalog answer: %d %s", rsp.status, rsp.reason)

    async def _on_invite(self, call: libsip.Call) -> None:
        inv = call.invite
        self.invites.append(inv)
        channel = inv.uri.user if inv is not None and inv.uri is not None else ""
        if channel not in self.channels:
            await call.reject(404)
            return
        try:
            offer = libsip.Sdp.parse(call.remote_sdp or "")
        except libsip.SdpError:
            await call.reject(488)
            return
        if not offer.ssrc:
            # Annex F: the platform gives the SSRC; without one there is no stream to name.
            await call.reject(488)
            return
        answer = manscdp.play_sdp(channel, self.media_ip, self.media_port, offer.ssrc,
                                  STREAM_FORMAT, "sendonly")
        await call.answer(sdp=answer)
        self.calls[channel] = call


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    aloop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, stop.set)
    with libsip.Stack(listen=args.listen or ["udp:127.0.0.1:5070"], trace=args.trace,
                      transactions=True) as stack:
        server = asyncio.ensure_future(stack.serve())
        dev = SimDevice(stack, device_id=args.id, server=args.server, server_id=args.server_id,
                        password=args.password, channels=args.channels,
                        keepalive_interval=args.keepalive, expires=args.expires,
                        media_ip=args.media_ip)
        await dev.start()
        print(f"registered {dev.id}; channels {' '.join(dev.channels)}", flush=True)
        await stop.wait()
        await dev.stop()
        stack.stop()
        await server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="the platform: transport:host:port")
    ap.add_argument("--listen", action="append", help="transport:host:port (repeatable)")
    ap.add_argument("--id", default="34020000001320000001", help="the device's ID")
    ap.add_argument("--server-id", default="34020000002000000001", help="the platform's ID")
    ap.add_argument("--password", default="12345678")
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--keepalive", type=float, default=60, metavar="S")
    ap.add_argument("--expires", type=int, default=3600, metavar="S")
    ap.add_argument("--media-ip", default="127.0.0.1")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--trace", action="store_true", help="log every message")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
