-- SPDX-License-Identifier: MIT
-- libsip for Lua: the configuration and the server `sipd` runs (sip/config.h, sip/server.h).
--
--   local cfg = sip.Config("sipd.yaml")          -- the embedded defaults, then the file
--   cfg:set("log.level", "info")
--   local srv <close> = sip.Server{ config = cfg, listen = { "udp:127.0.0.1:5060" },
--       route = function(req)                   -- a task per request (a ProxyRequest)
--           if req.method == "REGISTER" then return req:default_route() end
--           req:proxy(req:lookup(), { record_route = true })
--       end }
--   srv:run()
--
-- Keys are the configuration file's dotted paths ("listen", "tls.cert", "limits.rate"); in
-- sip.Server{...} the first dot may be written "_" (tls_cert =, log_level =), and a section may
-- be a table (tls = { cert = ... }). An unknown key or a bad value raises SIP_ECONFIG with
-- key, reason, and line and column for a file. The server's parts (proxy, location, registrar,
-- users, the stack with its loop, transport and transaction layer) are the ones it made.

local core = require "libsip_core"
local errors = require "libsip.errors"
local loopm = require "libsip.loop"
local proxym = require "libsip.proxy"
local txnm = require "libsip.txn"
local locationm = require "libsip.location"
local registrarm = require "libsip.registrar"
require "libsip.stack"

local rawget, rawset, setmetatable, type, tostring = rawget, rawset, setmetatable, type, tostring
local raise, class = errors._raise, errors._class
local ECONFIG = core.SIP_ECONFIG

local M = {}

local Config = class("Config")
local Server = class("Server")

---------------------------------------------------------------------------------------------------
-- Configuration

local function text(v)
    return v or ""
end

-- Raises SIP_ECONFIG (or the code) from a sip_parse_error_t copy.
local function config_error(rc, err, name, what)
    if rc == core.SIP_ENOMEM then raise(rc) end
    if rc ~= ECONFIG then
        local reason = err and text(err.reason) or ""
        if reason == "" then reason = (what and what .. ": " or "") .. core.sip_strerror(rc) end
        raise(rc, reason)
    end
    if err == nil then raise(rc, what or core.sip_strerror(rc)) end
    local key, reason, line = text(err.header), text(err.reason), err.line
    -- libsip's reason names the file, line and key when it has them.
    local msg = reason ~= "" and reason or what or core.sip_strerror(rc)
    if name and name ~= "" and line > 0 and not msg:find(name, 1, true) then
        msg = name .. ":" .. line .. ": " .. msg
    end
    if key ~= "" and not msg:find(key, 1, true) then msg = key .. ": " .. msg end
    raise(rc, msg, { line = line, column = err.column, key = key })
end

local KNOWN, LISTS = nil, {}

