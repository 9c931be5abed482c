# SPDX-License-Identifier: MIT
"""libsip.Config and libsip.Server (sip/config.h, sip/server.h): keys read, set and checked,
errors naming the key and the line, a server made from a configuration on 127.0.0.1 (ports
46300-46399) routing with the default routing, a plain route and an async one, reload
(refused and applied), shutdown, and the argument checks."""

import asyncio
import gc

import pytest

import libsip
from libsip import Config, ConfigError, Server

WAIT = 5  # seconds: the bound of every wait
BASE = 46300  # this file's ports: 46300-46399


def _gone():
    gc.collect()
    return {k: v for k, v in libsip.live_objects().items() if v}


# ---- Config ---------------------------------------------------------------------------------


def test_config_defaults_keys_and_values():
    cfg = Config()
    keys = cfg.keys()
    assert keys[0] == "listen" and "tls.cert" in keys and "limits.rate" in keys
    assert "listen" in cfg and "bogus" not in cfg
    assert cfg.is_list("listen") and not cfg.is_list("mode")
    assert isinstance(cfg.get("listen"), list) and cfg["mode"] == "stateful"
    cfg.set("listen", ["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070"])
    cfg.add("listen", "udp:[::1]:5070")
    assert cfg["listen"] == ["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070", "udp:[::1]:5070"]
    cfg["log.requests"] = True
    cfg["limits.rate"] = 50
    assert cfg["log.requests"] == "true" and cfg["limits.rate"] == "50"
    copy = cfg.copy()
    cfg.reset("listen")
    assert cfg["listen"] == [] and len(copy["listen"]) == 3
    assert "limits:" in copy.format() or "rate: 50" in copy.format()
    cfg.reset("mode")
    assert cfg["mode"] == "stateful"


def test_config_errors_name_the_key_and_line(tmp_path):
    cfg = Config()
    with pytest.raises(ConfigError) as e:
        cfg.set("bogus", "1")
    assert e.value.key == "bogus" and e.value.code == libsip._core.SIP_ECONFIG
    with pytest.raises(ConfigError) as e:
        cfg["limits.rate"] = "many"
    assert e.value.key == "limits.rate"
    with pytest.raises(ConfigError):
        cfg.set("mode", ["stateful"])
    with pytest.raises(ConfigError):
        cfg.add("mode", "stateless")
    before = cfg["listen"]
    with pytest.raises(ConfigError):
        cfg.set("listen", ["udp:127.0.0.1:5060", "nonsense"])
    assert cfg["listen"] == before  # all or nothing
    with pytest.raises(TypeError):
        cfg.set("mode", object())
    with pytest.raises(TypeError):
        cfg.get(3)
    f = tmp_path / "sipd.yaml"
    f.write_text("listen:\n  - udp:127.0.0.1:5060\nmode: stateful\nbogus: 1\n")
    with pytest.raises(ConfigError) as e:
        Config(str(f))
    assert e.value.line == 4 and e.value.key == "bogus" and "sipd.yaml" in str(e.value)
    with pytest.raises(OSError):
        Config(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError) as e:
        Config().load_text("mode: [", "broken.yaml")
    assert "broken.yaml" in str(e.value)
    good = Config(values={"domains": ["example.test"], "limits": {"rate": 20}})
    assert good["domains"] == ["example.test"] and good["limits.rate"] == "20"


def test_config_check_says_which_key():
    cfg = Config()
    cfg["tls.cert"] = "/nonexistent/cert.pem"
    with pytest.raises(ConfigError) as e:
        cfg.check()
    assert e.value.key.startswith("tls")
    Config().check()


# ---- Server ---------------------------------------------------------------------------------


async def _options(stack, port, user):
    uri = f"sip:{user}@127.0.0.1:{port}"
    req = libsip.Message.request("OPTIONS", uri, headers=[
        ("Max-Forwards", "70"), ("From", f"<sip:probe@127.0.0.1>;tag={libsip.tag()}"),
        ("To", f"<{uri}>"), ("Call-ID", libsip.call_id()), ("CSeq", "1 OPTIONS")])
    rsp = await asyncio.wait_for(stack.request(req, f"udp:127.0.0.1:{port}"), WAIT)
    return rsp


def _serve(body, n, **keys):
    async def main():
        loop = libsip.Loop(strict=True)
        port = BASE + 10 * n
        client = libsip.Stack([f"udp:127.0.0.1:{port + 1}"], loop=loop, transactions=True,
                              t1_ms=50)
        srv = Server(loop=loop, listen=[f"udp:127.0.0.1:{port}"], domains=["127.0.0.1"],
                     **keys)
        task = asyncio.ensure_future(loop.serve())
        try:
            return await asyncio.wait_for(body(srv, client, port), 4 * WAIT)
        finally:
            srv.close()
            client.close()
            loop.stop()
            await asyncio.wait_for(task, WAIT)
            loop.close()

    out = asyncio.run(main())
    assert _gone() == {}
    return out


