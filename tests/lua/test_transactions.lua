-- SPDX-License-Identifier: MIT
-- Stack{transactions = true}: server transactions on requests (reply now or later, CANCEL),
-- client transactions from stack:request (callbacks, cancel, txn:wait() in a task), closed
-- stacks and handler errors, between two stacks on 127.0.0.1 (RFC 3261 §17, §9).
local T = ...
local sip = require "libsip"

local serial = 0
local function request(method, dst)
    serial = serial + 1
    local host = dst:match("^%a+:(.*)$")
    local req = sip.Message.request(method, "sip:uas@" .. host)
    req:add_header("Max-Forwards", "70")
        :add_header("From", "<sip:uac@127.0.0.1>;tag=f" .. serial)
        :add_header("To", "<sip:uas@" .. host .. ">")
        :add_header("Call-ID", "lua-txn-" .. serial .. "@127.0.0.1")
        :add_header("CSeq", "1 " .. method)
        :add_header("Contact", "<sip:uac@127.0.0.1>")
    return req
end

-- Runs loop until done() or limit_ms (then fails).
local function run_until(loop, done, limit_ms)
    local tick = loop:timer(5, function() if done() then loop:stop() end end, 5)
    local guard = loop:timer(limit_ms or 5000, function() loop:stop() end)
    loop:run()
    tick:close()
    guard:close()
    T.ok(done(), "finished before the time limit")
end

-- Two stacks with transactions on one loop; short T1 so timers end within the test.
local function pair(opts)
    local loop = sip.Loop()
    local timers = opts or { t1_ms = 50, t4_ms = 50 }
    local uac = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop, transactions = timers }
    local uas = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop, transactions = timers }
    return loop, uac, uas, uas:listeners()[1].spec, uac:listeners()[1].spec
end

local function close_all(loop, ...)
    for _, s in ipairs { ... } do s:close() end
    loop:close()
end

T.case("transaction layer timers and stateless stacks", function()
    local s <close> = sip.Stack {
        listen = { "udp:127.0.0.1:0" },
        transactions = { t1_ms = 250, t2_ms = 2000, timer_100_ms = 0 },
    }
    local l = s.transactions
    T.eq(l.t1_ms, 250, "T1")
    T.eq(l.t2_ms, 2000, "T2")
    T.eq(l.t4_ms, 5000, "T4 default")
    T.eq(l.timer_100_ms, 0, "100 Trying at once")
    T.eq(l.count, 0, "no transaction yet")
    local plain <close> = sip.Stack { listen = { "udp:127.0.0.1:0" } }
    T.eq(plain.transactions, nil, "a stateless stack has none")
    T.raises("SIP_EINVAL", function() sip.Stack { transactions = { t1_ms = -1 } } end)
    s:close()
    T.eq(l.closed, true, "closing the stack closes the layer")
    T.eq(l.count, 0, "count of a closed layer")
end)