local function known()
    if not KNOWN then
        KNOWN = {}
        local i = 0
        while true do
            local k = core.sip_config_key_at(i)
            if k == nil then break end
            KNOWN[#KNOWN + 1] = k
            KNOWN[k] = true
            i = i + 1
        end
    end
    return KNOWN
end

-- Whether a key holds a list: reset empties a list and gives a scalar its default.
local function is_list(key)
    local v = LISTS[key]
    if v == nil then
        local rc, p = core.sip_config_create()
        errors._check(rc)
        core.sip_config_reset(p, key)
        v = core.sip_config_count(p, key) == 0
        core.sip_config_unref(p)
        LISTS[key] = v
    end
    return v
end

local function check_key(key)
    if type(key) ~= "string" then
        raise(core.SIP_EINVAL, "a configuration key is a string, got " .. type(key))
    end
    if not known()[key] then raise(ECONFIG, key .. ": unknown key", { key = key, line = 0 }) end
    return key
end

local function value_text(key, v)
    local t = type(v)
    if t == "boolean" then return v and "true" or "false" end
    if t == "number" then return tostring(v) end
    if t == "string" then return v end
    raise(core.SIP_EINVAL, key .. ": a value is a string, number or boolean, got " .. t)
end

local function cfg_p(c) return rawget(c, "_p") end

local function adopt_config(p)
    return setmetatable({ _p = p }, Config)
end

--- A configuration: sip.Config() holds the embedded defaults; sip.Config(path) loads a file
--- on top; sip.Config(path, values) or sip.Config(nil, values) sets a table of keys too.
function M.Config(path, values)
    local rc, p = core.sip_config_create()
    errors._check(rc)
    local c = adopt_config(p)
    if path ~= nil then c:load(path) end
    if values ~= nil then c:update(values) end
    return c
end

--- Reads a YAML file: each key it sets replaces the value held (a list the whole list). On
--- error nothing changes. Returns the configuration.
function Config.methods.load(c, path)
    errors._arg_string(path, "config:load: path")
    local rc, err = core.sip_config_load(cfg_p(c), path)
    if rc < 0 then config_error(rc, err, path, "cannot read '" .. path .. "'") end
    return c
end

--- As load(), from YAML text; name is what errors call it ("<text>").
function Config.methods.load_text(c, yaml, name)
    errors._arg_string(yaml, "config:load_text: text")
    if name ~= nil then errors._arg_string(name, "config:load_text: name") end
    name = name or "<text>"
    local rc, err = core.sip_config_load_text(cfg_p(c), yaml, name)
    if rc < 0 then config_error(rc, err, name) end
    return c
end

--- Every known key, in the order docs/SIPD.md lists them.
function Config.methods.keys(_)
    local out = {}
    for i, k in ipairs(known()) do out[i] = k end
    return out
end

--- true for a list key (listen, domains, limits.allow).
function Config.methods.is_list(_, key)
    return is_list(check_key(key))
end

--- A key's value as text: a string, or a list of strings for a list key.
function Config.methods.get(c, key)
    check_key(key)
    local p = cfg_p(c)
    if is_list(key) then
        local out = {}
        for i = 0, core.sip_config_count(p, key) - 1 do
            out[#out + 1] = core.sip_config_get(p, key, i)
        end
        return out
    end
    return text(core.sip_config_get(p, key, 0))
end

local function add(p, key, t)
    local rc, err = core.sip_config_add(p, key, t)
    if rc < 0 then config_error(rc, err, nil, "bad value for " .. key) end
end

--- Sets a key: a string, number or boolean, or for a list key a list of them (replacing the
--- whole list); nil puts the default back. Nothing changes on error.
function Config.methods.set(c, key, value)
    check_key(key)
    local p = cfg_p(c)
    if value == nil then return c:reset(key) end
    if type(value) == "table" then
        if not is_list(key) then
            raise(ECONFIG, key .. ": takes one value, not a list", { key = key, line = 0 })
        end
        local texts = {}
        for i, v in ipairs(value) do texts[i] = value_text(key, v) end
        local trial = c:copy()
        core.sip_config_reset(cfg_p(trial), key)
        for _, t in ipairs(texts) do add(cfg_p(trial), key, t) end
        core.sip_config_reset(p, key)
        for _, t in ipairs(texts) do add(p, key, t) end
        return
    end
    local rc, err = core.sip_config_set(p, key, value_text(key, value))
    if rc < 0 then config_error(rc, err, nil, "bad value for " .. key) end
end

--- Appends a value to a list key.
function Config.methods.add(c, key, value)
    check_key(key)
    add(cfg_p(c), key, value_text(key, value))
end

--- Empties a list key, or puts a scalar key back to its default.
function Config.methods.reset(c, key)
    check_key(key)
    core.sip_config_reset(cfg_p(c), key)
end

-- (dotted key, value) pairs of a table whose values may be section tables.
local function flatten(t, prefix, out)
    for k, v in pairs(t) do
        if type(k) ~= "string" then
            raise(core.SIP_EINVAL, "a configuration key is a string, got " .. type(k))
        end
        if type(v) == "table" and getmetatable(v) == nil and v[1] == nil and next(v) ~= nil then
            flatten(v, prefix .. k .. ".", out)
        else
            out[#out + 1] = { prefix .. k, v }
        end
    end
    return out
end

--- set() for each key of a table (a section may be a table: { tls = { cert = ... } }).
function Config.methods.update(c, values)
    if type(values) ~= "table" then
        raise(core.SIP_EINVAL, "config:update: values must be a table, got " .. type(values))
    end
    for _, kv in ipairs(flatten(values, "", {})) do c:set(kv[1], kv[2]) end
end

--- Checks the whole (TLS files, a script ending in .py or .lua...): raises naming the key.
function Config.methods.check(c)
    local rc, err = core.sip_config_check(cfg_p(c))
    if rc < 0 then config_error(rc, err) end
end

--- An independent copy.
function Config.methods.copy(c)
    local rc, p = core.sip_config_clone(cfg_p(c))
    errors._check(rc)
    return adopt_config(p)
end

--- The configuration as YAML (every key, defaults included).
function Config.methods.format(c)
    local rc, t = core.sip_config_format(cfg_p(c))
    errors._check(rc)
    return t
end
Config.__tostring = function(c) return c:format() end
Config.__gc = function(c)
    local p = rawget(c, "_p")
    if p then
        rawset(c, "_p", nil)
        core.sip_config_unref(p)
    end
end

errors._check_args("Config", Config.methods, {
    get = { "key:string" }, add = { "key:string" }, reset = { "key:string" },
    is_list = { "key:string" } })

-- A key of sip.Server{...}: itself when known, else with its first "_" read as a dot.
local function keyword_key(name)
    local k = known()
    if k[name] then return name end
    local dotted = name:gsub("_", ".", 1)
    if k[dotted] then return dotted end
    raise(ECONFIG, name .. ": unknown key", { key = name, line = 0 })
end

local function make_config(config, keys)
    local cfg
    if config == nil then
        cfg = M.Config()
    elseif getmetatable(config) == Config then
        cfg = config:copy()
    elseif type(config) == "string" then
        cfg = M.Config(config)
    elseif type(config) == "table" then
        cfg = M.Config(nil, config)
    else
        raise(core.SIP_EINVAL, "config must be a sip.Config, a file name, a table or nil, got "
            .. type(config))
    end
    for _, kv in ipairs(flatten(keys, "", {})) do
        local name = kv[1]
        local dot = name:find(".", 1, true)
        if dot then
            cfg:set(name, kv[2])
        else
            cfg:set(keyword_key(name), kv[2])
        end
    end
    return cfg
end

---------------------------------------------------------------------------------------------------
-- Adopting the parts a server made

local function adopt_loop(p)
    return setmetatable({ _p = p, _live = {} }, loopm._Loop)
end

local function adopt_stack(loop, tpp, layerp)
    local s = setmetatable({
        loop = loop, _own_loop = false, _handlers = {}, _responders = {},
        _unanswered = setmetatable({}, { __mode = "k" }),
        _tp = core.sip_transport_ref(tpp), _own_resolver = false, _clients = {},
    }, errors._classes.Stack)
    rawset(s, "_layer", setmetatable({ _p = core.sip_txn_layer_ref(layerp),
        _t = { 500, 4000, 5000, 200 } }, txnm.TxnLayer))
    return s
end

local function adopt_proxy(stack, p, users)
    local users_p = core.sip_proxy_get_users(p)
    local px = setmetatable({ _stack = stack, _loop = stack.loop, _reqs = {}, _keep = {},
        _users_p = users_p, _p = p, _redirect = core.sip_proxy_get_redirect(p) == 1,
        _stateless = core.sip_proxy_get_stateless(p) == 1,
        _users = users_p and users or nil }, proxym.Proxy)
    local list = rawget(stack, "_proxies") or {}
    rawset(stack, "_proxies", list)
    list[px] = true
    return px
end

local function srv_p(s)
    local p = rawget(s, "_p")
    if not p then errors._closed() end
    return p
end

local function setup(s, p, loop, own_loop)
    rawset(s, "_p", p)
    rawset(s, "_loop", loop)
    rawset(s, "_own_loop", own_loop)
    local stack = adopt_stack(loop, core.sip_server_get_transport(p), core.sip_server_get_layer(p))
    rawset(s, "_stack", stack)
    local loc = core.sip_server_get_location(p)
    if loc then
        rawset(s, "_location", setmetatable({ _p = core.sip_location_ref(loc), _loop = loop },
            locationm._Location))
    end
    local reg = core.sip_server_get_registrar(p)
    if reg then
        rawset(s, "_registrar", setmetatable({ _p = core.sip_registrar_ref(reg),
            _location = rawget(s, "_location") }, errors._classes.Registrar))
    end
    local users = core.sip_server_get_users(p)
    if users then
        rawset(s, "_users", setmetatable({ _p = core.sip_userdb_ref(users) },
            errors._classes.UserDB))
    end
    rawset(s, "_proxy", adopt_proxy(stack, core.sip_proxy_ref(core.sip_server_get_proxy(p)),
        rawget(s, "_users")))
    return s
end

local SERVER_KEYS = { config = true, route = true, loop = true, worker = true }

--- sip.Server{ config = sip.Config | "file.yaml" | { key = value }, route = function(req),
--- loop = sip.Loop, <key> = value... }: a server made from the configuration (the keys on
--- top), routing every request with route(req) (a task per request), or with the default
--- routing of `sipd` without one. With worker = sip.Worker (on loop), the server is one worker
--- process of several (sip_server_create_worker()): listening points shared, messages of the
--- other workers passed to them, bindings from the hub. Raises SIP_ECONFIG when the
--- configuration is refused.
function M.Server(opts)
    if opts == nil then opts = {} end
    if type(opts) ~= "table" then
        raise(core.SIP_EINVAL, "sip.Server: options must be a table, got " .. type(opts))
    end
    local keys = {}
    for k, v in pairs(opts) do
        if not SERVER_KEYS[k] then keys[k] = v end
    end
    if opts.loop ~= nil and getmetatable(opts.loop) ~= loopm._Loop then
        raise(core.SIP_EINVAL, "sip.Server: loop must be a sip.Loop, got " .. type(opts.loop))
    end
    if opts.route ~= nil then errors._arg_fn(opts.route, "sip.Server: route") end
    local wp = require("libsip.worker")._worker_p(opts.worker, "sip.Server")
    if wp and (opts.loop == nil or opts.worker.loop ~= opts.loop) then
        raise(core.SIP_EINVAL, "sip.Server: a worker's server runs on the worker's loop "
            .. "(loop = worker.loop)")
    end
    local cfg = make_config(opts.config, keys)
    local own = opts.loop == nil
    local loop = opts.loop or loopm.Loop()
    local rc, p, err = core.sip_server_create_worker(loopm._loop_p(loop), cfg_p(cfg), wp)
    if rc < 0 then
        if own then loop:close() end
        config_error(rc, err, nil, "cannot create the server")
    end
    local s = setup(setmetatable({}, Server), p, loop, own)
    if opts.route ~= nil then s.route = opts.route end
    return s
end

--- A Server on a sip_server_t a host program made (a New reference given): its loop and parts
--- adopted, its logger kept.
function M._adopt(p)
    local lp = core.sip_server_get_loop(p)
    if not lp then
        core.sip_server_unref(p)
        errors._closed()
    end
    return setup(setmetatable({}, Server), p, adopt_loop(core.sip_loop_ref(lp)), false)
end

local function set_route(s, fn)
    local p = srv_p(s)
    if fn ~= nil then errors._arg_fn(fn, "server.route") end
    local px = rawget(s, "_proxy")
    local rc = 0
    if fn == nil then
        rc = core.sip_server_set_route(p, nil)
        rawset(s, "_route_set", nil)
    elseif not rawget(s, "_route_set") then
        local weak = setmetatable({ px = px }, { __mode = "v" })
        rc = core.sip_server_set_route(p, function(_, reqp)
            local x = weak.px
            if x and rawget(x, "_p") then proxym._incoming(x, reqp) end
        end)
        if rc == 0 then rawset(s, "_route_set", true) end
    end
    if rc < 0 then raise(rc, "cannot set the route: " .. core.sip_strerror(rc)) end
    rawset(px, "_route", fn)
end

--- The route function (nil: the default routing of `sipd`); assigning it takes effect for new
--- requests, and requests already taken finish with the route that took them.
Server.props.route = function(s) return rawget(rawget(s, "_proxy"), "_route") end
Server.__newindex = function(s, k, v)
    if k == "route" then return set_route(s, v) end
    raise(core.SIP_EINVAL, "sip.Server: cannot set '" .. tostring(k) .. "'")
end

Server.props.proxy = function(s) return rawget(s, "_proxy") end
Server.props.stack = function(s) return rawget(s, "_stack") end
Server.props.loop = function(s) return rawget(s, "_loop") end
Server.props.transport = function(s) return rawget(s, "_stack").transport end
Server.props.transactions = function(s) return rawget(rawget(s, "_stack"), "_layer") end
Server.props.location = function(s) return rawget(s, "_location") end
Server.props.registrar = function(s) return rawget(s, "_registrar") end
Server.props.users = function(s) return rawget(s, "_users") end
--- The listening points as specs ({ "udp:127.0.0.1:5060", ... }).
Server.props.addresses = function(s)
    local out = {}
    for i, l in ipairs(rawget(s, "_stack"):listeners()) do out[i] = l.spec end
    return out
end
Server.props.closed = function(s)
    local p = rawget(s, "_p")
    return p == nil or core.sip_server_get_loop(p) == nil
end

--- The guard (per-source limits: a sip.Guard whose options are the configuration's
--- limits.*), or nil when the configuration sets no limit.
Server.props.guard = function(s)
    local gp = core.sip_server_get_guard(srv_p(s))
    if not gp then return nil end
    -- Its options are read from the guard itself (sip_guard_get_opts): what limits.* set.
    return require("libsip.guard")._adopt_guard(core.sip_guard_ref(gp))
end
--- The metrics endpoint (metrics.listen: a sip.Metrics), or nil without one.
Server.props.metrics = function(s)
    local p = srv_p(s)
    local mp = core.sip_server_get_metrics(p)
    if not mp then return nil end
    require "libsip.stats"
    return setmetatable({ _p = core.sip_metrics_ref(mp), _loop = rawget(s, "_loop"),
        _listen = core.sip_config_get(core.sip_server_get_config(p), "metrics.listen", 0) },
        errors._classes.Metrics)
end
--- A copy of the configuration in force.
Server.props.config = function(s)
    local rc, p = core.sip_config_clone(core.sip_server_get_config(srv_p(s)))
    errors._check(rc)
    return adopt_config(p)
end

--- Applies a new configuration (sip.Config, a file name or a table; keys on top) without
--- dropping calls, transactions or registrations; a refused reload changes nothing.
function Server.methods.reload(s, config, keys)
    local p = srv_p(s)
    local cfg = make_config(config, keys or {})
    local rc, err = core.sip_server_reload(p, cfg_p(cfg))
    if rc < 0 then config_error(rc, err, nil, "reload refused") end
    -- A reload may add or drop the users file, and with it the registrar: the parts follow
    -- the server's.
    local users = core.sip_server_get_users(p)
    local mine = rawget(s, "_users")
    if users ~= (mine and rawget(mine, "_p")) then
        local u = users and setmetatable({ _p = core.sip_userdb_ref(users) },
            errors._classes.UserDB)
        rawset(s, "_users", u)
        local px = rawget(s, "_proxy")
        local pp = rawget(px, "_p")
        local up = pp and core.sip_proxy_get_users(pp)
        rawset(px, "_users_p", up)
        rawset(px, "_users", up and u or nil)
    end
    local reg = core.sip_server_get_registrar(p)
    local rmine = rawget(s, "_registrar")
    if reg ~= (rmine and rawget(rmine, "_p")) then
        rawset(s, "_registrar", reg and setmetatable({ _p = core.sip_registrar_ref(reg),
            _location = rawget(s, "_location") }, errors._classes.Registrar) or nil)
    end
end

--- Shuts down cleanly: new requests get 503; transactions in progress get grace seconds (5),
--- then the rest is answered or cancelled; then on_done(server) runs and the server is closed
--- (a server that made its own loop stops it: run() returns).
function Server.methods.shutdown(s, grace, on_done)
    local p = srv_p(s)
    grace = grace == nil and 5 or grace
    if type(grace) ~= "number" or grace < 0 or grace * 1000 >= 2 ^ 32 then
        raise(core.SIP_EINVAL, "server:shutdown: grace must be 0 to 4294967 seconds, got "
            .. tostring(grace))
    end
    if on_done ~= nil then errors._arg_fn(on_done, "server:shutdown: on_done") end
    local weak = setmetatable({ s = s }, { __mode = "v" })
    local rc = core.sip_server_shutdown(p, math.floor(grace * 1000 + 0.5), function()
        local me = weak.s
        if not me then return end
        local px = rawget(me, "_proxy")
        if rawget(px, "_p") then px:close() end
        if on_done then on_done(me) end
        if rawget(me, "_own_loop") and rawget(rawget(me, "_loop"), "_p") then
            me._loop:stop()
        end
    end)
    if rc == core.SIP_ECLOSED then raise(rc, "the server is closed or shutting down") end
    errors._check(rc)
end

--- Runs the loop until stop(), close() or the end of a shutdown.
function Server.methods.run(s)
    srv_p(s)
    rawget(s, "_loop"):run()
end

--- Makes run() return.
function Server.methods.stop(s)
    rawget(s, "_loop"):stop()
end

local function drop_parts(s)
    local stack = rawget(s, "_stack")
    local layer = rawget(stack, "_layer")
    for _, pair in ipairs { { layer, core.sip_txn_layer_unref },
        { rawget(s, "_registrar"), core.sip_registrar_unref },
        { rawget(s, "_location"), core.sip_location_unref },
        { rawget(s, "_users"), core.sip_userdb_unref } } do
        local obj, unref = pair[1], pair[2]
        local p = obj and rawget(obj, "_p")
        if p then
            rawset(obj, "_p", nil)
            unref(p)
        end
    end
    local tp = rawget(stack, "_tp")
    if tp then
        rawset(stack, "_tp", nil)
        core.sip_transport_unref(tp)
    end
end

--- Closes at once: requests being routed get 503, the store commits, listening points close;
--- the loop too when the server made it. Idempotent.
function Server.methods.close(s)
    local p = rawget(s, "_p")
    if not p then return end
    rawset(s, "_p", nil)
    rawget(s, "_proxy"):close()
    core.sip_server_close(p)
    drop_parts(s)
    core.sip_server_unref(p)
    if rawget(s, "_own_loop") then rawget(s, "_loop"):close() end
end
Server.__close = Server.methods.close

-- Drops this object's references without closing anything (the host program's server).
function Server.methods._release(s)
    local px = rawget(s, "_proxy")
    rawset(px, "_route", nil)
    local pp = rawget(px, "_p")
    if pp then
        rawset(px, "_p", nil)
        core.sip_proxy_unref(pp)
    end
    drop_parts(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_server_unref(p)
    end
    local loop = rawget(s, "_loop")
    local lp = rawget(loop, "_p")
    if lp then
        rawset(loop, "_p", nil)
        core.sip_loop_unref(lp)
    end
end

Server.__gc = function(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_server_unref(p)
    end
end
Server.__tostring = function(s)
    if s.closed then return "libsip.Server (closed)" end
    return "libsip.Server " .. table.concat(s.addresses, " ")
end

errors._check_args("Server", Server.methods, {})

M._Config, M._Server = Config, Server
return M
