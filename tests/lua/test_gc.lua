-- SPDX-License-Identifier: MIT
-- Garbage collection in any order, use after close, and exiting with handles alive.
local T = ...
local sip = require "libsip"

local function build_world()
    local loop = sip.Loop()
    local stack = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop }
    local own = sip.Stack { listen = { "udp:127.0.0.1:0" } }
    local timer = loop:timer(100000, function() end)
    local rep = loop:timer(100000, function() end, 100000)
    local msg = sip.Message.request("OPTIONS", "sip:a@b")
    local uri = msg.uri
    local sdp = sip.Sdp.new()
    local media = sdp:add_media("audio", 1, "RTP/AVP", "0")
    loop:set_log(function() end)
    stack:on_request("OPTIONS", function(req) req:reply(200) end)
    return { loop = loop, stack = stack, own = own, timer = timer, rep = rep, msg = msg,
             uri = uri, sdp = sdp, media = media }
end

local ORDERS = {
    { "loop", "stack", "own", "timer", "rep", "msg", "uri", "sdp", "media" },
    { "media", "sdp", "uri", "msg", "rep", "timer", "own", "stack", "loop" },
    { "timer", "loop", "sdp", "stack", "media", "own", "rep", "uri", "msg" },
}

T.case("collecting handles in any order", function()
    for _, order in ipairs(ORDERS) do
        local w = build_world()
        for _, k in ipairs(order) do
            w[k] = nil
            collectgarbage()
            collectgarbage()
        end
    end
    -- Everything at once.
    local w = build_world()
    w = nil
    collectgarbage()
    collectgarbage()
end)

T.case("closing in any order, then using and collecting what is left", function()
    for _, order in ipairs(ORDERS) do
        local w = build_world()
        for _, k in ipairs(order) do
            local obj = w[k]
            if obj.close then obj:close() end
        end
        T.raises("SIP_ECLOSED", w.loop.run, w.loop)
        T.raises("SIP_ECLOSED", w.stack.listeners, w.stack)
        T.raises("SIP_ECLOSED", function() return w.msg.method end)
        T.raises("SIP_ECLOSED", function() return w.media.type end)
        T.eq(w.timer.active, false, "timer inactive")
        T.eq(w.uri.host, "b", "a URI read earlier is a copy")
        w = nil
        collectgarbage()
        collectgarbage()
    end
end)

T.case("stacks nobody keeps are collected (the handler holds them weakly)", function()
    local loop <close> = sip.Loop()
    local gone = setmetatable({}, { __mode = "k" })
    do
        local s = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop }
        s:on_request("OPTIONS", function(req) req:reply(200) end)
        gone[s] = true
    end
    collectgarbage()
    collectgarbage()
    T.eq(next(gone), nil, "the stack was collected")
end)

local function run_child(code, env)
    local lua = T.interpreter()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(code)
    f:close()
    local ok, how, status = os.execute((env or "") .. ' "' .. lua .. '" "' .. path .. '"')
    os.remove(path)
    return ok, how, status
end

local WORLD = [[
local sip = require "libsip"
local loop = sip.Loop()
local stack = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop }
local own = sip.Stack { listen = { "udp:127.0.0.1:0" } }
stack:on_request("*", function(req) req:reply(200) end)
local t = loop:timer(100000, function() end, 1000)
local m = sip.Message.request("OPTIONS", "sip:a@b")
local s = sip.Sdp.new()
loop:spawn(function() sip.sleep(100000) end)
loop:run_once(false)
]]

T.case("exit with handles alive: the state closes (finalizers run)", function()
    local ok, how, status = run_child(WORLD .. "os.exit(3, true)\n")
    T.eq(how, "exit", "exited")
    T.eq(status, 3, "exit status")
    local ok2, how2, status2 = run_child(WORLD .. "-- the end of the chunk closes the state\n")
    T.eq(ok2, true, "normal end")
    T.eq(status2, 0, "status")
end)

T.case("exit with handles alive: no close at all", function()
    -- Nothing is freed; the process must still exit cleanly (no finalizer, no leak report).
    local ok, how, status = run_child(WORLD .. "os.exit(5, false)\n",
        "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
    T.eq(how, "exit", "exited")
    T.eq(status, 5, "exit status")
end)