T.case("INVITE: 180, then 200 later with the same To tag; the ACK of the 2xx has no txn", function()
    local loop, uac, uas, dst, uac_dst = pair()
    local server = {}
    uas:on_request("INVITE", function(req)
        server.state0 = req.transaction.state
        local ringing = req:reply(180)
        server.tag = ringing.to.tag
        server.req = req
        sip.sleep(50)
        req:reply(200, nil, { headers = { { "Contact", "<sip:uas@127.0.0.1>" } },
            body = "v=0\r\n", content_type = "application/sdp" })
        server.state1 = req.transaction.state
    end)
    uas:on_request("ACK", function(req)
        server.ack = { req.method, req.transaction, req.call_id }
        server.ack_reply = select(2, pcall(req.reply, req, 200)).name
    end)
    local got = {}
    local txn = uac:request(request("INVITE", dst), {
        dst = dst, on_response = function(status, rsp) got[#got + 1] = { status, rsp } end })
    T.eq(txn.state, "Calling", "INVITE client state")
    T.eq(txn.done, false, "not done")
    T.eq(txn.request.via.branch:sub(1, 7), "z9hG4bK", "the layer added a branch")
    T.eq(uac.transactions.count, 1, "one client transaction")
    run_until(loop, function() return txn.done end)
    T.eq(#got, 2, "two responses")
    T.eq(got[1][1], 180, "provisional")
    T.eq(got[2][1], 200, "final")
    local rsp = got[2][2]
    T.eq(txn.response, rsp, "txn.response")
    T.eq(txn.status, 200, "txn.status")
    T.eq(txn.state, "Accepted", "RFC 6026 Accepted")
    T.eq(rsp.body, "v=0\r\n", "body")
    T.eq(rsp.content_type, "application/sdp", "content type")
    T.eq(server.state0, "Proceeding", "INVITE server state in the handler")
    T.eq(server.state1, "Accepted", "after the 200")
    T.ok(server.tag ~= nil, "the 180 has a To tag")
    T.eq(got[1][2].to.tag, server.tag, "180 To tag")
    T.eq(rsp.to.tag, server.tag, "the 200 kept the To tag of the 180")

    local ack = sip.Message.request("ACK", "sip:uas@127.0.0.1")
    local via = "SIP/2.0/UDP " .. uac_dst:match("^udp:(.*)$") .. ";branch=" .. sip.branch()
    ack:add_header("Via", via)
        :add_header("Max-Forwards", "70")
        :add_header("From", rsp:header("From")):add_header("To", rsp:header("To"))
        :add_header("Call-ID", rsp.call_id):add_header("CSeq", "1 ACK")
    uac:send(ack, dst)
    run_until(loop, function() return server.ack ~= nil end)
    T.eq(server.ack[1], "ACK", "ACK reached its handler")
    T.eq(server.ack[2], nil, "without a transaction")
    T.eq(server.ack[3], rsp.call_id, "same call")
    T.eq(server.ack_reply, "SIP_EINVAL", "an ACK gets no response")
    close_all(loop, uac, uas)
end)

T.case("CANCEL after 180: the handler sees it, the client gets 487", function()
    local loop, uac, uas, dst = pair()
    local server = {}
    uas:on_request("INVITE", function(req)
        req:reply(180)
        server.req = req
        req:on_cancel(function(cancel) server.cancel = cancel.method end)
        req:on_event(function(event) server.event = event end)
    end)
    local got, txn = {}, nil
    txn = uac:request(request("INVITE", dst), {
        dst = dst,
        on_response = function(status, _, t)
            got[#got + 1] = status
            if status == 180 then t:cancel() end
        end,
    })
    run_until(loop, function() return txn.done and server.cancel ~= nil and server.event end)
    T.eq(table.concat(got, ","), "180,487", "responses")
    T.eq(txn.response.reason, "Request Terminated", "487 reason")
    T.eq(server.cancel, "CANCEL", "on_cancel got the CANCEL")
    T.eq(server.event, "cancel", "on_event")
    T.eq(server.req.cancelled, true, "req.cancelled")
    -- The client's transaction ACKed the 487 (RFC 3261 §17.1.1.3).
    T.eq(server.req.transaction.state, "Confirmed", "server state")
    local ok, err = pcall(server.req.reply, server.req, 200)
    T.eq(ok, false, "a 200 after the 487 is refused")
    T.eq(err.name, "SIP_EINVAL", "error")
    T.ok(err.reason:find("Confirmed", 1, true), "says the state: " .. err.reason)
    T.raises("SIP_ECLOSED", txn.cancel, txn)
    close_all(loop, uac, uas)
end)

T.case("OPTIONS (non-INVITE) with txn:wait() in a task; 501 without a handler", function()
    local loop, uac, uas, dst = pair()
    uas:on_request("OPTIONS", function(req)
        req:reply(200, nil, { headers = { Allow = "INVITE, ACK, CANCEL, OPTIONS, BYE" } })
    end)
    local r = {}
    uac:spawn(function()
        local txn = uac:request(request("OPTIONS", dst), dst)
        r.state = txn.state
        r.cancel = select(2, pcall(txn.cancel, txn)).name
        local rsp, err = txn:wait()
        r.status, r.allow, r.err = rsp and rsp.status, rsp and rsp:header("Allow"), err
        local rsp2, err2 = txn:wait()
        r.again = rsp2 == rsp and err2 == nil
        r.other = uac:request(request("MESSAGE", dst), { dst = dst }):wait().status
    end)
    run_until(loop, function() return r.other ~= nil end)
    T.eq(r.state, "Trying", "non-INVITE client state")
    T.eq(r.cancel, "SIP_EINVAL", "only an INVITE can be cancelled")
    T.eq(r.err, nil, "no error")
    T.eq(r.status, 200, "status")
    T.eq(r.allow, "INVITE", "first Allow value")
    T.eq(r.again, true, "wait after the end returns the same response")
    T.eq(r.other, 501, "a method without a handler gets 501")
    close_all(loop, uac, uas)
end)

T.case("nobody answers: 408 after the request's own T1; wait returns nil and the error", function()
    local loop = sip.Loop()
    local uac = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop, transactions = true }
    local silent = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop }
    local dst = silent:listeners()[1].spec
    local r = {}
    uac:spawn(function()
        -- This transaction's own T1: Timer F is 64*5 ms (the layer's would be 32 s).
        local txn = uac:request(request("OPTIONS", dst), {
            dst = dst, t1_ms = 5, on_response = function(status, rsp) r.cb = { status, rsp } end })
        r.rsp, r.err = txn:wait()
        r.status = txn.status
    end)
    run_until(loop, function() return r.err ~= nil end)
    T.eq(r.rsp, nil, "no response")
    T.eq(r.err.name, "SIP_EIO", "error name")
    T.eq(r.err.status, 408, "Timer F: 408")
    T.eq(r.cb[1], 408, "on_response got 408")
    T.eq(r.cb[2], nil, "without a response")
    T.eq(r.status, 408, "txn.status")
    close_all(loop, uac, silent)
end)

T.case("closed stacks: reply, cancel, request and a pending wait give SIP_ECLOSED", function()
    local loop, uac, uas, dst = pair()
    local kept
    uas:on_request("INVITE", function(req)
        req:reply(180)
        kept = req
    end)
    local txn = uac:request(request("INVITE", dst), dst)
    local r = {}
    uac:spawn(function() r.rsp, r.err = txn:wait() end)
    run_until(loop, function() return kept ~= nil and txn.status == 180 end)
    uas:close()
    T.raises("SIP_ECLOSED", kept.reply, kept, 200)
    T.eq(kept.transaction.state, "Terminated", "server transaction closed")
    uac:close()
    T.eq(r.rsp, nil, "the waiting task got no response")
    T.eq(r.err.name, "SIP_ECLOSED", "but SIP_ECLOSED")
    T.eq(txn.state, "Terminated", "client transaction closed")
    T.raises("SIP_ECLOSED", txn.cancel, txn)
    T.raises("SIP_ECLOSED", uac.request, uac, request("OPTIONS", dst), dst)
    loop:close()
end)

T.case("an error in a handler is reported and the request answered 500", function()
    local loop, uac, uas, dst = pair()
    local logged = {}
    loop:set_log(function(level, module, text) logged[#logged + 1] = { level, module, text } end)
    uas:on_request("OPTIONS", function() error("handler bug") end)
    uas:on_request("MESSAGE", function() end) -- neither answered nor kept: 500 from the layer
    local a = uac:request(request("OPTIONS", dst), dst)
    local b = uac:request(request("MESSAGE", dst), dst)
    run_until(loop, function()
        collectgarbage()
        return a.done and b.done
    end)
    T.eq(a.status, 500, "the failing handler's request got 500")
    T.eq(b.status, 500, "the dropped request got 500")
    local found = false
    for _, l in ipairs(logged) do
        if l[1] == "error" and l[3]:find("handler bug", 1, true) then found = true end
    end
    T.ok(found, "the error was logged")
    close_all(loop, uac, uas)
end)

T.case("To tags come from C: none on 100, one for the rest, the request's own in a dialog",
    function()
        local loop, uac, uas, dst = pair()
        local seen = {}
        uas:on_request("INVITE", function(req)
            seen.t100 = req:reply(100).to.tag
            seen.t180 = req:reply(180).to.tag
            local first = req:reply(200, { headers = { Contact = "<sip:uas@127.0.0.1>" } })
            seen.t200 = first.to.tag
            seen.same = req:reply(200) == first -- a 2xx again in Accepted: as first sent
        end)
        uas:on_request("INFO", function(req) seen.dialog = req:reply(200).to.tag end)
        local a = uac:request(request("INVITE", dst), dst)
        local info = request("INFO", dst)
        info:set_header("To", "<sip:uas@127.0.0.1>;tag=in-dialog-1")
        local b = uac:request(info, dst)
        run_until(loop, function() return a.done and b.done and seen.same ~= nil end)
        T.eq(seen.t100, nil, "100 Trying has no To tag (RFC 3261 §8.2.6.2)")
        T.ok(seen.t180 ~= nil, "180 has one")
        T.eq(seen.t200, seen.t180, "the 200 keeps the 180's")
        T.eq(seen.same, true, "a 2xx retransmitted is the one first sent")
        T.eq(seen.dialog, "in-dialog-1", "the request's own tag in a dialog")
        close_all(loop, uac, uas)
    end)
