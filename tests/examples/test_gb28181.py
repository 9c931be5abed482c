# SPDX-License-Identifier: MIT
"""examples/gb28181: the platform (gb_platform.py) against the simulated device (gb_device.py), each
a Stack on 127.0.0.1 (ports 47700-47799) sharing one loop: digest MD5 registration,
keepalives that keep the device online and their absence that marks it offline, the catalog
(GB2312 names), a live stream whose INVITE and 200 carry y= and f=, its ACK and BYE."""

import asyncio
import gc
import os
import re
import sys

import pytest

import libsip

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "gb28181"))

import gb_device as gbdevice  # noqa: E402
import gb_platform as gbplatform  # noqa: E402
import manscdp  # noqa: E402

WAIT = 5
BASE = 47700
PLATFORM_ID = "34020000002000000001"
DEVICE_ID = "34020000001320000001"


def run(n, body, **platform_opts):
    async def main():
        loop = libsip.Loop(strict=True)
        port = BASE + 10 * n
        stacks = [libsip.Stack([f"udp:127.0.0.1:{port + i}"], loop=loop, transactions=True,
                               t1_ms=50) for i in range(3)]
        server = asyncio.ensure_future(loop.serve())
        events = []
        # Devices send every 0.2 s; the platform expects one every 0.3 s and tolerates five
        # missed (1.5 s), so that a loaded machine does not mark a live device offline.
        opts = dict(platform_id=PLATFORM_ID, password="12345678", media_ip="192.0.2.10",
                    media_port=30000, keepalive_interval=0.3, keepalive_missed=5,
                    on_event=lambda ev, dev: events.append((ev, dev.id)))
        opts.update(platform_opts)
        platform = gbplatform.Platform(stacks[0], **opts)
        try:
            return await asyncio.wait_for(body(platform, stacks, port, events), 6 * WAIT)
        finally:
            platform.close()
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, WAIT)
            loop.close()

    out = asyncio.run(main())
    gc.collect()
    assert {k: v for k, v in libsip.live_objects().items() if v} == {}
    return out


def make_device(stacks, port, i=1, **kw):
    opts = dict(device_id=DEVICE_ID, server=f"udp:127.0.0.1:{port}", server_id=PLATFORM_ID,
                password="12345678", channels=2, keepalive_interval=0.2, expires=3600)
    opts.update(kw)
    return gbdevice.SimDevice(stacks[i], **opts)


def test_manscdp_bodies_in_gb2312():
    body = manscdp.build("Response", [("CmdType", "Catalog"), ("SN", "7")],
                         ("DeviceList", [{"DeviceID": "1", "Name": "摄像机1"}]))
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    assert "摄像机1".encode("gb2312") in body
    root = manscdp.parse(body)
    assert root.tag == "Response" and manscdp.text(root, "SN") == "7"
    assert manscdp.items(root, "DeviceList") == [{"DeviceID": "1", "Name": "摄像机1"}]
    assert root.find("DeviceList").get("Num") == "1"
    with pytest.raises(ValueError):
        manscdp.parse(b"<Notify>")


def test_catalog_in_pages():
    """A catalog larger than a page comes in several MESSAGEs with the same SumNum: kept
    until all arrived, and a later answer replaces it."""
    import types
    events = []
    fake = types.SimpleNamespace(_event=lambda ev, dev: events.append(ev), _catalog_waiters={})
    dev = gbplatform.Device(DEVICE_ID)

    def page(total, ids):
        return manscdp.parse(manscdp.build(
            "Response", [("CmdType", "Catalog"), ("SN", "1"), ("DeviceID", DEVICE_ID),
                         ("SumNum", str(total))], ("DeviceList", [{"DeviceID": i} for i in ids])))
    gbplatform.Platform._catalog_page(fake, dev, page(3, ["a", "b"]))
    assert sorted(dev.channels) == ["a", "b"] and events == []
    gbplatform.Platform._catalog_page(fake, dev, page(3, ["c"]))
    assert sorted(dev.channels) == ["a", "b", "c"] and events == ["catalog"]
    gbplatform.Platform._catalog_page(fake, dev, page(1, ["d"]))
    assert sorted(dev.channels) == ["d"] and events == ["catalog", "catalog"]


