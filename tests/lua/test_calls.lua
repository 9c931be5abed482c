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
    for _, kind in ipairs { "dialog", "ua", "call", "bridge", "oa", "sdp", "txn", "msg", "txn_layer",
        "transport" } do
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
        T.eq(call:wait_answered(), call, "callee: the ACK came")
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A, from = "Alice <sip:alice@127.0.0.1>" })
        call:on_state(function(state) states[#states + 1] = state end)
        T.eq(call.state, "Calling", "caller state at once")
        T.eq(call.is_uac, true, "caller is_uac")
        T.eq(call:wait_answered(5), call, "answered")
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
        T.ok(d:match(call.response), "the 200 matches the dialog")
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
        call:hangup()
        T.eq(call.state, "Ended", "ended at once")
        T.eq(call.ended_locally, true, "ended locally")
        T.raises("SIP_ECLOSED", call.hangup, call)
        T.eq(incoming:wait_ended(), 200, "the callee got the BYE")
        T.eq(incoming.ended_locally, false, "the callee did not end it")
        T.eq(d.state, "Terminated", "the dialog ended with the call")
        T.eq(call:wait_answered(), call, "wait_answered after the end of an answered call")
    end)
    T.eq(table.concat(states, " "), "Early Confirmed Ended", "caller states")
    T.eq(p.ua_a.call_count, 0, "no call left at the caller")
    settle(p, 50)
    T.eq(p.ua_b.call_count, 0, "no call left at the callee")
    incoming = nil
    finish(p)
end)

T.case("calls: 486 from the callee fails the caller's wait with status, phrase and response",
    function()
    local p = pair()
    local incoming
    p.ua_b:on_invite(function(call)
        incoming = call
        call:reject()
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        local ok, err = pcall(call.wait_answered, call, 5)
        T.eq(ok, false, "wait_answered raised")
        T.ok(sip.is_error(err, "SIP_EIO"), "SIP_EIO: " .. tostring(err))
        T.eq(err.status, 486, "status")
        T.eq(err.phrase, "Busy Here", "phrase")
        T.eq(err.response.status, 486, "the final response")
        T.ok(tostring(err):find("call failed: 486 Busy Here", 1, true), tostring(err))
        T.eq(call.state, "Ended", "caller ended")
        T.eq(call.end_status, 486, "caller end status")
        T.eq(call.ended_locally, false, "not ended by the caller")
        T.eq(call:wait_ended(), 486, "wait_ended of an ended call")
        T.raises("SIP_EIO", call.wait_answered, call)
        T.eq(incoming.state, "Ended", "callee ended")
        T.eq(incoming.end_status, 486, "callee end status")
        T.eq(incoming.ended_locally, true, "the callee ended it")
        T.raises("SIP_ECLOSED", incoming.answer, incoming, SDP_B)
    end)
    incoming = nil
    settle(p, 50)
    finish(p)
end)

T.case("calls: hangup before the answer sends CANCEL; the callee's INVITE ends 487", function()
    local p = pair()
    local incoming, rang, ended_by = nil, false, nil
    p.ua_b:on_invite(function(call)
        incoming = call
        call:on_state(function(state, msg)
            if state == "Ended" and msg then ended_by = msg.method .. " " .. msg:header("Reason") end
        end)
        call:ring(183, SDP_B)
        local ok, err = pcall(call.wait_answered, call, 5)
        T.ok(not ok and sip.is_error(err, "SIP_EIO"), "the callee's wait failed: "
            .. tostring(err))
        T.eq(err.status, 487, "the callee's end status")
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:on("response", function(rsp) if rsp.status == 183 then rang = true end end)
        while call.state ~= "Early" do sip.sleep(5) end
        T.eq(call.remote_sdp, SDP_B, "early media SDP of the 183")
        local e = T.raises("ETIMEDOUT", call.wait_answered, call, 0.05)
        T.ok(tostring(e):find("call:wait_answered: nothing within 0.05 s", 1, true), tostring(e))
        T.eq(call.state, "Early", "a wait that timed out leaves the call as it is")
        T.raises("SIP_EINVAL", call.wait_answered, call, -1)
        call:hangup('SIP;cause=487;text="gone"')
        T.eq(call.state, "Ended", "ended at once")
        T.eq(call.end_status, 487, "caller end status")
        T.eq(call.ended_locally, true, "ended by the caller")
        local err = T.raises("SIP_EIO", call.wait_answered, call)
        T.eq(err.status, 487, "wait_answered after a hangup")
        T.eq(incoming:wait_ended(5), 487, "the callee's call ended 487")
        T.eq(incoming.ended_locally, false, "not by the callee")
    end)
    T.ok(rang, "the response handler saw the 183")
    T.eq(ended_by, 'CANCEL SIP;cause=487;text="gone"', "the CANCEL carried the Reason (RFC 3326)")
    incoming = nil
    settle(p, 100)
    finish(p)
end)

