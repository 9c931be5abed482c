-- SPDX-License-Identifier: MIT
-- No hangs, one behaviour with Python: unanswered requests get 500 at once, on_response runs
-- before txn:wait() returns, waits settle when the stack stops or closes, stop() before run(),
-- run() inside a callback, and requests sent without a destination located by RFC 3263
-- (numeric host, and names served by a dnsmasq on 127.0.0.1).
local T = ...
local sip = require "libsip"

local serial = 0
local function request(method, dst, uri)
    serial = serial + 1
    local req = sip.Message.request(method, uri or ("sip:uas@" .. dst:gsub("^%a+:", "")))
    req:add_header("Max-Forwards", "70")
        :add_header("From", "<sip:uac@127.0.0.1>;tag=nh" .. serial)
        :add_header("To", "<sip:uas@127.0.0.1>")
        :add_header("Call-ID", "lua-nh-" .. serial .. "@127.0.0.1")
        :add_header("CSeq", "1 " .. method)
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

local function pair()
    local loop = sip.Loop()
    local timers = { t1_ms = 50, t4_ms = 50 }
    local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = timers }
    local uas = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = timers }
    return loop, uac, uas, uas:listeners()[1].spec
end

local function close_all(loop, ...)
    for _, s in ipairs { ... } do s:close() end
    loop:close()
end

