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
