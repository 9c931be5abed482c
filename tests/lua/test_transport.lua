-- SPDX-License-Identifier: MIT
-- sip.Transport (as Python's libsip.Transport), stack.transport, stack:run_once.
local T = ...
local sip = require "libsip"

local function options(dst)
    return sip.Message.request("OPTIONS", "sip:uas@" .. dst:match("^%a+:(.*)$"), { headers = {
        { "Via", "SIP/2.0/UDP 127.0.0.1;branch=" .. sip.branch() }, { "Max-Forwards", 70 },
        { "To", "<sip:uas@example.com>" }, { "From", "<sip:uac@example.com>;tag=lua" },
        { "Call-ID", sip.call_id() }, { "CSeq", "1 OPTIONS" } } })
end

for _, proto in ipairs { "udp", "tcp" } do
    T.case("Transport: OPTIONS and 200 between two transports over " .. proto, function()
        local loop <close> = sip.Loop()
        local got = {}
        local uas
        uas = sip.Transport{ loop = loop, listen = proto .. ":127.0.0.1:0",
            options = { mtu = 1400 }, on_message = function(req)
                got.method = req.method
                got.source = req.source.transport
                uas:send_response(req:response(200))
            end }
        local uac <close> = sip.Transport{ loop = loop, listen = { proto .. ":127.0.0.1:0" } }
        uac:on_message(function(rsp)
            got.status = rsp.status
            loop:stop()
        end)
        T.eq(uac.loop, loop, "loop")
        local dst = uas:listeners()[1].spec
        T.ok(dst:match("^" .. proto .. ":127%.0%.0%.1:%d+$") and not dst:match(":0$"), dst)
        loop:spawn(function() got.sent = uac:send(options(dst), dst) end)
        local guard <close> = loop:timer(5000, function() loop:stop() end)
        loop:run()
        T.eq(got.sent, 0, "send status inside a task")
        T.eq(got.method, "OPTIONS", "request at the server")
        T.eq(got.source, proto, "received over " .. proto)
        T.eq(got.status, 200, "response at the client")
        if proto == "tcp" then T.eq(uac.connection_count, 1, "one connection") end
        uas:close()
        uas:close()
        T.raises("SIP_ECLOSED", uas.listeners, uas)
    end)
end

T.case("Transport: options and arguments are checked as in Python", function()
    local loop <close> = sip.Loop()
    local e = T.raises("SIP_EINVAL", sip.Transport, { loop = loop, bogus = 1 })
    T.ok(e.reason:find("unknown option 'bogus'", 1, true), e.reason)
    e = T.raises("SIP_EINVAL", sip.Transport, {})
    T.ok(e.reason:find("loop must be a sip.Loop", 1, true), e.reason)
    e = T.raises("SIP_EINVAL", sip.Transport, { loop = loop, options = { mtu = "x" } })
    T.ok(e.reason:find("'mtu' must be an integer", 1, true), e.reason)
    T.eq(#sip.Transport.OPTIONS, 15, "the sip_transport_opts_t fields")
    local tp <close> = sip.Transport{ loop = loop, listen = "udp:127.0.0.1:0" }
    local taken = tp:listeners()[1].spec
    e = T.raises("EADDRINUSE", tp.listen, tp, taken)
    T.ok(e.reason:find("cannot listen on " .. taken, 1, true), e.reason)
    T.raises("SIP_EINVAL", tp.send, tp, options(taken))
    T.raises("SIP_EINVAL", tp.send, tp, "not a message", taken)
    T.raises("SIP_EINVAL", tp.on_message, tp, 5)
    T.raises("SIP_EINVAL", tp.set_resolver, tp, {})
    tp:set_resolver(sip.Resolver{ servers = "127.0.0.1:9" })
    tp:set_resolver(nil)
    -- A failed listen at construction leaves nothing open behind it.
    collectgarbage()
    local before = sip.live_objects().transport
    T.raises("EADDRINUSE", sip.Transport, { loop = loop, listen = taken })
    -- libuv finishes a close in the loop's next iteration.
    loop:run_once(false)
    T.eq(sip.live_objects().transport, before, "no transport left open")
end)

T.case("stack.transport and stack:run_once (as Python's)", function()
    local stack <close> = sip.Stack{ listen = "udp:127.0.0.1:0" }
    local tp = stack.transport
    T.eq(tp, stack.transport, "one object")
    T.eq(tp:listeners()[1].spec, stack:listeners()[1].spec, "the stack's listening points")
    local e = T.raises("SIP_EINVAL", tp.on_message, tp, function() end)
    T.ok(e.reason:find("stack:on_request", 1, true), e.reason)
    local ran = false
    stack.loop:post(function() ran = true end)
    stack:run_once(false)
    T.ok(ran, "one iteration ran the posted function")
    stack.loop:on_signal("USR1", function() end):stop()
    local inside
    stack.loop:post(function()
        inside = select(2, pcall(stack.run_once, stack, false))
    end)
    stack:run_once(false)
    T.ok(sip.is_error(inside) and inside.reason:find("already running", 1, true),
        "run_once inside the loop: " .. tostring(inside))
    stack:close()
    T.raises("SIP_ECLOSED", stack.run_once, stack)
    T.raises("SIP_ECLOSED", tp.listeners, tp)
end)
