-- SPDX-License-Identifier: MIT
-- libsip for Lua: destinations of the transport layer and the RFC 3263 resolver.
local core = require "libsip_core"
local errors = require "libsip.errors"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type, tostring, tonumber = rawget, rawset, setmetatable,
    type, tostring, tonumber
local raise, check, closed, class = errors._raise, errors._check, errors._closed, errors._class
local check_opts, set = errors._check_opts, errors._set
local loop_p, resume, current_task = loopm._loop_p, loopm._resume, loopm._current_task

local M = {}

-- "udp:127.0.0.1:5060", "tcp:[::1]:5061" or {transport=, host=, port=} to a sip_netinfo_t.
local function dest_netinfo(dst)
    local tname, host, port
    if type(dst) == "string" then
        tname, host, port = dst:match("^(%a+):%[([^%]]+)%]:(%d+)$")
        if not tname then tname, host, port = dst:match("^(%a+):([^:]+):(%d+)$") end
        if not tname then raise(core.SIP_EINVAL, "bad destination '" .. dst .. "'") end
    elseif type(dst) == "table" then
        tname, host, port = dst.transport or "udp", dst.host, dst.port
    else
        raise(core.SIP_EINVAL, "destination expected")
    end
    if type(host) ~= "string" or #host == 0 or #host > 47 then
        raise(core.SIP_EINVAL, "destination needs an IP address")
    end
    local t = core.sip_transport_from_name(tname)
    if t == core.SIP_TRANSPORT_NONE then
        raise(core.SIP_EINVAL, "unknown transport '" .. tostring(tname) .. "'")
    end
    local ni = core.sip_netinfo_t()
    ni.transport = t
    ni.remote_ip = host
    ni.remote_port = tonumber(port)
    return ni
end

-- A received or resolved sip_netinfo_t as a table.
local function target_table(ni)
    local host = ni.remote_ip
    local t = core.sip_transport_param(ni.transport)
    local shown = host:find(":", 1, true) and "[" .. host .. "]" or host
    return { transport = t, host = host, port = ni.remote_port,
        spec = t .. ":" .. shown .. ":" .. ni.remote_port }
end

---------------------------------------------------------------------------------------------------
-- Resolver: RFC 3263 server location (NAPTR, SRV, A/AAAA) with a cache

local Resolver = class("Resolver")
local RESOLVER_KEYS = set { "loop", "servers", "timeout_ms", "tries", "transports", "cache_max" }

-- transports = {"udp", "tcp"} (or one name) to sip_resolver_opts_t.transports: one bit
-- (1 << sip_transport_type_t) per transport.
local function transport_bits(list)
    if type(list) == "string" then list = { list } end
    if type(list) ~= "table" then
        raise(core.SIP_EINVAL, "Resolver: transports must be a list of names (udp, tcp, tls, "
            .. "ws, wss), got " .. type(list))
    end
    local bits = 0
    for _, name in ipairs(list) do
        local n = type(name) == "string" and core.sip_transport_from_name(name)
            or core.SIP_TRANSPORT_NONE
        if n == core.SIP_TRANSPORT_NONE then
            raise(core.SIP_EINVAL, "Resolver: unknown transport " .. tostring(name)
                .. " in transports (udp, tcp, tls, ws, wss)")
        end
        bits = bits | (1 << n)
    end
    if bits == 0 then raise(core.SIP_EINVAL, "Resolver: transports names no transport") end
    return bits
end

local function count_opt(cfg, k)
    local v = cfg[k]
    if v == nil then return nil end
    if math.type(v) ~= "integer" or v < 0 then
        raise(core.SIP_EINVAL, ("Resolver: %s must be an integer >= 0, got %s"):format(k,
            tostring(v)))
    end
    return v
end

