# SPDX-License-Identifier: MIT
"""Counters per loop (loop.stats()) and the /metrics endpoint (libsip.Metrics) through the
Python package: what an exchange counts, the HTTP answers (our own client and curl), argument
checks, closing. Ports: 0 (any free one) everywhere."""

import gc
import http.client
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import libsip

GAUGES = ("sip_transactions", "sip_dialogs", "sip_bindings", "sip_connections",
          "sip_blocked_sources")


def pump_until(loop, cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        loop.run_once(False)
        time.sleep(0.001)
    return cond()


def fetch(loop, port, method="GET", path="/metrics"):
    """(status, headers, body) of one request, made on a thread while the loop serves it."""
    out = {}

    def go():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request(method, path)
            r = c.getresponse()
            out["r"] = (r.status, dict(r.getheaders()), r.read().decode())
        except Exception as e:  # noqa: BLE001 - handed to the test below
            out["e"] = e
        finally:
            c.close()

    t = threading.Thread(target=go)
    t.start()
    assert pump_until(loop, lambda: not t.is_alive())
    t.join()
    if "e" in out:
        raise out["e"]
    return out["r"]


def options(dst):
    host = dst.split(":", 1)[1]
    return libsip.Message.request("OPTIONS", f"sip:uas@{host}", headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKstats1"),
        ("Max-Forwards", "70"),
        ("To", "<sip:uas@example.com>"),
        ("From", "<sip:uac@example.com>;tag=st"),
        ("Call-ID", "stats1@127.0.0.1"),
        ("CSeq", "1 OPTIONS"),
    ])


def test_stats_names_and_start_values():
    with libsip.Loop() as loop:
        s = loop.stats()
        assert len(s) == libsip._core.SIP_STAT__COUNT
        assert s['sip_requests_received_total{method="INVITE"}'] == 0
        assert s['sip_responses_sent_total{class="2xx"}'] == 0
        assert s['sip_dropped_total{reason="parse"}'] == 0
        for g in GAUGES:
            assert s[g] == 0
        assert all(isinstance(v, int) for v in s.values())
        # Gauges read signed (a program's own sip_stat_add may take one below its start).
        libsip._core.sip_stat_add(loop._handle(), libsip._core.SIP_STAT_BLOCKED_SOURCES, -1)
        assert loop.stats()["sip_blocked_sources"] == -1
    with pytest.raises(libsip.ClosedError):
        loop.stats()


def test_an_exchange_counts_its_messages_and_gauges_go_back():
    loop = libsip.Loop(strict=True)
    with libsip.Stack(["tcp:127.0.0.1:0"], loop=loop) as uac, \
            libsip.Stack(["tcp:127.0.0.1:0"], loop=loop) as uas:
        uas.on_request("OPTIONS")(lambda req: req.reply(200))
        uac.on_response(lambda rsp: uac.stop())
        dst = uas.address("tcp")
        uac.send(options(dst), dst)
        guard = loop.call_later(5, uac.stop)
        uac.run()
        guard.stop()
        s = loop.stats()
        assert s['sip_requests_sent_total'] == 1
        assert s['sip_requests_received_total{method="OPTIONS"}'] == 1
        assert s['sip_responses_sent_total{class="2xx"}'] == 1
        assert s['sip_responses_received_total{class="2xx"}'] == 1
        assert s['sip_connections_accepted_total'] == 1
        assert s['sip_connections'] == 2  # both ends of the one TCP connection
        assert sum(v for k, v in s.items() if k.startswith("sip_dropped_total")) == 0
    for g in GAUGES:
        assert loop.stats()[g] == 0, g
    loop.close()


def test_metrics_serves_counters_and_extra():
    with libsip.Loop() as loop:
        libsip._core.sip_stat_add(loop._handle(), libsip._core.SIP_STAT_RX_REQ_BYE, 5)
        calls = []

        def extra():
            calls.append(1)
            return "# TYPE app_up gauge\napp_up 1\n"

        with libsip.Metrics(loop, "127.0.0.1:0", extra, max_connections=4,
                            timeout_ms=2000) as m:
            assert m.port > 0 and not m.closed and m.loop is loop
            assert repr(m) == f"<Metrics 127.0.0.1:0 port {m.port}>"
            status, headers, body = fetch(loop, m.port)
            assert status == 200
            assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert 'sip_requests_received_total{method="BYE"} 5\n' in body
            assert body.endswith("# TYPE app_up gauge\napp_up 1\n")
            assert calls == [1]
            # Every series line of the library's part is name{labels} value.
            for line in body.splitlines():
                if not line.startswith("#"):
                    assert re.fullmatch(r'[a-z_]+(\{[a-z]+="[^"]*"\})? -?\d+', line), line
            assert fetch(loop, m.port, path="/")[0] == 404
            assert fetch(loop, m.port, method="POST")[0] == 405
            assert fetch(loop, m.port, method="HEAD")[0] == 200
        assert m.closed and m.port == 0
        m.close()  # idempotent


