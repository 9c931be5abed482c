-- SPDX-License-Identifier: MIT
-- libsip for Lua: proxies and routing programs (sip/proxy.h). A route function runs as a task
-- (a coroutine) for each request; req:lookup(), req:proxy(), req:authenticate() and req:save()
-- wait inside it without blocking the loop, so failure routing is plain code:
--
--   proxy:route(function(req)
--       local out = req:proxy(req:lookup(), { timeout = 20 })
--       if out.status == 486 or out.status == 487 or out.status == 408 then
--           out = req:proxy({ "sip:vm@192.0.2.9" })
--       end
--   end)                      -- returning forwards the best response of the last relay
--
-- The core does the protocol (RFC 3261 §16); this module turns its callbacks into resumed
-- tasks. A Proxy owns one reference to its sip_proxy_t, a request object one to its
-- sip_proxy_req_t; the stack keeps a live proxy until proxy:close() or stack:close().

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, class = errors._raise, errors._class
local new_error, report = errors._new_error, errors._report
local wrap_msg = message._wrap_msg
local loop_p = loopm._loop_p
local wait_on, settle = loopm._wait_on, loopm._settle
local resume, task_loops = loopm._resume, loopm._task_loops
local traceback = debug.traceback

local M = {}

local Proxy = class("Proxy")
local ProxyRequest = class("ProxyRequest")

local function proxy_p(px)
    local p = rawget(px, "_p")
    if not p then raise(core.SIP_ECLOSED, "the proxy is closed") end
    return p
end

local function req_p(r)
    local p = rawget(r, "_p")
    if not p then raise(core.SIP_ECLOSED, "the request is closed (its proxy closed)") end
    return p
end

local function in_task()
    return task_loops[coroutine.running()] ~= nil
end

-- The error of a failed call, named as Python's messages name it.
local function fail(rc, what)
    if rc == core.SIP_ECLOSED then
        raise(rc, what .. ": the proxy is closed")
    elseif rc == core.SIP_EBUSY then
        raise(rc, what .. ": the request was answered already, or a relay is in progress")
    elseif rc == core.SIP_ENOTSUP then
        raise(rc, what .. ": not for this request (a stateless proxy relays nothing; an ACK "
            .. "or CANCEL is forwarded)")
    end
    raise(rc, what .. ": " .. core.sip_strerror(rc))
end

---------------------------------------------------------------------------------------------------
-- Bindings, branches and outcomes: plain tables (Python: Binding, Branch, Outcome)

-- The set's bindings as tables in one call to C (aor, contact, params, expires, q, call_id,
-- cseq, path, received, socket, conn_id, instance, reg_id, user_agent, updated).
local bindings_tables = core.bindings_tables

local function bindings(setp)
    local out = bindings_tables(setp)
    for i = 1, #out do
        local t = out[i]
        -- q as Python's Binding.q: 0.0-1.0, nil when the Contact gave none.
        local q = t.q
        t.q = q >= 0 and q / 1000 or nil
    end
    return out
end

local function branch(p, i)
    local rp = core.sip_proxy_req_branch_response(p, i)
    local rsp
    if rp then
        core.sip_msg_ref(rp)
        rsp = wrap_msg(rp)
    end
    return { index = i, target = core.sip_proxy_req_branch_target(p, i),
             status = core.sip_proxy_req_branch_status(p, i), response = rsp }
end

-- Targets: a URI string, a binding table (with contact), or a list of them.
local function targets_of(v, what)
    if v == nil then return nil end
    if type(v) == "string" or (type(v) == "table" and v.contact ~= nil) then v = { v } end
    if type(v) ~= "table" then
        raise(core.SIP_EINVAL, what .. ": targets must be a URI, a binding or a list of them, got "
            .. type(v))
    end
    -- Checked in place, not copied: the caller's list is only read, and before anything else
    -- runs.
    for i = 1, #v do
        local t = v[i]
        if type(t) ~= "string" and not (type(t) == "table" and type(t.contact) == "string") then
            raise(core.SIP_EINVAL, ("%s: targets[%d] must be a URI (string) or a binding, got %s")
                :format(what, i, type(t)))
        end
    end
    return v
end

-- A binding's q (0.0-1.0, nil for none; an integer is thousandths, as C has it) for
-- sip_proxy_target_t: thousandths, -1 for none.
local function q_milli(q)
    if q == nil then return -1 end
    if math.type(q) == "float" then return math.floor(q * 1000 + 0.5) end
    return q
end

local function add_target(p, t, what)
    local rc
    if type(t) == "string" then
        rc = core.sipbind_proxy_req_add_target(p, t, -1, nil, nil, 0)
    else
        -- A binding: its contact, q, Path, flow, and where its REGISTER came from when it is
        -- behind a NAT or an RFC 5626 flow (the rule of sip_proxy_req_add_bindings()).
        local dst = t.received
        if dst == "" or (dst and core.sip_proxy_binding_uses_received(t.contact,
                t.instance ~= "" and t.instance or nil, math.tointeger(t.reg_id) or 0) ~= 1) then
            dst = nil
        end
        rc = core.sipbind_proxy_req_add_target(p, t.contact, q_milli(t.q), t.path or nil,
            dst, math.tointeger(t.conn_id) or 0)
    end
    if rc < 0 then
        local uri = type(t) == "string" and t or t.contact
        if rc == core.SIP_EURI then
            raise(rc, ("%s: bad target URI %q"):format(what, uri))
        elseif rc == core.SIP_ERANGE then
            raise(core.SIP_EINVAL, what .. ": more targets than the proxy's max_branches")
        end
        fail(rc, what .. ": target " .. uri)
    end
end

