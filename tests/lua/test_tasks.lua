-- SPDX-License-Identifier: MIT
-- Coroutine tasks: sleep without blocking the loop, errors in tasks, handlers that wait.
local T = ...
local sip = require "libsip"

T.case("tasks sleep concurrently on one loop", function()
    local loop <close> = sip.Loop()
    local log = {}
    loop:spawn(function()
        sip.sleep(30)
        log[#log + 1] = "slow"
    end)
    loop:spawn(function(tag)
        log[#log + 1] = tag
        sip.sleep(10)
        log[#log + 1] = "fast"
        loop:sleep(5)
        log[#log + 1] = "fast2"
    end, "start")
    T.eq(table.concat(log, ","), "start", "spawn runs up to the first wait")
    local t0 = loop:now()
    loop:run()
    T.eq(table.concat(log, ","), "start,fast,fast2,slow", "order")
    local took = loop:now() - t0
    T.ok(took >= 30 and took < 1000, "waited concurrently, not in sequence (" .. took .. " ms)")
end)

T.case("sip.sleep outside a task raises", function()
    T.raises("SIP_EINVAL", sip.sleep, 1)
end)

T.case("an error in a task is reported with the task's traceback", function()
    local loop <close> = sip.Loop()
    local text
    loop:set_log(function(_, _, t) text = t end)
    local function inner() error("task failed") end
    loop:spawn(function()
        sip.sleep(1)
        inner()
    end)
    loop:run()
    T.ok(text and text:find("task failed", 1, true), "message")
    T.ok(text:find("in upvalue 'inner'", 1, true) or text:find("in local 'inner'", 1, true),
        "traceback of the coroutine")
end)

T.case("a request handler sleeps, then replies; the loop serves meanwhile", function()
    local server <close> = sip.Stack { listen = { "udp:127.0.0.1:0" } }
    local client <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = server.loop,
        transactions = true }
    local loop = server.loop
    local ticks = 0
    loop:timer(5, function() ticks = ticks + 1 end, 5)
    server:on_request("OPTIONS", function(req)
        sip.sleep(50)
        req:reply(200, "Slept")
    end)
    local result = {}
    client:spawn(function()
        local dst = server:listeners()[1].spec
        local req = sip.Message.request("OPTIONS", "sip:" .. dst:match("^udp:(.*)$"))
        req:add_header("Via", "SIP/2.0/UDP 127.0.0.1;branch=" .. sip.branch())
            :add_header("From", "<sip:client@127.0.0.1>;tag=c1")
            :add_header("To", "<sip:server@127.0.0.1>")
            :add_header("Call-ID", "sleepy@127.0.0.1")
            :add_header("CSeq", "1 OPTIONS")
            :add_header("Max-Forwards", "70")
        local t0 = loop:now()
        local rsp, err = client:request(req, dst):wait()
        result.status, result.reason, result.err = rsp and rsp.status, rsp and rsp.reason, err
        result.took = loop:now() - t0
        loop:stop()
    end)
    loop:run()
    T.eq(result.err, nil, "no error")
    T.eq(result.status, 200, "status")
    T.eq(result.reason, "Slept", "reason")
    T.ok(result.took >= 50, "the reply came after the sleep")
    T.ok(ticks >= 5, "the loop kept running while the handler slept (" .. ticks .. " ticks)")
end)

T.case("stack:request on a stack without transactions is refused, naming the fix", function()
    -- Matching responses is the transaction layer's work (as in Python): no timer of its own.
    local a <close> = sip.Stack { listen = { "udp:127.0.0.1:0" } }
    local got = {}
    a:spawn(function()
        local req = sip.Message.request("OPTIONS", "sip:x@127.0.0.1")
        req:add_header("Via", "SIP/2.0/UDP 127.0.0.1;branch=" .. sip.branch())
            :add_header("From", "<sip:a@127.0.0.1>;tag=1"):add_header("To", "<sip:x@127.0.0.1>")
            :add_header("Call-ID", "t@x"):add_header("CSeq", "1 OPTIONS")
        got.ok, got.err = pcall(a.request, a, req, "udp:127.0.0.1:9", 40)
    end)
    T.eq(got.ok, false, "refused")
    T.eq(got.err.name, "SIP_EINVAL", "error name")
    T.ok(got.err.reason:find("transactions = true", 1, true), "names the fix: " .. got.err.reason)
end)
