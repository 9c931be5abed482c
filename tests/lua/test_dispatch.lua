-- SPDX-License-Identifier: MIT
-- The chain of message handlers of a sip.Transport (as Python's test_dispatch.py):
-- add_handler/remove_handler and priorities, alone and in front of a Stack's transactions.
local T = ...
local sip = require "libsip"

local function options(dst, branch, call_id)
    return sip.Message.request("OPTIONS", "sip:uas@" .. dst:match("^%a+:(.*)$"), { headers = {
        { "Via", "SIP/2.0/UDP 127.0.0.1;branch=" .. branch }, { "Max-Forwards", 70 },
        { "To", "<sip:uas@example.com>" }, { "From", "<sip:uac@example.com>;tag=lua" },
        { "Call-ID", call_id }, { "CSeq", "1 OPTIONS" } } })
end

-- Runs the loop until cond() holds, 5 s at most.
local function run_until(loop, cond)
    local expired = false
    local guard <close> = loop:timer(5000, function() expired = true end)
    while not cond() and not expired do loop:run_once(true) end
    return cond()
end

T.case("Transport: handlers run by priority, take or pass, and go", function()
    local loop <close> = sip.Loop()
    local seen = {}
    local server <close> = sip.Transport{ loop = loop, listen = "udp:127.0.0.1:0" }
    local client <close> = sip.Transport{ loop = loop, listen = "udp:127.0.0.1:0" }
    server:on_message(function(m) seen[#seen + 1] = "app" end)
    local take = true
    local ua = server:add_handler(function(m)
        seen[#seen + 1] = "ua"
        return take
    end, "ua")
    local tap = server:add_handler(function(m)
        T.eq(m.method, "OPTIONS", "a Message")
        seen[#seen + 1] = "first"
    end, "first")
    T.ok(ua > 0 and tap > 0 and ua ~= tap, "ids")
    local dst = server:listeners()[1].spec
    client:send(options(dst, "z9hG4bKl1", "ldisp1"), dst)
    T.ok(run_until(loop, function() return #seen == 2 end), "delivered")
    T.eq(table.concat(seen, " "), "first ua", "taken at ua")
    -- 0 passes it on as in C (Lua's 0 is true, but a number counts as one).
    take = 0
    seen = {}
    client:send(options(dst, "z9hG4bKl2", "ldisp2"), dst)
    T.ok(run_until(loop, function() return #seen == 3 end), "delivered")
    T.eq(table.concat(seen, " "), "first ua app", "passed to the application")
    server:remove_handler(ua)
    T.raises("SIP_ENOENT", server.remove_handler, server, ua)
    T.raises("SIP_ENOENT", server.remove_handler, server, 0)
    seen = {}
    client:send(options(dst, "z9hG4bKl3", "ldisp3"), dst)
    T.ok(run_until(loop, function() return #seen == 2 end), "delivered")
    T.eq(table.concat(seen, " "), "first app", "removed")
end)

T.case("Transport: a handler removes itself; an error passes the message on", function()
    local loop <close> = sip.Loop()
    local seen, errs = {}, {}
    sip.on_error(function(e) errs[#errs + 1] = tostring(e) end)
    local server <close> = sip.Transport{ loop = loop, listen = "udp:127.0.0.1:0" }
    local client <close> = sip.Transport{ loop = loop, listen = "udp:127.0.0.1:0" }
    server:on_message(function() seen[#seen + 1] = "app" end)
    local once
    once = server:add_handler(function()
        seen[#seen + 1] = "once"
        server:remove_handler(once)
        return true
    end, 10)
    server:add_handler(function()
        seen[#seen + 1] = "broken"
        error("handler bug")
    end, 20)
    local dst = server:listeners()[1].spec
    client:send(options(dst, "z9hG4bKl4", "ldisp4"), dst)
    T.ok(run_until(loop, function() return #seen == 1 end), "delivered")
    client:send(options(dst, "z9hG4bKl5", "ldisp5"), dst)
    T.ok(run_until(loop, function() return #seen == 3 end), "delivered")
    sip.on_error(nil)
    T.eq(table.concat(seen, " "), "once broken app", "order")
    T.ok(errs[1] and errs[1]:find("handler bug", 1, true), "error reported")
end)

T.case("Transport: add_handler arguments are checked", function()
    local loop <close> = sip.Loop()
    local tp = sip.Transport{ loop = loop }
    T.raises("SIP_EINVAL", tp.add_handler, tp, 5)
    T.raises("SIP_EINVAL", tp.add_handler, tp, function() end, "middle")
    T.raises("SIP_EINVAL", tp.add_handler, tp, function() end, 1.5)
    T.raises("SIP_EINVAL", tp.remove_handler, tp, "1")
    local id = tp:add_handler(function() end)
    tp:close()
    T.raises("SIP_ECLOSED", tp.remove_handler, tp, id)
    T.raises("SIP_ECLOSED", tp.add_handler, tp, function() end)
end)

T.case("Stack: a ua handler sees new requests first; retransmissions are absorbed", function()
    local loop <close> = sip.Loop()
    local order = {}
    local uas <close> = sip.Stack{ loop = loop, listen = "udp:127.0.0.1:0", transactions = true }
    local client <close> = sip.Transport{ loop = loop, listen = "udp:127.0.0.1:0" }
    uas:on_request("OPTIONS", function(req)
        order[#order + 1] = "stack"
        req:reply(200)
    end)
    uas.transport:add_handler(function() order[#order + 1] = "ua" end, "ua")
    local responses = {}
    client:on_message(function(m) responses[#responses + 1] = m.status end)
    local dst = uas:listeners()[1].spec
    local msg = options(dst, "z9hG4bKl6", "ldisp6")
    client:send(msg, dst)
    T.ok(run_until(loop, function() return #responses == 1 end), "answered")
    T.eq(table.concat(order, " "), "ua stack", "ua first")
    client:send(msg, dst)
    T.ok(run_until(loop, function() return #responses == 2 end), "answered again")
    T.eq(responses[2], 200, "the 200 again")
    T.eq(table.concat(order, " "), "ua stack", "the transaction absorbed it")
end)