local function contact_value(t)
    if type(t) == "string" then
        return t:find("<", 1, true) and t or "<" .. t .. ">"
    end
    local v = "<" .. t.contact .. ">"
    local q = q_milli(t.q)
    if q >= 0 then v = v .. (";q=%g"):format(q / 1000) end
    if t.expires and t.expires > 0 then
        v = v .. (";expires=%d"):format(math.max(0, t.expires - os.time()))
    end
    return v
end

---------------------------------------------------------------------------------------------------
-- The request

local function is_ack(p)
    return core.sip_msg_get_method(core.sip_proxy_req_get_msg(p)) == core.SIP_METHOD_ACK
end

-- The route returned (its task ended): a decision it left to the proxy.
local function finish(r)
    rawset(r, "_route_over", true)
    local p = rawget(r, "_p")
    local relay = rawget(r, "_relay")
    if relay then
        -- The route relayed and returned without awaiting the outcome (nor does a task of its
        -- own): the proxy forwards it as §16.7 says, as finish() would once it came back here,
        -- and the script is not entered for it. A relay with hooks keeps its callback
        -- (SIP_EBUSY): its outcome comes back here.
        local waiters = relay._waiters
        if p and (not waiters or #waiters == 0) and not rawget(r, "_delegated")
            and not rawget(r, "_answered") and core.sip_proxy_req_relay_detach(p) == 0 then
            rawset(r, "_relay", nil)
            rawget(rawget(r, "_proxy"), "_reqs")[r] = nil
        end
        return
    end
    -- (A relay counts as done in C: the script's own answers are what tell here.)
    if p and not rawget(r, "_delegated") and not rawget(r, "_answered") then
        local last = rawget(r, "_last")
        if last then
            -- The route awaited an outcome and let it be: forwarded as §16.7 says (its status
            -- when no relay ran: an empty target list).
            if last.status >= 300 and core.sip_proxy_req_forward_best(p) == core.SIP_ENOENT then
                core.sip_proxy_req_reply(p, last.status, nil)
            end
        elseif core.sip_proxy_req_is_done(p) == 1 then
            -- forwarded or answered by the core
        elseif is_ack(p) then
            core.sip_proxy_req_drop(p)
        else
            core.sip_proxy_req_reply(p, 500, nil)
        end
    end
    local px = rawget(r, "_proxy")
    rawget(px, "_reqs")[r] = nil
end

-- The route raised: 500 unless it answered already.
local function failed(r)
    rawset(r, "_route_over", true)
    local p = rawget(r, "_p")
    if p and not rawget(r, "_delegated") then
        local relay = rawget(r, "_relay")
        rawset(r, "_relay", nil)
        if relay then core.sip_proxy_req_cancel(p) end
        if not rawget(r, "_answered") and (relay or rawget(r, "_last")
            or core.sip_proxy_req_is_done(p) == 0) then
            if is_ack(p) then
                core.sip_proxy_req_drop(p)
            else
                core.sip_proxy_req_reply(p, 500, nil)
            end
        end
    end
    rawget(rawget(r, "_proxy"), "_reqs")[r] = nil
end

local function release(r)
    local p = rawget(r, "_p")
    if p then
        rawset(r, "_p", nil)
        core.sip_proxy_req_unref(p)
    end
end

-- The proxy closed: a task waiting on a relay gets SIP_ECLOSED.
local function closed_req(r)
    local relay = rawget(r, "_relay")
    rawset(r, "_relay", nil)
    if relay and not relay.outcome and relay._waiters then
        settle(relay._waiters, false, new_error(core.SIP_ECLOSED,
            "req:proxy: the proxy closed before the relay ended"))
    end
    release(r)
end

local function new_req(px, p)
    return setmetatable({ _p = p, _proxy = px }, ProxyRequest)
end

--- The request as it will be forwarded (a sip.Message to read and edit: headers, body,
--- msg.uri). Edits apply to every branch made after them.
ProxyRequest.props.msg = function(r)
    local m = rawget(r, "_msg")
    if not m then
        local mp = core.sip_proxy_req_get_msg(req_p(r))
        core.sip_msg_ref(mp)
        m = wrap_msg(mp)
        rawset(r, "_msg", m)
    end
    return m
end
--- The method ("INVITE").
local get_msg, method_str = core.sip_proxy_req_get_msg, core.sip_msg_get_method_str
ProxyRequest.props.method = function(r)
    -- Straight from C: reading it makes no Message (req.msg does, when the route reads it).
    return method_str(get_msg(rawget(r, "_p") or req_p(r)))
end
--- The Request-URI (a sip.Uri); req.uri = "sip:..." rewrites it (as req.msg.uri = ...).
ProxyRequest.props.uri = function(r) return r.msg.uri end
ProxyRequest.__newindex = function(r, k, v)
    if k == "uri" then
        r.msg.uri = v
    else
        raise(core.SIP_EINVAL, "cannot set field '" .. tostring(k) .. "'")
    end
end
--- The server transaction (a sip transaction object), or nil (a stateless proxy, an ACK or a
--- CANCEL).
ProxyRequest.props.transaction = function(r)
    local t = core.sip_proxy_req_get_txn(req_p(r))
    if not t then return nil end
    local px = rawget(r, "_proxy")
    return require("libsip.txn")._server_txn(t, rawget(px, "_stack"))
end
--- true when a Route naming this proxy was removed (RFC 3261 §16.4): forward it as it is.
local req_routed = core.sip_proxy_req_routed
ProxyRequest.props.routed = function(r) return req_routed(rawget(r, "_p") or req_p(r)) == 1 end
--- true once the request was answered, forwarded, relayed or dropped.
ProxyRequest.props.done = function(r)
    local p = rawget(r, "_p")
    return not p or core.sip_proxy_req_is_done(p) == 1
end
--- true when the Request-URI is for this proxy or one of its domains.
ProxyRequest.props.is_local = function(r)
    local pp = proxy_p(rawget(r, "_proxy"))
    local u = core.sip_msg_get_uri(core.sip_proxy_req_get_msg(req_p(r)))
    return u ~= nil and core.sip_proxy_is_local(pp, u) == 1
end
--- The user the request was authenticated as (req:authenticate()), or nil.
ProxyRequest.props.auth_user = function(r)
    local u = core.sip_proxy_req_get_auth_user(req_p(r))
    if u == nil or u == "" then return nil end
    return u
end
--- Every branch made so far (all relays): { index =, target =, status =, response = } each.
ProxyRequest.props.branches = function(r)
    local p = req_p(r)
    local out = {}
    for i = 0, core.sip_proxy_req_branch_count(p) - 1 do out[#out + 1] = branch(p, i) end
    return out
end

-- Waits (in a task) for what cb_result() a callback stores in box, unless it came already.
-- (Its waiters, _w, are made only when it must wait: an in-memory lookup answers at once.)
local function wait_box(box, what)
    if box.done then return box.value end
    if not in_task() then
        raise(core.SIP_EINVAL, what .. ": not inside a libsip task (the route, loop:spawn)")
    end
    if not box._w then box._w = {} end
    return wait_on(box, "_w", nil, what)
end

local function deliver(box, value)
    if box.done then return end
    box.done, box.value = true, value
    local w = box._w
    if w then
        box._w = nil
        settle(w, true, value)
    end
end

--- Looks the Request-URI up in the proxy's location service and returns the bindings (a list
--- of tables with contact, q, expires, path, received, conn_id, aor, ... best first; empty
--- when there is none). Waits inside the route's task. Raises SIP_ENOENT when the proxy has
--- no location service, SIP_EURI for a Request-URI with no user.
function ProxyRequest.methods.lookup(r)
    local p = req_p(r)
    if not in_task() then
        raise(core.SIP_EINVAL, "req:lookup: not inside a libsip task (the route, loop:spawn)")
    end
    local box = {}
    local rc = core.sip_proxy_req_lookup(p, function(_, status, setp)
        if status < 0 and status ~= core.SIP_ENOENT then
            if not box.done then
                box.done = true
                local w = box._w
                box._w = nil
                if w then
                    settle(w, false, new_error(status, "req:lookup: " .. core.sip_strerror(status)))
                end
                box.err = status
            end
            return
        end
        deliver(box, bindings(setp))
    end)
    if rc == core.SIP_ENOENT then
        raise(rc, "req:lookup: the proxy has no location service")
    elseif rc == core.SIP_EURI then
        raise(rc, "req:lookup: the Request-URI " .. tostring(r.uri) .. " is no AOR")
    elseif rc < 0 then
        fail(rc, "req:lookup")
    end
    if box.err then raise(box.err, "req:lookup: " .. core.sip_strerror(box.err)) end
    return wait_box(box, "req:lookup")
end

-- Answers a credentials query with what a lookup returned: a password (string), { ha1 = hex },
-- { password = s }, or nil/false (no such user).
local function answer_query(q, v)
    local ok, err = pcall(function()
        if v == nil or v == false then
            core.sip_auth_query_answer_unknown(q)
        elseif type(v) == "string" then
            core.sip_auth_query_answer_password(q, v)
        elseif type(v) == "table" and type(v.ha1) == "string" and v.password == nil then
            core.sip_auth_query_answer_ha1(q, v.ha1)
        elseif type(v) == "table" and type(v.password) == "string" and v.ha1 == nil then
            core.sip_auth_query_answer_password(q, v.password)
        else
            error("a lookup returns a password (string), { ha1 = hex } or nil, got " .. type(v))
        end
    end)
    if not ok then
        core.sip_auth_query_answer_unknown(q)
        report(nil, "req:authenticate: bad answer of the lookup: " .. tostring(err))
    end
    core.sip_auth_query_unref(q)
end

--- Checks the request's digest credentials with the proxy's auth server (401 for REGISTER and
--- local requests, 407 for the rest) and returns the user it was authenticated as, or nil
--- (then req:challenge() answers with the challenge). lookup(user, realm, algorithm) returns
--- the user's password, { ha1 = hex } for that algorithm, or nil for no such user; it runs as
--- a task of its own (it may wait). Without it the proxy's users table answers. Waits inside
--- the route's task. Raises SIP_ENOENT when the proxy has no auth server, SIP_EINVAL when
--- neither a lookup nor a users table can answer.
function ProxyRequest.methods.authenticate(r, lookup)
    local p = req_p(r)
    if lookup ~= nil then errors._arg_fn(lookup, "req:authenticate: lookup") end
    local px = rawget(r, "_proxy")
    local users = rawget(px, "_users_p")
    if lookup == nil and not users then
        raise(core.SIP_EINVAL, "req:authenticate: no lookup and the proxy has no users table")
    end
    if not in_task() then
        raise(core.SIP_EINVAL, "req:authenticate: not inside a libsip task (the route, "
            .. "loop:spawn)")
    end
    local loop = rawget(px, "_loop")
    local box = {}
    local rc = core.sip_proxy_req_authenticate(p, function(q, event)
        if event == core.SIP_AUTH_EVENT_LOOKUP then
            if lookup == nil then
                core.sip_userdb_answer(users, q)
                return
            end
            core.sip_auth_query_ref(q)
            local user, realm = core.sip_auth_query_get_user(q), core.sip_auth_query_get_realm(q)
            local alg = core.sip_auth_algorithm_name(core.sip_auth_query_get_algorithm(q)) or ""
            loop:spawn(function()
                local ok, v = xpcall(lookup, debug.traceback, user, realm, alg)
                if not ok then
                    report(loop_p(loop), v)
                    v = nil
                end
                answer_query(q, v)
            end)
            return
        end
        local user = false
        local rp = rawget(r, "_p")
        if rp and core.sip_auth_query_get_verdict(q) == core.SIP_AUTH_OK then
            user = core.sip_proxy_req_get_auth_user(rp)
            if user == "" then user = false end
        end
        deliver(box, user)
    end)
    if rc == core.SIP_ENOENT then
        raise(rc, "req:authenticate: the proxy has no auth server")
    elseif rc < 0 then
        fail(rc, "req:authenticate")
    end
    return wait_box(box, "req:authenticate") or nil
end

--- Answers with the challenge of the last req:authenticate() (401/407; stale=true for a stale
--- nonce; 400 for malformed credentials), or a fresh challenge without one.
function ProxyRequest.methods.challenge(r)
    local rc = core.sip_proxy_req_challenge(req_p(r))
    if rc == core.SIP_ENOENT then
        raise(rc, "req:challenge: the proxy has no auth server")
    elseif rc < 0 then
        fail(rc, "req:challenge")
    end
    rawset(r, "_answered", true)
end

--- Saves a REGISTER with the proxy's registrar as the user it was authenticated as (RFC 3261
--- §10.3) and returns the status answered (200, 403, 423...); waits inside the route's task.
--- Raises SIP_ENOENT when the proxy has no registrar.
function ProxyRequest.methods.save(r)
    local p = req_p(r)
    if not in_task() then
        raise(core.SIP_EINVAL, "req:save: not inside a libsip task (the route, loop:spawn)")
    end
    local box = {}
    local rc = core.sip_proxy_req_save(p, function(_, status) deliver(box, status) end)
    if rc == core.SIP_ENOENT then
        raise(rc, "req:save: the proxy has no registrar")
    elseif rc < 0 then
        fail(rc, "req:save")
    end
    rawset(r, "_answered", true)
    return wait_box(box, "req:save")
end

local RELAY_KEYS = errors._set { "record_route", "parallel", "timeout", "follow_redirects",
    "on_request", "on_response" }

local function flag(opts, k, what)
    local v = opts[k]
    if v == nil then return nil end
    if type(v) ~= "boolean" then
        raise(core.SIP_EINVAL, ("%s: %s must be a boolean, got %s"):format(what, k, type(v)))
    end
    return v and 1 or 0
end

-- The C options of a relay. The core copies them in the call, so one object serves every
-- relay of the same flags: without a timeout (what most routes pass), it is made once, not per
-- request. The route decides what a non-2xx outcome becomes (relay again, reply, or forward it
-- when it returns: sip_proxy_req_forward_best() in finish()): keep_final.
local shared_opts = {}
local NO_OPTS = setmetatable({}, { __newindex = function() error("read-only", 2) end })

local function relay_opts(rr, par, fr, timeout_ms)
    local key
    if timeout_ms == nil then
        key = (rr or 2) * 9 + (par or 2) * 3 + (fr or 2)
        local o = shared_opts[key]
        if o then return o end
    end
    local o = core.sip_proxy_relay_opts_t()
    core.sip_proxy_relay_opts_init(o)
    if rr then o.record_route = rr end
    if par then o.parallel = par end
    if fr then o.follow_redirects = fr end
    if timeout_ms then o.timeout_ms = timeout_ms end
    o.keep_final = 1
    if key then shared_opts[key] = o end
    return o
end

-- A branch hook: fn(msg, index) inside the relay (not a task); true skips the target or
-- drops the response.
local function run_hook(relay, event, index, mp)
    local fn = event == core.SIP_PROXY_BRANCH_REQUEST and relay.on_request or relay.on_response
    if not fn then return 0 end
    core.sip_msg_ref(mp)
    local m = wrap_msg(mp)
    local ok, v = xpcall(fn, debug.traceback, m, index)
    m:close()
    if not ok then
        report(nil, v)
        return 0
    end
    return v == true and 1 or 0
end

-- An outcome's best response, reason and branches, made when first read: a route that only
-- relays pays for no Message and no branch table. The branches are the request's (it keeps
-- them while it lives); the best response is kept by a reference of the outcome's own
-- (_best) until it is read or the outcome collected.
local function best_response(out)
    local bp = rawget(out, "_best")
    if not bp then return nil end
    rawset(out, "_best", nil)
    local rsp = wrap_msg(bp)
    rawset(out, "response", rsp)
    return rsp
