-- SPDX-License-Identifier: MIT
-- libsip for Lua: the location service (sip/location.h): the bindings of each address of record
-- to the contacts it is reached at (RFC 3261 §10), in memory or persistently on SQLite, with
-- local domains and aliases, for coroutine tasks.
--
--   local loc <close> = sip.Location(loop, { db_path = "/var/lib/sipd/location.db" })
--   loc:add_domain("example.com")
--   loop:spawn(function()
--       loc:put("sip:alice@example.com", "sip:alice@192.0.2.1:5060",
--               { expires = os.time() + 3600, q = 0.5 })       -- durable once it returns
--       for _, b in ipairs(loc:lookup("sip:alice@example.com;transport=tcp")) do
--           print(b.contact, b.q, b.expires)
--       end
--   end)
--
-- A write is applied to the memory index at once (lookups see it). Inside a task, put() and
-- remove() wait until it is durable (at once in memory; once its batch is committed on SQLite)
-- and raise when it failed; outside one they return at once. The core does everything (keys,
-- replace rules, ordering, expiry, batching); this module turns its callbacks into waits.

local core = require "libsip_core"
local errors = require "libsip.errors"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, check, class = errors._raise, errors._check, errors._class
local loop_p, resume = loopm._loop_p, loopm._resume

local M = {}

local Location = class("Location")
local Binding = class("Binding")

---------------------------------------------------------------------------------------------------
-- Bindings: copies that outlive the lookup

local FIELDS = { "aor", "contact", "params", "expires", "q", "call_id", "cseq", "path",
    "received", "socket", "conn_id", "instance", "reg_id", "user_agent", "updated" }

for _, name in ipairs(FIELDS) do
    Binding.props[name] = function(b) return rawget(b, "_f")[name] end
end

local function binding(bp)
    local f = {}
    for _, name in ipairs(FIELDS) do f[name] = bp[name] end
    -- q in thousandths in C; 0.0-1.0 here, nil when the Contact gave none (as in Python).
    f.q = bp.q >= 0 and bp.q / 1000 or nil
    return setmetatable({ _f = f }, Binding)
end