T.case("calls: the callee hangs up; the caller's wait_ended returns 200", function()
    local p = pair()
    local incoming
    p.ua_b:on_invite(function(call)
        incoming = call
        call:answer(SDP_B)
        call:wait_answered(5)
        sip.sleep(10)
        call:bye()
        T.eq(call.ended_locally, true, "the callee ended it")
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:wait_answered(5)
        T.eq(call:wait_ended(5), 200, "BYE from the callee")
        T.eq(call.ended_locally, false, "not by the caller")
        T.eq(call.dialog.state, "Terminated", "dialog terminated")
        T.eq(call.invite, nil, "no INVITE once ended")
    end)
    incoming = nil
    settle(p, 50)
    finish(p)
end)

T.case("calls: an INVITE without an offer: offer in the 2xx, answer in the ACK; timeout CANCELs",
    function()
    local p = pair()
    local waited
    p.ua_b:on_invite(function(call)
        if call.invite:header("Subject") == "late" then
            T.eq(call.remote_sdp, nil, "no offer in the INVITE")
            call:answer { sdp = SDP_B, status = 200 }
            call:wait_answered(5)
            T.eq(call.local_sdp, SDP_B, "the offer went in the 2xx")
            T.eq(call.remote_sdp, SDP_A, "the answer came in the ACK")
            return
        end
        call:ring()
        waited = pcall(call.wait_ended, call, 5)
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { headers = { Subject = "late" } })
        local offered
        call:on("offer", function(msg)
            offered = msg.status
            call:answer_offer(SDP_A)
        end)
        call:wait_answered(5)
        T.eq(call.remote_sdp, SDP_B, "the offer came in the 2xx")
        T.eq(offered, 200, "the offer handler saw the 2xx")
        call:hangup()
        local slow = p.ua_a:invite(p.target, { sdp = SDP_A, timeout = 0.2,
            headers = { { "Subject", "slow" } } })
        local err = T.raises("SIP_EIO", slow.wait_answered, slow, 5)
        T.eq(err.status, 487, "cancelled after the timeout")
    end)
    settle(p, 100)
    T.ok(waited, "the callee's call ended")
    finish(p)
end)