def test_metrics_extra_errors_leave_the_counters():
    with libsip.Loop() as loop:
        def broken():
            raise RuntimeError("no")

        with libsip.Metrics(loop, "127.0.0.1:0", broken) as m:
            status, _h, body = fetch(loop, m.port)
            assert status == 200 and "sip_dialogs 0\n" in body
        with libsip.Metrics(loop, "127.0.0.1:0", lambda: 42) as m:
            status, _h, body = fetch(loop, m.port)
            assert status == 200 and "42" not in body.splitlines()[-1]
        with libsip.Metrics(loop, "127.0.0.1:0", lambda: None) as m:
            assert fetch(loop, m.port)[0] == 200


def test_metrics_argument_checks():
    with libsip.Loop() as loop:
        with pytest.raises(TypeError):
            libsip.Metrics(None, "127.0.0.1:0")
        with pytest.raises(TypeError):
            libsip.Metrics(loop, 9090)
        with pytest.raises(TypeError):
            libsip.Metrics(loop, "127.0.0.1:0", extra="text")
        with pytest.raises(TypeError, match="unknown metrics option 'threads'"):
            libsip.Metrics(loop, "127.0.0.1:0", threads=2)
        with pytest.raises(TypeError):
            libsip.Metrics(loop, "127.0.0.1:0", max_connections="4")
        with pytest.raises(libsip.InvalidError):
            libsip.Metrics(loop, "127.0.0.1:0", max_connections=0)
        for bad in ("localhost:9090", "127.0.0.1", "[::1:9090", "127.0.0.1:70000"):
            with pytest.raises(libsip.InvalidError):
                libsip.Metrics(loop, bad)
        with libsip.Metrics(loop, "127.0.0.1:0") as m:
            with pytest.raises(libsip.Error) as e:
                libsip.Metrics(loop, f"127.0.0.1:{m.port}")
            assert e.value.code < 0 and e.value.code != libsip._core.SIP_EINVAL


def test_metrics_closes_with_its_loop_and_leaves_nothing():
    loop = libsip.Loop()
    m = libsip.Metrics(loop, "[::1]:0")
    assert m.port > 0
    loop.close()
    assert m.closed and m.port == 0
    with pytest.raises(libsip.ClosedError):
        libsip.Metrics(loop, "127.0.0.1:0")
    del m
    gc.collect()
    assert libsip.live_objects()["metrics"] == 0


def test_curl_scrapes_metrics():
    assert shutil.which("curl"), "curl is not installed (scripts/deps.sh installs it)"
    with libsip.Loop() as loop, libsip.Metrics(loop, "127.0.0.1:0") as m:
        # curl is not instrumented: a sanitized run's LD_PRELOAD is not for it.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        p = subprocess.Popen(["curl", "-sS", "-i", "--max-time", "5",
                              f"http://127.0.0.1:{m.port}/metrics"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert pump_until(loop, lambda: p.poll() is not None)
        out, err = p.communicate()
        assert p.returncode == 0, err
        text = out.decode()
        assert text.startswith("HTTP/1.1 200")
        assert "# TYPE sip_requests_received_total counter" in text
        assert "\r\nContent-Type: text/plain; version=0.0.4" in text


def test_registrations_bindings_and_digest_checks_are_counted():
    """A proxy with a registrar and digest auth on one loop: a REGISTER with the right password
    (challenged first), one with a wrong password, and the unregistration."""
    import asyncio

    async def main():
        loop = libsip.Loop(strict=True)
        stacks = [libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
                  for _ in range(3)]
        server = asyncio.ensure_future(loop.serve())
        loc = libsip.Location(loop)
        try:
            with libsip.Proxy(stacks[0], location=loc, registrar=libsip.Registrar(loc),
                              auth=libsip.AuthServer("example.com"),
                              users={"bob": "pw"}) as proxy, \
                    libsip.UA(stacks[1]) as good, libsip.UA(stacks[2]) as bad:
                @proxy.route
                async def route(req):
                    if await req.authenticate() is None:
                        return req.challenge()
                    await req.save()

                dst = stacks[0].address("udp")
                uri = "sip:" + dst.split(":", 1)[1]
                reg = await asyncio.wait_for(
                    good.register("sip:bob@example.com", password="pw", registrar=uri, dst=dst),
                    5)
                s = loop.stats()
                assert s['sip_auth_total{result="ok"}'] == 1
                assert s['sip_auth_total{result="failed"}'] == 0
                assert s['sip_registrations_total{result="ok"}'] == 1
                assert s["sip_bindings"] == 1
                with pytest.raises(libsip.RegistrationFailed):
                    await asyncio.wait_for(
                        bad.register("sip:bob@example.com", password="nope", registrar=uri,
                                     dst=dst, retry_initial=False), 5)
                s = loop.stats()
                assert s['sip_auth_total{result="failed"}'] >= 1
                assert s['sip_registrations_total{result="ok"}'] == 1
                assert s['sip_registrations_total{result="failed"}'] == 0
                await reg.unregister(timeout=5)
                s = loop.stats()
                assert s['sip_registrations_total{result="ok"}'] == 2
                assert s["sip_bindings"] == 0
                assert s['sip_requests_received_total{method="REGISTER"}'] >= 4
        finally:
            loc.close()
            for st in stacks:
                st.close()
            loop.stop()
            await asyncio.wait_for(server, 5)
            for g in GAUGES:
                assert loop.stats()[g] == 0, g
            loop.close()

    asyncio.run(main())
