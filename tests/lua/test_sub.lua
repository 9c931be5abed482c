-- SPDX-License-Identifier: MIT
-- Subscriptions (RFC 6665) between two user agents (sip.UA) on two Stacks over UDP loopback:
-- subscribe, NOTIFYs in a task, notify, terminate with a reason, unsubscribe, 489 for an
-- unknown package, a subscription inside a call's dialog, and the argument checks.
local T = ...
local sip = require "libsip"

local MWI = "application/simple-message-summary"
local SUMMARY = "Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n"
local LIMIT_MS = 10000

local function pair(events)
    -- What earlier test files left for the collector is not this file's: a baseline.
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, base = sip.live_objects() }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    p.loop = p.a.loop
    p.b = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    p.ua_a = sip.UA(p.a, { events = events })
    p.ua_b = p.b:ua { events = events }
    p.target = "sip:bob@127.0.0.1:" .. p.b:listeners()[1].port
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
    p.ua_a:close()
    p.ua_b:close()
    p.b:close()
    p.a:close()
    p.loop:close()
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "dialog", "ua", "call", "sub", "txn", "msg", "txn_layer", "transport" } do
        T.eq(live[kind], p.base[kind], "live " .. kind .. " objects at the end")
    end
    T.eq(#p.errors, 0, "handler errors: " .. table.concat(p.errors, "\n"))
end

T.case("subscriptions: subscribe, NOTIFYs, notify, unsubscribe", function()
    local p = pair("message-summary")
    local notifier
    p.ua_b:on_request(function(req)
        T.eq(req.method, "SUBSCRIBE", "method")
        notifier = p.ua_b:accept_subscription(req, { body = SUMMARY, content_type = MWI,
            expires = 600 })
    end)
    run(p, function()
        local sub = p.ua_a:subscribe(p.target, "message-summary", { expires = 900, accept = MWI })
        T.eq(sub:wait_established(5), sub, "established")
        T.eq(sub.is_subscriber, true, "subscriber")
        local n = sub:next_notify(5)
        T.eq(n.state, "active", "first NOTIFY state")
        T.eq(n.body, SUMMARY, "first NOTIFY body")
        T.eq(n.content_type, MWI, "content type")
        T.eq(n.expires, 600, "expires granted")
        T.eq(n.subscription, sub, "its subscription")
        T.eq(sub.state, "Active", "state")
        T.eq(sub.event, "message-summary", "event")
        T.eq(notifier.is_subscriber, false, "notifier")
        notifier:notify("Messages-Waiting: no\r\n")
        T.eq(sub:next_notify(5).body, "Messages-Waiting: no\r\n", "second NOTIFY")
        T.eq(sub:unsubscribe(), 200, "unsubscribed")
        local states = {}
        for m in sub:notifies() do states[#states + 1] = m.state end
        T.eq(table.concat(states, ","), "terminated", "the last NOTIFY")
        T.eq(notifier.state, "Terminated", "notifier side ended")
        T.eq(p.ua_a.dialog_count, 0, "no dialog left")
        notifier = nil
    end)
    finish(p)
end)

T.case("subscriptions: the notifier terminates with a reason", function()
    local p = pair("message-summary")
    local notifier
    p.ua_b:on_request(function(req)
        notifier = p.ua_b:accept_subscription(req, { body = SUMMARY, content_type = MWI,
            state = "pending" })
    end)
    run(p, function()
        local sub = p.ua_a:subscribe(p.target, "message-summary")
        local seen = {}
        for n in sub:notifies() do
            seen[#seen + 1] = n.state
            if n.state == "pending" then notifier:terminate("rejected", 60) end
        end
        T.eq(table.concat(seen, ","), "pending,terminated", "states")
        T.eq(sub.reason, "rejected", "reason")
        T.eq(sub.retry_after, 60, "retry-after")
        T.eq(sub.end_status, 200, "end status")
        local ok, e = pcall(notifier.notify, notifier, "x")
        T.ok(not ok and sip.is_error(e, "SIP_ECLOSED"), "notify after the end")
        notifier = nil
    end)
    finish(p)
end)

T.case("subscriptions: 489 for an unknown package", function()
    local p = pair("message-summary")
    run(p, function()
        local sub = p.ua_a:subscribe(p.target, "presence")
        local ok, e = pcall(sub.wait_established, sub, 5)
        T.ok(not ok, "failed")
        T.eq(e.status, 489, "status")
        T.eq(e.response:header("Allow-Events"), "message-summary", "Allow-Events")
    end)
    finish(p)
end)

T.case("subscriptions: inside a call's dialog", function()
    local p = pair("dialog")
    p.ua_b:on_invite(function(call) call:answer { sdp = "v=0\r\n" } end)
    p.ua_b:on_request(function(req)
        p.ua_b:accept_subscription(req, { body = "<dialog-info/>",
            content_type = "application/dialog-info+xml" })
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = "v=0\r\n" })
        call:wait_answered(5)
        local sub = p.ua_a:subscribe(nil, "dialog", { call = call })
        T.eq(sub:next_notify(5).body, "<dialog-info/>", "NOTIFY in the call's dialog")
        T.eq(sub.dialog.call_id, call.dialog.call_id, "one dialog")
        T.eq(p.ua_a.dialog_count, 1, "one dialog in the table")
        sub:unsubscribe()
        T.eq(call.state, "Confirmed", "the call goes on")
        T.eq(p.ua_a.dialog_count, 1, "the call's dialog stays")
        call:hangup()
        T.eq(call:wait_ended(5), 200, "call ended")
    end)
    finish(p)
end)

T.case("subscriptions: argument checks and the UA closing", function()
    local p = pair("message-summary")
    p.ua_b:on_request(function(req) p.ua_b:accept_subscription(req, { body = SUMMARY }) end)
    local function fails(f, ...)
        local ok, e = pcall(f, ...)
        T.ok(not ok and sip.is_error(e, "SIP_EINVAL"), "raises SIP_EINVAL")
    end
    fails(p.ua_a.subscribe, p.ua_a, p.target, 5)
    fails(p.ua_a.subscribe, p.ua_a, p.target, "x", { expires = "1" })
    fails(p.ua_a.subscribe, p.ua_a, p.target, "x", { colour = 1 })
    fails(p.ua_a.subscribe, p.ua_a, p.target, "")
    run(p, function()
        local sub = p.ua_a:subscribe(p.target, "message-summary")
        sub:next_notify(5)
        fails(sub.notify, sub, "x")
        fails(sub.notify, sub, "x", nil, "gone")
        p.ua_a:close()
        local ok, e = pcall(sub.wait_ended, sub)
        T.ok(not ok and sip.is_error(e, "SIP_ECLOSED"), "closed with the UA")
    end)
    finish(p)
end)

T.case("subscriptions: a blind transfer with REFER", function()
    local allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, NOTIFY, REFER"
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, base = sip.live_objects() }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    p.loop = p.a.loop
    p.b = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    p.ua_a = sip.UA(p.a, { allow = allow })
    p.ua_b = p.b:ua { allow = allow }
    p.target = "sip:bob@127.0.0.1:" .. p.b:listeners()[1].port
    local carol = "sip:carol@127.0.0.1:" .. p.a:listeners()[1].port
    local seen = {}
    p.ua_a:on_invite(function(call) call:answer { sdp = "v=0\r\n" } end)
    p.ua_b:on_invite(function(call)
        if seen.new then
            call:answer { sdp = "v=0\r\n" }
            return
        end
        call:on("refer", function(req)
            seen.refer_to = req:header("Refer-To")
            seen.referred_by = req:header("Referred-By")
            local sub = p.ua_b:accept_subscription(req)
            local new = p.ua_b:invite(carol, { sdp = "v=0\r\n" })
            seen.new = new
            new:wait_answered(5)
            sub:terminate("noresource", nil, "SIP/2.0 200 OK\r\n")
        end)
        call:answer { sdp = "v=0\r\n" }
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = "v=0\r\n" })
        call:wait_answered(5)
        T.eq(call:transfer(carol, { referred_by = "<sip:alice@127.0.0.1>", timeout = 5 }), 200,
            "transferred")
        T.eq(seen.refer_to, "<" .. carol .. ">", "Refer-To")
        T.eq(seen.referred_by, "<sip:alice@127.0.0.1>", "Referred-By")
        call:hangup()
        seen.new:hangup()
        seen.new:wait_ended(5)
        -- A REFER nobody takes: 501 from the call.
        local call2 = p.ua_a:invite(p.target, { sdp = "v=0\r\n" })
        call2:wait_answered(5)
        local sub = p.ua_a:refer(nil, carol, { call = call2 })
        local ok, e = pcall(sub.wait_established, sub, 5)
        T.ok(not ok and e.status == 501, "refused REFER")
        ok, e = pcall(p.ua_a.refer, p.ua_a, nil, carol, { call = call2, norefersub = 1 })
        T.ok(not ok and sip.is_error(e, "SIP_EINVAL"), "norefersub must be a boolean")
        sub = p.ua_a:refer(nil, carol, { call = call2, norefersub = true })
        ok, e = pcall(sub.wait_established, sub, 5)
        T.ok(not ok and e.status == 501, "refused REFER without a subscription")
        call2:hangup()
        call2:wait_ended(5)
        seen.new = nil
    end)
    finish(p)
