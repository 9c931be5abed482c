-- SPDX-License-Identifier: MIT
-- libsip for Lua: the registrar and the user table (sip/registrar.h; RFC 3261 §10.3).
--
--   local users = sip.UserDB("/etc/sipd/users")
--   local auth = sip.AuthServer{ realm = "example.com" }
--   local registrar = sip.Registrar(location, { service_route = "<sip:proxy.example.com;lr>" })
--   stack:on_request("REGISTER", function(req)
--       local check = auth:check(req, users:lookup()):wait()
--       if not check.ok then return check:reply() end
--       local status, rsp, bindings = registrar:save(req, check.user)  -- inside its task
--   end)
--
-- (Python: libsip.Registrar, libsip.UserDB, in libsip.registrar.)

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"
local auth = require "libsip.auth"
local locationm = require "libsip.location"

local getmetatable, rawget, rawset, setmetatable, type = getmetatable, rawget, rawset,
    setmetatable, type
local raise, closed, class = errors._raise, errors._closed, errors._class
local resume, current_task = loopm._resume, loopm._current_task
local wrap_msg = message._wrap_msg

local M = {}

local FIELDS = { "aor", "contact", "params", "expires", "call_id", "cseq", "path", "received",
    "socket", "conn_id", "instance", "reg_id", "user_agent", "updated" }

