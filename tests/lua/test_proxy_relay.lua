-- SPDX-License-Identifier: MIT
-- req:relay(): a route that relays without waiting for the outcome (Kamailio's t_relay()).
-- A UAC, two UASs and a proxy, each a Stack on 127.0.0.1 (ports 49500-49599, ten per case)
-- sharing one loop: the proxy forwards the best response itself once the route returned, a
-- route still running when the outcome comes has it as after req:proxy(), hooks run, and the
-- argument checks are req:proxy()'s.
local T = ...
local sip = require "libsip"

local LIMIT_MS = 15000
local BASE = 49500

local OFFER = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
local ANSWER = "v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

-- Four stacks on one loop: the proxy (BASE + 10n), a UAC (+1), two UASs (+2, +3).
local function setup(n, proxy_opts)
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, base = sip.live_objects(), port = BASE + 10 * n }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.loop = sip.Loop()
    p.stacks = {}
    for i = 0, 3 do
        p.stacks[i] = sip.Stack { listen = "udp:127.0.0.1:" .. (p.port + i), loop = p.loop,
            transactions = { t1_ms = 50 } }
    end
    p.proxy = sip.Proxy(p.stacks[0], proxy_opts)
    p.a, p.b, p.c = sip.UA(p.stacks[1]), sip.UA(p.stacks[2]), sip.UA(p.stacks[3])
    function p.uri(user, i) return ("sip:%s@127.0.0.1:%d"):format(user, p.port + (i or 0)) end
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
        err = tostring(err) .. "\nhandler errors:\n" .. table.concat(p.errors, "\n")
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
    p.stacks, p.proxy, p.a, p.b, p.c = nil, nil, nil, nil, nil
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "proxy", "proxy_req", "ua", "call", "dialog", "txn", "msg",
        "txn_layer", "transport" } do
        T.eq(live[kind], p.base[kind], "live " .. kind .. " objects at the end")
    end
    T.eq(#p.errors, 0, "handler errors: " .. table.concat(p.errors, "\n"))
end

-- ua answers each INVITE (180 first) with status.
local function answer(ua, status)
    ua:on_invite(function(call)
        call:ring()
        if status == 200 then
            call:answer { sdp = ANSWER }
        else
            call:reject(status)
        end
    end)
end

T.case("relay: returns at once; the call and its BYE go through, record-routed", function()
    local p = setup(0)
    local routed, returned = {}, {}
    p.proxy:route(function(req)
        if req.routed then
            routed[#routed + 1] = req.method
            if req.method == "ACK" then return req:forward() end
            T.eq(req:relay(), nil, "relay() returns nothing") -- along the Route set
            returned[#returned + 1] = req.method
            return
        end
        T.eq(req:relay(p.uri("bob", 2), { record_route = true }), nil, "relay() returns nothing")
        T.ok(req.done, "relayed: done")
        returned[#returned + 1] = req.method
    end)
    answer(p.b, 200)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(5)
        T.ok(call.remote_sdp:find("o=bob", 1, true), "the answer came through")
        T.eq(#call.dialog.route_set, 1, "the proxy is in the route set")
        call:hangup()
        T.eq(call:wait_ended(5), 200, "BYE answered")
        for _ = 1, 100 do -- the BYE goes through the proxy
            if returned[#returned] == "BYE" then break end
            sip.sleep(20)
        end
    end)
    -- (A PRACK of the reliable 180 is routed and relayed too.)
    local all = table.concat(returned, ",")
    T.ok(all:match("^INVITE,") and all:match(",BYE$"), "each route returned at once: " .. all)
    T.eq(#returned, #routed, "every routed request but the ACK relayed")
    T.ok(table.concat(routed, ","):find("ACK", 1, true), "the ACK came back routed")
    finish(p)
end)

T.case("relay: the proxy forwards a busy callee's answer, and 480 for no target", function()
    local p = setup(1)
    local entered = 0
    p.proxy:route(function(req)
        entered = entered + 1
        if req.routed then return req:default_route() end
        if req.uri.user == "nobody" then return req:relay({}) end
        req:relay({ p.uri("b", 2), p.uri("c", 3) })
    end)
    answer(p.b, 486)
    answer(p.c, 603)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        -- RFC 3261 §16.7: a 6xx is the best response.
        T.eq(call:wait_ended(5), 603, "the best response forwarded")
        call = p.a:invite(p.uri("nobody"), { sdp = OFFER })
        T.eq(call:wait_ended(5), 480, "no target: 480")
    end)
    T.eq(entered, 2, "the route entered once per INVITE (the ACKs of errors stay hop by hop)")
    finish(p)
end)

T.case("relay: a route still running gets the outcome as after proxy(), then forwards it",
    function()
    local p = setup(2)
    local over, ended_after = false, nil
    p.proxy:route(function(req)
        if req.routed then return req:default_route() end
        req:relay(p.uri("bob", 2))
        T.raises("SIP_EBUSY", req.relay, req, p.uri("bob", 2))
        T.raises("SIP_EBUSY", req.proxy, req, p.uri("bob", 2))
        sip.sleep(300) -- the 486 comes meanwhile
        over = true
    end)
    answer(p.b, 486)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        T.eq(call:wait_ended(5), 486, "forwarded")
        ended_after = over
    end)
    T.eq(ended_after, true, "forwarded once the route returned, not before")
    finish(p)
end)

T.case("relay: branch hooks run, and the outcome still goes upstream", function()
    local p = setup(3)
    local hooked = {}
    p.proxy:route(function(req)
        if req.routed then return req:default_route() end
        req:relay(p.uri("bob", 2), {
            on_request = function(msg) msg:add_header("X-Relay", "1") end,
            on_response = function(msg) hooked[#hooked + 1] = msg.status end })
    end)
    local got
    p.b:on_invite(function(call)
        got = call.invite:header("X-Relay")
        call:reject(486)
    end)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        T.eq(call:wait_ended(5), 486, "forwarded")
    end)
    T.eq(got, "1", "on_request edited the branch")
    T.eq(hooked[#hooked], 486, "on_response saw the final response")
    finish(p)
end)

T.case("relay: argument checks as proxy()'s, and a stateless proxy refuses", function()
    local p = setup(4)
    local n = 0
    p.proxy:route(function(req)
        for _, f in ipairs {
            function() req:relay(42) end, function() req:relay { 1 } end,
            function() req:relay(nil, { parallel = "yes" }) end,
            function() req:relay(nil, { timeout = "x" }) end,
            function() req:relay(nil, { on_request = 3 }) end,
            function() req:relay(nil, { colour = "red" }) end,
            function() req:relay(nil, 5) end,
            function() req:relay(nil, { timeout = -1 }) end } do
            local err = T.raises("SIP_EINVAL", f)
            T.ok(tostring(err):find("relay", 1, true), "the error names relay: " .. tostring(err))
            n = n + 1
        end
        T.raises("SIP_EURI", req.relay, req, "not a uri")
        req:reply(200)
        T.raises("SIP_EBUSY", req.relay, req, p.uri("bob", 2))
    end)
    run(p, function()
        T.eq(p.a:options(p.uri("x")).status, 200, "answered")
    end)
    T.eq(n, 8, "every bad argument raised")
    finish(p)
    p = setup(5, { stateless = true })
    p.proxy:route(function(req)
        T.raises("SIP_ENOTSUP", req.relay, req, p.uri("bob", 2))
        req:reply(202)
    end)
    run(p, function()
        T.eq(p.a:options(p.uri("x")).status, 202, "answered")
    end)
    finish(p)
end)