end)

T.case("subscriptions: an attended transfer among three UAs (Replaces)", function()
    local allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, NOTIFY, REFER"
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, base = sip.live_objects() }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    p.loop = p.a.loop
    p.b = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    local c_stack = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    p.ua_a = sip.UA(p.a, { allow = allow })
    p.ua_b = p.b:ua { allow = allow }
    local ua_c = c_stack:ua { allow = allow }
    local bob = "sip:bob@127.0.0.1:" .. p.b:listeners()[1].port
    local carol = "sip:carol@127.0.0.1:" .. c_stack:listeners()[1].port
    local seen = { carol_calls = {} }
    ua_c:on_invite(function(call)
        seen.carol_calls[#seen.carol_calls + 1] = call
        call:answer { sdp = "v=0\r\n" }
    end)
    p.ua_b:on_invite(function(call)
        call:on("refer", function(req)
            local _, headers = sip.refer_target(req)
            seen.replaces = headers.Replaces
            -- The library does the rest: 202, the new call with Replaces, the NOTIFYs.
            seen.new = call:accept_transfer(req, { sdp = "v=0\r\n" })
            seen.new:wait_answered(5)
        end)
        call:answer { sdp = "v=0\r\n" }
    end)
    run(p, function()
        local to_bob = p.ua_a:invite(bob, { sdp = "v=0\r\n" })
        to_bob:wait_answered(5)
        local to_carol = p.ua_a:invite(carol, { sdp = "v=0\r\n" })
        to_carol:wait_answered(5)
        local ok, e = pcall(to_bob.transfer, to_bob)
        T.ok(not ok and sip.is_error(e, "SIP_EINVAL"), "a target or to_call")
        T.eq(to_bob:transfer(nil, { to_call = to_carol, timeout = 5 }), 200, "transferred")
        local d = to_carol.dialog
        T.eq(seen.replaces, ("%s;to-tag=%s;from-tag=%s"):format(d.call_id, d.remote_tag,
            d.local_tag), "Replaces")
        T.eq(to_carol:wait_ended(5), 200, "the consultation call ended")
        T.eq(to_carol.ended_locally, false, "ended by carol")
        to_bob:hangup()
        T.eq(to_bob:wait_ended(5), 200, "alice hung up")
        T.eq(seen.new.state, "Confirmed", "bob and carol talk")
        T.eq(seen.carol_calls[1].state, "Ended", "carol's first call replaced")
        T.eq(p.ua_a.dialog_count, 0, "alice has no dialog left")
        seen.new:hangup()
        T.eq(seen.carol_calls[2]:wait_ended(5), 200, "bob hung up")
    end)
    seen = nil
    ua_c:close()
    c_stack:close()
    finish(p)
end)

