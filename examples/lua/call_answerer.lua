-- SPDX-License-Identifier: MIT
-- Answers calls: INVITE gets 180, then 200 with an SDP answer after --ring ms; BYE ends them.
--
-- usage: lua5.4 call_answerer.lua [--listen udp:127.0.0.1:5062]... [--ring MS] [-v] [--trace]
--
-- Runs on the transaction layer (transactions = true): retransmitted requests, CANCEL (200 and
-- 487) and unhandled methods (501) are the layer's. What is left here is the UAS core: the calls
-- by Call-ID, the answer, and the retransmission of the 200 until its ACK arrives (RFC 3261
-- §13.3.1.4; RFC 6026 leaves that to the core). SIGINT and SIGTERM end it with status 0.
local sip = require "libsip"

local listen, ring, verbose, trace = {}, 0, false, false
local i = 1
while i <= #arg do
    local a = arg[i]
    if a == "--listen" then
        i = i + 1
        listen[#listen + 1] = arg[i]
    elseif a == "--ring" then
        i = i + 1
        ring = tonumber(arg[i] or "")
        if not ring or ring < 0 or ring ~= math.floor(ring) then
            io.stderr:write("--ring wants a number of milliseconds\n")
            os.exit(2)
        end
    elseif a == "-v" or a == "--verbose" then
        verbose = true
    elseif a == "--trace" then
        trace = true
    else
        io.stderr:write("unknown argument ", a, "\n")
        os.exit(2)
    end
    i = i + 1
end
if #listen == 0 then listen[1] = "udp:127.0.0.1:5062" end

local stack <close> = sip.Stack {
    listen = listen,
    transactions = true,
    log = function(level, module, text) io.stderr:write(level, " ", module, ": ", text, "\n") end,
    log_level = trace and "info" or "warn",
}
stack.loop:set_trace(trace)
local loop = stack.loop
local t1, t2 = stack.transactions.t1_ms, stack.transactions.t2_ms
for _, l in ipairs(stack:listeners()) do print("listening on " .. l.spec) end
io.stdout:flush()

-- Call-ID -> { req, answer (reply options of the 200), ring_timer, retx_timer, interval,
-- waited, acked, started }
local calls = {}

local function stop_timers(call)
    if call.ring_timer then call.ring_timer:stop() end
    if call.retx_timer then call.retx_timer:stop() end
    call.ring_timer, call.retx_timer = nil, nil
end

local function finish(call_id, how)
    local call = calls[call_id]
    if not call then return end
    calls[call_id] = nil
    stop_timers(call)
    if verbose then
        io.stderr:write(("call_answerer call %s ended: %s after %.3f s\n"):format(
            call_id, how, (loop:now() - call.started) / 1000))
    end
end

-- RFC 3261 §13.3.1.4: the 2xx again at T1, 2*T1, ... capped at T2, until the ACK; after 64*T1
-- without one the call is given up.
local function retransmit(call_id)
    local call = calls[call_id]
    if not call or call.acked then return end
    call.waited = call.waited + call.interval
    if call.waited >= 64 * t1 then return finish(call_id, "no ACK") end
    if not pcall(call.req.reply, call.req, 200, nil, call.answer) then
        return finish(call_id, "transaction closed")
    end
    call.interval = math.min(2 * call.interval, t2)
    call.retx_timer = loop:timer(call.interval, function() retransmit(call_id) end)
end

-- A fixed answer: one PCMU audio stream on the local address (no media is sent).
local function sdp_answer(ip)
    local family = ip:find(":", 1, true) and "IP6" or "IP4"
    return table.concat({
        "v=0", ("o=- 1 1 IN %s %s"):format(family, ip), "s=-",
        ("c=IN %s %s"):format(family, ip), "t=0 0", "m=audio 40000 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000", "a=sendrecv", "",
    }, "\r\n")
end

local function answer(call_id)
    local call = calls[call_id]
    if not call then return end
    call.ring_timer = nil
    local src = call.req.source or { transport = "udp", local_ip = "127.0.0.1", local_port = 5060 }
    local ip = src.local_ip
    local host = ip:find(":", 1, true) and "[" .. ip .. "]" or ip
    call.answer = {
        headers = { Contact = ("<sip:answer@%s:%d;transport=%s>"):format(
            host, src.local_port, src.transport) },
        body = sdp_answer(ip), content_type = "application/sdp",
    }
    call.req:reply(200, nil, call.answer)
    -- Over a reliable transport the 200 is sent once (§13.3.1.4 applies to UDP only).
    if src.transport == "udp" then
        call.interval = t1
        call.retx_timer = loop:timer(t1, function() retransmit(call_id) end)
    end
end

stack:on_request("INVITE", function(req)
    local call_id = req.call_id
    if calls[call_id] then
        -- A re-INVITE (or a new INVITE on a Call-ID in use): not supported here.
        req:reply(488)
        return
    end
    local call = { req = req, interval = 0, waited = 0, acked = false, started = loop:now() }
    calls[call_id] = call
    req:reply(180)
    -- The layer has answered the CANCEL 200 and the INVITE 487: forget the pending answer.
    req:on_cancel(function() finish(call_id, "cancelled") end)
    if ring > 0 then
        call.ring_timer = loop:timer(ring, function() answer(call_id) end)
    else
        answer(call_id)
    end
end)

stack:on_request("ACK", function(req)
    -- The ACK of our 2xx (no transaction, no response): stops the retransmissions.
    local call = calls[req.call_id]
    if call and not call.acked then
        call.acked = true
        stop_timers(call)
    end
end)

stack:on_request("BYE", function(req)
    if not calls[req.call_id] then
        req:reply(481) -- RFC 3261 §15.1.2: no such call
        return
    end
    req:reply(200)
    finish(req.call_id, "BYE")
end)

stack:on_request("OPTIONS", function(req)
    req:reply(200, nil, { headers = { Allow = "INVITE, ACK, CANCEL, BYE, OPTIONS",
                                      Accept = "application/sdp" } })
end)

-- The loop hears SIGINT and SIGTERM (in place of their default action) and stops.
for _, name in ipairs({ "INT", "TERM" }) do
    loop:on_signal(name, function() stack:stop() end)
end

stack:run()
print("bye")
