-- SPDX-License-Identifier: MIT
-- libsip for Lua: registrations (sip/reg.h) driven from coroutine tasks.
--
-- A Registration owns one reference to its sip_reg_t. Its UA keeps a live registration
-- (ua._regs) until it is closed or fails for good, so the collector never stops a registration a
-- script runs. The C callback holds the object weakly.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, class = errors._raise, errors._class
local new_error, report = errors._new_error, errors._report
local wrap_msg = message._wrap_msg
local loop_p = loopm._loop_p

local M = {}

local Registration = class("Registration")

local ETIMEDOUT = -110

local EVENTS = {
    [core.SIP_REG_EVENT_REGISTERING] = "registering",
    [core.SIP_REG_EVENT_REGISTERED] = "registered",
    [core.SIP_REG_EVENT_REFRESHED] = "refreshed",
    [core.SIP_REG_EVENT_UNREGISTERED] = "unregistered",
    [core.SIP_REG_EVENT_FAILED] = "failed",
    [core.SIP_REG_EVENT_FLOW_LOST] = "flow_lost",
}
local EVENT_SET = {}
for _, name in pairs(EVENTS) do EVENT_SET[name] = true end

local function reg_p(r)
    local p = rawget(r, "_p")
    if not p or rawget(r, "_ua_closed") then
        raise(core.SIP_ECLOSED, "the registration is closed")
    end
    return p
end

