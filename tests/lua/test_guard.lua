-- SPDX-License-Identifier: MIT
-- sip.Guard: per-source limits, the allow list, reloads, argument checks, a transport that
-- drops a flooding source and a proxy that blocks a password guesser (as
-- tests/python/test_guard.py). Ports: 0 (any free one) everywhere.
local T = ...
local sip = require "libsip"

local function options(dst, n)
    return sip.Message.request("OPTIONS", "sip:uas@" .. dst:match("^%a+:(.*)$"), { headers = {
        { "Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKguard" .. n }, { "Max-Forwards", 70 },
        { "To", "<sip:uas@example.com>" }, { "From", "<sip:uac@example.com>;tag=lua" },
        { "Call-ID", "guard" .. n .. "@127.0.0.1" }, { "CSeq", "1 OPTIONS" } } })
end

-- Runs the loop until cond() or about seconds of waiting.
local function pump(loop, cond, seconds)
    local deadline = false
    local t = loop:timer(math.floor((seconds or 5) * 1000), function() deadline = true end)
    while not cond() and not deadline do loop:run_once(true) end
    t:close()
    return cond()
end

T.case("Guard: limits, blocks and the allow list (as Python)", function()
    local loop <close> = sip.Loop()
    local g = sip.Guard(loop, { rate_max = 3, rate_window_ms = 60000, auth_max_failures = 2,
        allow = { "10.0.0.0/8", "2001:db8::/32" } })
    T.eq(g.loop, loop, "loop")
    T.ok(not g.closed, "open")
    T.eq(g.options.rate_max, 3, "rate_max")
    T.eq(g.options.auth_block_ms, 900000, "auth_block_ms default")
    T.eq(#sip.Guard(loop).OPTIONS, 8, "the sip_guard_opts_t fields")
    local got = {}
    for i = 1, 5 do got[i] = tostring(g:check("192.0.2.7")) end
    T.eq(table.concat(got, ","), "true,true,true,false,false", "three go on")
    T.ok(g:is_blocked("192.0.2.7"), "blocked")
    T.eq(g.blocked_count, 1, "one blocked")
    T.ok(tostring(g):find("1 blocked", 1, true), tostring(g))
    T.eq(g:auth_failed("198.51.100.1"), true, "first failure")
    T.eq(g:auth_failed("198.51.100.1"), false, "blocked at the second")
    T.ok(g:is_blocked("198.51.100.1"), "blocked for failures")
    for _, ip in ipairs { "10.1.2.3", "2001:db8::7" } do
        for _ = 1, 10 do T.ok(g:check(ip), ip .. " never limited") end
        g:block(ip)
        T.ok(not g:is_blocked(ip), ip .. " never blocked")
    end
    g:unblock("192.0.2.7")
    T.ok(not g:is_blocked("192.0.2.7"), "unblocked")
    T.eq(g.blocked_count, 1, "one left")
    T.raises("SIP_ENOENT", g.unblock, g, "192.0.2.7")
    g:block("203.0.113.9", 60000)
    T.ok(g:is_blocked("203.0.113.9"), "blocked by hand")
    g:set_opts { rate_max = 100 }
    T.eq(g.options.rate_max, 100, "reloaded")
    T.eq(g.options.rate_window_ms, 60000, "the rest stays")
    T.ok(g:is_blocked("203.0.113.9"), "the block stays")
    g:close()
    g:close()
    T.ok(g.closed, "closed")
    T.eq(tostring(g), "<Guard closed>", "tostring")
    T.raises("SIP_ECLOSED", g.check, g, "192.0.2.7")
end)

T.case("Guard: argument checks (as Python)", function()
    local loop <close> = sip.Loop()
    T.raises("SIP_EINVAL", sip.Guard, "loop")
    local e = T.raises("SIP_EINVAL", sip.Guard, loop, { bogus = 1 })
    T.ok(tostring(e):find("unknown option 'bogus'", 1, true), tostring(e))
    T.raises("SIP_EINVAL", sip.Guard, loop, { rate_max = "5" })
    T.raises("SIP_EINVAL", sip.Guard, loop, { rate_max = -1 })
    e = T.raises("SIP_EINVAL", sip.Guard, loop, { rate_max = 5, rate_window_ms = 0 })
    T.ok(tostring(e):find("window", 1, true), tostring(e))
    T.raises("SIP_EINVAL", sip.Guard, loop, { max_sources = 0 })
    T.raises("SIP_EINVAL", sip.Guard, loop, { allow = { "10.0.0.1/8" } })
    local g <close> = sip.Guard(loop)
    for _, bad in ipairs { "", "1.2.3", "host.example", "1.2.3.4/8" } do
        T.raises("SIP_EINVAL", g.check, g, bad)
        T.raises("SIP_EINVAL", g.is_blocked, g, bad)
    end
    T.raises("SIP_EINVAL", g.check, g, nil)
    T.raises("SIP_EINVAL", g.allow, g, "10.0.0.0/33")
    T.raises("SIP_EINVAL", g.block, g, "192.0.2.1", "60")
    T.raises("SIP_EINVAL", g.set_opts, g, { auth_max_failures = 1, auth_window_ms = 0 })
    T.raises("SIP_EINVAL", g.set_opts, g, { nope = 1 })
    T.eq(g.options.auth_window_ms, 600000, "unchanged")
end)

T.case("Guard: a transport drops a flooding source (as Python)", function()
    local loop <close> = sip.Loop()
    local seen = 0
    local uas <close> = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop }
    uas:on_request("OPTIONS", function() seen = seen + 1 end)
    local uac <close> = sip.Transport { loop = loop, listen = "udp:127.0.0.1:0" }
    local g = sip.Guard(loop, { rate_max = 3, rate_window_ms = 60000 })
    T.eq(uas.transport.guard, nil, "no guard")
    uas.transport:set_guard(g)
    T.eq(uas.transport.guard, g, "the guard")
    local dst = uas:listeners()[1].spec
    loop:spawn(function() for n = 1, 10 do uac:send(options(dst, n), dst) end end)
    T.ok(pump(loop, function() return seen >= 3 end), "three arrived")
    pump(loop, function() return false end, 0.2)
    T.eq(seen, 3, "and no more")
    T.ok(g:is_blocked("127.0.0.1"), "blocked")
    T.eq(loop:stats().sip_blocked_total, 7, "seven dropped")
    T.eq(loop:stats().sip_blocked_sources, 1, "one source blocked")
    uas.transport:set_guard(nil)
    T.eq(uas.transport.guard, nil, "removed")
    loop:spawn(function() uac:send(options(dst, 99), dst) end)
    T.ok(pump(loop, function() return seen == 4 end), "through again")
    T.raises("SIP_EINVAL", uas.transport.set_guard, uas.transport, "guard")
    local other <close> = sip.Loop()
    local e = T.raises("SIP_EINVAL", uas.transport.set_guard, uas.transport, sip.Guard(other))
    T.ok(tostring(e):find("another loop", 1, true), tostring(e))
    g:close()
end)