end

local Outcome = {
    __index = function(out, k)
        if k == "response" then
            return best_response(out)
        elseif k == "reason" then
            local rsp = out.response
            local reason = rsp and rsp.reason or ""
            rawset(out, "reason", reason)
            return reason
        elseif k == "branches" then
            local r = rawget(out, "_req")
            local p = r and rawget(r, "_p")
            local branches = {}
            if p then
                for i = rawget(out, "_first"), rawget(out, "_count") - 1 do
                    branches[#branches + 1] = branch(p, i)
                end
            end
            rawset(out, "branches", branches)
            return branches
        end
        return nil
    end,
    __gc = function(out)
        local bp = rawget(out, "_best")
        if bp then
            rawset(out, "_best", nil)
            core.sip_msg_unref(bp)
        end
    end,
}

local function relay_done(relay, status, bestp)
    local r = relay.req
    local p = rawget(r, "_p")
    if bestp then core.sip_msg_ref(bestp) end
    local out = setmetatable({ status = status, _best = bestp, _req = r, _first = relay.first,
        _count = p and core.sip_proxy_req_branch_count(p) or relay.first }, Outcome)
    relay.outcome = out
    if rawget(r, "_relay") == relay then rawset(r, "_relay", nil) end
    rawset(r, "_last", out)
    -- A route that ends as its task is resumed here has been finished by its worker: finish()
    -- here is for a route that had returned before.
    local over = rawget(r, "_route_over")
    local waiters = relay._waiters
    if waiters and #waiters > 0 then
        relay._waiters = {}
        settle(waiters, true, out)
    end
    if over then finish(r) end
end

-- Starts a relay of req:proxy() or req:relay() (what names it in errors). Returns the relay in
-- progress, or nil and the outcome when there is one at once (an empty target list, a caller
-- that cancelled, an outcome the relay gave inside the call).
local function start_relay(r, targets, opts, what)
    local p = req_p(r)
    if opts == nil then
        opts = NO_OPTS
    else
        opts = errors._check_opts(opts, RELAY_KEYS, what)
    end
    local rr, par, fr = flag(opts, "record_route", what), flag(opts, "parallel", what),
        flag(opts, "follow_redirects", what)
    local timeout_ms
    if opts.timeout ~= nil then
        local t = opts.timeout
        if type(t) ~= "number" or t < 0 or t * 1000 >= 2 ^ 32 then
            raise(core.SIP_EINVAL, what .. ": timeout must be a number of seconds >= 0, got "
                .. (type(t) == "number" and tostring(t) or type(t)))
        end
        timeout_ms = t > 0 and math.max(1, math.floor(t * 1000 + 0.5)) or 0
    end
    local on_request, on_response = opts.on_request, opts.on_response
    local hooked = on_request ~= nil or on_response ~= nil
    if on_request ~= nil then errors._arg_fn(on_request, what .. ": on_request") end
    if on_response ~= nil then errors._arg_fn(on_response, what .. ": on_response") end
    local o = relay_opts(rr, par, fr, timeout_ms)
    local list = targets_of(targets, what)
    if rawget(r, "_relay") then
        raise(core.SIP_EBUSY, what .. ": a relay of this request is in progress")
    end
    if list and #list == 0 then
        -- A lookup that found nobody relays nothing: 480 (RFC 3261 §21.4.18) at once.
        local out = { status = 480, reason = "", branches = {} }
        rawset(r, "_last", out)
        return nil, out
    end
    -- Its waiters (_waiters) are made by the first req:proxy() that waits.
    local relay = { req = r, first = core.sip_proxy_req_branch_count(p), on_request = on_request,
        on_response = on_response }
    core.sip_proxy_req_clear_targets(p)
    if list then
        for i = 1, #list do add_target(p, list[i], what) end
    end
    local last = rawget(r, "_last")
    rawset(r, "_last", nil)
    -- One function for both C callbacks of the relay (sip_proxy_relay_opts_t.on_branch gets
    -- the relay's user too): (req, status, best) for the outcome, (req, event, index, msg)
    -- for a branch hook (sip_proxy_branch_cb), only with hooks.
    local rc
    if hooked then
        rc = core.sipbind_proxy_req_relay_hooked(p, o, function(...)
            local _, a, b, c = ...
            if select("#", ...) == 4 then return run_hook(relay, a, b, c) end
            relay_done(relay, a, b)
            return 0
        end)
    else
        rc = core.sip_proxy_req_relay(p, o, function(_, status, best)
            relay_done(relay, status, best)
        end)
    end
    if rc < 0 then
        rawset(r, "_last", last)
        core.sip_proxy_req_clear_targets(p)
        if rc == core.SIP_EBUSY and last and last.status >= 300 and not rawget(r, "_answered") then
            -- RFC 3261 §16.10: the caller cancelled (its 487 is the outcome kept): there is
            -- nothing left to relay, and failure routing reads that outcome again.
            return nil, last
        end
        fail(rc, what)
    end
    if relay.outcome then return nil, relay.outcome end
    rawset(r, "_relay", relay)
    return relay
end

--- Relays the request statefully (RFC 3261 §16.6) to targets (URI strings, bindings from
--- req:lookup(), or a mix; nil: where the Request-URI or Route set says; an empty list: an
--- outcome 480 at once, nothing relayed) and, inside the route's task, waits for the outcome:
--- { status =, reason =, response =, branches = { { index, target, status, response }, ... } }
--- (status: the best final status, RFC 3261 §16.7; 408 when no branch answered). opts:
--- record_route, parallel = false (sequential forking by q), timeout (seconds for a group of
--- branches), follow_redirects, on_request = fn(msg, index) as each branch's request goes out
--- (edit it; return true to skip the target), on_response = fn(msg, index) for each response
--- of a branch (edit it; return true to drop it); the hooks run inside the relay, not in a
--- task. A 2xx goes upstream at once; a non-2xx outcome waits for the route: relay again,
--- reply, or return to forward it; once the caller cancelled, it relays nothing and gives that
--- outcome (487) again. Raises SIP_ENOTSUP on a stateless proxy or for an ACK or CANCEL,
--- SIP_EBUSY while a relay is in progress or once answered.
function ProxyRequest.methods.proxy(r, targets, opts)
    local relay, out = start_relay(r, targets, opts, "req:proxy")
    if not relay then return out end
    if not in_task() then return nil end
    if not relay._waiters then relay._waiters = {} end
    return wait_on(relay, "_waiters", nil, "req:proxy")
end

--- Relays the request as req:proxy(targets, opts) does (the same targets and options) and
--- returns at once, without waiting for the outcome (Kamailio's t_relay()). A route that
--- returns with the relay in progress leaves it to the proxy, which forwards the best response
--- itself (RFC 3261 §16.7) and enters the script no more for it; otherwise the outcome is the
--- route's as after req:proxy(), forwarded when the route returns. Raises as req:proxy() does.
function ProxyRequest.methods.relay(r, targets, opts)
    start_relay(r, targets, opts, "req:relay")
end

--- Forwards the request statelessly (RFC 3261 §16.11): to uri (which becomes the
--- Request-URI), or where the Route set or Request-URI says (RFC 3263).
function ProxyRequest.methods.forward(r, uri, record_route)
    local p = req_p(r)
    if uri ~= nil and type(uri) ~= "string" then uri = tostring(uri) end
    if record_route ~= nil and type(record_route) ~= "boolean" then
        raise(core.SIP_EINVAL, "req:forward: record_route must be a boolean, got "
            .. type(record_route))
    end
    local rc = core.sip_proxy_req_forward(p, uri, record_route and 1 or 0)
    if rc == core.SIP_EURI then
        raise(rc, ("req:forward: bad URI %q"):format(uri))
    elseif rc < 0 then
        fail(rc, "req:forward")
    end
    rawset(r, "_answered", true)
end

--- Answers the request (statefully when it has a server transaction): req:reply(status
--- [, reason] [, headers]) with headers { Name = value } or { {name, value}, ... }.
function ProxyRequest.methods.reply(r, status, reason, headers)
    local p = req_p(r)
    status = errors._arg_status(status, "req:reply")
    if type(reason) == "table" and headers == nil then reason, headers = nil, reason end
    if reason ~= nil then errors._arg_string(reason, "req:reply: reason") end
    local rc
    if headers == nil or next(headers) == nil then
        rc = core.sip_proxy_req_reply(p, status, reason)
    else
        if type(headers) ~= "table" then
            raise(core.SIP_EINVAL, "req:reply: headers must be a table, got " .. type(headers))
        end
        local rc0, rp = core.sip_proxy_req_create_response(p, status, reason)
        if rc0 < 0 then fail(rc0, "req:reply " .. status) end
        local rsp = wrap_msg(rp)
        local ok, err = pcall(message._add_headers, "req:reply", rsp, headers)
        if not ok then
            rsp:close()
            error(err, 0)
        end
        rc = core.sip_proxy_req_send_response(p, rp)
        rsp:close()
    end
    if rc < 0 then fail(rc, "req:reply " .. status) end
    if status >= 200 then rawset(r, "_answered", true) end
end

--- Answers 3xx (300, 301, 302 or 305; 302 by default) with one Contact per target (a URI, or
--- a binding with its q and expires), or 404 when there is none (480 with status 480).
function ProxyRequest.methods.redirect(r, contacts, status)
    local p = req_p(r)
    status = status == nil and 302 or errors._arg_int(status, "req:redirect: status")
    local list = targets_of(contacts, "req:redirect") or {}
    if not (status == 300 or status == 301 or status == 302 or status == 305 or status == 480)
        or (status == 480 and #list > 0) then
        raise(core.SIP_EINVAL, "req:redirect: status must be 300, 301, 302 or 305 (480 with no "
            .. "contact), not " .. status)
    end
    local rc
    if #list == 0 then
        rc = core.sip_proxy_req_redirect(p, status, nil)
    else
        local rc0, rp = core.sip_proxy_req_create_response(p, status, nil)
        if rc0 < 0 then fail(rc0, "req:redirect " .. status) end
        local rsp = wrap_msg(rp)
        for _, t in ipairs(list) do
            local hrc = core.sip_msg_add_header(rp, "Contact", contact_value(t))
            if hrc < 0 then
                rsp:close()
                raise(hrc, "req:redirect: bad contact " .. (type(t) == "string" and t or t.contact))
            end
        end
        rc = core.sip_proxy_req_send_response(p, rp)
        rsp:close()
    end
    if rc < 0 then fail(rc, "req:redirect " .. status) end
    rawset(r, "_answered", true)
end

--- Drops the request without an answer (a stateless proxy's choice for junk).
function ProxyRequest.methods.drop(r)
    local rc = core.sip_proxy_req_drop(req_p(r))
    if rc < 0 then fail(rc, "req:drop") end
    rawset(r, "_answered", true)
end

--- Cancels every pending branch of the relay in progress (its outcome follows).
function ProxyRequest.methods.cancel(r)
    local rc = core.sip_proxy_req_cancel(req_p(r))
    if rc < 0 then raise(rc, "req:cancel: no relay in progress") end
end

--- Routes the request as `sipd` does (sip_proxy_route_default(): REGISTER saved, a routed
--- request forwarded, a local AOR relayed to its contacts or 404, another domain only for an
--- authenticated local user).
function ProxyRequest.methods.default_route(r)
    local p = req_p(r)
    rawset(r, "_delegated", true)
    local rc = core.sip_proxy_route_default(p)
    if rc == core.SIP_ENOTSUP then
        raise(rc, "req:default_route: this library has no default routing (sipd's)")
    elseif rc < 0 then
        fail(rc, "req:default_route")
    end
end

ProxyRequest.__gc = release

errors._check_args("ProxyRequest", ProxyRequest.methods, {
    proxy = { "targets:string|table?", "opts:table?" },
    relay = { "targets:string|table?", "opts:table?" },
    forward = { "uri:string|table?" },
    redirect = { "contacts:string|table?", "status:integer?" },
})

---------------------------------------------------------------------------------------------------
-- The proxy

local OBJECT_OPTS = { location = "Location", registrar = "Registrar", auth = "AuthServer",
    proxy_auth = "AuthServer", users = "UserDB", guard = "Guard" }
local PROXY_KEYS = errors._set { "route", "stateless", "timer_c", "max_branches",
    "loop_detect", "record_route_host", "location", "registrar", "auth", "proxy_auth", "users",
    "server", "redirect", "guard", "secret" }

-- The C handle of a package object given as an option, checked by its class.
local function handle_of(k, v)
    local cls = OBJECT_OPTS[k]
    if getmetatable(v) ~= errors._classes[cls] or not rawget(v, "_p") then
        raise(core.SIP_EINVAL, ("sip.Proxy: %s must be a sip.%s, got %s"):format(k, cls,
            type(v)))
    end
    return rawget(v, "_p")
end

-- { user = password } as a UserDB for the realm of each auth server.
local function users_from_table(t, servers)
    if #servers == 0 then raise(core.SIP_EINVAL, "sip.Proxy: users as a table needs auth") end
    local db = require("libsip.registrar").UserDB()
    for user, pw in pairs(t) do
        errors._arg_string(user, "sip.Proxy: users key")
        errors._arg_string(pw, "sip.Proxy: users[" .. user .. "]")
        for _, s in ipairs(servers) do db:set_password(user, s.realm, pw) end
    end
    return db
end

-- Route tasks: a coroutine per request, taken from a pool of the loop's. Making a thread per
-- request (its stack, then its collection) was a good part of what a route cost; a worker whose
-- route has returned goes back to the pool and waits there for the next request, so a route
-- that never waits costs one resume. A task that raised out of its worker is dead and never
-- pooled; one that is still waiting belongs to its request until it ends.
local POOL_MAX = 64

local function route_worker(fn, r, loop, pool)
    local co = coroutine.running()
    while true do
        local ok, err = xpcall(fn, traceback, r)
        if ok then
            finish(r)
        else
            failed(r)
            report(loop_p(loop), err)
        end
        fn, r, err = nil, nil, nil
        if #pool >= POOL_MAX then return end
        pool[#pool + 1] = co
        fn, r = coroutine.yield()
    end
end

local function incoming(px, reqp)
    core.sip_proxy_req_ref(reqp)
    local r = new_req(px, reqp)
    local fn = rawget(px, "_route")
    if not fn then
        rawset(r, "_delegated", true)
        core.sip_proxy_route_default(reqp)
        release(r)
        return
    end
    rawget(px, "_reqs")[r] = true
    local loop = rawget(px, "_loop")
    loop_p(loop)
    local pool = rawget(loop, "_route_pool")
    if not pool then
        pool = {}
        rawset(loop, "_route_pool", pool)
    end
    local n = #pool
    if n > 0 then
        local co = pool[n]
        pool[n] = nil
        resume(loop, co, fn, r)
    else
        local co = coroutine.create(route_worker)
        task_loops[co] = loop
        resume(loop, co, fn, r, loop, pool)
    end
end

--- A SIP proxy (RFC 3261 §16) on a Stack's transaction layer (the stack needs transactions):
--- sip.Proxy(stack, { route = function(req) ... end, stateless =, timer_c = (seconds),
--- max_branches =, loop_detect =, record_route_host =, location = sip.Location, registrar =
--- sip.Registrar, auth = sip.AuthServer, proxy_auth = sip.AuthServer, users = sip.UserDB or
--- { user = password } (for auth's realm), server =, redirect =, guard = sip.Guard (told of
--- every failed authentication; a blocked source's requests are dropped), secret = (a string
--- keying the branches: proxies sharing it take each other's stateless responses) }) (the fields of
--- sip_proxy_opts_t). Each request runs route(req) as a task; without a route the default
--- routing of `sipd` runs. The stack keeps the proxy until proxy:close() or stack:close().
function M.new(stack, opts)
    opts = errors._check_opts(opts, PROXY_KEYS, "sip.Proxy")
    if getmetatable(stack) ~= errors._classes.Stack then
        raise(core.SIP_EINVAL, "sip.Proxy: stack must be a sip.Stack, got " .. type(stack))
    end
    if opts.route ~= nil then errors._arg_fn(opts.route, "sip.Proxy: route") end
    local o = core.sip_proxy_opts_t()
    core.sip_proxy_opts_init(o)
    for _, k in ipairs { "stateless", "loop_detect", "redirect" } do
        local v = flag(opts, k, "sip.Proxy")
        if v then o[k] = v end
    end
    for _, k in ipairs { "record_route_host", "server", "secret" } do
        if opts[k] ~= nil then o[k] = errors._arg_string(opts[k], "sip.Proxy: " .. k) end
    end
    if opts.timer_c ~= nil then
        local t = opts.timer_c
        if type(t) ~= "number" or t < 0 or t * 1000 >= 2 ^ 32 then
            raise(core.SIP_EINVAL, "sip.Proxy: timer_c must be a number of seconds >= 0, got "
                .. (type(t) == "number" and tostring(t) or type(t)))
        end
        o.timer_c_ms = math.floor(t * 1000 + 0.5)
    end
    if opts.max_branches ~= nil then
        local n = opts.max_branches
        if math.type(n) ~= "integer" or n < 1 or n >= 2 ^ 32 then
            raise(core.SIP_EINVAL, "sip.Proxy: max_branches must be an integer >= 1, got "
                .. (type(n) == "number" and tostring(n) or type(n)))
        end
        o.max_branches = n
    end
    local keep, users_p, opts_users = {}, nil, nil
    for _, k in ipairs { "location", "registrar", "auth", "proxy_auth", "guard" } do
        if opts[k] ~= nil then
            o[k] = handle_of(k, opts[k])
            keep[#keep + 1] = opts[k]
        end
    end
    if opts.users ~= nil then
        local u = opts.users
        if type(u) == "table" and getmetatable(u) == nil then
            local servers = {}
            for _, k in ipairs { "auth", "proxy_auth" } do
                if opts[k] ~= nil then servers[#servers + 1] = opts[k] end
            end
            u = users_from_table(u, servers)
        end
        users_p = handle_of("users", u)
        o.users = users_p
        keep[#keep + 1] = u
        opts_users = u
    end
    if not rawget(stack, "_tp") then raise(core.SIP_ECLOSED, "sip.Proxy: the stack is closed") end
    local layer = rawget(stack, "_layer")
    if not layer then
        raise(core.SIP_EINVAL, "sip.Proxy needs a stack with transactions: "
            .. "sip.Stack{transactions = true, ...}")
    end
    local px = setmetatable({ _stack = stack, _loop = stack.loop, _route = opts.route,
        _reqs = {}, _keep = keep, _users_p = users_p }, Proxy)
    local weak = setmetatable({ px = px }, { __mode = "v" })
    local rc, p = core.sip_proxy_create(rawget(layer, "_p"), o, function(_, reqp)
        local x = weak.px
        if not x or not rawget(x, "_p") then return end
        incoming(x, reqp)
    end)
    if rc < 0 then raise(rc, "sip.Proxy: cannot create the proxy: " .. core.sip_strerror(rc)) end
    rawset(px, "_p", p)
    -- What the proxy was made with, read back from it once: it stays readable after close.
    rawset(px, "_redirect", core.sip_proxy_get_redirect(p) == 1)
    rawset(px, "_stateless", core.sip_proxy_get_stateless(p) == 1)
    if core.sip_proxy_get_users(p) ~= nil then rawset(px, "_users", opts_users) end
    local list = rawget(stack, "_proxies")
    if not list then
        list = {}
        rawset(stack, "_proxies", list)
    end
    list[px] = true
    return px
end

--- Sets the route function: fn(req) for each request (a ProxyRequest), run as a task.
function Proxy.methods.route(px, fn)
    proxy_p(px)
    rawset(px, "_route", errors._arg_fn(fn, "proxy:route: fn"))
    return fn
end

--- true when the URI's host is this proxy or one of the location service's domains.
function Proxy.methods.is_local(px, uri)
    local p = proxy_p(px)
    local text = type(uri) == "string" and uri or tostring(uri)
    local rc, u = core.sip_uri_parse(text)
    if rc < 0 then raise(rc, ("proxy:is_local: malformed URI %q"):format(text)) end
    return core.sip_proxy_is_local(p, u) == 1
end

-- The fields of sip_proxy_opts_t sip.Proxy takes (timer_c is timer_c_ms in seconds), as
-- Python's Proxy.OPTIONS.
local PROXY_OPTIONS = { "stateless", "timer_c_ms", "max_branches", "loop_detect",
    "record_route_host", "location", "registrar", "auth", "proxy_auth", "users", "server",
    "redirect", "guard", "secret" }
Proxy.props.OPTIONS = function() return PROXY_OPTIONS end

--- The number of requests being routed (made and not freed yet).
Proxy.props.count = function(px)
    local p = rawget(px, "_p")
    return p and core.sip_proxy_req_count(p) or 0
end
--- true when made with redirect = true: the default routing answers a registered AOR with a
--- 302 rather than relaying (sip_proxy_get_redirect).
Proxy.props.redirect = function(px) return rawget(px, "_redirect") end
--- true for a stateless proxy (RFC 3261 §16.11): req:proxy() is not available, req:forward()
--- is (sip_proxy_get_stateless).
Proxy.props.stateless = function(px) return rawget(px, "_stateless") end
--- The sip.UserDB the proxy authenticates with (the one made from a table of passwords too),
--- or nil (sip_proxy_get_users).
Proxy.props.users = function(px) return rawget(px, "_users") end
--- The Stack whose transaction layer the proxy works on.
Proxy.props.stack = function(px) return rawget(px, "_stack") end
Proxy.props.closed = function(px) return rawget(px, "_p") == nil end

--- Closes the proxy: it leaves the handler chain; requests in progress are answered 503 (a
--- relay cancels its branches); tasks waiting on them get SIP_ECLOSED. Idempotent;
--- stack:close() does it too.
function Proxy.methods.close(px)
    local p = rawget(px, "_p")
    if not p then return end
    rawset(px, "_p", nil)
    core.sip_proxy_close(p)
    local reqs = rawget(px, "_reqs")
    rawset(px, "_reqs", {})
    for r in pairs(reqs) do closed_req(r) end
    core.sip_proxy_unref(p)
    local list = rawget(rawget(px, "_stack"), "_proxies")
    if list then list[px] = nil end
    rawset(px, "_keep", {})
end
Proxy.__close = Proxy.methods.close
Proxy.__gc = function(px)
    local p = rawget(px, "_p")
    if p then
        rawset(px, "_p", nil)
        core.sip_proxy_unref(p)
    end
end

errors._check_args("Proxy", Proxy.methods, { route = { "fn:function" },
    is_local = { "uri:string|table" } })

-- stack:close() closes the proxies on it first (their requests are answered while the layer
-- is still there).
do
    local Stack = errors._classes.Stack
    local close = Stack.methods.close
    local function close_with_proxies(s)
        local list = rawget(s, "_proxies")
        if list then
            rawset(s, "_proxies", nil)
            for px in pairs(list) do px:close() end
        end
        return close(s)
    end
    Stack.methods.close = close_with_proxies
    if Stack.__close == close then Stack.__close = close_with_proxies end
end

M.Proxy, M.ProxyRequest = Proxy, ProxyRequest
-- A request taken by a proxy the layer did not make (a server's: libsip.server).
M._incoming = incoming
return M
