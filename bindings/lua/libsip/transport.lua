-- SPDX-License-Identifier: MIT
-- libsip for Lua: transports (listening points, connections, sends), destinations and the
-- RFC 3263 resolver.
local core = require "libsip_core"
local errors = require "libsip.errors"
local loopm = require "libsip.loop"
local message = require "libsip.message"

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
    return { transport = t, host = host, port = ni.remote_port, server_name = ni.server_name,
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

---------------------------------------------------------------------------------------------------
-- What a Transport and a Stack share: listening points and sends

-- Opens a listening point; the listener table. what names the caller in errors.
local function listen_on(tp, loop, spec, what)
    errors._arg_string(spec, what .. ': a listening point such as "udp:127.0.0.1:5060"')
    -- The transport also logs the failure; the error raised here says it once, with the errno.
    local idx = loop:_without_log(function(level, module)
        return level == core.SIP_LOG_ERROR and module == "transport"
    end, function() return core.sip_transport_listen(tp, spec) end)
    if idx < 0 then
        raise(idx, ("cannot listen on %s: %s (%s)"):format(spec, core.sip_strerror(idx),
            errors._err_name(idx)))
    end
    return idx + 1
end

-- { {transport=, host=, port=, spec="udp:127.0.0.1:5060"}, ... }
local function listener_list(tp)
    local out = {}
    for i = 0, core.sip_transport_listener_count(tp) - 1 do
        local rc, info = core.sip_transport_listener_info(tp, i)
        check(rc)
        local t = core.sip_transport_param(info.transport)
        local host = info.local_ip
        local shown = host:find(":", 1, true) and "[" .. host .. "]" or host
        out[#out + 1] = {
            transport = t, host = host, port = info.local_port,
            spec = t .. ":" .. shown .. ":" .. info.local_port,
        }
    end
    return out
end

-- Sends mp to ni, or (ni nil) where its Route or Request-URI says (RFC 3263). Inside a task it
-- waits for the outcome and returns the status; outside it returns 0 once queued.
local function send_on(tp, mp, ni, what)
    local co, main = coroutine.running()
    local l = not main and loopm._task_loops[co]
    local cb = nil
    if l then cb = function(_, status) resume(l, co, status) end end
    local rc
    if ni then
        rc = core.sip_transport_send(tp, mp, ni, cb)
    else
        rc = core.sip_transport_send_request(tp, mp, cb)
    end
    if rc == core.SIP_ENOENT and core.sip_msg_get_via(mp) == nil then
        local kind = core.sip_msg_is_request(mp) == 1
            and "the " .. core.sip_msg_get_method_str(mp) .. " request" or "the response"
        raise(rc, ("%s: %s has no Via (a request needs one with a branch, RFC 3261 "
            .. "§8.1.1.7: sip.branch())"):format(what, kind))
    end
    if rc < 0 then raise(rc, what .. ": cannot send: " .. core.sip_strerror(rc)) end
    if not l then return 0 end
    return coroutine.yield()
end

-- Sends a response where RFC 3261 §18.2.2 says (the request's connection or Via).
local function send_response_on(tp, rsp, what)
    local rp = message._check_msg(rsp, what)
    local rc = core.sip_transport_send_response(tp, rp)
    if rc == core.SIP_ENOENT and core.sip_msg_get_via(rp) == nil then
        raise(rc, what .. ": the response has no Via to send it by (RFC 3261 §18.2.2)")
    end
    if rc < 0 then raise(rc, what .. ": " .. core.sip_strerror(rc)) end
end

---------------------------------------------------------------------------------------------------
-- Transport: the listening points and connections of one endpoint (sip_transport_t), for
-- scripts that want the messages without a Stack's dispatch (Python: libsip.Transport).

local Transport = class("Transport")
local TRANSPORT_KEYS = set { "loop", "listen", "options", "on_message" }
-- The option names options = {...} takes (the fields of sip_transport_opts_t), as Python's
-- Transport.OPTIONS.
local OPTIONS = { "udp_buffer", "mtu", "max_connections", "max_conn_buffer", "idle_timeout_ms",
    "handshake_timeout_ms", "parse", "tls_ca_file", "tls_cert_file", "tls_key_file",
    "tls_verify", "tls_verify_client", "ws_path", "via_host", "reuseport" }

local function transport_p(t)
    local p = rawget(t, "_p")
    if not p then raise(core.SIP_ECLOSED, "transport is closed") end
    return p
end

local function on_message(t, mp)
    local fn = rawget(t, "_handler")
    if not fn then return end
    core.sip_msg_ref(mp)
    rawget(t, "_loop"):spawn(fn, message._wrap_msg(mp))
end

-- A Transport object over tp, which it takes a reference to.
local function wrap_transport(tp, loop, stack)
    local t = setmetatable({ _p = core.sip_transport_ref(tp), _loop = loop, _stack = stack },
        Transport)
    return t
end

--- sip.Transport{ loop = Loop (required), listen = { "udp:127.0.0.1:0", ... } or one string,
---                options = { mtu = 1400, ... } (the fields of sip_transport_opts_t, checked
---                by name and type; parse = {...} nested), on_message = fn }
--- fn(msg) runs in a new task for every message received (requests and responses). An
--- unknown key raises SIP_EINVAL naming it.
local function new_transport(cfg)
    cfg = check_opts(cfg, TRANSPORT_KEYS, "sip.Transport")
    local loop = cfg.loop
    if getmetatable(loop) ~= loopm._Loop then
        raise(core.SIP_EINVAL, "sip.Transport: loop must be a sip.Loop, got " .. type(loop))
    end
    local listen = cfg.listen
    if type(listen) == "string" then listen = { listen } end
    if listen ~= nil and type(listen) ~= "table" then
        raise(core.SIP_EINVAL, "sip.Transport: listen must be a string or a list of strings "
            .. "such as \"udp:127.0.0.1:5060\", got " .. type(listen))
    end
    if cfg.on_message ~= nil then errors._arg_fn(cfg.on_message, "sip.Transport: on_message") end
    local o = core.sip_transport_opts_t()
    core.sip_transport_opts_init(o)
    if cfg.options ~= nil then errors._set_struct(o, cfg.options, "sip.Transport: options") end
    local rc, tp = core.sip_transport_create(loop_p(loop), o)
    if rc < 0 then raise(rc, "sip.Transport: cannot create it: " .. core.sip_strerror(rc)) end
    local t = setmetatable({ _p = tp, _loop = loop, _handler = cfg.on_message }, Transport)
    -- The handler holds the object weakly, so a transport nobody keeps can be collected.
    local weak = setmetatable({ t = t }, { __mode = "v" })
    check(core.sip_transport_set_handler(tp, function(_, mp)
        local tt = weak.t
        if tt then on_message(tt, mp) end
    end))
    local ok, err = pcall(function()
        for _, spec in ipairs(listen or {}) do t:listen(spec) end
    end)
    if not ok then
        -- A listen that fails (address in use...) leaves nothing open behind it.
        t:close()
        error(err, 0)
    end
    return t
end
M.Transport = setmetatable({ OPTIONS = OPTIONS }, { __call = function(_, cfg)
    return new_transport(cfg)
end, __index = Transport.methods })

--- The Loop this transport runs on.
Transport.props.loop = function(t) return rawget(t, "_loop") end
--- The option names options = {...} takes.
Transport.props.OPTIONS = function() return OPTIONS end
--- Open stream connections (TCP, TLS, WS, WSS), accepted and made.
Transport.props.connection_count = function(t)
    return core.sip_transport_connection_count(transport_p(t))
end

--- fn(msg) in a new task for every message received (nil: none). Returns t.
function Transport.methods.on_message(t, fn)
    transport_p(t)
    if rawget(t, "_stack") then
        raise(core.SIP_EINVAL, "on_message: a stack's transport hands its messages to the "
            .. "stack: use stack:on_request() and stack:on_response()")
    end
    if fn ~= nil then errors._arg_fn(fn, "on_message: handler") end
    rawset(t, "_handler", fn)
    return t
end

--- Opens a listening point ("udp:127.0.0.1:0" picks a free port). Returns its address.
function Transport.methods.listen(t, spec)
    local tp = transport_p(t)
    return listener_list(tp)[listen_on(tp, rawget(t, "_loop"), spec, "listen")]
end

--- The listening points: { {transport=, host=, port=, spec="udp:127.0.0.1:5060"}, ... }.
function Transport.methods.listeners(t) return listener_list(transport_p(t)) end

--- Sends a message to an explicit destination ("udp:127.0.0.1:5060" or {transport=, host=,
--- port=}); the top Via is filled in. Inside a task it waits for the outcome and returns the
--- status (0, or a negative error code); outside it returns 0 once queued.
function Transport.methods.send(t, msg, dst)
    local tp = transport_p(t)
    local mp = message._check_msg(msg, "transport:send")
    if dst == nil then
        raise(core.SIP_EINVAL, "transport:send: a destination is needed (transport:send_request "
            .. "locates a request from its Route or Request-URI)")
    end
    return send_on(tp, mp, dest_netinfo(dst), "transport:send")
end

--- Sends a request where its Route or Request-URI says (RFC 3263 through the resolver given
--- to set_resolver); waits as send does.
function Transport.methods.send_request(t, msg)
    local tp = transport_p(t)
    local mp = message._check_msg(msg, "transport:send_request")
    if core.sip_msg_is_request(mp) == 0 then
        raise(core.SIP_EINVAL, "transport:send_request: a response goes with "
            .. "transport:send_response(rsp)")
    end
    return send_on(tp, mp, nil, "transport:send_request")
end

--- Sends a response back the way its request came (RFC 3261 §18.2.2).
function Transport.methods.send_response(t, rsp)
    send_response_on(transport_p(t), rsp, "transport:send_response")
end

--- Sets the RFC 3263 resolver send_request locates requests with (nil removes it); it starts
--- on this transport's loop. A Stack sets its own.
function Transport.methods.set_resolver(t, r)
    local tp = transport_p(t)
    if r ~= nil and getmetatable(r) ~= Resolver then
        raise(core.SIP_EINVAL, "set_resolver: a sip.Resolver (or nil) expected, got " .. type(r))
    end
    if r then r:_bind(rawget(t, "_loop")) end
    check(core.sip_transport_set_resolver(tp, r and resolver_p(r) or nil))
    rawset(t, "_resolver", r)
    return t
end

--- The sip.Guard in front of everything received, or nil (see set_guard); a guard set
--- elsewhere (a Server's) too.
Transport.props.guard = function(t)
    local p = rawget(t, "_p")
    local gp = p and core.sip_transport_get_guard(p)
    if not gp then return nil end
    local g = rawget(t, "_guard")
    if g and rawget(g, "_p") then return g end
    g = require("libsip.guard")._adopt_guard(core.sip_guard_ref(gp))
    rawset(t, "_guard", g)
    return g
end

--- Puts a sip.Guard in front of everything received (nil removes it): what blocked sources
--- send is dropped before parsing, each request counts against the guard's rate limit, and a
--- new connection from a blocked source is closed at once. Returns t.
function Transport.methods.set_guard(t, g)
    local tp = transport_p(t)
    local Guard = errors._classes.Guard
    if g ~= nil and (getmetatable(g) ~= Guard or not rawget(g, "_p")) then
        raise(core.SIP_EINVAL, "set_guard: a sip.Guard (or nil) expected, got " .. type(g))
    end
    local rc = core.sip_transport_set_guard(tp, g and rawget(g, "_p") or nil)
    if rc == core.SIP_EINVAL then
        raise(rc, "set_guard: the guard was made on another loop than the transport's")
    end
    check(rc)
    rawset(t, "_guard", g)
    return t
end

-- Priorities of the handler chain by name (sip_handler_prio_t); numbers pass as they are.
local PRIORITIES = { first = core.SIP_HANDLER_PRIO_FIRST, txn = core.SIP_HANDLER_PRIO_TXN,
    ua = core.SIP_HANDLER_PRIO_UA, app = core.SIP_HANDLER_PRIO_APP }

--- Adds fn(msg) to the chain every received message goes through, by priority (lower first;
--- equal priorities in the order added): "txn" (16) is the transaction layer, "ua" (32) a
--- user agent core, "app" (64, the default) the application (on_message, a Stack's handlers),
--- "first" (0) a tap before them all; or any integer. fn runs inside the dispatch, not in a
--- task (it must not wait), and returns true (or a non-zero number) to take the message (the
--- chain stops there), or nil/false/0 to pass it on; an error passes it on and is reported.
--- A message nobody takes is dropped. Returns the handler's id for remove_handler(); the
--- transport keeps fn until then or close().
function Transport.methods.add_handler(t, fn, priority)
    local tp = transport_p(t)
    errors._arg_fn(fn, "add_handler: handler")
    local prio = priority
    if prio == nil then
        prio = core.SIP_HANDLER_PRIO_APP
    elseif type(prio) == "string" then
        prio = PRIORITIES[prio]
        if not prio then
            raise(core.SIP_EINVAL, "add_handler: unknown priority '" .. priority
                .. "' (first, txn, ua, app, or an integer)")
        end
    elseif math.type(prio) ~= "integer" or prio < -2147483648 or prio > 2147483647 then
        raise(core.SIP_EINVAL, "add_handler: priority must be a name or an integer, got "
            .. tostring(priority))
    end
    -- The handler holds the object weakly, so a transport nobody keeps can be collected.
    local weak = setmetatable({ t = t }, { __mode = "v" })
    local id = core.sip_transport_add_handler(tp, prio, function(_, mp)
        if not weak.t then return false end
        core.sip_msg_ref(mp)
        return fn(message._wrap_msg(mp))
    end)
    if id < 0 then raise(id, "add_handler: " .. core.sip_strerror(id)) end
    return id
end

--- Removes a handler add_handler returned the id of; it is not called again (also when
--- removed from inside a handler). Raises SIP_ENOENT for an unknown id.
function Transport.methods.remove_handler(t, id)
    local tp = transport_p(t)
    if math.type(id) ~= "integer" then
        raise(core.SIP_EINVAL, "remove_handler: a handler id (integer) expected, got "
            .. type(id))
    end
    if id <= 0 or id > 2147483647 then
        raise(core.SIP_ENOENT, "remove_handler: no handler " .. id)
    end
    local rc = core.sip_transport_remove_handler(tp, id)
    if rc < 0 then raise(rc, "remove_handler: handler " .. id .. ": " .. core.sip_strerror(rc)) end
end

--- Closes every listening point and connection. Idempotent.
function Transport.methods.close(t)
    local p = rawget(t, "_p")
    if not p then return end
    rawset(t, "_p", nil)
    rawset(t, "_handler", nil)
    rawset(t, "_guard", nil)
    core.sip_transport_close(p)
    core.sip_transport_unref(p)
end
Transport.__gc = function(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        if not rawget(t, "_stack") then
            -- As a Stack's __gc: the link to the resolver goes first, so nothing stays live.
            core.sip_transport_set_resolver(p, nil)
        end
        core.sip_transport_unref(p)
    end
end
Transport.__close = Transport.methods.close

M._dest_netinfo, M._target_table, M._Resolver = dest_netinfo, target_table, Resolver
M._listen_on, M._listener_list, M._send_on, M._send_response_on = listen_on, listener_list,
    send_on, send_response_on
M._wrap_transport = wrap_transport
return M