def test_register_keepalive_offline_catalog_play_bye():
    async def body(platform, stacks, port, events):
        dev = make_device(stacks, port)
        await dev.start()
        # Registered with digest MD5 under the device ID, online, and its catalog asked for
        # at once: two channels, their GB2312 names read.
        await platform.wait_for(
            lambda: DEVICE_ID in platform.devices and
            len(platform.devices[DEVICE_ID].channels) == 2, WAIT)
        d = platform.devices[DEVICE_ID]
        assert d.registered and d.online
        # §9.1.2.1: the 200 gave the device the time in the standard's form, which libsip
        # reads on the device's side.
        date = dev.reg.response.headers["Date"][0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", str(date)), str(date)
        assert events[:2] == [("registered", DEVICE_ID), ("online", DEVICE_ID)]
        assert sorted(d.channels) == dev.channels
        assert [d.channels[c]["Name"] for c in dev.channels] == ["摄像机1", "摄像机2"]
        assert all(d.channels[c]["Status"] == "ON" for c in dev.channels)
        assert ("catalog", DEVICE_ID) in events
        assert d.netinfo.remote_port == port + 1

        # Keepalives keep it online: eight more of them take longer than the 1.5 s of tolerance.
        start = d.keepalives
        await platform.wait_for(lambda: d.keepalives >= start + 8, 3 * WAIT)
        assert d.online and dev.keepalives_answered >= 8
        assert ("offline", DEVICE_ID) not in events

        # Without them it goes offline after five missed intervals, and back with one.
        dev.stop_keepalives()
        await platform.wait_for(lambda: not d.online, WAIT)
        assert d.registered
        assert events[-1] == ("offline", DEVICE_ID)
        dev.start_keepalives()
        await platform.wait_for(lambda: d.online, WAIT)

        # A catalog query on demand.
        channels = await platform.catalog(DEVICE_ID)
        assert sorted(channels) == dev.channels

        # A live stream: INVITE with y= and f= and the media server's address, 200 with the
        # device's y= and f=, ACK, then BYE.
        st = await platform.play(DEVICE_ID, dev.channels[0])
        (inv,) = dev.invites
        assert str(inv.uri) == f"sip:{dev.channels[0]}@{DEVICE_ID[:10]}"
        assert str(inv.headers["Subject"][0]) == f"{dev.channels[0]}:{st.ssrc},{PLATFORM_ID}:0"
        offer = libsip.Sdp.parse(inv.body)
        assert offer.ssrc == st.ssrc and len(st.ssrc) == 10 and st.ssrc[0] == "0"
        assert st.ssrc[1:6] == PLATFORM_ID[3:8]
        assert offer.format == "v/////a///"
        assert offer.connection.address == "192.0.2.10"
        assert offer.media[0].port == 30000 and offer.session_name == "Play"
        assert offer.media[0].rtpmap(96) is not None
        assert st.format == gbdevice.STREAM_FORMAT
        assert st.address == "127.0.0.1" and st.port == 15060
        call = dev.calls[dev.channels[0]]
        await call.answered(timeout=WAIT)            # the ACK came
        assert call.state == libsip.CallState.CONFIRMED
        assert await platform.stop(st) == 200
        assert await call.ended(timeout=WAIT) == 200

        # A channel the device does not have: 404.
        with pytest.raises(libsip.CallFailed) as e:
            await platform.play(DEVICE_ID, DEVICE_ID[:10] + "1319999999")
        assert e.value.status == 404

        # Unregistering: offline; its keepalives now get 403.
        await dev.stop()
        await platform.wait_for(lambda: not d.registered and not d.online, WAIT)
        assert ("unregistered", DEVICE_ID) in events
        assert await dev.keepalive() == 403
        return True

    assert run(0, body)


def test_wrong_password_and_unknown_password():
    async def body(platform, stacks, port, events):
        dev = make_device(stacks, port, password="wrong")
        with pytest.raises(libsip.RegistrationFailed) as e:
            await dev.start()
        assert e.value.status in (401, 403)
        assert DEVICE_ID not in platform.devices or not platform.devices[DEVICE_ID].registered
        # Its own password from the table.
        dev2 = make_device(stacks, port, i=2, device_id="34020000001320000002",
                           password="own-secret")
        await dev2.start()
        assert platform.devices["34020000001320000002"].registered
        await dev2.stop()
        return True

    assert run(1, body, passwords={"34020000001320000002": "own-secret"})


def test_registration_expiry_marks_offline():
    async def body(platform, stacks, port, events):
        dev = make_device(stacks, port, expires=1)
        await dev.start()
        d = platform.devices[DEVICE_ID]
        assert d.online
        dev.stop_keepalives()
        dev.reg.close()                 # stops refreshing without unregistering
        await platform.wait_for(lambda: not d.registered and not d.online, WAIT)
        assert ("expired", DEVICE_ID) in events
        return True

    assert run(2, body)


class Program:
    """An example run as a program: its stdout read line by line on a thread."""

    def __init__(self, argv, stdin=False):
        import queue
        import subprocess
        import threading
        self.lines = queue.Queue()
        self.out = []
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(d) for d in
                                            env.get("PYTHONPATH", "").split(os.pathsep) if d)
        self.p = subprocess.Popen([sys.executable] + argv, cwd=EXAMPLES, text=True, env=env,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, prefix, timeout=WAIT):
        """The next line that starts with prefix (earlier ones are kept in out)."""
        import queue
        import time
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line; saw {self.out}") from None
            self.out.append(line)
            if line.startswith(prefix):
                return line

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def stop(self):
        import signal
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=WAIT)


