-- SPDX-License-Identifier: MIT
-- sip.Config and sip.Server (sip/config.h, sip/server.h), as tests/python/test_server.py: keys
-- read, set and checked, errors naming the key and the line, a server on 127.0.0.1 (ports
-- 46400-46499) routing with the default routing, a route function and one that waits, reload
-- (refused and applied), shutdown, and the argument checks.
local T = ...
local sip = require "libsip"

local BASE = 46400
local LIMIT_MS = 10000

local function gone(base)
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "server", "config", "proxy", "proxy_req", "location", "registrar",
        "userdb", "txn", "msg", "txn_layer", "transport", "loop" } do
        T.eq(live[kind], base[kind], "live " .. kind .. " objects at the end")
    end
end

T.case("config: defaults, keys and values", function()
    local cfg = sip.Config()
    local keys = cfg:keys()
    T.eq(keys[1], "listen", "the first key")
    T.ok(cfg:is_list("listen") and not cfg:is_list("mode"), "list keys")
    T.eq(cfg:get("mode"), "stateful", "mode's default")
    cfg:set("listen", { "udp:127.0.0.1:5070", "tcp:127.0.0.1:5070" })
    cfg:add("listen", "udp:[::1]:5070")
    T.eq(#cfg:get("listen"), 3, "three listening points")
    cfg:set("log.requests", true)
    cfg:set("limits.rate", 50)
    T.eq(cfg:get("log.requests"), "true", "a boolean as text")
    T.eq(cfg:get("limits.rate"), "50", "a number as text")
    local copy = cfg:copy()
    cfg:reset("listen")
    T.eq(#cfg:get("listen"), 0, "reset empties a list")
    T.eq(#copy:get("listen"), 3, "the copy is independent")
    T.ok(copy:format():find("rate", 1, true), "format writes the keys")
end)

T.case("config: errors name the key and the line", function()
    local cfg = sip.Config()
    local e = T.raises("SIP_ECONFIG", cfg.set, cfg, "bogus", "1")
    T.eq(e.key, "bogus", "the key at fault")
    e = T.raises("SIP_ECONFIG", cfg.set, cfg, "limits.rate", "many")
    T.eq(e.key, "limits.rate", "the key of a bad value")
    T.raises("SIP_ECONFIG", cfg.set, cfg, "mode", { "stateful" })
    T.raises("SIP_ECONFIG", cfg.add, cfg, "mode", "stateless")
    local before = #cfg:get("listen")
    T.raises("SIP_ECONFIG", cfg.set, cfg, "listen", { "udp:127.0.0.1:5060", "nonsense" })
    T.eq(#cfg:get("listen"), before, "all or nothing")
    T.raises("SIP_EINVAL", cfg.set, cfg, "mode", print)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("listen:\n  - udp:127.0.0.1:5060\nmode: stateful\nbogus: 1\n")
    f:close()
    e = T.raises("SIP_ECONFIG", sip.Config, path)
    T.eq(e.line, 4, "the line of the unknown key")
    T.eq(e.key, "bogus", "the unknown key")
    os.remove(path)
    e = T.raises("SIP_ECONFIG", function() sip.Config():load_text("mode: [", "broken.yaml") end)
    T.ok(tostring(e.reason):find("broken.yaml", 1, true), "the name in the error")
    local good = sip.Config(nil, { domains = { "example.test" }, limits = { rate = 20 } })
    T.eq(good:get("domains")[1], "example.test", "a list from a table")
    T.eq(good:get("limits.rate"), "20", "a section table")
end)

T.case("config: check says which key", function()
    local cfg = sip.Config()
    cfg:set("tls.cert", "/nonexistent/cert.pem")
    local e = T.raises("SIP_ECONFIG", cfg.check, cfg)
    T.ok(e.key:find("^tls"), "a tls key: " .. tostring(e.key))
    sip.Config():check()
end)

-- A server and a client UA on one loop; body(srv, ua, port) runs as a task.
local function serve(n, body, keys)
    for _ = 1, 3 do collectgarbage() end
    local base = sip.live_objects()
    local port = BASE + 10 * n
    local loop = sip.Loop()
    local client = sip.Stack { listen = "udp:127.0.0.1:" .. (port + 1), loop = loop,
        transactions = { t1_ms = 50 } }
    local opts = { loop = loop, listen = { "udp:127.0.0.1:" .. port }, domains = { "127.0.0.1" } }
    for k, v in pairs(keys or {}) do opts[k] = v end
    local srv = sip.Server(opts)
    local ua = sip.UA(client)
    local done, err = false, nil
    loop:spawn(function()
        local ok, e = xpcall(body, debug.traceback, srv, ua, port)
        done, err = true, not ok and e or nil
        loop:stop()
    end)
    if not done then
        local guard = loop:timer(LIMIT_MS, function() loop:stop() end)
        loop:run()
        guard:close()
    end
    ua:close()
    srv:close()
    client:close()
    loop:close()
    if err then error(err, 0) end
    T.ok(done, "the flow finished")
    srv, ua, client, loop = nil, nil, nil, nil
    gone(base)
end

local function options(ua, port, user)
    return ua:request("OPTIONS", ("sip:%s@127.0.0.1:%d"):format(user, port))
end

T.case("server: parts and default routing", function()
    serve(0, function(srv, ua, port)
        T.eq(srv.addresses[1], "udp:127.0.0.1:" .. port, "the listening point")
        T.ok(srv.proxy and srv.stack and srv.location and srv.registrar, "the parts")
        T.eq(srv.route, nil, "no route")
        T.ok(not srv.closed, "open")
        T.eq(srv.config:get("listen")[1], "udp:127.0.0.1:" .. port, "the config in force")
        local rsp = options(ua, port, "bob")
        T.ok(rsp.status == 404 or rsp.status == 480, "nobody registered: " .. rsp.status)
    end)
end)

T.case("server: a route function, one that waits, one that fails", function()
    local errors = {}
    sip.on_error(function(text) errors[#errors + 1] = text end)
    serve(1, function(srv, ua, port)
        srv.route = function(req) req:reply(486, { ["X-Route"] = "plain" }) end
        local rsp = options(ua, port, "bob")
        T.eq(rsp.status, 486, "the route answered")
        T.eq(rsp:header("X-Route"), "plain", "its header")
        srv.route = function(req)
            sip.sleep(10)
            req:reply(200, { ["X-Route"] = "waits" })
        end
        rsp = options(ua, port, "bob")
        T.eq(rsp.status, 200, "the waiting route answered")
        srv.route = function() error("route failed") end
        rsp = options(ua, port, "bob")
        T.eq(rsp.status, 500, "a failing route: 500")
        srv.route = nil
        rsp = options(ua, port, "bob")
        T.ok(rsp.status == 404 or rsp.status == 480, "the default routing again")
        T.raises("SIP_EINVAL", function() srv.route = 3 end)
    end)
    sip.on_error(nil)
    T.eq(#errors, 1, "the failing route's error reported once")
    T.ok(errors[1]:find("route failed", 1, true), "with its message")
end)

T.case("server: reload refused and applied", function()
    serve(2, function(srv, ua, port)
        local e = T.raises("SIP_ECONFIG", srv.reload, srv, srv.config, { mode = "stateless" })
        T.eq(e.key, "mode", "the key that cannot change live")
        T.eq(srv.config:get("mode"), "stateful", "nothing changed")
        srv:reload(srv.config, { server_header = "test-server" })
        local rsp = options(ua, port, "bob")
        T.eq(rsp:header("Server"), "test-server", "the new Server header")
    end)
end)

T.case("server: shutdown", function()
    serve(3, function(srv)
        local done = nil
        srv:shutdown(0.1, function(s) done = s end)
        local waited = 0
        while not done and waited < 3000 do
            sip.sleep(20)
            waited = waited + 20
        end
        T.eq(done, srv, "on_done ran with the server")
        T.ok(srv.closed, "closed after the shutdown")
        T.raises("SIP_ECLOSED", srv.shutdown, srv, 0)
    end)
end)

T.case("server: argument checks", function()
    local e = T.raises("SIP_ECONFIG", sip.Server, { listen = { "udp:127.0.0.1:" .. (BASE + 50) },
        bogus = 1 })
    T.eq(e.key, "bogus", "the unknown key")
    T.raises("SIP_EINVAL", sip.Server, { loop = 3 })
    T.raises("SIP_EINVAL", sip.Server, { route = 3 })
    T.raises("SIP_EINVAL", sip.Server, { config = 3 })
    T.raises("SIP_ECONFIG", sip.Server, { listen = { "nonsense" } })
    e = T.raises("SIP_ECONFIG", sip.Server, { listen = { "udp:127.0.0.1:" .. (BASE + 51) },
        tls_cert = "/nonexistent.pem", tls_key = "/nonexistent.key" })
    T.ok(e.key:find("^tls"), "a tls key: " .. tostring(e.key))
    do
        local srv <close> = sip.Server { listen = { "udp:127.0.0.1:" .. (BASE + 52) } }
        T.ok(not srv.closed, "open")
    end
    do
        local srv <close> = sip.Server { listen = { "udp:127.0.0.1:" .. (BASE + 53) },
            limits_rate = 20, limits_rate_window = 2, metrics_listen = "127.0.0.1:0" }
        local g = srv.guard
        T.eq(g.options.rate_max, 20, "the guard's rate from limits.rate")
        T.eq(g.options.rate_window_ms, 2000, "its window from limits.rate_window")
        T.ok(not g:is_blocked("192.0.2.1"), "nobody blocked")
        T.ok(srv.metrics ~= nil, "the metrics endpoint")
    end
end)
