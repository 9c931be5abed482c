-- SPDX-License-Identifier: MIT
-- The behaviour cases Lua shares with Python (tests/parity_cases.json, run in Python by
-- tests/python/test_parity_cases.py): the same bad input fails in the same category, with the
-- same key words in the message, and the same reads give the same values.
local T = ...
local sip = require "libsip"
local json = dofile(T.dir .. "/json.lua")

local f = assert(io.open(T.dir .. "/../parity_cases.json"))
local SPEC = json.decode(f:read("a"))
f:close()

local function message_text(spec)
    local text = table.concat(SPEC.messages[spec.name], "\r\n")
    if spec.replace then
        local old, new = spec.replace[1], spec.replace[2]
        local i, j = text:find(old, 1, true)
        assert(i, spec.name .. " has no " .. old)
        text = text:sub(1, i - 1) .. new .. text:sub(j + 1)
    end
    return text
end

local function value(v)
    if type(v) == "table" and v["$"] then
        local kind = v["$"]
        if kind == "message" then return message_text(v) end
        if kind == "nil" then return nil end
        if kind == "list" then return { "a", "b" } end
        if kind == "table" then return { a = 1 } end
        if kind == "bool" then return true end
        if kind == "fn" then return function() end end
        error("unknown value kind " .. kind)
    end
    return v
end

local function obj(spec, keep)
    local o
    if type(spec) == "table" then
        o = sip.Message.parse(message_text(spec))
    elseif spec == "sdp" then
        o = sip.Sdp.new()
    elseif spec == "loop" then
        o = sip.Loop()
    elseif spec:match("_uri$") then
        local m = sip.Message.parse(message_text({ name = spec:sub(1, -5) }))
        keep[#keep + 1] = m
        o = m.uri
    else
        o = sip.Message.parse(message_text({ name = spec }))
    end
    keep[#keep + 1] = o
    return o
end

local function name(n)
    if type(n) == "table" then return n.lua end
    return n
end

-- The arguments (nil ones kept: n counts them), then the options table when the case has one.
local function arguments(case)
    local args, n = {}, 0
    for i, a in ipairs(case.args or {}) do args[i] = value(a); n = i end
    if case.opts then n = n + 1; args[n] = case.opts end
    return args, n
end

local function run(case, keep)
    local op = case.op
    local args, n = arguments(case)
    if op == "call" then
        local o = obj(case.obj, keep)
        return o[name(case.method)](o, table.unpack(args, 1, n))
    elseif op == "fn" then
        return sip[case.name](table.unpack(args, 1, n))
    elseif op == "new" then
        local made = sip[case.class](table.unpack(args, 1, n))
        keep[#keep + 1] = made
        return made
    elseif op == "static" then
        return sip[case.class][case.name](table.unpack(args, 1, n))
    elseif op == "closed" then
        local m = obj(case.obj, keep)
        m:close()
        return m[case.attr]
    elseif op == "get" then
        local v = obj(case.obj, keep)
        for _, step in ipairs(case.path) do
            if v == nil then return nil end
            v = v[step]
        end
        return v
    elseif op == "send" or op == "request" then
        local msg = sip.Message.parse(value(case.msg))
        local stack <close> = sip.Stack{ listen = { "udp:127.0.0.1:0" },
                                         transactions = case.transactions or false }
        if op == "send" then return stack:send(msg, case.dst) end
        return stack:request(msg, "udp:127.0.0.1:9")
    end
    if op == "nested" then
        local loop <close> = sip.Loop()
        local got
        loop:timer(0, function()
            local ok2, e = pcall(loop[case.method], loop)
            got = ok2 and true or e
            loop:stop()
        end)
        local guard <close> = loop:timer(5000, function() loop:stop() end)
        loop:run()
        assert(got ~= nil, "the callback did not run in 5 s")
        if got ~= true then error(got, 0) end
        return true
    elseif op == "stop_then_run" then
        local stack <close> = sip.Stack{ listen = { "udp:127.0.0.1:0" } }
        local fired = false
        local guard <close> = stack.loop:timer(5000, function() fired = true; stack:stop() end)
        stack:stop()
        stack:run()
        return not fired
    end
    if op == "reply" then
        -- req:reply(args, opts) in the handler of an OPTIONS the stack sends itself: true when
        -- it returned, else what it raised is raised here.
        local text = message_text({ name = "options" }):gsub("host%.example%.com;", "127.0.0.1:9;")
        local msg = sip.Message.parse(text)
        local stack <close> = sip.Stack{ listen = { "udp:127.0.0.1:0" },
                                         transactions = case.transactions or false }
        local got, kept
        stack:on_request("OPTIONS", function(req)
            if case.after_close then
                kept, got = req, true
            else
                local ok, e = pcall(req.reply, req, table.unpack(args, 1, n))
                got = ok and true or e
            end
            stack:stop()
        end)
        local timer <close> = stack.loop:timer(5000, function() stack:stop() end)
        stack:send(msg, stack:listeners()[1].spec)
        stack:run()
        assert(got ~= nil, "the request did not arrive in 5 s")
        if got ~= true then error(got, 0) end
        if case.after_close then
            stack:close()
            return kept:reply(table.unpack(args, 1, n))
        end
        return true
    end
    error("unknown op " .. tostring(op))
end

for _, case in ipairs(SPEC.cases) do
    T.case("parity: " .. case.id, function()
        local keep = {}
        local ok, got = pcall(run, case, keep)
        for i = #keep, 1, -1 do
            local close = keep[i].close
            if close then close(keep[i]) end
        end
        if case.error then
            local want = SPEC.categories[case.error].lua
            T.ok(not ok, case.id .. ": expected " .. want .. ", nothing raised")
            T.ok(sip.is_error(got, want), case.id .. ": expected " .. want .. ", got " ..
                tostring(got))
            local text = tostring(got):lower()
            for _, word in ipairs(case.words) do
                T.ok(text:find(word:lower(), 1, true), case.id .. ": '" .. word .. "' not in '" ..
                    tostring(got) .. "'")
            end
        elseif case.prints then
            T.ok(ok, case.id .. ": raised " .. tostring(got))
            T.eq(tostring(got), case.prints, case.id)
            got:close()
        else
            T.ok(ok, case.id .. ": raised " .. tostring(got))
            local want = case.equals
            if type(want) == "table" and want ~= json.null then want = want.lua end
            if want == json.null then want = nil end
            T.eq(got, want, case.id)
        end
    end)
end

T.case("parity: every category maps to a Lua error name", function()
    for _, cat in pairs(SPEC.categories) do T.ok(cat.lua:match("^SIP_E%u+$"), cat.lua) end
    T.ok(#SPEC.cases >= 40, "the cases loaded")
end)

T.case("parity: <close> closes what Python's with closes (Sdp, Multipart, transactions)",
    function()
    local sdp, multipart
    do
        local s <close> = sip.Sdp.new()
        sdp = s
        local mp <close> = sip.Multipart.new()
        multipart = mp
    end
    T.raises("SIP_ECLOSED", sdp.print, sdp)
    T.eq(sdp.closed, true, "sdp.closed, as in Python")
    T.raises("SIP_ECLOSED", multipart.print, multipart)
    T.eq(multipart.closed, true, "mp.closed, as in Python")
    local stack <close> = sip.Stack{ listen = { "udp:127.0.0.1:0" }, transactions = true }
    local req = sip.Message.parse(message_text({ name = "options" }))
    local txn
    do
        local t <close> = stack:request(req, "udp:127.0.0.1:9")
        txn = t
    end
    T.raises("SIP_ECLOSED", txn.cancel, txn)
end)
