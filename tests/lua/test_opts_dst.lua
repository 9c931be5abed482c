-- SPDX-License-Identifier: MIT
-- The dst field of the options structs (sip_reg_opts_t, sip_sub_opts_t, sip_call_opts_t,
-- sip_bridge_opts_t): assigning a sip_netinfo_t leaves it the script's (it used to be disowned,
-- and nothing freed it: LeakSanitizer saw 368 bytes per assignment), the options object keeps it
-- alive until the call that copies it, and 200 registrations with dst = leave nothing behind.
-- The peer listens on 127.0.0.1:36000. Under the sanitized build (LIBSIP_LUA_SANITIZED) a leak
-- or a use after free of a netinfo fails the run.
local T = ...
local sip = require "libsip"
local core = require "libsip_core"
local dest_netinfo = require("libsip.transport")._dest_netinfo

local PEER = "udp:127.0.0.1:36000"
local LIMIT_MS = 20000
local OPTS = { "sip_reg_opts_t", "sip_sub_opts_t", "sip_call_opts_t", "sip_bridge_opts_t" }

T.case("opts dst: 200 assignments each, the netinfo stays the script's", function()
    for _, name in ipairs(OPTS) do
        local o = core[name]()
        for _ = 1, 200 do
            o.dst = dest_netinfo(PEER)
            T.eq(o.dst.remote_port, 36000, name .. ".dst")
        end
        o.dst = nil
        T.eq(o.dst, nil, name .. ".dst reset")
        T.ok(not pcall(function() o.dst = PEER end), name .. ".dst takes a struct, not a string")
    end
    for _ = 1, 3 do collectgarbage() end
end)

T.case("opts dst: the options keep the netinfo alive without the script's reference", function()
    for _, name in ipairs(OPTS) do
        local o = core[name]()
        o.dst = dest_netinfo(PEER) -- no other reference
        for _ = 1, 3 do collectgarbage() end
        T.eq(o.dst.remote_ip, "127.0.0.1", name .. ".dst after a collection")
        T.eq(o.dst.remote_port, 36000, name .. ".dst port after a collection")
    end
    for _ = 1, 3 do collectgarbage() end
end)

T.case("opts dst: 200 registrations with dst =", function()
    for _ = 1, 3 do collectgarbage() end
    local base = sip.live_objects()
    local a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    local loop = a.loop
    local b = sip.Stack { listen = PEER, transactions = true, loop = loop }
    local seen = 0
    b:on_request("REGISTER", function(req)
        seen = seen + 1
        req:reply(200)
    end)
    local ua = sip.UA(a)
    local done, err = false, nil
    loop:spawn(function()
        local ok, e = xpcall(function()
            for i = 1, 200 do
                -- registrar.invalid never resolves: only dst takes the REGISTER to the peer.
                local reg = ua:register("sip:u" .. i .. "@example.com",
                    { registrar = "sip:registrar.invalid", dst = PEER })
                T.eq(reg.state, "registered", "registration " .. i)
                reg:close()
            end
        end, debug.traceback)
        done, err = true, not ok and e or nil
        loop:stop()
    end)
    if not done then
        local guard = loop:timer(LIMIT_MS, function() loop:stop() end)
        loop:run()
        guard:close()
    end
    if err then error(err, 0) end
    T.ok(done, "the registrations finished within " .. LIMIT_MS .. " ms")
    T.ok(seen >= 200, "the peer got every REGISTER")
    ua:close()
    b:close()
    a:close()
    loop:close()
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "reg", "ua", "txn", "msg", "txn_layer", "transport" } do
        T.eq(live[kind], base[kind], "live " .. kind .. " objects at the end")
    end
end)