T.case("Guard: a proxy blocks a password guesser (as Python)", function()
    local loop = sip.Loop()
    local px = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop,
        transactions = { t1_ms = 50 } }
    local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop,
        transactions = { t1_ms = 50 } }
    local g = sip.Guard(loop, { auth_max_failures = 2 })
    T.raises("SIP_EINVAL", sip.Proxy, px, { guard = "guard" })
    local server = sip.AuthServer("example.com")
    local proxy = sip.Proxy(px, { auth = server, users = { alice = "secret" }, guard = g })
    proxy:route(function(req)
        if not req:authenticate() then return req:challenge() end
        req:reply(200)
    end)
    local a = sip.UA(uac)
    local uri = "sip:x@127.0.0.1:" .. px:listeners()[1].port
    local done, err = false, nil
    loop:spawn(function()
        local ok, e = xpcall(function()
            a:add_credential { user = "alice", password = "wrong" }
            -- Each request: a challenge (no failure), then the wrong password (one).
            T.eq(a:options(uri).status, 401, "wrong password")
            T.ok(not g:is_blocked("127.0.0.1"), "not yet")
            T.eq(a:options(uri).status, 401, "wrong password again")
            T.ok(g:is_blocked("127.0.0.1"), "blocked")
            -- Blocked: unanswered, whatever password (the UA's transaction times out: 408).
            a:add_credential { user = "alice", password = "secret" }
            T.eq(a:options(uri).status, 408, "unanswered")
            T.ok(loop:stats().sip_blocked_total >= 1, "counted")
            g:unblock("127.0.0.1")
            T.eq(a:options(uri).status, 200, "served again")
        end, debug.traceback)
        done, err = true, not ok and e or nil
        loop:stop()
    end)
    if not done then
        local t = loop:timer(30000, function() loop:stop() end)
        loop:run()
        t:close()
    end
    a:close()
    proxy:close()
    px:close()
    uac:close()
    g:close()
    server:close()
    loop:close()
    if err then error(err, 0) end
    T.ok(done, "finished in time")
end)

T.case("Guard: a server's guard is a sip.Guard (as Python)", function()
    local srv = sip.Server { listen = { "udp:127.0.0.1:0" }, limits_rate = 50,
        limits_allow = { "10.0.0.0/8" } }
    local g = srv.guard
    T.eq(getmetatable(g), getmetatable(sip.Guard(srv.loop)), "a sip.Guard")
    T.eq(g.options.rate_max, 50, "limits.rate")
    T.ok(g:check("10.1.2.3") and not g:is_blocked("10.1.2.3"), "allowed")
    local t = srv.stack.transport.guard
    T.eq(t.options.rate_max, 50, "the transport's guard")
    g:set_opts { rate_max = 60 }
    T.eq(srv.stack.transport.guard.options.rate_max, 60, "the same guard")
    srv:close()
end)


T.case("Guard: every guard of these cases is gone once collected (as Python's conftest)", function()
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "guard", "server", "config", "metrics" } do
        T.eq(live[kind], 0, "live " .. kind .. " objects")
    end
end)