--- sip.Resolver{ servers = "127.0.0.1:5353,[::1]:53" (nil: the system's, resolv.conf),
---               transports = { "udp", "tcp" } (nil: UDP, TCP and TLS), timeout_ms =, tries =
---               (per DNS try; nil: 2000 ms and 2), cache_max = (nil: 1024; 0: no cache),
---               loop = Loop (nil: the loop of the Stack it is given to) }
--- RFC 3263 only picks targets among the transports given.
function M.Resolver(cfg)
    cfg = check_opts(cfg, RESOLVER_KEYS, "sip.Resolver")
    local o = core.sip_resolver_opts_t()
    core.sip_resolver_opts_init(o)
    if cfg.servers ~= nil then
        if type(cfg.servers) ~= "string" then
            raise(core.SIP_EINVAL, "Resolver: servers must be a string such as "
                .. "\"127.0.0.1:5353\", got " .. type(cfg.servers))
        end
        o.servers = cfg.servers
    end
    local timeout_ms, tries = count_opt(cfg, "timeout_ms"), count_opt(cfg, "tries")
    if timeout_ms and timeout_ms > 0 then o.timeout_ms = timeout_ms end
    if tries and tries > 0 then o.tries = tries end
    local cache_max = count_opt(cfg, "cache_max")
    if cache_max then o.cache_max = cache_max end
    if cfg.transports ~= nil then o.transports = transport_bits(cfg.transports) end
    local r = setmetatable({ _opts = o }, Resolver)
    if cfg.loop ~= nil then r:_bind(cfg.loop) end
    return r
end

--- Starts the resolver on a loop (a Stack given it does so); again on the same loop: nothing.
function Resolver.methods._bind(r, l)
    if rawget(r, "_closed") then closed() end
    if rawget(r, "_p") then
        if rawget(r, "_loop") ~= l then
            raise(core.SIP_EINVAL, "Resolver: it already runs on another loop")
        end
        return r
    end
    local o = rawget(r, "_opts")
    local rc, p = core.sip_resolver_create(loop_p(l), o)
    if rc < 0 then
        raise(rc, ("Resolver: cannot start it (servers %s): %s"):format(
            o.servers ~= nil and tostring(o.servers) or "of the system", core.sip_strerror(rc)))
    end
    rawset(r, "_p", p)
    rawset(r, "_loop", l)
    return r
end

local function resolver_p(r)
    local p = rawget(r, "_p")
    if p then return p end
    if rawget(r, "_closed") then closed() end
    raise(core.SIP_EINVAL, "Resolver: no loop yet: give it to sip.Stack{resolver = r} or "
        .. "create it with loop = ...")
end

--- The DNS servers given, or nil for the system's.
Resolver.props.servers = function(r)
    local o = rawget(r, "_opts")
    local v = o.servers
    if v == nil or v == "" then return nil end
    return v
end
--- The transports RFC 3263 may pick, by name.
Resolver.props.transports = function(r)
    local bits, out = rawget(r, "_opts").transports, {}
    for t = core.SIP_TRANSPORT_UDP, core.SIP_TRANSPORT_WSS do
        if bits & (1 << t) ~= 0 then out[#out + 1] = core.sip_transport_param(t) end
    end
    return out
end
Resolver.props.closed = function(r) return rawget(r, "_closed") == true end

--- Inside a task: where to send a request for this URI (RFC 3263 §4), in order:
--- { {transport=, host=, port=, spec=}, ... }, or nil and an Error (SIP_ENOENT: none found;
--- ETIMEDOUT: no DNS answer).
function Resolver.methods.resolve(r, uri)
    local p = resolver_p(r)
    if type(uri) ~= "string" then
        if type(uri) == "table" and getmetatable(uri) and getmetatable(uri).__name == "libsip.Uri"
        then
            uri = tostring(uri)
        else
            raise(core.SIP_EINVAL, "resolve: a URI (string or sip.Uri) expected, got " .. type(uri))
        end
    end
    local co, l = current_task("resolver:resolve")
    local rc, up = core.sip_uri_parse(uri)
    if rc < 0 then raise(rc, "resolve: malformed URI '" .. uri .. "'") end
    check(core.sip_resolve(p, up, function(_, status, targets)
        local _ = up -- the parsed URI lives as long as the lookup
        if status < 0 then
            resume(l, co, nil, errors._new_error(status, "resolve " .. uri .. ": "
                .. core.sip_strerror(status)))
            return
        end
        local out = {}
        for i, ni in ipairs(targets) do out[i] = target_table(ni) end
        resume(l, co, out)
    end))
    return coroutine.yield()
end

--- Forgets every cached answer: the next lookups ask the DNS servers again.
function Resolver.methods.flush(r)
    core.sip_resolver_flush(resolver_p(r))
end

--- Cancels every pending lookup and releases the resolver. Idempotent.
function Resolver.methods.close(r)
    rawset(r, "_closed", true)
    local p = rawget(r, "_p")
    if p then
        rawset(r, "_p", nil)
        core.sip_resolver_close(p)
        core.sip_resolver_unref(p)
    end
end
Resolver.__gc = function(r)
    local p = rawget(r, "_p")
    if p then
        rawset(r, "_p", nil)
        core.sip_resolver_unref(p)
    end
end
Resolver.__close = Resolver.methods.close
Resolver.__tostring = function(r)
    return ("libsip.Resolver(%s)"):format(Resolver.props.servers(r) or "system servers")
end

M._dest_netinfo, M._target_table, M._Resolver = dest_netinfo, target_table, Resolver
return M