T.case("a handler that returns or ends without a final reply: 500 at once, not at GC", function()
    local loop, uac, uas, dst = pair()
    local kept = {}
    uas:on_request("OPTIONS", function(req) req:reply(100) end)   -- returns, nothing final
    uas:on_request("MESSAGE", function() sip.sleep(10) end)        -- its task ends later
    uas:on_request("INFO", function(req)                           -- kept: answered later
        kept[#kept + 1] = req
        loop:timer(100, function() req:reply(202) end)
    end)
    -- The collector's own pace must not be what answers.
    collectgarbage("stop")
    local a = uac:request(request("OPTIONS", dst), dst)
    local b = uac:request(request("MESSAGE", dst), dst)
    local c = uac:request(request("INFO", dst), dst)
    local ok, err = pcall(run_until, loop, function() return a.done and b.done and c.done end)
    collectgarbage("restart")
    T.ok(ok, tostring(err))
    T.eq(a.status, 500, "the handler returned without a final response")
    T.eq(b.status, 500, "the handler's task ended without a final response")
    T.eq(c.status, 202, "a request the script keeps is answered by the script")
    close_all(loop, uac, uas)
end)

T.case("on_response for the final response runs before txn:wait() returns", function()
    local loop, uac, uas, dst = pair()
    uas:on_request("OPTIONS", function(req) req:reply(200) end)
    local seen, r = {}, {}
    uac:spawn(function()
        local txn = uac:request(request("OPTIONS", dst), {
            dst = dst, on_response = function(status) seen[#seen + 1] = status end })
        local rsp = txn:wait()
        r.status = rsp.status
        r.seen_at_return = table.concat(seen, ",")
    end)
    run_until(loop, function() return r.status ~= nil end)
    T.eq(r.status, 200, "final response")
    T.eq(r.seen_at_return, "200", "on_response had run when wait returned")
    close_all(loop, uac, uas)
end)

T.case("txn:wait() settles with SIP_ECLOSED when its stack stops", function()
    local loop = sip.Loop()
    local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = true }
    local silent = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop }
    local dst = silent:listeners()[1].spec
    local r = {}
    local txn
    uac:spawn(function()
        txn = uac:request(request("OPTIONS", dst), dst)
        r.rsp, r.err = txn:wait()
    end)
    local guard = loop:timer(5000, function() loop:stop() end)
    loop:timer(20, function() uac:stop() end)
    loop:run()
    guard:close()
    T.eq(r.rsp, nil, "no response")
    T.ok(r.err ~= nil, "the wait returned")
    T.eq(r.err.name, "SIP_ECLOSED", "error name")
    T.ok(r.err.reason:find("stopped", 1, true), "says the stack stopped: " .. r.err.reason)
    T.eq(txn.state, "Terminated", "the transaction was closed")
    close_all(loop, uac, silent)
end)

T.case("stop() before run() is honoured; run() inside a callback raises already running",
    function()
        local s <close> = sip.Stack { listen = "udp:127.0.0.1:0" }
        local guard_fired = false
        local guard = s.loop:timer(3000, function()
            guard_fired = true
            s:stop()
        end)
        s:stop()
        s:run()
        T.eq(guard_fired, false, "run() returned at once")
        guard:close()
        local inner
        s.loop:timer(0, function()
            local ok, err = pcall(s.run, s)
            inner = { ok, err }
            s:stop()
        end)
        s:run()
        T.eq(inner[1], false, "nested run refused")
        T.ok(tostring(inner[2].reason):find("already running", 1, true), "message")
    end)

T.case("a request without destination goes to its numeric Request-URI host (RFC 3263)",
    function()
        local loop, uac, uas, dst = pair()
        T.ok(uac.resolver ~= nil, "the stack made its resolver")
        uas:on_request("OPTIONS", function(req) req:reply(200) end)
        local host_port = dst:match("^udp:(.*)$")
        local txn = uac:request(request("OPTIONS", host_port))
        run_until(loop, function() return txn.done end)
        T.eq(txn.status, 200, "located and answered")
        close_all(loop, uac, uas)
    end)

-- dnsmasq on 127.0.0.1 at a free high port, serving records; returns the port and a stop
-- function, or nil when dnsmasq is not installed.
local function start_dnsmasq(records)
    local bin = "/usr/sbin/dnsmasq"
    local f = io.open(bin)
    if not f then return nil end
    f:close()
    local pidfile = os.tmpname()
    for _ = 1, 10 do
        local port = math.random(20000, 60000)
        -- Not under the sanitizer runtimes a sanitized build preloads into the interpreter;
        -- bounded, should it ever fail to return.
        local cmd = table.concat({ "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS timeout 10",
            bin, "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--bind-interfaces", "--listen-address=127.0.0.1", "--port=" .. port,
            "--pid-file=" .. pidfile, "--local=/test/", table.concat(records, " "),
            ">/dev/null 2>&1" }, " ")
        -- dnsmasq returns once it serves (it forks into the background itself).
        if os.execute(cmd) then
            local pf = io.open(pidfile)
            local pid = pf and pf:read("n")
            if pf then pf:close() end
            return port, function()
                if pid then os.execute("kill " .. math.tointeger(pid) .. " 2>/dev/null") end
                os.remove(pidfile)
            end
        end
    end
    os.remove(pidfile)
    error("dnsmasq did not start")
end

T.case("sip.Resolver with dnsmasq: SRV lookups locate a request without destination",
    function()
        local loop = sip.Loop()
        local uas = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = true }
        local port = uas:listeners()[1].port
        local dns_port, stop_dns = start_dnsmasq {
            "--host-record=uas.lua.test,127.0.0.1",
            ("--srv-host=_sip._udp.lua.test,uas.lua.test,%d,10,10"):format(port),
        }
        if not dns_port then
            close_all(loop, uas)
            error("dnsmasq not installed: scripts/deps.sh installs what the tests need")
        end
        local ok, err = pcall(function()
            local r = sip.Resolver { servers = "127.0.0.1:" .. dns_port, transports = { "udp" },
                timeout_ms = 500, tries = 2 }
            T.eq(r.servers, "127.0.0.1:" .. dns_port, "servers")
            T.eq(table.concat(r.transports, ","), "udp", "transports")
            local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = true,
                resolver = r }
            T.eq(uac.resolver, r, "the stack uses the resolver given")
            uas:on_request("OPTIONS", function(req) req:reply(200, "Found") end)
            local got = {}
            uac:spawn(function()
                got.targets, got.err = r:resolve("sip:bob@lua.test")
                local txn = uac:request(request("OPTIONS", nil, "sip:bob@lua.test"))
                got.rsp, got.err2 = txn:wait()
            end)
            run_until(loop, function() return got.rsp ~= nil or got.err2 ~= nil end)
            T.eq(got.err, nil, "resolve error")
            T.eq(#got.targets, 1, "one target")
            T.eq(got.targets[1].host, "127.0.0.1", "target host")
            T.eq(got.targets[1].port, port, "SRV port")
            T.eq(got.targets[1].transport, "udp", "transport")
            T.eq(got.err2, nil, "request error")
            T.eq(got.rsp.reason, "Found", "the request reached the SRV target")
            uac:close()
            T.eq(r.closed, false, "a resolver given to a stack outlives it")
            r:close()
        end)
        stop_dns()
        close_all(loop, uas)
        if not ok then error(err, 0) end
    end)

T.case("sip.Resolver refuses unknown options and transports", function()
    T.raises("SIP_EINVAL", sip.Resolver, { server = "127.0.0.1:53" })
    T.raises("SIP_EINVAL", sip.Resolver, { transports = { "pigeon" } })
    T.raises("SIP_EINVAL", sip.Resolver, { servers = 53 })
    local r = sip.Resolver {}
    T.raises("SIP_EINVAL", r.flush, r) -- no loop yet
end)
