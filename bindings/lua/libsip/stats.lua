-- SPDX-License-Identifier: MIT
-- libsip for Lua: counters per loop and the /metrics endpoint (sip/stats.h, sip/metrics.h).
--
--   local loop = sip.Loop()
--   local m <close> = sip.Metrics(loop, "127.0.0.1:9090",
--       { extra = function() return "app_up 1\n" end })
--   print(loop:stats()['sip_requests_received_total{method="INVITE"}'])
--   -- curl http://127.0.0.1:9090/metrics
--   loop:run()
--
-- Every loop counts what its objects do: requests received by method, responses received and
-- sent by class, requests sent, transactions, dialogs, registrations, bindings, digest checks,
-- blocked sources, drops and stream connections. loop:stats() reads them as a table keyed by the
-- Prometheus series name; a Metrics endpoint serves them over HTTP. The endpoint is
-- libmicrohttpd run by the loop itself (no thread): GET (and HEAD) /metrics answers the text
-- exposition format 0.0.4, any other path 404, any other method 405.

local core = require "libsip_core"
local errors = require "libsip.errors"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, class = errors._raise, errors._class
local loop_p = loopm._loop_p

local M = {}

local Metrics = class("Metrics")

---------------------------------------------------------------------------------------------------
-- loop:stats()

-- { id, series key } of every counter, read once from the core's table.
local series

local function all_series()
    if not series then
        series = {}
        for i = 0, core.SIP_STAT__COUNT - 1 do
            local rc, info = core.sip_stat_info(i)
            if rc == 0 then
                local key = info.name
                if info.labels ~= "" then key = key .. "{" .. info.labels .. "}" end
                series[#series + 1] = { i, key }
            end
        end
    end
    return series
end

--- The loop's counters (sip/stats.h) by Prometheus series name, as /metrics serves them:
--- 'sip_requests_received_total{method="INVITE"}', 'sip_transactions', ... (see docs/SIPD.md,
--- Metrics). Counters only grow; gauges (sip_transactions, sip_dialogs, sip_bindings,
--- sip_connections, sip_blocked_sources) go back down as objects go.
function loopm._Loop.methods.stats(l)
    local p = loop_p(l)
    local out = {}
    -- 64-bit integers: a gauge below its start reads negative, as in C's two's complement.
    for _, s in ipairs(all_series()) do out[s[2]] = core.sip_stat_get(p, s[1]) end
    return out
end

---------------------------------------------------------------------------------------------------
-- The endpoint

-- The fields of sip_metrics_opts_t the options table takes (Metrics.OPTIONS, as Python's).
local OPTIONS = { "max_connections", "timeout_ms" }
local OPTS = errors._set { "extra", "max_connections", "timeout_ms" }

--- An HTTP endpoint that serves a loop's counters at GET /metrics in the Prometheus text format,
--- run by the loop (libmicrohttpd through its epoll descriptor: no thread).
--- sip.Metrics(loop, listen, { extra = fn, max_connections = 16, timeout_ms = 10000 }):
--- listen is "127.0.0.1:9090" or "[::1]:9090" (port 0 picks a free port: see m.port); extra is
--- called with no argument at each scrape and returns more series as a string (a program's own
--- counters, HELP and TYPE lines included) or nil, and an error it raises is logged and the
--- scrape goes without them; max_connections is the HTTP connections at once (more wait in the
--- listen backlog), timeout_ms the idle time after which a connection closes. Raises SIP_EINVAL
--- for an argument of the wrong type, an unknown option, a listen address that does not parse
--- or an option out of range, and the system's code (SIP_EADDRINUSE...) when the port cannot be
--- had.
function M.Metrics(loop, listen, opts)
    if type(loop) ~= "table" or getmetatable(loop) ~= loopm._Loop then
        raise(core.SIP_EINVAL, "sip.Metrics: a sip.Loop expected, got " .. type(loop))
    end
    if type(listen) ~= "string" then
        raise(core.SIP_EINVAL, "sip.Metrics: listen must be a string, got " .. type(listen))
    end
    opts = errors._check_opts(opts, OPTS, "sip.Metrics")
    local extra = opts.extra
    if extra ~= nil and type(extra) ~= "function" then
        raise(core.SIP_EINVAL, "sip.Metrics: option 'extra' must be a function, got "
            .. type(extra))
    end
    local o = core.sip_metrics_opts_t()
    core.sip_metrics_opts_init(o)
    local fields = {}
    for _, k in ipairs(OPTIONS) do
        local v = opts[k]
        if v ~= nil then
            if math.type(v) == "integer" and (v <= 0 or v >= 1 << 32) then
                raise(core.SIP_EINVAL, ("sip.Metrics: option '%s': %d is out of range"):format(
                    k, v))
            end
            fields[k] = v
        end
    end
    errors._set_struct(o, fields, "sip.Metrics")
    local fn
    if extra then
        fn = function(_m, sink)
            local text = extra()
            if text == nil then return end
            if type(text) ~= "string" then
                error("sip.Metrics: extra must return a string or nil, got " .. type(text), 0)
            end
            core.sipbind_text_put(sink, text)
        end
    end
    local rc, p = core.sip_metrics_create(loop_p(loop), listen, o, fn)
    if rc < 0 then
        raise(rc, ("sip.Metrics: cannot serve metrics on '%s': %s"):format(listen,
            core.sip_strerror(rc)))
    end
    return setmetatable({ _p = p, _loop = loop, _listen = listen }, Metrics)
end

--- Stops serving: open HTTP connections are closed, the port is free again. Idempotent.
function Metrics.methods.close(m)
    local p = rawget(m, "_p")
    if not p then return end
    rawset(m, "_p", nil)
    core.sip_metrics_close(p)
    core.sip_metrics_unref(p)
end
--- The TCP port it listens on (the one chosen for port 0); 0 once closed.
Metrics.props.port = function(m)
    local p = rawget(m, "_p")
    return p and core.sip_metrics_get_port(p) or 0
end
--- true once close() ran (or the loop closed).
Metrics.props.closed = function(m)
    local p = rawget(m, "_p")
    return p == nil or core.sip_metrics_get_port(p) == 0
end
--- The loop whose counters it serves.
Metrics.props.loop = function(m) return rawget(m, "_loop") end
--- The option names the options table takes besides extra (the fields of sip_metrics_opts_t).
Metrics.props.OPTIONS = function() return OPTIONS end
Metrics.__close = Metrics.methods.close
Metrics.__gc = function(m)
    local p = rawget(m, "_p")
    if p then
        rawset(m, "_p", nil)
        core.sip_metrics_unref(p)
    end
end
return M
