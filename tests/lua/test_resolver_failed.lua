-- SPDX-License-Identifier: MIT
-- Targets a sip.Resolver lists last after they failed: the failed_ms option, mark_failed,
-- mark_ok, failed_left and their argument checks (the same cases as
-- tests/python/test_resolver_failed.py).
local T = ...
local sip = require "libsip"

T.case("resolver failed_ms option", function()
    local loop = sip.Loop()
    T.eq(sip.Resolver { loop = loop, servers = "127.0.0.1:9" }.failed_ms, 60000)
    T.eq(sip.Resolver { loop = loop, servers = "127.0.0.1:9", failed_ms = 0 }.failed_ms, 0)
    T.eq(sip.Resolver { servers = "127.0.0.1:9", failed_ms = 1500 }.failed_ms, 1500)
    T.raises("SIP_EINVAL", sip.Resolver, { loop = loop, failed_ms = -1 })
    T.raises("SIP_EINVAL", sip.Resolver, { loop = loop, failed_ms = "10" })
    T.raises("SIP_EINVAL", sip.Resolver, { loop = loop, failed_msec = 10 })
    loop:close()
end)

T.case("resolver mark_failed and mark_ok", function()
    local loop = sip.Loop()
    local r = sip.Resolver { loop = loop, servers = "127.0.0.1:9" }
    T.eq(r:failed_left("udp:127.0.0.1:5060"), 0)
    r:mark_failed("udp:127.0.0.1:5060")
    local left = r:failed_left("udp:127.0.0.1:5060")
    T.ok(left > 55000 and left <= 60000, "failed_ms by default")
    T.eq(r:failed_left("tcp:127.0.0.1:5060"), 0)
    T.eq(r:failed_left("udp:127.0.0.1:5061"), 0)
    r:mark_failed({ transport = "udp", host = "2001:db8::1", port = 5060 }, 2000)
    left = r:failed_left("udp:[2001:db8:0::1]:5060")
    T.ok(left > 0 and left <= 2000, "IPv6 compared by value")
    T.eq(r:mark_ok("udp:127.0.0.1:5060"), true)
    T.eq(r:mark_ok("udp:127.0.0.1:5060"), false)
    T.eq(r:failed_left("udp:127.0.0.1:5060"), 0)
    T.raises("SIP_EINVAL", r.mark_failed, r, "udp:not-an-address:5060")
    T.raises("SIP_EINVAL", r.mark_failed, r, "udp:127.0.0.1:5060", -5)
    T.raises("SIP_EINVAL", r.mark_failed, r, "udp:127.0.0.1:5060", true)
    T.raises("SIP_EINVAL", r.mark_ok, r, "udp:not-an-address:5060")
    r:close()
    loop:close()
    T.raises("SIP_ECLOSED", r.mark_failed, r, "udp:127.0.0.1:5060")
end)

T.case("resolver unbound raises", function()
    local r = sip.Resolver { servers = "127.0.0.1:9" }
    T.raises("SIP_EINVAL", r.mark_failed, r, "udp:127.0.0.1:5060")
    r:close()
end)

-- dnsmasq on 127.0.0.1 at a free high port, serving records; the port and a stop function.
local function start_dnsmasq(records)
    local bin = "/usr/sbin/dnsmasq"
    local f = io.open(bin)
    if not f then error("dnsmasq not installed: scripts/deps.sh installs what the tests need") end
    f:close()
    local pidfile = os.tmpname()
    for _ = 1, 10 do
        local port = math.random(20000, 60000)
        -- Not under the sanitizer runtimes a sanitized build preloads into the interpreter;
        -- dnsmasq returns once it serves (it forks into the background itself); bounded.
        local cmd = table.concat({ "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS timeout 10",
            bin, "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
            "--bind-interfaces", "--listen-address=127.0.0.1", "--port=" .. port,
            "--pid-file=" .. pidfile, "--local=/test/", table.concat(records, " "),
            ">/dev/null 2>&1" }, " ")
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

T.case("resolver lists a failed SRV target last", function()
    local dns, stop_dns = start_dnsmasq {
        "--srv-host=_sip._udp.failed.test,one.failed.test,5001,10,10",
        "--srv-host=_sip._udp.failed.test,two.failed.test,5002,20,10",
        "--host-record=one.failed.test,192.0.2.1",
        "--host-record=two.failed.test,192.0.2.2",
    }
    local loop = sip.Loop()
    local ok, err = pcall(function()
        local r = sip.Resolver { loop = loop, servers = "127.0.0.1:" .. dns, transports = "udp",
            timeout_ms = 1000 }
        local stack = sip.Stack { loop = loop, resolver = r }
        local got = {}
        stack:spawn(function()
            got[1] = r:resolve("sip:failed.test")
            r:mark_failed("udp:192.0.2.1:5001")
            got[2] = r:resolve("sip:failed.test")
            r:mark_ok("udp:192.0.2.1:5001")
            got[3] = r:resolve("sip:failed.test")
        end)
        local guard = loop:timer(10000, function() loop:stop() end)
        local tick = loop:timer(5, function() if got[3] then loop:stop() end end, 5)
        loop:run()
        guard:close()
        tick:close()
        local function specs(t) return t[1].spec .. "," .. t[2].spec end
        T.eq(specs(got[1]), "udp:192.0.2.1:5001,udp:192.0.2.2:5002", "by priority")
        T.eq(specs(got[2]), "udp:192.0.2.2:5002,udp:192.0.2.1:5001", "the failed one last")
        T.eq(specs(got[3]), "udp:192.0.2.1:5001,udp:192.0.2.2:5002", "back in its place")
        stack:close()
        r:close()
    end)
    loop:close()
    stop_dns()
    if not ok then error(err, 0) end
end)
