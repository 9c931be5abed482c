-- SPDX-License-Identifier: MIT
-- libsip for Lua: a guard against abuse from the open internet, per source address
-- (sip/guard.h).
--
--   local guard = sip.Guard(stack.loop, { rate_max = 200, rate_window_ms = 2000,
--       auth_max_failures = 10, allow = { "10.0.0.0/8", "::1" } })
--   stack.transport:set_guard(guard)
--   local proxy = sip.Proxy(stack, { auth = server, users = users, guard = guard })
--
-- Like Kamailio's pike and the fail2ban jails beside it: a request-rate limit and a limit on
-- failed digest authentications per source address, each with a block time, and networks that
-- are never limited. Given to a transport, it drops what blocked sources send before parsing
-- it; given to a Proxy, it is told of every failed authentication. The table of sources is
-- bounded (max_sources; the least recently seen leaves first, blocked ones last), and a warning
-- line about blocks is written at most every log_interval_ms.

local core = require "libsip_core"
local errors = require "libsip.errors"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type, ipairs, pairs = rawget, rawset, setmetatable, type,
    ipairs, pairs
local raise, class = errors._raise, errors._class
local loop_p = loopm._loop_p

local M = {}

local Guard = class("Guard")

-- The fields of sip_guard_opts_t the options table takes (Guard.OPTIONS, as Python's).
local OPTIONS = { "rate_window_ms", "rate_max", "rate_block_ms", "auth_window_ms",
    "auth_max_failures", "auth_block_ms", "max_sources", "log_interval_ms" }
local OPTION_SET = errors._set(OPTIONS)
local KEYS = errors._set { "allow", "rate_window_ms", "rate_max", "rate_block_ms",
    "auth_window_ms", "auth_max_failures", "auth_block_ms", "max_sources", "log_interval_ms" }

local function guard_p(g)
    local p = rawget(g, "_p")
    if not p then raise(core.SIP_ECLOSED, "guard is closed") end
    return p
end

local function ms(v, what)
    if math.type(v) ~= "integer" then
        raise(core.SIP_EINVAL, ("%s must be an integer, got %s"):format(what,
            type(v) == "number" and tostring(v) or type(v)))
    end
    if v < 0 or v >= 1 << 32 then
        raise(core.SIP_EINVAL, ("%s=%d is out of range"):format(what, v))
    end
    return v
end

-- A sip_guard_opts_t from the defaults, then base (the options in force), then opts.
local function make_opts(opts, base, what)
    local o = core.sip_guard_opts_t()
    core.sip_guard_opts_init(o)
    for k, v in pairs(base or {}) do o[k] = v end
    for k, v in pairs(opts) do
        if OPTION_SET[k] then o[k] = ms(v, what .. ": option '" .. k .. "'") end
    end
    return o
end

local function current(o)
    local out = {}
    for _, k in ipairs(OPTIONS) do out[k] = o[k] end
    return out
end

local function ip_arg(ip, what)
    if type(ip) ~= "string" then
        raise(core.SIP_EINVAL, ("%s: an IP address is a string, got %s"):format(what, type(ip)))
    end
    return ip
end

--- Per-source limits on a loop, whose clock, log and counters it uses: sip.Guard(loop, {
--- rate_window_ms = 2000, rate_max = 0 (requests per source and window before a block; 0: no
--- rate limit), rate_block_ms = 60000, auth_window_ms = 600000, auth_max_failures = 10 (0: no
--- limit), auth_block_ms = 900000, max_sources = 65536, log_interval_ms = 10000, allow = {
--- "192.0.2.7", "10.0.0.0/8", "2001:db8::/32" } (never limited) }) (the fields of
--- sip_guard_opts_t). Raises SIP_EINVAL for an argument of the wrong type, an unknown option, a
--- value out of range, a limit with a zero window or block time, or a malformed network. The
--- guard closes with its loop (it limits nothing after that); close() drops this object's
--- reference (a transport or proxy given the guard keeps its own).
function M.Guard(loop, opts)
    if type(loop) ~= "table" or getmetatable(loop) ~= loopm._Loop then
        raise(core.SIP_EINVAL, "sip.Guard: a sip.Loop expected, got " .. type(loop))
    end
    opts = errors._check_opts(opts, KEYS, "sip.Guard")
    local allow = opts.allow or {}
    if type(allow) == "string" then allow = { allow } end
    if type(allow) ~= "table" then
        raise(core.SIP_EINVAL, "sip.Guard: allow must be a list of strings, got " .. type(allow))
    end
    for _, a in ipairs(allow) do ip_arg(a, "sip.Guard: allow") end
    local o = make_opts(opts, nil, "sip.Guard")
    local rc, p = core.sip_guard_create(loop_p(loop), o)
    if rc == core.SIP_EINVAL then
        raise(rc, "sip.Guard: cannot create the guard: a limit needs a window and a block "
            .. "time, max_sources at least 1")
    end
    if rc < 0 then raise(rc, "sip.Guard: cannot create the guard: " .. core.sip_strerror(rc)) end
    local g = setmetatable({ _p = p, _loop = loop, _opts = current(o) }, Guard)
    for _, a in ipairs(allow) do g:allow(a) end
    return g
end

--- Changes the limits named (a configuration reload); the others stay. Sources keep their
--- counts and blocks. Raises as sip.Guard does.
function Guard.methods.set_opts(g, opts)
    local p = guard_p(g)
    local keys = {}
    for _, k in ipairs(OPTIONS) do keys[k] = true end
    opts = errors._check_opts(opts, keys, "set_opts")
    local o = make_opts(opts, rawget(g, "_opts"), "set_opts")
    local rc = core.sip_guard_set_opts(p, o)
    if rc < 0 then
        raise(rc, "guard options refused: a limit needs a window and a block time, "
            .. "max_sources at least 1")
    end
    rawset(g, "_opts", current(o))
end

--- Never limits or blocks these addresses: "192.0.2.7", "10.0.0.0/8", "::1",
--- "2001:db8::/32". Raises SIP_EINVAL for a malformed one.
function Guard.methods.allow(g, cidr)
    local rc = core.sip_guard_allow(guard_p(g), ip_arg(cidr, "allow"))
    if rc < 0 then
        raise(rc, ("allow: '%s' is not an address or network (\"10.0.0.0/8\", "
            .. "\"2001:db8::/32\")"):format(cidr))
    end
end

local function call(g, fn, ip, what)
    local rc = fn(guard_p(g), ip_arg(ip, what))
    if rc == core.SIP_EINVAL then raise(rc, ("%s: '%s' is not an IP address"):format(what, ip)) end
    return rc
end

--- Counts one request from ip against the rate limit. true when it may go on, false when the
--- source is blocked (now, or by this request).
function Guard.methods.check(g, ip) return call(g, core.sip_guard_check, ip, "check") == 0 end

--- Reports a failed authentication from ip (a wrong password, an unknown user). true when the
--- source may go on, false when it is blocked (now, or by this failure).
function Guard.methods.auth_failed(g, ip)
    return call(g, core.sip_guard_auth_failed, ip, "auth_failed") == 0
end

--- Whether ip is blocked now (counts nothing).
function Guard.methods.is_blocked(g, ip)
    return call(g, core.sip_guard_is_blocked, ip, "is_blocked") == 1
end

--- Blocks ip for ms milliseconds (nil or 0: rate_block_ms) by hand. An allowed address is
--- never blocked.
function Guard.methods.block(g, ip, msecs)
    msecs = ms(msecs or 0, "block: ms")
    call(g, function(p, a) return core.sip_guard_block(p, a, msecs) end, ip, "block")
end

--- Lifts a block and forgets the source's counts. Raises SIP_ENOENT for a source the guard
--- does not know.
function Guard.methods.unblock(g, ip)
    local rc = call(g, core.sip_guard_unblock, ip, "unblock")
    if rc < 0 then raise(rc, "unblock: the guard knows nothing of " .. ip) end
end

--- Drops this object's reference: a transport or proxy given the guard keeps using it.
--- Idempotent.
function Guard.methods.close(g)
    local p = rawget(g, "_p")
    if not p then return end
    rawset(g, "_p", nil)
    core.sip_guard_unref(p)
end

--- The number of sources blocked now.
Guard.props.blocked_count = function(g)
    local p = rawget(g, "_p")
    return p and core.sip_guard_blocked_count(p) or 0
end
--- The limits in force (a copy): the OPTIONS names and their values.
Guard.props.options = function(g)
    local out = {}
    for k, v in pairs(rawget(g, "_opts")) do out[k] = v end
    return out
end
--- true once close() ran.
Guard.props.closed = function(g) return rawget(g, "_p") == nil end
--- The loop whose clock, log and counters the guard uses.
Guard.props.loop = function(g) return rawget(g, "_loop") end
--- The option names the options table takes besides allow (the fields of sip_guard_opts_t).
Guard.props.OPTIONS = function() return OPTIONS end
Guard.__close = Guard.methods.close
Guard.__gc = function(g)
    local p = rawget(g, "_p")
    if p then
        rawset(g, "_p", nil)
        core.sip_guard_unref(p)
    end
end
Guard.__tostring = function(g)
    if not rawget(g, "_p") then return "<Guard closed>" end
    local o = rawget(g, "_opts")
    return ("<Guard rate %d/%d ms, auth %d/%d ms, %d blocked>"):format(o.rate_max,
        o.rate_window_ms, o.auth_max_failures, o.auth_window_ms, g.blocked_count)
end

M._Guard = Guard
return M
