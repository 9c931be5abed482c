-- SPDX-License-Identifier: MIT
-- libsip for Lua: several worker processes serving one endpoint (sip/worker.h): the hub in the
-- parent process and each worker's link to it.
--
--   -- the parent
--   local hub = sip.Hub(loop, { workers = 2, location = sip.Location(loop, { db_path = DB }) })
--   local fd = hub:link(0)            -- inherited by the worker process
--   -- each worker process
--   local w = sip.Worker(loop, { index = 0, count = 2, fd = fd })
--   local loc = sip.Location(loop, { worker = w })   -- the hub's index; writes through the hub
--   local srv = sip.Server{ config = cfg, loop = loop, worker = w }
--
-- A request goes to the worker that owns its Call-ID (every request of a call), a response to
-- the worker whose branch it answers, a message for another worker's connection to that worker;
-- location writes go through the hub. The core does all of it; this module only holds the handles.

local core = require "libsip_core"
local errors = require "libsip.errors"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type, getmetatable = rawget, rawset, setmetatable, type,
    getmetatable
local raise, class = errors._raise, errors._class
local loop_p = loopm._loop_p

local M = {}

local Hub = class("Hub")
local Worker = class("Worker")

local function uint(v, what)
    if math.type(v) ~= "integer" then
        raise(core.SIP_EINVAL, ("%s must be an integer, got %s"):format(what, type(v)))
    end
    if v < 0 then raise(core.SIP_EINVAL, ("%s must be >= 0, got %d"):format(what, v)) end
    return v
end

local function check_loop(loop, what)
    if type(loop) ~= "table" or getmetatable(loop) ~= loopm._Loop then
        raise(core.SIP_EINVAL, what .. ": a sip.Loop expected, got " .. type(loop))
    end
    return loop
end

local function hub_p(h)
    local p = rawget(h, "_p")
    if not p then raise(core.SIP_ECLOSED, "the hub is closed") end
    return p
end

local function worker_p(w)
    local p = rawget(w, "_p")
    if not p then raise(core.SIP_ECLOSED, "the worker is closed") end
    return p
end

local HUB_OPTS = errors._set { "workers", "location" }

--- The parent process's side: sip.Hub(loop, { workers = 1 (1 to SIP_WORKERS_MAX), location =
--- sip.Location on the same loop (the service the workers' writes are applied to and that a
--- starting worker is given; none: the workers share their writes only) }). hub:link(index)
--- makes the link of a worker before its process starts and returns the descriptor the
--- process inherits; hub:unlink(index) when it ended. close() closes every link.
function M.Hub(loop, opts)
    check_loop(loop, "sip.Hub")
    opts = errors._check_opts(opts, HUB_OPTS, "sip.Hub")
    local o = core.sip_hub_opts_t()
    core.sip_hub_opts_init(o)
    if opts.workers ~= nil then o.workers = uint(opts.workers, "sip.Hub: workers") end
    local loc = opts.location
    if loc ~= nil then
        local mt = type(loc) == "table" and getmetatable(loc)
        if not mt or mt.__name ~= "libsip.Location" then
            raise(core.SIP_EINVAL, "sip.Hub: location must be a sip.Location, got " .. type(loc))
        end
        local lp = rawget(loc, "_p")
        if not lp then raise(core.SIP_ECLOSED, "sip.Hub: the location service is closed") end
        o.location = lp
    end
    local rc, p = core.sip_hub_create(loop_p(loop), o)
    if rc == core.SIP_EINVAL then
        raise(rc, ("sip.Hub: cannot create the hub: workers must be 1-%d and location on the "
            .. "same loop"):format(core.SIP_WORKERS_MAX))
    end
    if rc < 0 then raise(rc, "sip.Hub: " .. core.sip_strerror(rc)) end
    return setmetatable({ _p = p, _loop = loop, _location = loc }, Hub)
end

--- Makes the link of worker index (again, after its process ended) and returns the descriptor
--- for the worker process to inherit. Raises SIP_EINVAL for an index out of range.
function Hub.methods.link(h, index)
    local rc, fd = core.sip_hub_link(hub_p(h), uint(index, "link: index"))
    if rc < 0 then raise(rc, ("link worker %d: %s"):format(index, core.sip_strerror(rc))) end
    return math.tointeger(fd)
end

--- Worker index ended (its process exited): its link closes and the other workers are told its
--- connections are gone. Idempotent.
function Hub.methods.unlink(h, index)
    core.sip_hub_unlink(hub_p(h), uint(index, "unlink: index"))
end

--- Closes every link (the workers see their hub go). Idempotent.
function Hub.methods.close(h)
    local p = rawget(h, "_p")
    if not p then return end
    rawset(h, "_p", nil)
    core.sip_hub_close(p)
    core.sip_hub_unref(p)
end
--- How many workers are linked and ready.
Hub.props.ready_count = function(h)
    local p = rawget(h, "_p")
    return p and core.sip_hub_ready_count(p) or 0
end
--- The loop the hub lives on.
Hub.props.loop = function(h) return rawget(h, "_loop") end
--- True once close() ran.
Hub.props.closed = function(h) return rawget(h, "_p") == nil end
Hub.__close = Hub.methods.close
Hub.__gc = function(h)
    local p = rawget(h, "_p")
    if p then
        rawset(h, "_p", nil)
        core.sip_hub_unref(p)
    end
