-- SPDX-License-Identifier: MIT
-- sip.Hub and sip.Worker (as tests/python/test_worker.py): a hub in this process and a worker in
-- a child process that inherits its link, a location write made in the worker reaching the
-- hub's service, the worker leaving, and the argument checks. Ports 52100-52199.
local T = ...
local sip = require "libsip"
local core = require "libsip_core"

local function pump(loop, cond, seconds)
    local deadline = false
    local t = loop:timer(math.floor((seconds or 5) * 1000), function() deadline = true end)
    while not cond() and not deadline do loop:run_once(false) end
    t:close()
    return cond()
end

local function slurp(path)
    local f = io.open(path)
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
end

local CHILD = [[
package.path, package.cpath = %q, %q
local sip = require "libsip"
local fd = tonumber(arg[1])
local loop = sip.Loop()
local w = sip.Worker(loop, { index = 0, count = 1, fd = fd })
assert(w.linked and w.index == 0 and w.count == 1)
assert(#w.secret == 64 and w.secret:match("^%%x+$"))
local loc = sip.Location(loop, { worker = w })
io.write("index ", loc.count, "\n")
local ok
loop:spawn(function()
    ok = loc:put("sip:carol@example.com", "sip:carol@127.0.0.1:5070",
        { expires = os.time() + 3600 })
    loop:stop()
end)
loop:run()
io.write("put ", tostring(ok), "\n")
loc:close()
w:close()
loop:close()
]]

T.case("Worker: a worker process writes through the hub (as Python)", function()
    local loop <close> = sip.Loop()
    local hloc = sip.Location(loop)
    loop:spawn(function()
        hloc:put("sip:alice@example.com", "sip:alice@127.0.0.1:5071",
            { expires = os.time() + 3600 })
    end)
    T.ok(pump(loop, function() return hloc.count == 1 end), "the parent's binding")
    local hub <close> = sip.Hub(loop, { workers = 1, location = hloc })
    T.eq(hub.ready_count, 0, "none ready")
    local fd = hub:link(0)
    T.ok(math.type(fd) == "integer" and fd >= 0, "a descriptor")
    local script, out = os.tmpname(), os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(CHILD:format(package.path, package.cpath))
    f:close()
    local lua = arg and arg[-1] or "lua5.4"
    os.execute(("%s %s %d > %s 2>&1 &"):format(lua, script, fd, out))
    -- The child gets the index, writes, and its write lands here once acknowledged.
    T.ok(pump(loop, function() return hloc.count == 2 end), "the worker's write in the hub")
    T.ok(pump(loop, function() return slurp(out):find("put true", 1, true) ~= nil end),
        "the child's report: " .. slurp(out))
    T.ok(slurp(out):find("index 1", 1, true), "the index at create")
    os.remove(script)
    os.remove(out)
    hub:unlink(0)
    T.eq(hub.ready_count, 0, "gone")
    T.ok(tostring(hub):find("Hub", 1, true), tostring(hub))
    hub:close()
    T.ok(hub.closed, "closed")
    T.raises("SIP_ECLOSED", function() hub:link(0) end)
    hloc:close()
end)

T.case("Worker: argument checks (as Python)", function()
    local loop <close> = sip.Loop()
    T.raises("SIP_EINVAL", sip.Hub, loop, { workers = 0 })
    T.raises("SIP_EINVAL", sip.Hub, loop, { workers = "2" })
    T.raises("SIP_EINVAL", sip.Hub, nil)
    T.raises("SIP_EINVAL", sip.Hub, loop, { location = {} })
    T.raises("SIP_EINVAL", sip.Hub, loop, { wrkers = 2 })
    local hub <close> = sip.Hub(loop, { workers = 2 })
    T.raises("SIP_EINVAL", function() hub:link(2) end)
    T.raises("SIP_EINVAL", function() hub:link(-1) end)
    hub:unlink(1)
    T.raises("SIP_EINVAL", sip.Worker, loop, { fd = "3" })
    T.raises("SIP_EINVAL", sip.Worker, loop, { index = 0, count = 1, fd = -1 })
    T.raises("SIP_EINVAL", sip.Worker, loop, { index = 2, count = 2, fd = -1 })
    -- A hub that never answers: the link made, then the hub closed before the worker came.
    local h2 = sip.Hub(loop, { workers = 1 })
    local fd = h2:link(0)
    h2:close()
    T.raises("SIP_EIO", sip.Worker, loop, { index = 0, count = 1, fd = fd })
    T.raises("SIP_EINVAL", sip.Location, loop, { worker = {} })
    T.raises("SIP_EINVAL", sip.Server, { worker = {} })
    T.eq(core.SIP_WORKERS_MAX, 64, "SIP_WORKERS_MAX")
end)

T.case("Worker: stacks share their port with reuseport (as Python)", function()
    local loop <close> = sip.Loop()
    local a = sip.Stack { loop = loop, listen = "udp:127.0.0.1:52100",
        options = { reuseport = true } }
    local b = sip.Stack { loop = loop, listen = "udp:127.0.0.1:52100",
        options = { reuseport = true } }
    T.raises("EADDRINUSE", sip.Stack, { loop = loop, listen = "udp:127.0.0.1:52100" })
    a:close()
    b:close()
end)