-- The error of a failed REGISTER (Python's RegistrationFailed): SIP_EIO with status, phrase
-- and response (nil without one: 408 when nobody answered, 503 for a transport error).
local function reg_failed(status, rsp)
    local phrase = rsp and rsp.reason or ""
    if phrase == "" then phrase = core.sip_status_phrase(status) or "" end
    return new_error(core.SIP_EIO, ("registration failed: %d %s"):format(status, phrase),
        { status = status, phrase = phrase, response = rsp })
end

local function closed_error()
    return new_error(core.SIP_ECLOSED, "the registration's UA was closed")
end

local function settle(r, key, ok, v)
    local list = rawget(r, key)
    rawset(r, key, {})
    loopm._settle(list, ok, v)
end

local wait_on = loopm._wait_on

local function spawn_handler(r, fn, ...)
    local loop = rawget(r, "_loop")
    loop:spawn(function(...)
        local ok, err = xpcall(fn, debug.traceback, ...)
        if not ok then report(loop_p(loop), err) end
    end, ...)
end

-- How many events a registration keeps for reg:next_event() until they are read.
local EVENTS_KEPT = 64

local function event_cb(weak)
    return function(rp, ev, status, mp)
        local r = weak.r
        if not r then return end
        local m
        if mp then
            core.sip_msg_ref(mp)
            m = wrap_msg(mp)
            rawset(r, "_last", m)
        end
        local name = EVENTS[ev]
        -- The handlers of this moment: a task resumed below may add some for later events.
        local handlers = rawget(r, "_handlers")
        local own = { table.unpack(handlers[name] or {}) }
        local any = { table.unpack(handlers["*"] or {}) }
        if name == "registered" or name == "refreshed" then
            rawset(r, "_failed", nil)
            settle(r, "_wait_registered", true, r)
        elseif name == "unregistered" then
            settle(r, "_wait_unregistered", true, r)
        elseif name == "failed" then
            local e = reg_failed(status, m)
            if core.sip_reg_get_state(rp) == core.SIP_REG_STATE_FAILED then
                rawset(r, "_failed", e)
                local ua = rawget(r, "_ua")
                if ua and rawget(ua, "_regs") then rawget(ua, "_regs")[r] = nil end
            end
            settle(r, "_wait_registered", false, e)
            settle(r, "_wait_unregistered", false, e)
        end
        -- For reg:next_event() and reg:events(): to a waiting task, else kept (the last
        -- EVENTS_KEPT: a registration nobody reads lives for days of refreshes).
        local item = { name, status, m }
        if #rawget(r, "_ev_getters") > 0 then
            settle(r, "_ev_getters", true, item)
        else
            local q = rawget(r, "_events")
            q[#q + 1] = item
            if #q > EVENTS_KEPT then table.remove(q, 1) end
        end
        for _, fn in ipairs(own) do spawn_handler(r, fn, status, m) end
        for _, fn in ipairs(any) do spawn_handler(r, fn, name, status, m) end
    end
end

-- Options: the fields of sip_reg_opts_t by their Lua names (seconds for the times).
local REG_KEYS = errors._set { "user", "password", "realm", "expires", "registrar",
    "contacts", "contact_params", "from", "instance_id", "reg_id", "keepalive", "retry",
    "max_retry", "retry_initial", "dst" }

local function seconds(name, v, what)
    if math.type(v) ~= "integer" or v < 0 or v > 0xffffffff then
        raise(core.SIP_EINVAL, ("%s: %s must be a whole number of seconds >= 0, got %s"):format(
            what, name, type(v) == "number" and tostring(v) or type(v)))
    end
    return v
end

--- Registers contacts for an address of record: ua:register("sip:alice@example.com", {
--- user = (default the AOR's user part), password = (added to the UA's credentials, which
--- answer every challenge), realm = (default any), expires = 600 (asked; default 3600),
--- registrar = (the Request-URI; default the AOR's domain), contacts = a list of Contact
--- values or one header value (default the UA's Contact), contact_params = ";+sip.ice",
--- from = (a third-party registration), instance_id = "<urn:uuid:...>", reg_id = 1 (SIP
--- Outbound: CRLF keep-alives every keepalive seconds on a TCP/TLS flow, a new REGISTER when
--- it fails), retry =, max_retry = (the back-off after failures, seconds), retry_initial =
--- false (any failure of the first REGISTER ends it), dst = "udp:host:port" }). Inside a task
--- it waits until the registrar accepted and raises SIP_EIO { status, phrase, response } when
--- it refused (403, 404, no answer); outside one it returns the Registration at once.
function M.register(ua, aor, opts)
    local up = rawget(ua, "_p")
    if not up then raise(core.SIP_ECLOSED, "ua:register: the UA is closed") end
    errors._arg_string(aor, "ua:register: aor")
    opts = errors._check_opts(opts, REG_KEYS, "ua:register")
    local what = "ua:register"
    local o = core.sip_reg_opts_t()
    core.sip_reg_opts_init(o)
    for _, k in ipairs { "registrar", "contact_params", "instance_id", "from" } do
        if opts[k] ~= nil then o[k] = errors._arg_string(opts[k], what .. ": " .. k) end
    end
    if opts.contacts ~= nil then
        local c = opts.contacts
        if type(c) == "table" and #c > 0 then
            for i, v in ipairs(c) do errors._arg_string(v, what .. ": contacts[" .. i .. "]") end
            o.contacts = table.concat(c, ", ")
        elseif type(c) == "string" then
            o.contacts = c
        else
            raise(core.SIP_EINVAL, what .. ": contacts must be a string or a non-empty list")
        end
    end
    for k, field in pairs { expires = "expires", reg_id = "reg_id", keepalive = "keepalive_s",
        retry = "retry_s", max_retry = "max_retry_s" } do
        if opts[k] ~= nil then o[field] = seconds(k, opts[k], what) end
    end
    if opts.retry_initial ~= nil then
        if type(opts.retry_initial) ~= "boolean" then
            raise(core.SIP_EINVAL, what .. ": retry_initial must be a boolean, got "
                .. type(opts.retry_initial))
        end
        o.retry_initial = opts.retry_initial and 1 or 0
    end
    local ni = opts.dst ~= nil and require("libsip.transport")._dest_netinfo(opts.dst) or nil
    if ni then o.dst = ni end
    if opts.password ~= nil then
        local pw = errors._arg_string(opts.password, what .. ": password")
        local user = opts.user
        if user == nil then user = aor:match("^%a+:([^@;]+)@") end
        if not user or user == "" then
            raise(core.SIP_EINVAL, what .. ": a password needs a user (the AOR has none)")
        end
        -- The UA's own credentials (ua:add_credential): every challenge is answered with them.
        ua:add_credential { user = errors._arg_string(user, what .. ": user"), password = pw,
            realm = opts.realm }
    end
    local r = setmetatable({ _ua = ua, _loop = rawget(ua, "_loop"), _handlers = {},
        _wait_registered = {}, _wait_unregistered = {}, _events = {}, _ev_getters = {} },
        Registration)
    local rc, rp = core.sip_reg_create(up, aor, o, event_cb(setmetatable({ r = r },
        { __mode = "v" })))
    if rc == core.SIP_EURI then
        raise(rc, ("%s: bad AOR or registrar URI %q"):format(what, aor))
    elseif rc == core.SIP_EPARSE then
        raise(core.SIP_EINVAL, what .. ": bad contacts or from")
    elseif rc < 0 then
        raise(rc, what .. ": " .. core.sip_strerror(rc))
    end
    rawset(r, "_p", rp)
    local regs = rawget(ua, "_regs")
    if not regs then
        regs = {}
        rawset(ua, "_regs", regs)
    end
    regs[r] = true
    if not loopm._task_loops[coroutine.running()] then return r end
    return r:wait_registered()
end

--- The UA closed: waiting tasks get SIP_ECLOSED.
function M._ua_closed(r)
    rawset(r, "_ua_closed", true)
    settle(r, "_wait_registered", false, closed_error())
    settle(r, "_wait_unregistered", false, closed_error())
    settle(r, "_ev_getters", true, false)
end

---------------------------------------------------------------------------------------------------
-- Properties

--- "registering", "registered", "retrying", "unregistering", "unregistered" or "failed"
--- (Python: a RegState); "failed" once closed.
Registration.props.state = function(r)
    local p = rawget(r, "_p")
    if not p then return "failed" end
    return core.sip_reg_state_name(core.sip_reg_get_state(p))
end
--- The expiry the registrar granted in its last 2xx (seconds; 0 before any).
Registration.props.expires = function(r)
    local p = rawget(r, "_p")
    return p and core.sip_reg_get_expires(p) or 0
end
--- Seconds until the next REGISTER (refresh or retry), or nil when none is due.
Registration.props.next_refresh = function(r)
    local p = rawget(r, "_p")
    local ms = p and core.sip_reg_next_ms(p) or -1
    if ms < 0 then return nil end
    return ms / 1000
end
--- The address of record.
Registration.props.aor = function(r) return core.sip_reg_get_aor(reg_p(r)) end

local function split(text)
    local out, cur, depth, quoted = {}, {}, 0, false
    for ch in (text or ""):gmatch(".") do
        if ch == '"' then quoted = not quoted
        elseif not quoted and ch == "<" then depth = depth + 1
        elseif not quoted and ch == ">" then depth = depth - 1 end
        if ch == "," and depth == 0 and not quoted then
            out[#out + 1] = table.concat(cur):match("^%s*(.-)%s*$")
            cur = {}
        else
            cur[#cur + 1] = ch
        end
    end
    local last = table.concat(cur):match("^%s*(.-)%s*$")
    if last ~= "" then out[#out + 1] = last end
    return out
end

--- The Service-Route of the last 2xx (RFC 3608), a list; the UA preloads it as the Route of
--- its out-of-dialog requests.
Registration.props.service_route = function(r)
    local p = rawget(r, "_p")
    return split(p and core.sip_reg_get_service_route(p))
end
--- The Path of the last 2xx (RFC 3327), a list.
Registration.props.path = function(r)
    local p = rawget(r, "_p")
    return split(p and core.sip_reg_get_path(p))
end
--- Every Contact the last 2xx listed for the AOR (ours and others'), a list.
Registration.props.bindings = function(r)
    local p = rawget(r, "_p")
    return split(p and core.sip_reg_get_bindings(p))
end
--- The last response an event carried, or nil.
Registration.props.response = function(r) return rawget(r, "_last") end
--- The UA that registers.
Registration.props.ua = function(r) return rawget(r, "_ua") end
--- true once closed (or its UA closed).
Registration.props.closed = function(r)
    local p = rawget(r, "_p")
    return not p or rawget(r, "_ua_closed") == true or core.sip_reg_get_ua(p) == nil
end

---------------------------------------------------------------------------------------------------
-- Waiting and acting

--- Waits (inside a task) until the registrar accepted the binding (at once when registered)
--- and returns the registration; raises SIP_EIO { status, phrase, response } when a REGISTER
--- fails first, SIP_ECLOSED, or ETIMEDOUT after timeout seconds.
function Registration.methods.wait_registered(r, timeout)
    local p = reg_p(r)
    if core.sip_reg_get_state(p) == core.SIP_REG_STATE_REGISTERED then return r end
    local f = rawget(r, "_failed")
    if f then error(f, 0) end
    return wait_on(r, "_wait_registered", timeout, "reg:wait_registered")
end

--- Removes bindings (RFC 3261 §10.2.2) and, inside a task, waits for the registrar's 2xx:
--- contact nil removes this registration's contacts (refreshes stop), "*" every binding of
--- the AOR, any other value that one contact. Raises SIP_EIO { status, ... } when the
--- registrar refuses, SIP_ECLOSED, ETIMEDOUT after timeout seconds.
function Registration.methods.unregister(r, contact, timeout)
    local p = reg_p(r)
    if contact ~= nil then errors._arg_string(contact, "reg:unregister: contact") end
    local rc = core.sip_reg_unregister(p, contact)
    if rc == core.SIP_EPARSE then
        raise(core.SIP_EINVAL, ("reg:unregister: bad contact %q"):format(contact))
    elseif rc < 0 then
        raise(rc, "reg:unregister: " .. core.sip_strerror(rc))
    end
    if not loopm._task_loops[coroutine.running()] then return r end
    return wait_on(r, "_wait_unregistered", timeout, "reg:unregister")
end

--- The next event, inside a task: name ("registered", "refreshed", ...), status and the
--- response (or nil); one that came earlier at once (the last 64 are kept); nil once the
--- registration is closed (reg:close(), or its UA closed). Raises ETIMEDOUT after timeout
--- seconds.
function Registration.methods.next_event(r, timeout)
    local q = rawget(r, "_events")
    local item = table.remove(q, 1)
    if not item then
        if not rawget(r, "_p") or rawget(r, "_ua_closed") then return nil end
        item = wait_on(r, "_ev_getters", timeout, "reg:next_event")
        if not item then return nil end
    end
    return item[1], item[2], item[3]
end

--- `for ev, status, rsp in reg:events() do ... end` (in a task): each event until the
--- registration is closed.
function Registration.methods.events(r)
    return function() return r:next_event() end
end

--- Sends a REGISTER now (a refresh; after an unregistration or a failure, a registration
--- again); reg:wait_registered() then waits for its answer.
function Registration.methods.refresh(r)
    local p = reg_p(r)
    rawset(r, "_failed", nil)
    local rc = core.sip_reg_refresh(p)
    if rc < 0 then raise(rc, "reg:refresh: " .. core.sip_strerror(rc)) end
    local ua = rawget(r, "_ua")
    if rawget(ua, "_regs") then rawget(ua, "_regs")[r] = true end
end

--- Stops the registration without unregistering (the binding expires at the registrar): no
--- more refreshes or events. Idempotent.
function Registration.methods.close(r)
    local p = rawget(r, "_p")
    if not p or rawget(r, "_ua_closed") then return end
    local ua = rawget(r, "_ua")
    if rawget(ua, "_regs") then rawget(ua, "_regs")[r] = nil end
    core.sip_reg_close(p)
    M._ua_closed(r)
end
Registration.__close = Registration.methods.close

--- Adds fn for an event, run in a new task: "registering" (a REGISTER went out after a failure
--- or a lost flow), "registered", "refreshed", "unregistered", "failed", "flow_lost" each
--- call fn(status, rsp) (rsp: the response or nil); "*" calls fn(event, status, rsp) for every
--- event. Returns the registration.
function Registration.methods.on(r, event, fn)
    local key = event:lower()
    if key ~= "*" and not EVENT_SET[key] then
        raise(core.SIP_EINVAL, ("reg:on: no registration event '%s' (registering, registered, "
            .. "refreshed, unregistered, failed, flow_lost, or *)"):format(event))
    end
    local handlers = rawget(r, "_handlers")
    local list = handlers[key] or {}
    handlers[key] = list
    list[#list + 1] = fn
    return r
end

Registration.__gc = function(r)
    local p = rawget(r, "_p")
    if p then
        rawset(r, "_p", nil)
        core.sip_reg_unref(p)
    end
end

errors._check_args("Registration", Registration.methods, {
    on = { "event:string", "fn:function" }, unregister = { "contact:string?", "timeout:number?" },
    wait_registered = { "timeout:number?" }, next_event = { "timeout:number?" },
})

M.Registration = Registration
return M