end
Hub.__tostring = function(h)
    if not rawget(h, "_p") then return "sip.Hub(closed)" end
    return ("sip.Hub(%d ready)"):format(h.ready_count)
end

local WORKER_OPTS = errors._set { "index", "count", "fd" }

--- A worker process's link to its hub and its siblings: sip.Worker(loop, { index = 0 (0 to
--- count-1), count = 1, fd = the descriptor the hub's link() made, inherited (the worker owns
--- it from here, whatever happens) }). Creating it tells the hub it is ready and waits for the
--- links to the other workers and the location index (raises SIP_EIO when the hub does not
--- answer). w:attach(stack) makes a sip.Stack part of the set; sip.Location(loop, { worker =
--- w }) and sip.Server{ worker = w } use it.
function M.Worker(loop, opts)
    check_loop(loop, "sip.Worker")
    opts = errors._check_opts(opts, WORKER_OPTS, "sip.Worker")
    local o = core.sip_worker_opts_t()
    core.sip_worker_opts_init(o)
    if opts.index ~= nil then o.index = uint(opts.index, "sip.Worker: index") end
    if opts.count ~= nil then o.count = uint(opts.count, "sip.Worker: count") end
    if opts.fd ~= nil then
        if math.type(opts.fd) ~= "integer" then
            raise(core.SIP_EINVAL, "sip.Worker: fd must be an integer, got " .. type(opts.fd))
        end
        o.fd = opts.fd
    end
    local rc, p = core.sip_worker_create(loop_p(loop), o)
    if rc == core.SIP_EIO then raise(rc, "sip.Worker: the hub did not answer") end
    if rc < 0 then raise(rc, "sip.Worker: " .. core.sip_strerror(rc)) end
    return setmetatable({ _p = p, _loop = loop }, Worker)
end

--- Makes a sip.Stack (its transport and transaction layer) part of the worker set: messages
--- another worker owns go to it before any handler here sees them, and what the others pass
--- here enters as received. Its listening points should share their ports (options = {
--- reuseport = true }); it needs its transactions (transactions = true). One stack per worker:
--- a second raises SIP_EEXIST.
function Worker.methods.attach(w, stack)
    local mt = type(stack) == "table" and getmetatable(stack)
    if not mt or mt.__name ~= "libsip.Stack" then
        raise(core.SIP_EINVAL, "attach: a sip.Stack expected, got " .. type(stack))
    end
    local tp, layer = rawget(stack, "_tp"), rawget(stack, "_layer")
    if not tp then raise(core.SIP_ECLOSED, "attach: the stack is closed") end
    if not layer then raise(core.SIP_EINVAL, "attach: the stack has no transaction layer") end
    local rc = core.sip_worker_attach(worker_p(w), tp, rawget(layer, "_p"))
    if rc < 0 then raise(rc, "attach: " .. core.sip_strerror(rc)) end
    rawset(w, "_stack", stack)
end

--- Closes the links. Idempotent.
function Worker.methods.close(w)
    local p = rawget(w, "_p")
    if not p then return end
    rawset(w, "_p", nil)
    rawset(w, "_stack", nil)
    core.sip_worker_close(p)
    core.sip_worker_unref(p)
end
--- This worker's index.
Worker.props.index = function(w)
    local p = rawget(w, "_p")
    return p and core.sip_worker_index(p) or 0
end
--- How many workers there are.
Worker.props.count = function(w)
    local p = rawget(w, "_p")
    return p and core.sip_worker_count(p) or 0
end
--- The worker set's secret (hex) the hub gave in the handshake: what the workers' digest
--- servers and proxies share (sip.AuthServer{ secret = }, sip.Proxy(stack, { secret = })).
Worker.props.secret = function(w)
    local p = rawget(w, "_p")
    if not p then raise(core.SIP_ECLOSED, "secret: the worker is closed") end
    local rc, text = core.sip_worker_secret(p)
    if rc < 0 then raise(rc, "secret: " .. core.sip_strerror(rc)) end
    return text
end
--- True while the link to the hub is up.
Worker.props.linked = function(w)
    local p = rawget(w, "_p")
    return p ~= nil and core.sip_worker_is_linked(p) == 1
end
--- The loop the worker lives on.
Worker.props.loop = function(w) return rawget(w, "_loop") end
--- True once close() ran.
Worker.props.closed = function(w) return rawget(w, "_p") == nil end
Worker.__close = Worker.methods.close
Worker.__gc = function(w)
    local p = rawget(w, "_p")
    if p then
        rawset(w, "_p", nil)
        core.sip_worker_unref(p)
    end
end
Worker.__tostring = function(w)
    if not rawget(w, "_p") then return "sip.Worker(closed)" end
    return ("sip.Worker(%d of %d%s)"):format(w.index, w.count, w.linked and "" or ", unlinked")
end

--- The handle of a sip.Worker (for Location and Server), or nil.
function M._worker_p(w, what)
    if w == nil then return nil end
    local mt = type(w) == "table" and getmetatable(w)
    if mt ~= Worker then
        raise(core.SIP_EINVAL, what .. ": worker must be a sip.Worker, got " .. type(w))
    end
    return worker_p(w)
end

M._Worker = Worker
return M
