-- SPDX-License-Identifier: MIT
-- Runs tests/lua/test_*.lua (or the files given as arguments); exits non-zero when a case fails.
--
-- Each test file gets a table T and calls T.case(name, fn) for every case. Cases run in order,
-- each under xpcall with a traceback; a file that fails to load counts as one failure.
-- usage: lua5.4 tests/lua/run.lua [test_x.lua ...]   (LUA_CPATH/LUA_PATH find libsip)

local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

-- libsip is a package (libsip/init.lua and a module per concern): every "DIR/?.lua" of
-- LUA_PATH also gets "DIR/?/init.lua" first, as an installed tree has, so the tests load the
-- package the way a user's interpreter does.
do
    local extra = {}
    for template in package.path:gmatch("[^;]+") do
        local base = template:match("^(.*)/%?%.lua$")
        if base then extra[#extra + 1] = base .. "/?/init.lua" end
    end
    if #extra > 0 then package.path = table.concat(extra, ";") .. ";" .. package.path end
end

local T = { dir = dir }

local function fmt(v)
    if type(v) == "string" then return ("%q"):format(v) end
    return tostring(v)
end

--- Fails the case unless a == b.
function T.eq(a, b, what)
    if a ~= b then
        error(("%s: expected %s, got %s"):format(what or "value", fmt(b), fmt(a)), 2)
    end
end

--- Fails the case unless v is truthy.
function T.ok(v, what)
    if not v then error((what or "condition") .. " is false", 2) end
    return v
end

--- Fails unless fn(...) raises a libsip error with this name; returns the error.
function T.raises(name, fn, ...)
    local ok, err = pcall(fn, ...)
    if ok then error("expected " .. name .. ", nothing raised", 2) end
    local sip = require "libsip"
    if not sip.is_error(err, name) then
        error("expected " .. name .. ", got " .. tostring(err), 2)
    end
    return err
end

--- Resident set size in kB (from /proc/self/statm).
function T.rss_kb()
    local f = assert(io.open("/proc/self/statm"))
    local _, res = f:read("n", "n")
    f:close()
    return res * 4
end

--- The interpreter running these tests (for subprocesses).
function T.interpreter()
    local i = -1
    while arg[i - 1] do i = i - 1 end
    return arg[i]
end

local cases = {}
local current_file

function T.case(name, fn)
    cases[#cases + 1] = { file = current_file, name = name, fn = fn }
end

local files = {}
for i = 1, #arg do files[#files + 1] = arg[i] end
if #files == 0 then
    local p = assert(io.popen('ls "' .. dir .. '"'))
    for name in p:lines() do
        if name:match("^test_.*%.lua$") then files[#files + 1] = dir .. "/" .. name end
    end
    p:close()
end

local failed, passed = 0, 0
for _, file in ipairs(files) do
    current_file = file:match("[^/]*$")
    local chunk, err = loadfile(file)
    if not chunk then
        failed = failed + 1
        io.write("FAIL ", current_file, ": ", err, "\n")
    else
        local ok, lerr = xpcall(chunk, debug.traceback, T)
        if not ok then
            failed = failed + 1
            io.write("FAIL ", current_file, " (loading): ", tostring(lerr), "\n")
        end
    end
end

for _, c in ipairs(cases) do
    local t0 = os.clock()
    local ok, err = xpcall(c.fn, function(e) return debug.traceback(tostring(e), 2) end)
    collectgarbage()
    if ok then
        passed = passed + 1
        io.write(("ok   %s: %s (%.0f ms)\n"):format(c.file, c.name, (os.clock() - t0) * 1000))
    else
        failed = failed + 1
        io.write(("FAIL %s: %s\n%s\n"):format(c.file, c.name, err))
    end
end

io.write(("%d passed, %d failed\n"):format(passed, failed))
os.exit(failed == 0 and #cases > 0 and 0 or 1, true)