-- The bindings of a set, copied out (the set is Borrowed for the callback).
local function set_list(sp)
    local out = {}
    for i = 0, core.sip_bindings_count(sp) - 1 do
        out[#out + 1] = binding(core.sip_bindings_at(sp, i))
    end
    return out
end

---------------------------------------------------------------------------------------------------
-- The service

local function loc_p(l)
    local p = rawget(l, "_p")
    if not p then raise(core.SIP_ECLOSED, "the location service is closed") end
    return p
end

local function uri_text(v, what)
    if type(v) == "string" then return v end
    local mt = type(v) == "table" and getmetatable(v)
    if mt and mt.__name == "libsip.Uri" then return tostring(v) end
    raise(core.SIP_EINVAL, ("%s must be a URI (string or sip.Uri), got %s"):format(what, type(v)))
end

local OPTS = errors._set { "db_path", "batch_ms", "expire_interval_ms", "redis_url", "worker" }

--- A location service on a loop: sip.Location(loop) in memory, or sip.Location(loop,
--- { db_path = FILE, batch_ms = 2, expire_interval_ms = 1000 }) persistent on SQLite (every
--- binding stored there that has not expired is loaded before this returns; writes are
--- committed in batches by a worker thread), or sip.Location(loop, { redis_url =
--- "redis://host:port[/db]" }) shared on Redis with every node using it (loaded at once too;
--- while Redis is away writes fail with SIP_EIO and lookups answer from memory). With worker =
--- sip.Worker, the service of one worker process: the hub's index is loaded before this returns
--- and a write is durable once the hub acknowledged it. Raises SIP_EIO when the database or
--- Redis cannot be opened or read (the reason is logged).
function M.Location(loop, opts)
    if type(loop) ~= "table" or getmetatable(loop) ~= loopm._Loop then
        raise(core.SIP_EINVAL, "sip.Location: a sip.Loop expected, got " .. type(loop))
    end
    opts = errors._check_opts(opts, OPTS, "sip.Location")
    local o = core.sip_location_opts_t()
    core.sip_location_opts_init(o)
    -- A worker process (sip.Worker): the hub's index, writes through the hub.
    local worker = opts.worker
    if worker ~= nil then
        o.worker = require("libsip.worker")._worker_p(worker, "sip.Location")
        local rest = {}
        for k, v in pairs(opts) do if k ~= "worker" then rest[k] = v end end
        opts = rest
    end
    errors._set_struct(o, opts, "sip.Location")
    local rc, p = core.sip_location_create(loop_p(loop), o)
    if rc == core.SIP_EIO then
        raise(rc, "sip.Location: cannot open the location store '"
            .. tostring(opts.redis_url or opts.db_path) .. "' (see the log)")
    end
    check(rc)
    return setmetatable({ _p = p, _loop = loop, _worker = worker }, Location)
end

--- Commits every queued write (waiting for it: a clean stop loses nothing), closes the database
--- and drops the service. Idempotent.
function Location.methods.close(l)
    local p = rawget(l, "_p")
    if not p then return end
    rawset(l, "_p", nil)
    core.sip_location_close(p)
    core.sip_location_unref(p)
end
Location.props.closed = function(l) return rawget(l, "_p") == nil end
--- The loop the service lives on.
Location.props.loop = function(l) return rawget(l, "_loop") end
Location.__close = Location.methods.close
Location.__gc = function(l)
    local p = rawget(l, "_p")
    if p then
        rawset(l, "_p", nil)
        core.sip_location_unref(p)
    end
end

--- Adds a domain the service is responsible for; with canonical, an alias of that domain
--- (added before), whose AORs are kept under it.
function Location.methods.add_domain(l, domain, canonical)
    local rc = core.sip_location_add_domain(loc_p(l), domain, canonical)
    if rc < 0 then
        raise(rc, ("add_domain '%s': %s"):format(domain, core.sip_strerror(rc)))
    end
end

--- true when host is one of the domains (or an alias of one); with no domain added, every host
--- is taken as local.
function Location.methods.is_local(l, host)
    return core.sip_location_is_local(loc_p(l), host) == 1
end

Location.props.domain_count = function(l) return core.sip_location_domain_count(loc_p(l)) end

--- Makes a lookup of the alias AOR find the bindings of aor (as Kamailio's alias_db).
function Location.methods.add_alias(l, alias, aor)
    local p = loc_p(l)
    local a, t = uri_text(alias, "add_alias: alias"), uri_text(aor, "add_alias: aor")
    local rc = core.sip_location_add_alias(p, a, t)
    if rc < 0 then raise(rc, ("add_alias '%s': %s"):format(a, core.sip_strerror(rc))) end
end

--- Removes an alias; SIP_ENOENT when there is none.
function Location.methods.remove_alias(l, alias)
    check(core.sip_location_remove_alias(loc_p(l), uri_text(alias, "remove_alias: alias")))
end

--- The AOR key of a URI (RFC 3261 §10.3 step 5): "sip:user@domain", parameters and password
--- dropped, the domain canonical. SIP_EURI when it is not sip/sips or has no user.
function Location.methods.aor(l, uri)
    local p = loc_p(l)
    local text = uri_text(uri, "aor: uri")
    local rc, up = core.sip_uri_parse(text)
    if rc < 0 then raise(rc, "aor: not a URI: " .. text) end
    local key
    rc, key = core.sip_location_aor(p, up)
    if rc < 0 then raise(rc, ("aor: no AOR in %s: %s"):format(text, core.sip_strerror(rc))) end
    return key
end

--- The bindings of an AOR or Request-URI (aliases followed) that have not expired, best first
--- (q, then the most recent); {} when there is none. The memory and SQLite stores answer at
--- once; a store that answers later needs a task, where this waits.
function Location.methods.lookup(l, uri)
    local p = loc_p(l)
    local text = uri_text(uri, "lookup: uri")
    local result, waiting
    local rc = core.sip_location_lookup(p, text, function(_, status, sp)
        result = { status, status == 0 and set_list(sp) or {} }
        if waiting then resume(waiting.loop, waiting.co) end
    end)
    if rc < 0 then raise(rc, ("lookup %s: %s"):format(text, core.sip_strerror(rc))) end
    if not result then
        local co, lp = loopm._current_task("location:lookup")
        waiting = { co = co, loop = lp }
        coroutine.yield()
    end
    if result[1] < 0 and result[1] ~= core.SIP_ENOENT then check(result[1]) end
    return result[2]
end

--- lookup() without waiting, for the stores that keep every binding in memory (memory,
--- SQLite): a proxy's fast path.
function Location.methods.lookup_now(l, uri)
    local p = loc_p(l)
    local text = uri_text(uri, "lookup_now: uri")
    local rc, up = core.sip_uri_parse(text)
    if rc < 0 then raise(rc, "lookup_now: not a URI: " .. text) end
    local sp
    rc, sp = core.sip_location_lookup_now(p, up)
    if rc < 0 then raise(rc, ("lookup_now %s: %s"):format(text, core.sip_strerror(rc))) end
    local out = set_list(sp)
    core.sip_bindings_unref(sp)
    return out
end

-- Waits inside a task for a write's callback; returns at once outside one.
local function written(what, make)
    local co, main = coroutine.running()
    local lp = not main and loopm._task_loops[co]
    local status, waiting
    local rc = make(function(_, st)
        status = st
        if waiting then resume(lp, co) end
    end)
    if rc < 0 then raise(rc, ("%s: %s"):format(what, core.sip_strerror(rc))) end
    if not lp then return true end
    if status == nil then
        waiting = true
        coroutine.yield()
    end
    if status < 0 then
        raise(status, ("%s: write failed: %s"):format(what, core.sip_err_name(status)))
    end
    return true
end

local PUT_OPTS = errors._set { "expires", "q", "params", "call_id", "cseq", "path", "received",
    "socket", "conn_id", "instance", "reg_id", "user_agent", "updated" }
local PUT_STRINGS = { "params", "call_id", "path", "received", "socket", "instance",
    "user_agent" }
local PUT_INTS = { "cseq", "conn_id", "reg_id", "updated" }

--- Adds or replaces the binding of aor to contact: loc:put(aor, contact, { expires = UNIX time,
--- q = 0.0-1.0, params =, call_id =, cseq =, path =, received =, socket =, conn_id =,
--- instance =, reg_id =, user_agent =, updated = }). It replaces the binding with the same
--- instance and reg_id when instance is given (RFC 5626 §6), else the one with an equal contact
--- URI (RFC 3261 §10.3); an expires in the past removes. Inside a task it returns once the write
--- is durable (raises when it failed).
function Location.methods.put(l, aor, contact, opts)
    local p = loc_p(l)
    local a, c = uri_text(aor, "put: aor"), uri_text(contact, "put: contact")
    opts = errors._check_opts(opts, PUT_OPTS, "location:put")
    local expires = errors._arg_int(opts.expires, "location:put: expires")
    local q = -1
    if opts.q ~= nil then
        if type(opts.q) ~= "number" then
            raise(core.SIP_EINVAL, "location:put: q must be a number, got " .. type(opts.q))
        end
        if opts.q < 0 or opts.q > 1 then
            raise(core.SIP_EINVAL, "location:put: q must be 0.0-1.0, not " .. opts.q)
        end
        q = math.floor(opts.q * 1000 + 0.5)
    end
    local s, n = {}, {}
    for _, k in ipairs(PUT_STRINGS) do
        if opts[k] ~= nil then s[k] = errors._arg_string(opts[k], "location:put: " .. k) end
    end
    for _, k in ipairs(PUT_INTS) do
        n[k] = opts[k] ~= nil and errors._arg_int(opts[k], "location:put: " .. k) or 0
    end
    return written("put " .. a .. " -> " .. c, function(cb)
        return core.sip_location_put(p, a, c, s.params, expires, q, s.call_id, n.cseq, s.path,
            s.received, s.socket, n.conn_id, s.instance, n.reg_id, s.user_agent, n.updated, cb)
    end)
end

--- Removes the binding of aor to contact, or every binding of aor without contact (removing
--- what is not there succeeds). Inside a task it returns once the removal is durable.
function Location.methods.remove(l, aor, contact)
    local p = loc_p(l)
    local a = uri_text(aor, "remove: aor")
    local c = contact ~= nil and uri_text(contact, "remove: contact") or nil
    return written("remove " .. a, function(cb)
        return core.sip_location_remove(p, a, c, cb)
    end)
end

--- Removes the bindings that have expired now (a timer does it on its own); returns how many.
function Location.methods.expire(l)
    return core.sip_location_expire(loc_p(l))
end

Location.props.count = function(l) return core.sip_location_count(loc_p(l)) end
Location.props.aor_count = function(l) return core.sip_location_aor_count(loc_p(l)) end

errors._check_args("Location", Location.methods, {
    add_domain = { "domain:string", "canonical:string?" }, is_local = { "host:string" },
    put = { "aor:string|table", "contact:string|table", "opts:table" },
    remove = { "aor:string|table", "contact:string|table?" },
})

M._Location, M._Binding = Location, Binding
return M