-- The bindings of a set (Borrowed for the callback), copied out as sip.Location's lookups give
-- them (q 0.0-1.0, nil for none), best first.
local function bindings(setp)
    local out = {}
    if not setp then return out end
    for i = 0, core.sip_bindings_count(setp) - 1 do
        local bp, f = core.sip_bindings_at(setp, i), {}
        for _, name in ipairs(FIELDS) do f[name] = bp[name] end
        f.q = bp.q >= 0 and bp.q / 1000 or nil
        out[#out + 1] = setmetatable({ _f = f }, locationm._Binding)
    end
    return out
end

local function type_error(what, want, v)
    raise(core.SIP_EINVAL, ("%s must be %s, got %s"):format(what, want, type(v)))
end

local function arg_u32(v, what)
    errors._arg_int(v, what)
    if v < 0 or v > 0xFFFFFFFF then raise(core.SIP_EINVAL, what .. " out of range: " .. v) end
    return v
end

-- The C server transaction of a received request or a server transaction.
local function txn_of(target)
    if type(target) == "table" then
        local t = rawget(target, "_txn")
        if t == nil and rawget(target, "_cancel") ~= nil then t = target end
        if t ~= nil then
            local p = rawget(t, "_p")
            if not p then closed() end
            return p
        end
        if getmetatable(target) == message._class then
            raise(core.SIP_EINVAL, "save: the request has no server transaction (a Stack made "
                .. "with transactions = true)")
        end
    end
    type_error("save: request", "a request or a server transaction", target)
end

---------------------------------------------------------------------------------------------------
-- Registrar

local Registrar = class("Registrar")

local function registrar_p(r)
    local p = rawget(r, "_p")
    if not p then closed() end
    return p
end

local REGISTRAR_KEYS = errors._set { "min_expires", "max_expires", "default_expires",
    "max_contacts", "service_route", "path", "flow_timer", "outbound", "auth_required", "server" }
-- The C options the table's keys set, as Python's Registrar.OPTIONS.
local REGISTRAR_OPTIONS = { "min_expires", "max_expires", "default_expires", "max_contacts",
    "service_route", "path", "flow_timer", "outbound", "auth_required", "server" }

--- A registrar writing into a location service: sip.Registrar(location, { min_expires = 60,
--- max_expires = 3600, default_expires = 3600, max_contacts = 0, service_route = nil,
--- path = true, flow_timer = 120, outbound = true, auth_required = true, server = nil })
--- (Python: libsip.Registrar(location, ...)).
function M.Registrar(location, cfg)
    local lp = type(location) == "table" and getmetatable(location) == locationm._Location
        and rawget(location, "_p")
    if not lp then type_error("sip.Registrar: location", "a sip.Location", location) end
    cfg = errors._check_opts(cfg or {}, REGISTRAR_KEYS, "sip.Registrar")
    local o = core.sip_registrar_opts_t()
    core.sip_registrar_opts_init(o)
    for _, k in ipairs { "min_expires", "max_expires", "default_expires", "max_contacts",
        "flow_timer" } do
        if cfg[k] ~= nil then o[k] = arg_u32(cfg[k], "sip.Registrar: " .. k) end
    end
    for _, k in ipairs { "service_route", "server" } do
        if cfg[k] ~= nil then o[k] = errors._arg_string(cfg[k], "sip.Registrar: " .. k) end
    end
    for _, k in ipairs { "path", "outbound", "auth_required" } do
        if cfg[k] ~= nil then
            if type(cfg[k]) ~= "boolean" then
                type_error("sip.Registrar: " .. k, "a boolean", cfg[k])
            end
            o[k] = cfg[k] and 1 or 0
        end
    end
    local rc, p = core.sip_registrar_create(lp, o)
    if rc < 0 then
        raise(rc, rc == core.SIP_EINVAL and "sip.Registrar: bad options (min_expires at "
            .. "most max_expires, which is not 0; no line breaks in service_route or server)"
            or nil)
    end
    return setmetatable({ _p = p, _location = location }, Registrar)
end

Registrar.props.location = function(r) return rawget(r, "_location") end
Registrar.props.OPTIONS = function() return REGISTRAR_OPTIONS end

local function run(r, target, auth_user, fetch)
    local p = registrar_p(r)
    local txnp = txn_of(target)
    if auth_user ~= nil then errors._arg_string(auth_user, "save: auth_user") end
    local co, l = current_task(fetch and "registrar:fetch" or "registrar:save")
    local result, waiting
    local function done(_, status, rspp, setp)
        if result then return end
        result = { status, rspp and wrap_msg(core.sip_msg_ref(rspp)) or false,
            status == 200 and bindings(setp) or {} }
        if waiting then resume(l, co) end
    end
    local rc
    if fetch then
        rc = core.sip_registrar_fetch(p, txnp, done)
    else
        rc = core.sip_registrar_save(p, txnp, auth_user, done)
    end
    if rc < 0 then
        raise(rc, rc == core.SIP_EINVAL and "save: not a REGISTER's server transaction" or nil)
    end
    if not result then
        waiting = true
        coroutine.yield()
    end
    return result[1], result[2] or nil, result[3]
end

--- Inside a task: processes a REGISTER (a received request or its server transaction) and
--- answers it (RFC 3261 §10.3); auth_user is the user it was authenticated as (check.user),
--- or nil (403 unless auth_required is false). Returns status, response, bindings once the
--- response went out (on a 200, after every write is durable): the response sent (nil when
--- none could be made) and, on a 200, the AOR's bindings as sip.Location's lookups give them,
--- best first ({} otherwise) (Python: await registrar.save(req, user)).
function Registrar.methods.save(r, req, auth_user)
    return run(r, req, auth_user, false)
end

--- Inside a task: answers a REGISTER with the AOR's current bindings only (§10.3 step 8).
function Registrar.methods.fetch(r, req)
    return run(r, req, nil, true)
end

--- Drops the registrar (saves in progress finish). Idempotent.
function Registrar.methods.close(r)
    local p = rawget(r, "_p")
    if p then
        rawset(r, "_p", nil)
        core.sip_registrar_unref(p)
    end
end
Registrar.__gc = Registrar.methods.close
Registrar.__close = Registrar.methods.close

---------------------------------------------------------------------------------------------------
-- UserDB

local UserDB = class("UserDB")

local function userdb_p(u)
    local p = rawget(u, "_p")
    if not p then closed() end
    return p
end

local function algorithm(v)
    if v == nil then return core.SIP_AUTH_MD5 end
    if type(v) == "string" then
        local a = core.sip_auth_algorithm_from_name(v)
        if a == 0 then raise(core.SIP_EINVAL, "algorithm: unknown algorithm " .. v) end
        return a
    end
    return errors._arg_int(v, "algorithm")
end

--- A table of users and their HA1 hashes per realm: sip.UserDB(path) reads a file of
--- "user:realm:algorithm:ha1" lines ('#' comments); sip.UserDB() is empty. A malformed file
--- raises an error whose line is the first bad line (Python: libsip.UserDB(path)).
function M.UserDB(path)
    if path ~= nil then errors._arg_string(path, "sip.UserDB: path") end
    local rc, p, line = core.sip_userdb_create(path)
    if rc < 0 then
        if rc == core.SIP_EPARSE then
            raise(rc, ("UserDB: %s:%d: a malformed line"):format(path, line), { line = line })
        end
        raise(rc, rc == core.SIP_EIO and ("UserDB: %s cannot be read"):format(path) or nil)
    end
    return setmetatable({ _p = p }, UserDB)
end

--- Adds or replaces a user's MD5 and SHA-256 HA1 for a realm (the password is not kept).
function UserDB.methods.set_password(u, user, realm, password)
    local p = userdb_p(u)
    local rc = core.sip_userdb_set_password(p, errors._arg_string(user, "set_password: user"),
        errors._arg_string(realm, "set_password: realm"),
        errors._arg_string(password, "set_password: password"))
    if rc < 0 then
        raise(rc, rc == core.SIP_EINVAL and "set_password: user and realm must be non-empty, "
            .. "without ':' or control characters" or nil)
    end
end

--- Removes a user from a realm; an error (SIP_ENOENT) when it is not there.
function UserDB.methods.remove(u, user, realm)
    local p = userdb_p(u)
    local rc = core.sip_userdb_remove(p, errors._arg_string(user, "remove: user"),
        errors._arg_string(realm, "remove: realm"))
    if rc < 0 then raise(rc, ("remove: no user %s in realm %s"):format(user, realm)) end
end

--- The hex HA1 of a user for a realm and an algorithm ("MD5" (default), "SHA-256"), or nil.
function UserDB.methods.get_ha1(u, user, realm, alg)
    return core.sip_userdb_get_ha1(userdb_p(u), errors._arg_string(user, "get_ha1: user"),
        errors._arg_string(realm, "get_ha1: realm"), algorithm(alg))
end

UserDB.props.count = function(u) return core.sip_userdb_count(userdb_p(u)) end

--- Writes the table to a file, replaced atomically, mode 0600.
function UserDB.methods.save(u, path)
    local rc = core.sip_userdb_save(userdb_p(u), errors._arg_string(path, "save: path"))
    if rc < 0 then raise(rc, ("save: %s cannot be written"):format(path)) end
end

--- Answers a digest check's lookup from the table (the HA1 of its user, realm and algorithm,
--- or "no such user", which costs the same).
function UserDB.methods.answer(u, check)
    local p = userdb_p(u)
    local qp = type(check) == "table" and rawget(check, "_p")
    if not qp then type_error("answer: check", "an AuthCheck", check) end
    local rc = core.sip_userdb_answer(p, qp)
    if rc < 0 then
        raise(rc == core.SIP_EBUSY and core.SIP_EINVAL or rc,
            rc == core.SIP_EBUSY and "answer: the lookup was answered already" or nil)
    end
end

--- A lookup for AuthServer:check() that answers from the table (Python: pass the UserDB).
function UserDB.methods.lookup(u)
    userdb_p(u)
    return function(check)
        u:answer(check)
        return auth.LATER
    end
end

--- Drops the table. Idempotent.
function UserDB.methods.close(u)
    local p = rawget(u, "_p")
    if p then
        rawset(u, "_p", nil)
        core.sip_userdb_unref(p)
    end
end
UserDB.__gc = UserDB.methods.close
UserDB.__close = UserDB.methods.close

M._bindings = bindings
return M
