-- SPDX-License-Identifier: MIT
-- Calls between two user agents (sip.UA) on two Stacks over UDP loopback: ring, answer, INFO,
-- BYE from either side, 486, CANCEL (487), lifetimes, and the argument checks.
local T = ...
local sip = require "libsip"

local SDP_A = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
local SDP_B = "v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

-- Every wait of a case is bounded by this guard.
local LIMIT_MS = 10000

-- Two stacks with transactions on one loop, a UA on each: { a =, b =, ua_a =, ua_b =, loop =,
-- target = "sip:bob@127.0.0.1:PORT", errors = { ... } }. Errors raised in handlers are kept.
local function pair(opts_a, opts_b)
    local p = { errors = {} }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    p.loop = p.a.loop
    p.b = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    p.ua_a = sip.UA(p.a, opts_a or { user_agent = "alice-ua" })
    p.ua_b = p.b:ua(opts_b or { user_agent = "bob-ua", contact_user = "bob" })
    p.target = "sip:bob@127.0.0.1:" .. p.b:listeners()[1].port
    return p
end

-- Runs fn() as a task until it returns (the loop runs meanwhile), at most LIMIT_MS; raises
-- what it raised.
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

-- Lets the loop run for ms (outstanding transactions, retransmissions).
local function settle(p, ms)
    run(p, function() sip.sleep(ms) end)
end

-- Closes everything and checks that no dialog, UA, call, transaction or message is left.
local function finish(p)
    sip.on_error(nil)
    p.ua_a:close()
    p.ua_b:close()
    p.b:close()
    p.a:close()
    p.loop:close()
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "dialog", "ua", "call", "txn", "msg", "txn_layer", "transport" } do
        T.eq(live[kind], 0, "live " .. kind .. " objects at the end")
    end
    T.eq(#p.errors, 0, "handler errors: " .. table.concat(p.errors, "\n"))
end

T.case("calls: ring, answer, INFO both ways, BYE from the caller", function()
    local p = pair()
    local incoming, infos, states = nil, {}, {}
    p.ua_b:on_invite(function(call)
        incoming = call
        T.eq(call.state, "Incoming", "callee state")
        T.eq(call.is_uac, false, "callee is_uac")
        T.eq(call.remote_sdp, SDP_A, "the offer reached the callee")
        T.eq(call.invite:header("User-Agent"), "alice-ua", "User-Agent of the INVITE")
        call:on_request(function(req)
            infos[#infos + 1] = req.body
            req:reply(200)
        end)
        call:ring()
        T.eq(call.state, "Early", "after ring")
        sip.sleep(20)
        call:answer { sdp = SDP_B }
        T.eq(call:wait_answered(), true, "callee: the ACK came")
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A, from = "Alice <sip:alice@127.0.0.1>" })
        call:on_state(function(_, state) states[#states + 1] = state end)
        T.eq(call.state, "Calling", "caller state at once")
        T.eq(call.is_uac, true, "caller is_uac")
        T.eq(call:wait_answered(), true, "answered")
        T.eq(call.state, "Confirmed", "caller confirmed")
        T.eq(call.remote_sdp, SDP_B, "the answer reached the caller")
        T.eq(call.local_sdp, SDP_A, "the offer sent")
        T.eq(call.response.status, 200, "the final response")
        T.eq(call.response:header("Server"), "bob-ua", "Server of the 200")
        local d = call.dialog
        T.eq(d.state, "Confirmed", "dialog state")
        T.eq(d.call_id, call.invite.call_id, "dialog Call-ID")
        T.eq(d.remote_tag, call.response.to.tag, "remote tag from the 200")
        T.eq(d.local_tag, call.invite.from.tag, "local tag from the INVITE")
        T.ok(d.remote_target:find("^sip:bob@127%.0%.0%.1:"), "remote target " .. d.remote_target)
        T.eq(#d.route_set, 0, "no route set")
        T.eq(d.is_uas, false, "dialog is_uas")
        T.eq(p.ua_a.call_count, 1, "the caller's UA has the call")
        T.eq(p.ua_a.dialog_count, 1, "the caller's UA has the dialog")
        -- INFO from the caller (RFC 6086), answered by the callee's handler.
        local rsp = call:request("INFO", "Signal=5\r\nDuration=160\r\n", "application/dtmf-relay")
        T.eq(rsp.status, 200, "INFO answered")
        T.eq(infos[1], "Signal=5\r\nDuration=160\r\n", "INFO body at the callee")
        -- And from the callee, without a handler at the caller: the C default 200.
        local back = incoming:request("INFO")
        T.eq(back.status, 200, "INFO to the caller answered by default")
        local cseq = d.local_cseq
        T.ok(cseq >= 2, "local CSeq counts the INFO")
        T.eq(incoming.dialog.remote_cseq, cseq, "the callee saw that CSeq")
        T.eq(call:hangup(), true, "hangup sent")
        T.eq(call.state, "Ended", "ended at once")
        T.eq(call.ended_locally, true, "ended locally")
        T.eq(call:hangup(), false, "hangup again does nothing")
        T.eq(incoming:wait_ended(), 200, "the callee got the BYE")
        T.eq(incoming.ended_locally, false, "the callee did not end it")
        T.eq(d.state, "Terminated", "the dialog ended with the call")
        T.eq(call:wait_answered(), true, "wait_answered after the end of an answered call")
    end)
    T.eq(table.concat(states, " "), "Early Confirmed Ended", "caller states")
    T.eq(p.ua_a.call_count, 0, "no call left at the caller")
    settle(p, 50)
    T.eq(p.ua_b.call_count, 0, "no call left at the callee")
    incoming = nil
    finish(p)
end)
