-- SPDX-License-Identifier: MIT
-- What reaches a script through the bindings' tables: callback arguments by kind (the
-- trampolines of bindings/callbacks.i) and the char[] fields of sip_netinfo_t (mutable.i).
local T = ...
local sip = require "libsip"
local core = require "libsip_core"

T.case("server_name is a writable string that must fit", function()
    local n = core.sip_netinfo_t()
    T.eq(n.server_name, "", "empty by default")
    n.server_name = "sip.example.com"
    T.eq(n.server_name, "sip.example.com", "read back")
    n.server_name = string.rep("x", 255)
    T.eq(#n.server_name, 255, "255 bytes and the NUL fit")
    local ok, err = pcall(function() n.server_name = string.rep("y", 256) end)
    T.ok(not ok and tostring(err):find("server_name: at most 255 bytes", 1, true),
        "a longer name is refused, never cut short: " .. tostring(err))
    T.eq(n.server_name, string.rep("x", 255), "unchanged")
    ok = pcall(function() n.remote_ip = string.rep("1", 48) end)
    T.ok(not ok, "remote_ip too")
end)

T.case("the netinfo tables carry server_name", function()
    local n = core.sip_netinfo_t()
    n.transport = core.SIP_TRANSPORT_TLS
    n.remote_ip, n.remote_port, n.server_name = "127.0.0.1", 5061, "sip.example.com"
    local t = require("libsip.message")._netinfo_table(n)
    T.eq(t.server_name, "sip.example.com", "message source/destination table")
    T.eq(require("libsip.transport")._target_table(n).server_name, "sip.example.com",
        "resolver target table")
end)

T.case("callback arguments by kind: handles, numbers, strings, targets", function()
    local rc, loop = core.sip_loop_create()
    T.eq(rc, 0, "loop")
    local line
    T.eq(core.sip_loop_set_log(loop, core.SIP_LOG_TRACE, function(lp, level, module, text)
        line = { lp, level, module, text }
    end), 0, "set_log")
    core.sip_log_write(loop, core.SIP_LOG_WARN, "test", "hello")
    T.ok(line, "logged")
    T.eq(math.type(line[2]), "integer", "level is an integer")
    T.eq(line[2], core.SIP_LOG_WARN, "level")
    T.eq(line[3], "test", "module")
    T.eq(line[4], "hello", "text")
    T.eq(type(line[1]), "userdata", "loop handle")
    local rc2, res = core.sip_resolver_create(loop, nil)
    T.eq(rc2, 0, "resolver")
    local _, uri = core.sip_uri_parse("sip:127.0.0.1:5070;transport=tcp")
    local got
    T.eq(core.sip_resolve(res, uri, function(r, status, targets)
        got = { r = r, status = status, targets = targets }
        core.sip_loop_stop(loop)
    end), 0, "resolve started")
    for _ = 1, 100 do
        if got then break end
        core.sip_loop_run_once(loop, 1)
    end
    T.ok(got, "the resolver answered")
    T.eq(got.status, 0, "status")
    T.eq(#got.targets, 1, "one target")
    local ni = got.targets[1]
    T.eq(ni.remote_ip, "127.0.0.1", "target address")
    T.eq(ni.remote_port, 5070, "target port")
    T.eq(ni.transport, core.SIP_TRANSPORT_TCP, "target transport")
    T.eq(ni.server_name, "", "no name for an address")
    core.sip_resolver_close(res)
    core.sip_resolver_unref(res)
    core.sip_loop_set_log(loop, core.SIP_LOG_WARN, nil)
    core.sip_loop_close(loop)
    core.sip_loop_unref(loop)
end)

T.case("nil for a callback libsip requires is SIP_EINVAL, as in Python", function()
    local _, loop = core.sip_loop_create()
    T.eq(core.sip_loop_post(loop, nil), core.SIP_EINVAL, "sip_loop_post")
    local rc, timer = core.sip_timer_start(loop, 10, 0, nil)
    T.eq(rc, core.SIP_EINVAL, "sip_timer_start")
    T.eq(timer, nil, "no timer")
    T.ok(not pcall(core.sip_loop_post, loop, 42), "a number is refused")
    core.sip_loop_close(loop)
    core.sip_loop_unref(loop)
    T.ok(sip ~= nil, "the package loads beside the core")
end)
