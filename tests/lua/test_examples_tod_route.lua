-- SPDX-License-Identifier: MIT
-- examples/lua/tod_route.lua (the time-of-day routing script for `sipd --script`) as the route
-- of a sip.Proxy with sipd's registrar and digest, its clock and targets set from here: during
-- office hours a call reaches the registered user, after hours it goes to voicemail, and a busy
-- or unanswered user's call is forwarded (with Diversion, RFC 5806). Four stacks on one loop on
-- 127.0.0.1 (ports 47300-47399, ten per case): the proxy, a caller, bob and the voicemail.
local T = ...
local sip = require "libsip"

local LIMIT_MS = 20000
local BASE = 47300
local SCRIPT = T.dir .. "/../../examples/lua/tod_route.lua"

local OFFER = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
local ANSWER = "v=0\r\no=callee 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

-- The script in an environment of its own (as a script host gives it), its settings replaced.
local function load_script(settings)
    local env = setmetatable({}, { __index = _G })
    assert(loadfile(SCRIPT, "t", env))()
    for k, v in pairs(settings) do env[k] = v end
    return env
end

local function setup(n, settings)
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, base = sip.live_objects(), port = BASE + 10 * n }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.loop = sip.Loop()
    p.stacks = {}
    for i = 0, 3 do
        p.stacks[i] = sip.Stack { listen = "udp:127.0.0.1:" .. (p.port + i), loop = p.loop,
            transactions = { t1_ms = 50 } }
    end
    local loc = sip.Location(p.loop)
    loc:add_domain("example.com")
    loc:add_domain("127.0.0.1", "example.com")
    p.proxy = sip.Proxy(p.stacks[0], { location = loc, registrar = sip.Registrar(loc),
        auth = sip.AuthServer("example.com"), users = { bob = "pw" } })
    function p.uri(user, i) return ("sip:%s@127.0.0.1:%d"):format(user, p.port + (i or 0)) end
    settings.AFTER_HOURS_TARGET = p.uri("voicemail", 3)
    settings.FORWARD_TARGET = p.uri("forward", 3)
    p.script = load_script(settings)
    p.proxy:route(p.script.route)
    p.a, p.b, p.c = sip.UA(p.stacks[1]), sip.UA(p.stacks[2]), sip.UA(p.stacks[3])
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
    if err and #p.errors > 0 then
        err = err .. "\nhandler errors:\n" .. table.concat(p.errors, "\n")
    end
    if err then error(err, 0) end
    T.ok(done, "the flow finished within " .. LIMIT_MS .. " ms")
end

