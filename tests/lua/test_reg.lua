-- SPDX-License-Identifier: MIT
-- Registrations (ua:register) against a registrar a second Stack plays by hand over UDP
-- loopback: a challenge, the granted expiry, Service-Route, unregistration, a refusal, and the
-- argument checks.
local T = ...
local sip = require "libsip"

local LIMIT_MS = 10000

-- A UA on one stack, a registrar on another; answers: the responses to give, in order, each
-- { status, headers } or a function of the request giving them.
local function setup(answers)
    -- Earlier files may leave handles to the interpreter's exit on purpose (test_gc.lua): the
    -- counts at the end are checked against the ones at the start.
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, seen = {}, base = sip.live_objects() }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    p.loop = p.a.loop
    p.b = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    p.ua = sip.UA(p.a)
    p.registrar = "sip:127.0.0.1:" .. p.b:listeners()[1].port
    p.b:on_request("REGISTER", function(req)
        p.seen[#p.seen + 1] = req
        local ans = table.remove(answers, 1)
        if not ans then return end
        if type(ans) == "function" then ans = ans(req) end
        req:reply(ans[1], nil, { headers = ans[2] })
    end)
    return p
end

local function run(p, fn)
    local done, err = false, nil
    local loop = p.loop
    loop:spawn(function()
        local ok, e = xpcall(fn, debug.traceback)
        done, err = true, not ok and e or nil
        loop:stop()
    end)
    if not done then
        local guard = loop:timer(LIMIT_MS, function() loop:stop() end)
        loop:run()
        guard:close()
    end
    if err then error(err, 0) end
    T.ok(done, "the flow finished within " .. LIMIT_MS .. " ms")
end

local function finish(p)
    sip.on_error(nil)
    p.ua:close()
    p.b:close()
    p.a:close()
    p.loop:close()
    p.seen = nil
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "reg", "ua", "txn", "msg", "txn_layer", "transport" } do
        T.eq(live[kind], p.base[kind], "live " .. kind .. " objects at the end")
    end
    T.eq(#p.errors, 0, "handler errors: " .. table.concat(p.errors, "\n"))
end

T.case("register: challenge, granted expiry, Service-Route, Path, unregister", function()
    local function grant(req)
        return { 200, { { "Contact", req:header("Contact") .. ";expires=120" },
            { "Service-Route", "<sip:core.example.com;lr>" },
            { "Path", "<sip:edge.example.com;lr>" } } }
    end
    local p = setup {
        { 401, { { "WWW-Authenticate", 'Digest realm="example.com", nonce="n1", qop="auth"' } } },
        grant, { 200, {} } }
    local events = {}
    run(p, function()
        local reg = p.ua:register("sip:alice@example.com", { password = "secret",
            registrar = p.registrar, expires = 600 })
        reg:on("*", function(ev, status) events[#events + 1] = ev .. " " .. status end)
        T.eq(reg.state, "registered", "state")
        T.eq(reg.expires, 120, "the grant, not what was asked")
        T.ok(reg.next_refresh > 0 and reg.next_refresh <= 88, "refresh 32 s before expiry")
        T.eq(reg.service_route[1], "<sip:core.example.com;lr>", "Service-Route")
        T.eq(reg.path[1], "<sip:edge.example.com;lr>", "Path")
        T.eq(reg.aor, "sip:alice@example.com", "aor")
        T.eq(#p.seen, 2, "challenged once")
        T.ok(p.seen[2]:header("Authorization"):find('username="alice"', 1, true), "answered")
        T.eq(p.seen[1]:header("Expires"), "600", "asked")
        T.eq(reg:unregister(nil, 5), reg, "unregistered")
        T.eq(reg.state, "unregistered", "state after")
        T.ok(p.seen[3]:header("Contact"):find("expires=0", 1, true), "expires=0")
        T.eq(reg.next_refresh, nil, "no refresh")
        reg:close()
        T.eq(reg.closed, true, "closed")
    end)
    T.eq(events[1], "unregistered 200", "the * handler ran")
    finish(p)
end)

T.case("register: refused, 423, bad arguments, the UA closing", function()
    local p = setup { { 403, {} }, { 423, { { "Min-Expires", "3600" } } }, { 200, {} } }
    run(p, function()
        local ok, e = pcall(p.ua.register, p.ua, "sip:bob@example.com",
            { registrar = p.registrar })
        T.ok(not ok and e.status == 403, "403 raises with its status")
        local reg = p.ua:register("sip:carol@example.com", { registrar = p.registrar,
            contacts = { "<sip:c@192.0.2.1>;q=0.5", "<sip:c@192.0.2.2>" }, expires = 60 })
        T.eq(reg.expires, 3600, "423's Min-Expires asked again")
        T.eq(p.seen[3]:header("Expires"), "3600", "the second REGISTER")
        T.ok(not pcall(reg.on, reg, "nothing", print), "unknown event")
        T.ok(not pcall(p.ua.register, p.ua, "tel:+123"), "a tel AOR")
        T.ok(not pcall(p.ua.register, p.ua, "sip:a@b", { contacts = "<sip:x" }), "bad contacts")
        T.ok(not pcall(p.ua.register, p.ua, "sip:a@b", { expires = -1 }), "bad expires")
        T.ok(not pcall(p.ua.register, p.ua, "sip:a@b", { nope = 1 }), "unknown option")
        p.ua:close()
        local ok2, e2 = pcall(reg.unregister, reg)
        T.ok(not ok2 and e2.name == "SIP_ECLOSED", "closed with its UA")
    end)
    finish(p)
end)

T.case("reg:events(): each event in a task until the registration is closed", function()
    local function grant(req)
        return { 200, { { "Contact", req:header("Contact") .. ";expires=120" } } }
    end
    local p = setup { grant, grant, { 200, {} }, grant }
    run(p, function()
        local reg = p.ua:register("sip:dave@example.com", { registrar = p.registrar })
        local got, over = {}, false
        p.loop:spawn(function()
            for ev, status, rsp in reg:events() do
                got[#got + 1] = ev .. " " .. status .. " " .. (rsp and rsp.status or "-")
            end
            over = true
        end)
        reg:refresh()
        for _ = 1, 500 do if #got >= 2 then break end sip.sleep(10) end
        reg:unregister()
        for _ = 1, 500 do if #got >= 3 then break end sip.sleep(10) end
        reg:close()
        for _ = 1, 500 do if over then break end sip.sleep(10) end
        T.ok(over, "the iteration ended with the registration")
        T.eq(table.concat(got, ","), "registered 200 200,refreshed 200 200,unregistered 200 200",
            "every event, in order")
        T.eq(reg:next_event(), nil, "nil once closed")
        -- Events that came before anyone waited are kept, in order.
        local reg2 = p.ua:register("sip:erin@example.com", { registrar = p.registrar })
        local ev, status = reg2:next_event(5)
        T.eq(ev, "registered", "kept event")
        T.eq(status, 200, "its status")
        T.raises("ETIMEDOUT", reg2.next_event, reg2, 0.05)
        reg2:close()
    end)
    finish(p)
end)
