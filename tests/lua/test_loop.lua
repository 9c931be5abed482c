-- SPDX-License-Identifier: MIT
-- Loop and timers: order, repeat, stop, errors inside callbacks, closing.
local T = ...
local sip = require "libsip"

T.case("one-shot timers fire in deadline order; now() advances", function()
    local loop <close> = sip.Loop()
    local order = {}
    local t0 = loop:now()
    T.eq(math.type(t0), "integer", "now() is an integer")
    loop:timer(30, function() order[#order + 1] = "b" end)
    local a = loop:timer(10, function(t)
        order[#order + 1] = "a"
        T.eq(t.active, false, "a fired one-shot is not active")
    end)
    T.eq(a.active, true, "active before it fires")
    loop:run()
    T.eq(table.concat(order), "ab", "order")
    T.ok(loop:now() - t0 >= 30, "30 ms went by")
end)

T.case("repeating timer until stopped; stop() prevents the callback", function()
    local loop <close> = sip.Loop()
    local n = 0
    loop:timer(5, function(t)
        n = n + 1
        if n == 3 then t:stop() end
    end, 5)
    local never = loop:timer(20, function() error("stopped timer fired") end)
    never:stop()
    never:stop()
    T.eq(never.active, false, "stopped")
    loop:run()
    T.eq(n, 3, "fired three times")
end)

T.case("an error in a callback is logged with a traceback and the loop keeps running", function()
    local loop <close> = sip.Loop()
    local lines = {}
    loop:set_log(function(level, module, text)
        lines[#lines + 1] = { level = level, module = module, text = text }
    end, "info")
    local after = false
    loop:timer(1, function() error("boom in timer") end)
    loop:timer(15, function() after = true end)
    loop:run()
    T.eq(after, true, "the later timer still fired")
    T.eq(#lines, 1, "one line logged")
    T.eq(lines[1].level, "error", "level")
    T.eq(lines[1].module, "lua", "module")
    T.ok(lines[1].text:find("boom in timer", 1, true), "message in the line")
    T.ok(lines[1].text:find("stack traceback:", 1, true), "traceback in the line")
    T.ok(lines[1].text:find("test_loop.lua", 1, true), "the traceback names the callback's file")
end)

T.case("sip.on_error receives callback errors instead of the logger", function()
    local loop <close> = sip.Loop()
    local got
    sip.on_error(function(text) got = text end)
    loop:post(function() error({ code = 7 }) end)
    loop:timer(5, function() end)
    loop:run()
    sip.on_error(nil)
    T.ok(got and got:find("error object is a table value", 1, true), "non-string error described")
    T.ok(got:find("stack traceback:", 1, true), "with a traceback")
end)

T.case("a closed loop raises SIP_ECLOSED; timers of it are inert", function()
    local loop = sip.Loop()
    local fired = false
    local t = loop:timer(10, function() fired = true end)
    loop:close()
    loop:close()
    T.eq(loop.closed, true, "closed")
    T.eq(t.active, false, "the timer was closed with its loop")
    t:stop()
    T.raises("SIP_ECLOSED", loop.run, loop)
    T.raises("SIP_ECLOSED", loop.timer, loop, 1, function() end)
    T.raises("SIP_ECLOSED", loop.now, loop)
    t:close()
    t:close()
    T.eq(fired, false, "never fired")
end)

T.case("closing the loop from inside a callback ends run()", function()
    local loop = sip.Loop()
    local ticks = 0
    loop:timer(1, function()
        ticks = ticks + 1
        if ticks == 2 then loop:close() end
    end, 1)
    loop:run()
    T.eq(ticks, 2, "ticks")
    T.eq(loop.closed, true, "closed after run returned")
end)

T.case("core trampolines: sip_resolve_cb gives a list of owned targets", function()
    local core = sip.core
    local loop <close> = sip.Loop()
    local lp = rawget(loop, "_p")
    local rc, r = core.sip_resolver_create(lp, nil)
    T.eq(rc, 0, "resolver created")
    local _, uri = core.sip_uri_parse("sip:bob@127.0.0.1:5070;transport=tcp")
    local got
    T.eq(core.sip_resolve(r, uri, function(res, status, targets)
        got = { status = status, n = #targets, t = targets[1], res = res }
    end), 0, "lookup started")
    T.eq(got, nil, "the callback runs later, from the loop")
    loop:run()
    T.eq(got.status, 0, "status")
    T.eq(got.n, 1, "one target for a numeric host with a port (RFC 3263 §4.2)")
    core.sip_resolver_unref(r)
    collectgarbage()
    -- The target is a copy: still readable after the resolver is gone.
    T.eq(got.t.remote_ip, "127.0.0.1", "target address")
    T.eq(got.t.remote_port, 5070, "target port")
    T.eq(got.t.transport, core.SIP_TRANSPORT_TCP, "target transport")
end)

T.case("core: a failing registration releases the function (user_free on failure)", function()
    local core = sip.core
    local loop = sip.Loop()
    local lp = rawget(loop, "_p")
    core.sip_loop_close(lp)
    local collected = setmetatable({}, { __mode = "k" })
    do
        local fn = function() end
        collected[fn] = true
        local rc, t = core.sip_timer_start(lp, 1, 0, fn)
        T.eq(rc, core.SIP_ECLOSED, "timer on a closed loop")
        T.eq(t, nil, "no handle")
        T.eq(core.sip_loop_post(lp, fn), core.SIP_ECLOSED, "post on a closed loop")
    end
    collectgarbage()
    collectgarbage()
    T.eq(next(collected), nil, "the registry no longer holds the function")
    loop:close()
end)

T.case("a signal watch runs on the loop; a watch alone does not keep run() going", function()
    local loop <close> = sip.Loop()
    local got = {}
    local w = loop:on_signal("USR1", function(watch, signum)
        got[#got + 1] = signum
        T.eq(watch.signum, signum, "the watch is passed")
        loop:stop()
    end)
    T.ok(w.active, "active")
    local guard = loop:timer(5000, function() loop:stop() end)
    -- The shell's parent is this interpreter.
    loop:timer(10, function() os.execute("kill -USR1 $PPID") end)
    loop:run()
    guard:stop()
    T.eq(#got, 1, "one delivery")
    T.eq(got[1], sip.core.sip_signal_number("USR1"), "its number")
    T.eq(w.signum, got[1], "the watch knows it")
    w:stop()
    T.ok(not w.active, "stopped")
    T.raises("SIP_EINVAL", loop.on_signal, loop, "NOPE", print)
    T.raises("SIP_EINVAL", loop.on_signal, loop, 9, print)
    local alone = loop:on_signal("TERM", print)
    loop:run() -- returns: nothing else to do
    alone:stop()
end)
