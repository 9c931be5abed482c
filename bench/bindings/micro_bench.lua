-- SPDX-License-Identifier: MIT
-- Lua micro-benchmarks of the libsip bindings: parse throughput and C-to-Lua callbacks.
--
-- Prints one line per figure, "<kind> lua <variant> <what> <ns>", the median of 3 timed runs of
-- about 0.3 s each. Lua 5.4 has no wall clock finer than a second, so the time is the process's
-- CPU time (os.clock); for this single-threaded, CPU-bound loop it equals the wall time the
-- other figures report, less any time another process held the CPU.
--
-- usage: lua5.4 micro_bench.lua CORPUS_DIR [--quick]
local sip = require "libsip"
local core = require "libsip_core"

local corpus = arg[1]
local quick = arg[2] == "--quick"
local REPEATS = 3
local target = quick and 0.002 or 0.3

local function calibrate(fn)
    local n = 1
    while true do
        local t0 = os.clock()
        fn(n)
        local dt = os.clock() - t0
        if dt >= target / 10 then return math.max(1, math.floor(target * n / dt)) end
        n = n * 2
    end
end

local function median_ns(fn)
    local n = calibrate(fn)
    local runs = {}
    for r = 1, REPEATS do
        local t0 = os.clock()
        fn(n)
        runs[r] = (os.clock() - t0) * 1e9 / n
    end
    table.sort(runs)
    return runs[REPEATS // 2 + 1]
end

-- ---- parse ----------------------------------------------------------------------------------

local function parse_core(data)
    local parse, unref = core.sip_msg_parse, core.sip_msg_unref
    return function(n)
        for _ = 1, n do
            local _, p = parse(data)
            unref(p)
        end
    end
end

local function parse_only(data)
    local parse = sip.Message.parse
    return function(n)
        for _ = 1, n do parse(data) end
    end
end

-- Parse, then read what a proxy looks at first: method, Call-ID, top Via branch.
local function parse_fields(data)
    local parse = sip.Message.parse
    return function(n)
        for _ = 1, n do
            local m = parse(data)
            local _ = m.method, m.call_id, m.via.branch
        end
    end
end

for _, kind in ipairs { "invite", "options" } do
    local f = assert(io.open(corpus .. "/" .. kind .. ".sip", "rb"))
    local data = f:read("a")
    f:close()
    local m = sip.Message.parse(data)
    assert(m.method == kind:upper() and m.via.branch:find("^z9hG4bK"), kind)
    for _, v in ipairs { { "core", parse_core }, { "parse", parse_only },
                         { "parse+fields", parse_fields } } do
        io.write(("parse lua %s %s %.1f\n"):format(v[1], kind, median_ns(v[2](data))))
        io.flush()
    end
end

-- ---- callbacks ------------------------------------------------------------------------------
-- n callbacks posted with sip_loop_post, then run by loop iterations. The post phase (Lua into
-- C) and the run phase (C into Lua and back, once per callback, plus the registry unref of
-- user_free) are timed apart. A sentinel posted last tells that all ran.

local n = quick and 1000 or 200000

local function measure(loop, public, count)
    local p = rawget(loop, "_p")
    local done = false
    local t0, t1
    if public then
        local function noop() end
        t0 = os.clock()
        for _ = 1, count do loop:post(noop) end
        t1 = os.clock()
        loop:post(function() done = true end)
    else
        local post = core.sip_loop_post
        local function noop() end
        t0 = os.clock()
        for _ = 1, count do post(p, noop) end
        t1 = os.clock()
        post(p, function() done = true end)
    end
    local t2 = os.clock()
    for _ = 1, 1000 do
        if done then break end
        core.sip_loop_run_once(p, 0)
    end
    local t3 = os.clock()
    assert(done, "the posted callbacks did not run")
    return (t1 - t0) * 1e9 / count, (t3 - t2) * 1e9 / count
end

for _, public in ipairs { false, true } do
    local loop = sip.Loop()
    -- The loop's wake-up handle for posts does not keep it alive: with nothing else active, an
    -- iteration returns without looking at the posts. A far-off timer keeps it alive.
    local keep = loop:timer(3600000, function() end)
    measure(loop, public, math.min(n, 1000))
    local posts, runs = {}, {}
    for r = 1, REPEATS do
        posts[r], runs[r] = measure(loop, public, n)
        collectgarbage()
    end
    table.sort(posts)
    table.sort(runs)
    local variant = public and "package" or "core"
    io.write(("callback lua %s post %.1f\n"):format(variant, posts[REPEATS // 2 + 1]))
    io.write(("callback lua %s run %.1f\n"):format(variant, runs[REPEATS // 2 + 1]))
    io.flush()
    keep:close()
    loop:close()
end