local function finish(p)
    sip.on_error(nil)
    p.proxy:close()
    for _, ua in ipairs { p.a, p.b, p.c } do ua:close() end
    for i = 0, 3 do p.stacks[i]:close() end
    p.loop:close()
    p.stacks, p.proxy, p.a, p.b, p.c, p.script = nil, nil, nil, nil, nil, nil
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "proxy", "proxy_req", "ua", "call", "dialog", "txn", "transport" } do
        T.eq(live[kind], p.base[kind], "live " .. kind .. " objects at the end")
    end
    T.eq(#p.errors, 0, "handler errors: " .. table.concat(p.errors, "\n"))
end

-- ua answers each INVITE with 180 then status (200 with ANSWER), or rings until cancelled
-- when status is nil; seen gets each INVITE.
local function callee(ua, status, seen)
    ua:on_invite(function(call)
        seen[#seen + 1] = call.invite
        call:ring()
        if status == 200 then
            call:answer { sdp = ANSWER }
        elseif status then
            call:reject(status)
        end
    end)
end

-- bob registers through the proxy (the script's default routing: digest and the registrar),
-- then the caller calls sip:bob@127.0.0.1:PORT; the callee that answered is returned.
local function call_bob(p, bob_status)
    local bob_seen, vm_seen = {}, {}
    callee(p.b, bob_status, bob_seen)
    callee(p.c, 200, vm_seen)
    local out = {}
    run(p, function()
        local reg = p.b:register("sip:bob@example.com", { password = "pw",
            registrar = "sip:127.0.0.1:" .. p.port })
        T.ok(reg.expires > 0, "bob registered through the script")
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(10)
        out.sdp = call.remote_sdp
        call:hangup()
        T.eq(call:wait_ended(5), 200, "BYE answered")
        reg:unregister(nil, 5)
        reg:close()
    end)
    out.bob, out.vm = bob_seen, vm_seen
    return out
end

local MONDAY_MORNING = function() return 2, 10, 30 end
local SUNDAY_NIGHT = function() return 1, 22, 0 end

T.case("tod_route: during office hours the call reaches the registered user", function()
    local p = setup(0, { clock = MONDAY_MORNING })
    T.ok(p.script.office_hours(), "Monday 10:30 is office hours")
    local out = call_bob(p, 200)
    T.eq(#out.bob, 1, "bob's phone rang")
    T.eq(#out.vm, 0, "the voicemail got nothing")
    T.ok(out.sdp:find("o=callee", 1, true), "bob's answer came back")
    T.eq(out.bob[1]:header("Diversion"), nil, "no Diversion on a call that was not diverted")
    finish(p)
end)

T.case("tod_route: after hours the call goes to voicemail", function()
    local p = setup(1, { clock = SUNDAY_NIGHT })
    T.ok(not p.script.office_hours(), "Sunday 22:00 is not office hours")
    local out = call_bob(p, 200)
    T.eq(#out.bob, 0, "bob's phone did not ring")
    T.eq(#out.vm, 1, "the voicemail answered")
    T.eq(out.vm[1].uri.user, "voicemail", "the after-hours target")
    T.ok(tostring(out.vm[1]):find("Diversion: <sip:bob@127.0.0.1:%d+>;reason=time%-of%-day"),
        "Diversion says why")
    finish(p)
end)

T.case("tod_route: a busy user's call is forwarded", function()
    local p = setup(2, { clock = MONDAY_MORNING })
    local out = call_bob(p, 486)
    T.eq(#out.bob, 1, "bob's phone was tried")
    T.eq(#out.vm, 1, "the forward target answered")
    T.eq(out.vm[1].uri.user, "forward", "the forward target")
    T.ok(tostring(out.vm[1]):find("Diversion: <sip:bob@127.0.0.1:%d+>;reason=user%-busy"),
        "Diversion: user-busy")
    finish(p)
end)

T.case("tod_route: an unanswered call is forwarded after the ring timeout", function()
    local p = setup(3, { clock = MONDAY_MORNING, RING_TIMEOUT = 1 })
    local out = call_bob(p, nil)
    T.eq(#out.bob, 1, "bob's phone rang")
    T.eq(#out.vm, 1, "the forward target answered")
    T.eq(out.vm[1].uri.user, "forward", "the forward target")
    T.ok(tostring(out.vm[1]):find("Diversion: <sip:bob@127.0.0.1:%d+>;reason=no%-answer"),
        "Diversion: no-answer")
    finish(p)
end)

T.case("tod_route: TOD_NOW sets the clock; office hours are configurable", function()
    local env = load_script({})
    local getenv = os.getenv
    local now = "Tue 08:59"
    os.getenv = function(k) if k == "TOD_NOW" then return now end return getenv(k) end
    local ok, err = pcall(function()
        T.eq(env.office_hours(), false, "Tuesday 08:59: not yet")
        now = "Tue 09:00"
        T.eq(env.office_hours(), true, "Tuesday 09:00: open")
        now = "Friday 17:59"
        T.eq(env.office_hours(), true, "Friday 17:59: open")
        now = "Fri 18:00"
        T.eq(env.office_hours(), false, "Friday 18:00: closed")
        now = "Sat 11:00"
        T.eq(env.office_hours(), false, "Saturday: closed")
        env.OFFICE_DAYS[7] = true
        T.eq(env.office_hours(), true, "Saturday once it is an office day")
        now = "noon"
        T.ok(not pcall(env.office_hours), "a malformed TOD_NOW is an error")
    end)
    os.getenv = getenv
    if not ok then error(err, 0) end
end)