EXAMPLES = os.path.join(HERE, "..", "..", "examples", "gb28181")


def test_the_programs():
    """gb_platform.py and gb_device.py as their headers say to run them: the platform's
    events on stdout and its commands on stdin."""
    port = BASE + 50
    plat = Program(["gb_platform.py", "--listen", f"udp:127.0.0.1:{port}",
                    "--keepalive-interval", "1", "--media-ip", "192.0.2.10"], stdin=True)
    dev = None
    try:
        plat.expect("listening on udp:127.0.0.1")
        dev = Program(["gb_device.py", "--server", f"udp:127.0.0.1:{port}", "--listen",
                       f"udp:127.0.0.1:{port + 1}", "--keepalive", "1"])
        line = dev.expect("registered ")
        channels = line.split("channels ")[1].split()
        assert channels == [DEVICE_ID[:10] + "1310000001", DEVICE_ID[:10] + "1310000002"]
        plat.expect(f"registered {DEVICE_ID}")
        plat.expect(f"catalog {DEVICE_ID}")
        plat.send("devices")
        assert plat.expect(DEVICE_ID) == f"{DEVICE_ID} online registered 2 channels"
        plat.send(f"play {DEVICE_ID} {channels[1]}")
        line = plat.expect("playing ")
        assert line.startswith(f"playing {channels[1]} ssrc 0")
        assert line.endswith("from 127.0.0.1:15060 f=" + gbdevice.STREAM_FORMAT)
        plat.send(f"stop {DEVICE_ID} {channels[1]}")
        assert plat.expect("stopped ") == f"stopped {channels[1]}: 200"
        assert dev.stop() == 0                  # it unregisters on SIGTERM
        dev = None
        plat.expect(f"unregistered {DEVICE_ID}")
        plat.expect(f"offline {DEVICE_ID}")
    finally:
        if dev is not None:
            dev.stop()
        assert plat.stop() == 0, plat.out