def test_server_parts_and_default_routing():
    async def body(srv, client, port):
        assert srv.addresses == [f"udp:127.0.0.1:{port}"]
        assert isinstance(srv.proxy, libsip.Proxy) and isinstance(srv.stack, libsip.Stack)
        assert isinstance(srv.location, libsip.Location)
        assert isinstance(srv.registrar, libsip.Registrar)
        assert srv.route is None and not srv.closed
        assert srv.config["listen"] == [f"udp:127.0.0.1:{port}"]
        # The default routing: nobody registered as bob.
        rsp = await _options(client, port, "bob")
        assert rsp.status in (404, 480)
    _serve(body, 0)


def test_server_routes_with_plain_and_async_functions():
    seen = []

    def plain(req):
        seen.append(req.method)
        req.reply(486, headers={"X-Route": "plain"})

    async def waits(req):
        await asyncio.sleep(0.01)
        req.reply(200, headers={"X-Route": "async"})

    def raises(req):
        raise RuntimeError("route failed")

    async def body(srv, client, port):
        srv.route = plain
        rsp = await _options(client, port, "bob")
        assert rsp.status == 486 and rsp.headers["X-Route"][0].value == "plain"
        srv.route = waits
        rsp = await _options(client, port, "bob")
        assert rsp.status == 200 and rsp.headers["X-Route"][0].value == "async"
        srv.route = raises
        srv.loop.strict = False
        rsp = await _options(client, port, "bob")
        assert rsp.status == 500
        srv.route = None
        rsp = await _options(client, port, "bob")
        assert rsp.status in (404, 480)
        with pytest.raises(TypeError):
            srv.route = 3
    _serve(body, 1)
    assert seen == ["OPTIONS"]


def test_server_relay_left_to_the_proxy(monkeypatch):
    """A route that relays and returns leaves the outcome to the proxy, which forwards the
    best response itself (no Python runs for it); a route that keeps its relay (or awaits it)
    still gets the outcome."""
    done = []
    orig = libsip.proxy._Relay._done

    def counting(self, status, best):
        done.append(status)
        orig(self, status, best)

    monkeypatch.setattr(libsip.proxy._Relay, "_done", counting)
    kept = []
    port = BASE + 10 * 5
    callee = f"sip:callee@127.0.0.1:{port + 1}"

    async def fire(req):
        req.proxy(callee)

    def plain(req):
        return req.proxy(callee)

    async def keeps(req):
        kept.append(req.proxy(callee))

    async def awaits(req):
        out = await req.proxy(callee)
        kept.append(out.status)

    async def body(srv, client, port):
        @client.on_request()
        def answer(r):
            r.reply(486)

        for route in (fire, plain):
            srv.route = route
            rsp = await _options(client, port, "bob")
            assert rsp.status == 486 and done == []
            assert srv.proxy._reqs == set()
        srv.route = keeps
        rsp = await _options(client, port, "bob")
        assert rsp.status == 486 and done == [486]
        out = await kept.pop()
        assert out.status == 486 and out.response.status == 486
        srv.route = awaits
        rsp = await _options(client, port, "bob")
        assert rsp.status == 486 and done == [486, 486] and kept == [486]
    _serve(body, 5)


def test_server_reload_refused_and_applied():
    async def body(srv, client, port):
        with pytest.raises(ConfigError) as e:
            srv.reload(srv.config, mode="stateless")
        assert e.value.key == "mode"
        assert srv.config["mode"] == "stateful"
        srv.reload(srv.config, server_header="test-server")
        assert srv.config["server_header"] == "test-server"
        rsp = await _options(client, port, "bob")
        assert rsp.headers["Server"][0].value == "test-server"
    _serve(body, 2)


def test_server_shutdown_ends_with_a_future():
    async def body(srv, client, port):
        done = []
        fut = srv.shutdown(0.1, on_done=lambda s: done.append(s))
        await asyncio.wait_for(fut, WAIT)
        assert done == [srv] and srv.closed
        with pytest.raises(libsip.ClosedError):
            srv.shutdown(0)
    _serve(body, 3)


def test_server_arguments():
    with pytest.raises(ConfigError) as e:
        Server(listen=[f"udp:127.0.0.1:{BASE + 50}"], bogus=1)
    assert e.value.key == "bogus"
    with pytest.raises(TypeError):
        Server(loop=3)
    with pytest.raises(TypeError):
        Server(route=3)
    with pytest.raises(TypeError):
        Server(config=3)
    with pytest.raises(ConfigError):
        Server(listen=["nonsense"])
    # tls_cert is "tls.cert": a file that is not there is refused, naming the key.
    with pytest.raises(ConfigError) as e:
        Server(listen=[f"udp:127.0.0.1:{BASE + 51}"], tls_cert="/nonexistent.pem",
               tls_key="/nonexistent.key")
    assert e.value.key.startswith("tls")
    with Server(listen=[f"udp:127.0.0.1:{BASE + 52}"]) as srv:
        assert not srv.closed
    assert srv.closed
    with Server(listen=[f"udp:127.0.0.1:{BASE + 53}"], limits_rate=20, limits_rate_window=2,
                metrics_listen="127.0.0.1:0") as srv:
        g = srv.guard
        assert isinstance(g, libsip.Guard) and g.options["rate_max"] == 20
        assert g.options["rate_window_ms"] == 2000 and not g.is_blocked("192.0.2.1")
        assert isinstance(srv.metrics, libsip.Metrics)
        del g
    del e, srv
    assert _gone() == {}