T.case("subscriptions: a blind transfer the library follows (call:accept_transfer)", function()
    local allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, SUBSCRIBE, NOTIFY, REFER"
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, base = sip.live_objects() }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    p.loop = p.a.loop
    p.b = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    local c_stack = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    p.ua_a = sip.UA(p.a, { allow = allow })
    p.ua_b = p.b:ua { allow = allow }
    local ua_c = c_stack:ua { allow = allow }
    local alice = "sip:alice@127.0.0.1:" .. p.a:listeners()[1].port
    local bob = "sip:bob@127.0.0.1:" .. p.b:listeners()[1].port
    local carol = "sip:carol@127.0.0.1:" .. c_stack:listeners()[1].port
    local seen = { new = {} }
    ua_c:on_invite(function(call)
        if seen.busy then
            call:reject(486)
            return
        end
        seen.referred_by = call.invite:header("Referred-By")
        call:ring()
        call:answer { sdp = "v=0\r\n" }
    end)
    p.ua_b:on_invite(function(call)
        call:on("refer", function(req)
            local ok, e = pcall(call.accept_transfer, call, "not a request")
            T.ok(not ok and sip.is_error(e, "SIP_EINVAL"), "req must be a sip.Message")
            ok, e = pcall(call.accept_transfer, call, req, { nope = 1 })
            T.ok(not ok and sip.is_error(e, "SIP_EINVAL"), "unknown option")
            seen.new[#seen.new + 1] = call:accept_transfer(req, { sdp = "v=0\r\n" })
        end)
        seen.bob_call = call
        call:answer { sdp = "v=0\r\n" }
    end)
    run(p, function()
        local to_bob = p.ua_a:invite(bob, { sdp = "v=0\r\n" })
        to_bob:wait_answered(5)
        local sub = p.ua_a:refer(nil, carol, { call = to_bob, referred_by = "<" .. alice .. ">" })
        sub:wait_established(5)
        local statuses = {}
        while true do
            local n = sub:next_notify(5)
            if not n then break end
            statuses[#statuses + 1] = n.status
        end
        T.eq(table.concat(statuses, " "), "100 180 200", "NOTIFYs 100, 180, 200")
        T.eq(seen.referred_by, "<" .. alice .. ">", "Referred-By copied")
        local new = seen.new[1]
        new:wait_answered(5)
        to_bob:hangup()
        T.eq(seen.bob_call:wait_ended(5), 200, "the transferor hung up the old call")
        -- A busy target: 486 reported, the old call stays.
        seen.busy = true
        to_bob = p.ua_a:invite(bob, { sdp = "v=0\r\n" })
        to_bob:wait_answered(5)
        T.eq(to_bob:transfer(carol, { timeout = 5 }), 486, "busy reported")
        T.eq(seen.new[2]:wait_ended(5), 486, "the new call failed")
        T.eq(to_bob.state, "Confirmed", "the old call stays")
        to_bob:hangup()
        to_bob:wait_ended(5)
        new:hangup()
        new:wait_ended(5)
    end)
    seen = nil
    ua_c:close()
    c_stack:close()
    finish(p)
end)