T.case("calls: a live call is kept by its UA; an ended one goes with its last reference",
    function()
    local p = pair()
    local incoming
    local weak = setmetatable({}, { __mode = "v" })
    p.ua_b:on_invite(function(call)
        incoming = call
        call:answer(SDP_B)
    end)
    run(p, function()
        -- The script keeps nothing of the caller's call but a weak reference.
        weak.call = p.ua_a:invite(p.target, { sdp = SDP_A })
        weak.call:wait_answered(5)
    end)
    for _ = 1, 3 do collectgarbage() end
    T.ok(weak.call, "the UA keeps the live call")
    T.eq(#p.ua_a.calls, 1, "ua.calls lists it")
    settle(p, 50)
    T.eq(incoming.state, "Confirmed", "the collector did not hang up")
    run(p, function()
        incoming:hangup()
        weak.call:wait_ended(5)
    end)
    T.eq(#p.ua_a.calls, 0, "the UA let go of the ended call")
    for _ = 1, 3 do collectgarbage() end
    T.eq(weak.call, nil, "the ended call was collected")
    -- An incoming call the handler dropped: kept until its caller ends it.
    local caller
    p.ua_b:on_invite(function(call)
        weak.incoming = call
        call:ring()
    end)
    run(p, function()
        caller = p.ua_a:invite(p.target, { sdp = SDP_A })
        while caller.state ~= "Early" do sip.sleep(5) end
    end)
    incoming = nil
    for _ = 1, 3 do collectgarbage() end
    T.ok(weak.incoming, "the UA keeps the unanswered incoming call")
    run(p, function()
        caller:hangup()
        weak.incoming:wait_ended(5)
    end)
    caller = nil
    settle(p, 100)
    for _ = 1, 3 do collectgarbage() end
    T.eq(weak.incoming, nil, "the incoming call went after its end")
    finish(p)
end)

T.case("calls: closing a UA ends its calls (waits get SIP_ECLOSED) and gives the layer back",
    function()
    local p = pair()
    local got
    p.ua_b:on_invite(function(call)
        call:ring()
        got = select(2, pcall(call.wait_answered, call))
    end)
    p.b:on_request("OPTIONS", function(req) req:reply(299) end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        while call.state ~= "Early" do sip.sleep(5) end
        T.eq(p.ua_b.call_count, 1, "the callee's UA has the call")
        p.ua_b:close()
        T.ok(sip.is_error(got, "SIP_ECLOSED"), "the callee's wait: " .. tostring(got))
        T.eq(p.ua_b.closed, true, "ua.closed")
        T.eq(p.ua_b.call_count, 0, "no call in a closed UA")
        T.eq(#p.ua_b.calls, 0, "no call listed")
        T.raises("SIP_ECLOSED", p.ua_b.invite, p.ua_b, p.target)
        call:hangup()
        -- The stack's own handler answers again.
        local opt = sip.Message.request("OPTIONS", p.target, { headers = {
            { "Max-Forwards", 70 }, { "To", "<" .. p.target .. ">" },
            { "From", "<sip:a@127.0.0.1>;tag=1" }, { "Call-ID", sip.call_id() },
            { "CSeq", "1 OPTIONS" } } })
        local rsp = p.a:request(opt, "udp:127.0.0.1:" .. p.b:listeners()[1].port):wait()
        T.eq(rsp.status, 299, "the stack's OPTIONS handler after ua:close()")
        -- A new UA may take the stack again.
        p.ua_b = p.b:ua()
    end)
    settle(p, 100)
    got = nil
    finish(p)
end)

-- An out-of-dialog request from A's stack to B: the final status and response.
local function ask(p, method)
    local m = sip.Message.request(method, p.target, { headers = {
        { "Max-Forwards", 70 }, { "To", "<" .. p.target .. ">" },
        { "From", "<sip:a@127.0.0.1>;tag=1" }, { "Call-ID", sip.call_id() },
        { "CSeq", "1 " .. method } } })
    local rsp = p.a:request(m, "udp:127.0.0.1:" .. p.b:listeners()[1].port):wait()
    return rsp.status, rsp
end

T.case("calls: out-of-dialog requests: the UA's answers, the stack's handlers, ua:on_request",
    function()
    local p = pair(nil, { allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE",
        user_agent = "bob-ua" })
    run(p, function()
        local st, rsp = ask(p, "OPTIONS")
        T.eq(st, 200, "OPTIONS without a handler")
        T.eq(table.concat(rsp.headers.Allow, ", "), "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE",
            "Allow of the UA")
        T.eq(rsp:header("Server"), "bob-ua", "Server")
        T.ok(rsp:header("Supported"), "Supported")
        T.eq(ask(p, "SUBSCRIBE"), 405, "a known method not in Allow (RFC 3261 §8.2.1)")
        T.eq(ask(p, "MESSAGE"), 405, "a method in Allow nobody takes")
        T.eq(ask(p, "FROB"), 501, "an unknown method")
        T.eq(ask(p, "INVITE"), 480, "INVITE without on_invite")
        p.b:on_request("MESSAGE", function(req) req:reply(202) end)
        T.eq(ask(p, "MESSAGE"), 202, "the stack's handler takes what the UA passes on")
        p.ua_b:on_request(function(req)
            if req.method == "INVITE" then return req:reply(603) end
            sip.sleep(5)
            req:reply(200, { headers = { ["X-Seen"] = req.method } })
        end)
        local st2, rsp2 = ask(p, "MESSAGE")
        T.eq(st2, 200, "ua:on_request first")
        T.eq(rsp2:header("X-Seen"), "MESSAGE", "the handler's reply")
        T.eq(ask(p, "INVITE"), 603, "an INVITE goes to on_request without on_invite")
        p.ua_b:on_request(function() end)
        T.eq(ask(p, "MESSAGE"), 500, "a request the handler left unanswered")
        p.ua_b:on_request(function() error("boom") end)
        T.eq(ask(p, "MESSAGE"), 500, "a handler that raises")
        T.eq(#p.errors, 1, "its error reported")
        T.ok(p.errors[1]:find("boom", 1, true), "the error text")
        table.remove(p.errors)
        p.ua_b:on_invite(function() error("no calls today") end)
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        local err = T.raises("SIP_EIO", call.wait_answered, call, 5)
        T.eq(err.status, 500, "an on_invite handler that raises rejects 500")
        T.eq(#p.errors, 1, "its error reported")
        table.remove(p.errors)
    end)
    finish(p)
end)

T.case("calls: in-dialog requests by method, defaults, and errors of call actions", function()
    local p = pair()
    local incoming
    local seen = {}
    p.ua_b:on_invite(function(call)
        incoming = call
        call:on("info", function(req) seen[#seen + 1] = "info:" .. req.body end)
        call:on("request", function(req)
            seen[#seen + 1] = "request:" .. req.method
            req:reply(202)
        end)
        call:on("reinvite", function() end)
        call:answer(SDP_B)
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:wait_answered(5)
        local rsp = call:request("INFO", "a", "text/plain")
        T.eq(rsp.status, 200, "INFO left unanswered gets 200")
        T.eq(call:request("OPTIONS").status, 202, "OPTIONS by 'request'")
        T.eq(incoming:request("FROB").status, 501, "FROB to a caller without handlers")
        T.eq(table.concat(seen, " "), "info:a request:OPTIONS", "handlers by method")
        T.raises("SIP_EINVAL", call.request, call, "BYE")
        T.raises("SIP_EINVAL", call.request, call, "UPDATE")
        T.raises("SIP_EINVAL", call.ring, call)
        T.raises("SIP_EINVAL", call.answer, call)
        T.raises("SIP_EINVAL", call.reject, call, 486)
        T.raises("SIP_EINVAL", incoming.ring, incoming, 200)
        T.raises("SIP_EINVAL", incoming.answer, incoming, { status = 180 })
        T.raises("SIP_EINVAL", incoming.reject, incoming, 200)
        T.raises("SIP_EINVAL", call.on, call, "bye", function() end)
        T.raises("SIP_EINVAL", call.request, call, "INFO", "body without a type")
        call:hangup()
        T.raises("SIP_ECLOSED", call.request, call, "INFO")
    end)
    T.raises("SIP_EINVAL", incoming.request, incoming, "INFO") -- outside a task
    T.raises("SIP_EINVAL", incoming.wait_ended, incoming)
    incoming = nil
    settle(p, 50)
    finish(p)
end)

T.case("calls: argument checks of sip.UA and ua:invite", function()
    local stack <close> = sip.Stack { listen = "udp:127.0.0.1:0" }
    local e = T.raises("SIP_EINVAL", sip.UA, stack)
    T.ok(tostring(e):find("transactions", 1, true), tostring(e))
    T.raises("SIP_EINVAL", sip.UA, nil)
    T.raises("SIP_EINVAL", sip.UA, "stack")
    local ts <close> = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    e = T.raises("SIP_EINVAL", sip.UA, ts, { user_agnet = "x" })
    T.ok(tostring(e):find("unknown option 'user_agnet'", 1, true), tostring(e))
    e = T.raises("SIP_EINVAL", sip.UA, ts, { user_agent = 5 })
    T.ok(tostring(e):find("user_agent", 1, true), tostring(e))
    e = T.raises("SIP_EINVAL", sip.UA, ts, { t1_ms = "fast" })
    T.ok(tostring(e):find("t1_ms", 1, true), tostring(e))
    T.raises("SIP_EINVAL", sip.UA, ts, "opts")
    local ua <close> = ts:ua { user_agent = "", allow = "INVITE, ACK, BYE", supported = "",
        accept = "application/sdp", schemes = "sip", contact_user = "u",
        contact_host = "127.0.0.1", t1_ms = 100, t2_ms = 400 }
    T.eq(ua.stack, ts, "ua.stack")
    e = T.raises("SIP_EINVAL", sip.UA, ts)
    T.ok(tostring(e):find("already", 1, true), tostring(e))
    T.raises("SIP_EINVAL", ua.invite, ua, 5)
    T.raises("SIP_EURI", ua.invite, ua, "not a uri")
    e = T.raises("SIP_EINVAL", ua.invite, ua, "sip:b@127.0.0.1:9", { sdpp = "x" })
    T.ok(tostring(e):find("sdpp", 1, true), tostring(e))
    T.raises("SIP_EINVAL", ua.invite, ua, "sip:b@127.0.0.1:9", { sdp = 5 })
    T.raises("SIP_EINVAL", ua.invite, ua, "sip:b@127.0.0.1:9", { timeout = "1" })
    T.raises("SIP_EINVAL", ua.invite, ua, "sip:b@127.0.0.1:9", { headers = { X = true } })
    T.raises("SIP_EINVAL", ua.on_invite, ua, "fn")
    T.raises("SIP_EINVAL", ua.on_request, ua, 5)
    ua:close()
    ua:close()
    T.raises("SIP_ECLOSED", ua.on_invite, ua, function() end)
    ts:close()
    T.raises("SIP_ECLOSED", sip.UA, ts)
end)

local CAPS_A = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
local CAPS_B = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 5000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n"

T.case("calls: the media engine answers, holds and resumes (re-INVITE), refreshes (UPDATE)",
    function()
    local p = pair()
    local incoming
    local media_events = 0
    p.ua_b:on_invite(function(call)
        incoming = call
        call:on("media", function() media_events = media_events + 1 end)
        T.ok(call.oa, "the callee's call has the engine")
        call:answer()
    end, { media = CAPS_B, media_address = "127.0.0.1" })
    run(p, function()
        local call = p.ua_a:invite(p.target, { media = sip.Sdp.parse(CAPS_A) })
        local modified = {}
        call:on("modified", function(rsp) modified[#modified + 1] = rsp.status end)
        call:wait_answered(5)
        T.ok(call.remote_sdp:find("m=audio 5000 RTP/AVP 8 101", 1, true),
            "the engine's answer: PCMA and telephone-event in the offerer's numbers")
        T.eq(call.oa.state, "done", "the exchange completed")
        T.eq(incoming.remote_hold, false, "not held")
        local rsp = call:reinvite { hold = true }
        T.eq(rsp.status, 200, "the hold re-INVITE answered")
        T.eq(call.oa.hold, true, "oa.hold")
        T.ok(call.local_sdp:find("a=sendonly", 1, true), "the hold offer is sendonly")
        T.eq(incoming.remote_hold, true, "the callee sees the hold")
        rsp = call:reinvite { hold = false }
        T.eq(rsp.status, 200, "the resume re-INVITE answered")
        T.eq(incoming.remote_hold, false, "resumed")
        T.eq(call:update().status, 200, "UPDATE with the engine's offer")
        -- One exchange at a time: a second re-INVITE while the first is open is refused.
        local held
        p.loop:spawn(function() held = call:reinvite { hold = true } end)
        local e = T.raises("SIP_EBUSY", call.reinvite, call, { hold = false })
        T.ok(tostring(e):find("another offer/answer exchange", 1, true), tostring(e))
        while not held do sip.sleep(5) end
        T.eq(held.status, 200, "the first re-INVITE answered")
        T.eq(call:reinvite({ hold = false }).status, 200, "resumed once the first was answered")
        T.eq(table.concat(modified, " "), "200 200 200 200 200", "modified events")
        T.ok(media_events >= 2, "media events at the callee: " .. media_events)
        T.raises("SIP_EINVAL", call.reinvite, call, { hold = "yes" })
        T.raises("SIP_EINVAL", call.reinvite, call, { hold = true, sdp = SDP_A })
        T.raises("SIP_EINVAL", call.reinvite, call, { bogus = 1 })
        call:hangup()
        T.raises("SIP_ECLOSED", call.reinvite, call, { hold = true })
    end)
    incoming = nil
    settle(p, 50)
    finish(p)
end)

T.case("calls: without the engine, offers go to the offer handler (488 without one)", function()
    local p = pair()
    local incoming
    p.ua_b:on_invite(function(call)
        incoming = call
        call:answer(SDP_B)
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:wait_answered(5)
        local SDP_A2 = SDP_A:gsub("4000", "4002")
        local rsp = call:reinvite(SDP_A2)
        T.eq(rsp.status, 488, "an offer nobody answers")
        T.eq(call.local_sdp, SDP_A, "the session stays as it was")
        T.raises("SIP_EINVAL", call.reinvite, call, { hold = true })
        local seen
        incoming:on("offer", function(msg)
            seen = msg.method
            if msg.body:find("4004", 1, true) then return incoming:reject_offer(606) end
            sip.sleep(10)
            incoming:answer_offer(SDP_B:gsub("5000", "5002"))
        end)
        rsp = call:reinvite(SDP_A2)
        T.eq(rsp.status, 200, "the handler answered later")
        T.eq(seen, "INVITE", "the offer of the re-INVITE")
        T.ok(call.remote_sdp:find("5002", 1, true), "its answer")
        T.ok(incoming.remote_sdp:find("4002", 1, true), "the callee took the offer")
        rsp = call:update(SDP_A:gsub("4000", "4004"))
        T.eq(rsp.status, 606, "reject_offer's status")
        T.eq(seen, "UPDATE", "the offer of the UPDATE")
        T.raises("SIP_EINVAL", incoming.answer_offer, incoming, SDP_B)
        T.raises("SIP_EINVAL", incoming.reject_offer, incoming)
        T.raises("SIP_EINVAL", incoming.answer_offer, incoming)
        incoming:hangup()
        call:wait_ended(5)
    end)
    incoming = nil
    settle(p, 50)
    finish(p)
end)

-- A third UA on the pair's loop: { stack =, ua =, target = "sip:carol@127.0.0.1:PORT" }.
local function third(p)
    local s = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    local ua = s:ua { user_agent = "carol-ua", contact_user = "carol" }
    local port = s:listeners()[1].port
    local t = { stack = s, ua = ua, target = "sip:carol@127.0.0.1:" .. port }
    p.extra = t
    return t
end

local function finish3(p)
    p.extra.ua:close()
    p.extra.stack:close()
    finish(p)
end

T.case("calls: ua:bridge relays a call (ring, answer, INFO, BYE) through a B2BUA", function()
    local p = pair()
    local c = third(p)
    local carol, bridge, relayed, xb2bua = nil, nil, {}, nil
    c.ua:on_invite(function(call)
        carol = call
        T.eq(call.remote_sdp, SDP_A, "the caller's offer reached carol")
        xb2bua = call.invite:header("X-B2BUA")
        call:on("info", function(req) req:reply(200) end)
        call:ring()
        sip.sleep(10)
        call:answer(SDP_B)
    end)
    p.ua_b:on_invite(function(call)
        local br = p.ua_b:bridge(call, c.target, { timeout = 5, headers = { ["X-B2BUA"] = "1" } })
        bridge = br
        br:on("relay", function(leg, msg) relayed[#relayed + 1] = leg .. ":" .. (msg.status or msg.method) end)
        T.eq(br.status, 200, "the bridge's outcome")
        T.eq(br.response.status, 200, "B's 2xx")
        T.eq(br.a, call, "leg A is the incoming call")
        T.eq(br.b.is_uac, true, "leg B is a placed call")
        T.ok(br.b.dialog.call_id ~= call.dialog.call_id, "a new Call-ID on B")
        T.eq(br.active, true, "active")
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        local statuses = {}
        call:on("response", function(rsp) statuses[#statuses + 1] = rsp.status end)
        call:wait_answered(5)
        T.eq(call.remote_sdp, SDP_B, "carol's answer relayed to the caller")
        T.eq(xb2bua, "1", "the bridge's extra header")
        T.eq(call:request("INFO", "Signal=1\r\n", "application/dtmf-relay").status, 200,
            "INFO across the bridge")
        call:hangup()
        T.eq(carol:wait_ended(5), 200, "the BYE reached carol")
        local first = bridge:wait_ended(5)
        T.ok(first == "a" or first == "b", "the leg that ended first: " .. tostring(first))
        T.eq(bridge.active, false, "the bridge is over")
        T.ok(table.concat(statuses, " "):find("180", 1, true), "the 180 relayed: "
            .. table.concat(statuses, " "))
    end)
    T.ok(#relayed >= 1, "relay events")
    carol, bridge = nil, nil
    settle(p, 100)
    finish3(p)
end)

T.case("calls: ua:bridge's sdp option is the offer B gets instead of the caller's", function()
    local p = pair()
    local c = third(p)
    local offered = nil
    local hidden = SDP_A:gsub("o=[^\r\n]*", "o=- 42 1 IN IP4 192.0.2.9")
    c.ua:on_invite(function(call)
        offered = call.remote_sdp
        call:answer(SDP_B)
    end)
    p.ua_b:on_invite(function(call)
        local br = p.ua_b:bridge(call, c.target, { timeout = 5, sdp = hidden })
        T.eq(br.status, 200, "the bridge's outcome")
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:wait_answered(5)
        T.eq(offered, hidden, "B got the bridge's sdp, not the caller's")
        T.raises("SIP_EINVAL", function() p.ua_b:bridge(call, c.target, { sdp = 5 }) end)
        call:hangup()
    end)
    settle(p, 100)
    finish3(p)
end)

T.case("calls: a bridge that fails forwards with keep_a_on_failure, else the caller gets it",
    function()
    local p = pair()
    local c = third(p)
    local tried = {}
    c.ua:on_invite(function(call)
        local user = call.invite.uri.user
        tried[#tried + 1] = user
        if user == "busy" then return call:reject(486) end
        call:answer(SDP_B)
    end)
    local port = c.stack:listeners()[1].port
    p.ua_b:on_invite(function(call)
        if call.invite:header("Subject") == "plain" then
            p.ua_b:bridge(call, "sip:busy@127.0.0.1:" .. port)
            return
        end
        local br = p.ua_b:bridge(call, "sip:busy@127.0.0.1:" .. port, { keep_a_on_failure = true })
        T.eq(br.status, 486, "B was busy")
        T.eq(call.state ~= "Ended", true, "A stays for the script")
        br = p.ua_b:bridge(call, "sip:free@127.0.0.1:" .. port)
        T.eq(br.status, 200, "the second target answered")
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        local ok, e = pcall(call.wait_answered, call, 5)
        T.ok(ok, tostring(e) .. " " .. table.concat(p.errors, "\n"))
        T.eq(table.concat(tried, " "), "busy free", "forwarded on busy")
        call:hangup()
        local plain = p.ua_a:invite(p.target, { sdp = SDP_A, headers = { Subject = "plain" } })
        local err = T.raises("SIP_EIO", plain.wait_answered, plain, 5)
        T.eq(err.status, 486, "the caller gets B's status")
        T.raises("SIP_EINVAL", p.ua_b.bridge, p.ua_b, call, c.target)
        T.raises("SIP_EINVAL", p.ua_b.bridge, p.ua_b, "call", c.target)
    end)
    settle(p, 100)
    finish3(p)
end)

T.case("calls: dropping every reference to stacks, UAs and live calls leaves nothing behind",
    function()
    local p = pair()
    local loop = p.loop
    p.ua_b:on_invite(function(call) call:answer(SDP_B) end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:wait_answered(5)
        -- And one more, still ringing.
        p.ua_b:on_invite(function(c) c:ring() end)
        local ringing = p.ua_a:invite(p.target, { sdp = SDP_A })
        while ringing.state ~= "Early" do sip.sleep(5) end
    end)
    sip.on_error(nil)
    T.eq(#p.errors, 0, "handler errors: " .. table.concat(p.errors, "\n"))
    p = nil
    for _ = 1, 3 do collectgarbage() end
    -- The loop outlived them: let it run the closes out, then close it.
    local guard = loop:timer(200, function() loop:stop() end)
    loop:run()
    guard:close()
    loop:close()
    loop = nil
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "dialog", "ua", "call", "bridge", "oa", "sdp", "txn", "msg", "txn_layer",
        "transport" } do
        T.eq(live[kind], 0, "live " .. kind .. " objects at the end")
    end
end)

T.case("calls: DTMF in INFO (RFC 6086 dtmf-relay) and Info-Package filtering (recv_info)",
    function()
    local p = pair(nil, { recv_info = "dtmf" })
    local incoming
    local bodies = {}
    p.ua_b:on_invite(function(call)
        incoming = call
        call:on("info", function(req)
            bodies[#bodies + 1] = req.content_type .. " " .. req.body
            req:reply(200)
        end)
        call:answer(SDP_B)
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:wait_answered(5)
        call:send_dtmf("5")
        call:send_dtmf("#", 250)
        T.raises("SIP_EINVAL", call.send_dtmf, call, "X")
        T.raises("SIP_EINVAL", call.send_dtmf, call, "55")
        T.raises("SIP_EINVAL", call.send_dtmf, call, "5", 0)
        T.raises("SIP_EINVAL", call.send_dtmf, call, 5)
        call:set_headers { ["Info-Package"] = "foo" }
        local rsp = call:request("INFO", "x", "application/x-foo")
        T.eq(rsp.status, 469, "an Info-Package the callee does not take (RFC 6086 §4.2.2)")
        while #bodies < 2 do sip.sleep(5) end
        T.ok(bodies[1]:find("^application/dtmf%-relay Signal=5\r\nDuration=160"), bodies[1])
        T.ok(bodies[2]:find("Signal=#\r\nDuration=250", 1, true), bodies[2])
        T.eq(#bodies, 2, "the filtered INFO reached no handler")
        call:hangup()
    end)
    incoming = nil
    settle(p, 50)
    finish(p)
end)

T.case("calls: a UA with a contact_user places a call with the default anonymous From", function()
    local p = pair()
    run(p, function()
        local call = p.ua_b:invite("sip:alice@127.0.0.1:" .. p.a:listeners()[1].port,
            { sdp = SDP_B })
        local from = call.invite.from
        T.eq(tostring(from.uri), "sip:anonymous@127.0.0.1:" .. p.b:listeners()[1].port,
            "From: anonymous at the Contact host, without the Contact's user")
        T.ok(from.tag, "with a tag")
        local err = T.raises("SIP_EIO", call.wait_answered, call, 5)
        T.eq(err.status, 480, "no on_invite at the other side")
    end)
    settle(p, 50)
    finish(p)
end)

T.case("calls: reliable provisionals (RFC 3262) and session timers (RFC 4028) by option",
    function()
    local p = pair()
    local mode
    p.ua_b:on_invite(function(call)
        call:ring(183, SDP_B)
        sip.sleep(20)
        call:answer(SDP_B)
    end, { min_se = 120, session_expires = 600 })
    run(p, function()
        local rsps = {}
        local call = p.ua_a:invite(p.target, { sdp = SDP_A, rel100 = "required",
            session_expires = 90, min_se = 90, refresher = "local" })
        call:on("response", function(rsp) rsps[#rsps + 1] = rsp end)
        call:wait_answered(5)
        local seq = {}
        for _, r in ipairs(rsps) do seq[#seq + 1] = r.status end
        T.eq(table.concat(seq, " "), "422 183 200", "the 422 retried, the 183, the 200")
        local r183 = rsps[2]
        T.ok(r183:header("RSeq"), "the 183 went reliably (RSeq)")
        T.ok(r183:header("Require"):find("100rel", 1, true), "Require: 100rel")
        local se = rsps[3]:header("Session-Expires")
        T.ok(se and tonumber(se:match("^%d+")) >= 120, "Session-Expires at least Min-SE: "
            .. tostring(se))
        call:hangup()
        T.raises("SIP_EINVAL", p.ua_a.invite, p.ua_a, p.target, { rel100 = "maybe" })
        T.raises("SIP_EINVAL", p.ua_a.invite, p.ua_a, p.target, { session_timer = 1.5 })
        T.raises("SIP_EINVAL", p.ua_a.invite, p.ua_a, p.target, { min_se = -1 })
        T.raises("SIP_EINVAL", p.ua_b.on_invite, p.ua_b, function() end, { refresher = "me" })
        -- A callee that does not do 100rel refuses an INVITE that Requires it: 420.
        p.ua_b:on_invite(function(c) c:answer(SDP_B) end, { rel100 = "off" })
        local refused = p.ua_a:invite(p.target, { sdp = SDP_A, rel100 = "required" })
        local err = T.raises("SIP_EIO", refused.wait_answered, refused, 5)
        T.eq(err.status, 420, "420 Bad Extension")
        T.ok(err.response:header("Unsupported"):find("100rel", 1, true), "Unsupported: 100rel")
        mode = "done"
    end)
    T.eq(mode, "done", "the flow ran")
    settle(p, 100)
    finish(p)
end)
