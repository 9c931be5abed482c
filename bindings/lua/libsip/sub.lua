-- SPDX-License-Identifier: MIT
-- libsip for Lua: subscriptions (RFC 6665, sip/sub.h) driven from coroutine tasks: the
-- subscriber's ua:subscribe() with the NOTIFYs it receives, the notifier's
-- ua:accept_subscription() with notify() and terminate().
--
-- A Subscription owns one reference to its sip_sub_t. Its UA keeps a live one (ua._subs) until
-- it ends; the C callback holds the object weakly. The core does the protocol (refreshes, the
-- 200 to each NOTIFY, the NOTIFY after each refresh, expiry, 481, 489).

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"
local dialogm = require "libsip.dialog"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, class, new_error = errors._raise, errors._class, errors._new_error
local wrap_msg = message._wrap_msg
local resume = loopm._resume

local M = {}

local Subscription = class("Subscription")

local EV_STATE, EV_NOTIFY = core.SIP_SUB_EVENT_STATE, core.SIP_SUB_EVENT_NOTIFY
local EV_RESPONSE, EV_FORKED = core.SIP_SUB_EVENT_RESPONSE, core.SIP_SUB_EVENT_FORKED
local TERMINATED = core.SIP_SUB_TERMINATED

local function sub_p(s)
    local p = rawget(s, "_p")
    if not p or rawget(s, "_ua_closed") then
        raise(core.SIP_ECLOSED, "the subscription's UA is closed")
    end
    return p
end

local function state_of(s)
    local p = rawget(s, "_p")
    if not p or rawget(s, "_ua_closed") then return TERMINATED end
    return core.sip_sub_get_state(p)
end

-- ---- waiting: each waiter is resumed once, with (true, value) or (false, error) -------------

local settle = loopm._settle

local function take(s, key)
    local list = rawget(s, key)
    rawset(s, key, {})
    return list
end

local wait_on = loopm._wait_on

-- The error of a subscription that ended before it was established (Python's
-- SubscriptionFailed): SIP_EIO with status, phrase and response.
local function sub_failed(s)
    local p = rawget(s, "_p")
    local status = p and core.sip_sub_get_end_status(p) or 0
    local rsp = rawget(s, "_final")
    local phrase
    if rsp and rsp.status == status then phrase = rsp.reason end
    if not phrase or phrase == "" then
        phrase = status ~= 0 and core.sip_status_phrase(status) or ""
    end
    return new_error(core.SIP_EIO, ("subscription failed: %d %s"):format(status, phrase),
        { status = status, phrase = phrase, response = rsp })
end

local function closed_error()
    return new_error(core.SIP_ECLOSED, "the subscription's UA was closed")
end

-- ---- NOTIFYs --------------------------------------------------------------------------------

-- A NOTIFY as a table (Python: a Notify): message, subscription, state ("active", "pending",
-- "terminated"), reason, expires and retry_after (nil when absent), body, content_type.
local function notify_of(m, s)
    local n = { message = m, subscription = s, state = "active", reason = "", body = m.body,
        content_type = "" }
    local ss = m:header("Subscription-State")
    if ss then
        local v, params = ss:match("^%s*([^;%s]+)%s*(.*)$")
        n.state = (v or "active"):lower()
        for k, val in (params or ""):gmatch(";%s*([%w%-]+)%s*=%s*\"?([^;\"]*)\"?") do
            k = k:lower()
            if k == "reason" then n.reason = val end
            if k == "expires" then n.expires = math.tointeger(tonumber(val)) end
            if k == "retry-after" then n.retry_after = math.tointeger(tonumber(val)) end
        end
    end
    local ct = m:header("Content-Type")
    if ct then n.content_type = ct:match("^%s*([^;%s]+)") or "" end
    -- A REFER's NOTIFY (RFC 3515 §2.4.5): the status of its message/sipfrag body.
    n.status = math.tointeger(tonumber((n.body or ""):match("^SIP/%S+%s+(%d%d%d)")))
    return n
end

local function all_over(s)
    if not rawget(s, "_over") then return false end
    for _, f in ipairs(rawget(s, "_forks")) do
        if not rawget(f, "_over") then return false end
    end
    return true
end

local function push(s, n)
    local getters = take(s, "_getters")
    local given = false
    for _, w in ipairs(getters) do
        if not w.done and not given then
            w.done = true
            given = true
            resume(w.loop, w.co, true, n)
        end
    end
    if not given then
        local q = rawget(s, "_notifies")
        q[#q + 1] = n
    end
end

-- ---- events ---------------------------------------------------------------------------------

local function over(s)
    if rawget(s, "_over") then return end
    rawset(s, "_over", true)
    local ua = rawget(s, "_ua")
    local subs = ua and rawget(ua, "_subs")
    if subs then subs[s] = nil end
    if rawget(s, "_ua_closed") then
        settle(take(s, "_wait_up"), false, closed_error())
        settle(take(s, "_wait_ended"), false, closed_error())
        settle(take(s, "_getters"), false, closed_error())
        return
    end
    local st = s.end_status
    if not rawget(s, "_up") and st >= 200 and st < 300 then
        -- Over without a failure before it was up (a REFER taken without a subscription,
        -- RFC 4488; an unsubscribe before the 2xx): established all the same.
        settle(take(s, "_wait_up"), true, s)
    elseif not rawget(s, "_up") then
        settle(take(s, "_wait_up"), false, sub_failed(s))
    end
    settle(take(s, "_wait_ended"), true, s.end_status)
    for _, t in ipairs { s, rawget(s, "_root") or false } do
        if t and all_over(t) then settle(take(t, "_getters"), true, nil) end
    end
end

local function wrap_ref(mp)
    if not mp then return nil end
    core.sip_msg_ref(mp)
    return wrap_msg(mp)
end

local function new_sub(ua, root)
    return setmetatable({ _ua = ua, _loop = rawget(ua, "_loop"), _root = root, _forks = {},
        _by_tag = {}, _notifies = {}, _getters = {}, _wait_up = {}, _wait_ended = {} },
        Subscription)
end

-- The key of a C subscription among a SUBSCRIBE's forks: its dialog's remote tag ("" before
-- it has a dialog, which only the first one can lack).
local function fork_key(p)
    local d = core.sip_sub_get_dialog(p)
    return d and core.sip_dialog_get_remote_tag(d) or ""
end

local function on_event(s, ev, mp)
    if ev == EV_NOTIFY and mp then
        local n = notify_of(wrap_ref(mp), s)
        push(s, n)
        local root = rawget(s, "_root")
        if root then push(root, n) end
    elseif ev == EV_RESPONSE then
        local m = wrap_ref(mp)
        if m and m.status >= 200 then rawset(s, "_final", m) end
    elseif ev == EV_STATE then
        local st = state_of(s)
        if st ~= TERMINATED and st ~= core.SIP_SUB_INIT then
            if not rawget(s, "_up") then
                rawset(s, "_up", true)
                settle(take(s, "_wait_up"), true, s)
            end
        elseif st == TERMINATED then
            over(s)
        end
    end
end

-- The C callback of one subscription and the forks of its SUBSCRIBE (they share it). It holds
-- the object weakly (weak.s).
local function event_cb(weak)
    return function(p, ev, mp)
        local s = weak.s
        if not s then return end
        local own = rawget(s, "_p")
        local target = s
        local key = fork_key(p)
        if own and key ~= fork_key(own) and key ~= "" then
            target = rawget(s, "_by_tag")[key]
            if not target then
                if ev ~= EV_FORKED then return end
                target = new_sub(rawget(s, "_ua"), s)
                core.sip_sub_ref(p)
                rawset(target, "_p", p)
                rawget(s, "_by_tag")[key] = target
                local forks = rawget(s, "_forks")
                forks[#forks + 1] = target
                rawget(rawget(s, "_ua"), "_subs")[target] = true
            end
        end
        on_event(target, ev, mp)
    end
end

-- ---- the UA's side --------------------------------------------------------------------------

local function opt_string(v, what)
    if v == nil then return nil end
    return errors._arg_string(v, what)
end

local function seconds(v, what)
    if math.type(v) ~= "integer" or v < 0 or v > 0xffffffff then
        raise(core.SIP_EINVAL, ("%s must be a whole number of seconds >= 0, got %s"):format(
            what, type(v) == "number" and tostring(v) or type(v)))
    end
    return v
end

local SUBSCRIBE_KEYS = errors._set { "id", "expires", "accept", "from", "body", "content_type",
    "headers", "dst", "call" }

--- Subscribes: ua:subscribe(target, event, { id =, expires = seconds (default 3600), accept =,
--- from =, body =, content_type =, headers =, dst =, call = a sip.Call (subscribe inside its
--- dialog: RFC 5057; target is then nil) }). Returns the Subscription at once;
--- sub:wait_established() waits until it is accepted and raises (SIP_EIO with status 489,
--- 404, 408...) otherwise. sub:next_notify() and sub:notifies() give the NOTIFYs.
function M.subscribe(u, target, event, opts)
    local up = rawget(u, "_p")
    if not up then errors._closed() end
    if target ~= nil then errors._arg_string(target, "ua:subscribe: target") end
    errors._arg_string(event, "ua:subscribe: event")
    if event == "" then raise(core.SIP_EINVAL, "ua:subscribe: event must name a package") end
    opts = errors._check_opts(opts, SUBSCRIBE_KEYS, "ua:subscribe")
    local o = core.sip_sub_opts_t()
    core.sip_sub_opts_init(o)
    o.event = event
    for _, k in ipairs { "id", "accept", "from", "body", "content_type" } do
        local v = opt_string(opts[k], "ua:subscribe: " .. k)
        if v then o[k] = v end
    end
    if opts.expires ~= nil then o.expires = seconds(opts.expires, "ua:subscribe: expires") end
    if opts.headers ~= nil then
        o.headers = require("libsip.call")._header_lines(opts.headers, "ua:subscribe")
    end
    local ni = opts.dst ~= nil and require("libsip.transport")._dest_netinfo(opts.dst) or nil
    if ni then o.dst = ni end
    if opts.call ~= nil then
        if getmetatable(opts.call) ~= errors._classes.Call then
            raise(core.SIP_EINVAL, "ua:subscribe: call must be a sip.Call")
        end
        local cp = rawget(opts.call, "_p")
        local d = cp and core.sip_call_get_dialog(cp)
        if not d then raise(core.SIP_EINVAL, "ua:subscribe: the call has no dialog") end
        o.dialog = d
    elseif target == nil then
        raise(core.SIP_EINVAL, "ua:subscribe: target must be a string (or call given)")
    end
    local s = new_sub(u, nil)
    local rc, p = core.sip_sub_subscribe(up, target, o,
        event_cb(setmetatable({ s = s }, { __mode = "v" })))
    if rc == core.SIP_EURI then
        raise(rc, ("ua:subscribe: bad target URI %q"):format(target))
    elseif rc < 0 then
        raise(rc, "ua:subscribe: cannot subscribe: " .. core.sip_strerror(rc))
    end
    rawset(s, "_p", p)
    rawget(u, "_subs")[s] = true
    return s
end

local REFER_KEYS = errors._set { "call", "from", "referred_by", "headers", "dst", "norefersub" }

--- Sends a REFER (RFC 3515): ua:refer(target, refer_to, { call = a sip.Call (inside its
--- dialog; target is then nil), from =, referred_by = (RFC 3892), headers =, dst = }) asks the
--- other side to send a request to refer_to (an INVITE for a sip: URI: a transfer) and
--- returns its implicit subscription at once: sub:wait_established() for the 202 (raises for
--- 403, 405, 603...), then sub:notifies(), whose n.status is the status of the request the
--- other side sent (100, 180, 200...). norefersub = true asks for no subscription (RFC 4488):
--- when granted, the subscription ends with the 202 (end_status 200) and no NOTIFY comes.
function M.refer(u, target, refer_to, opts)
    local up = rawget(u, "_p")
    if not up then errors._closed() end
    if target ~= nil then errors._arg_string(target, "ua:refer: target") end
    errors._arg_string(refer_to, "ua:refer: refer_to")
    if refer_to == "" then raise(core.SIP_EINVAL, "ua:refer: refer_to must be a URI") end
    opts = errors._check_opts(opts, REFER_KEYS, "ua:refer")
    local o = core.sip_sub_opts_t()
    core.sip_sub_opts_init(o)
    if opts.from ~= nil then o.from = errors._arg_string(opts.from, "ua:refer: from") end
    local lines = {}
    if opts.referred_by ~= nil then
        lines[#lines + 1] = "Referred-By: " .. errors._arg_string(opts.referred_by,
            "ua:refer: referred_by")
    end
    if opts.headers ~= nil then
        lines[#lines + 1] = require("libsip.call")._header_lines(opts.headers, "ua:refer")
    end
    if #lines > 0 then o.headers = table.concat(lines, "\r\n") end
    local ni = opts.dst ~= nil and require("libsip.transport")._dest_netinfo(opts.dst) or nil
    if ni then o.dst = ni end
    if opts.norefersub ~= nil then
        if type(opts.norefersub) ~= "boolean" then
            raise(core.SIP_EINVAL, "ua:refer: norefersub must be a boolean")
        end
        o.norefersub = opts.norefersub and 1 or 0
    end
    if opts.call ~= nil then
        if getmetatable(opts.call) ~= errors._classes.Call then
            raise(core.SIP_EINVAL, "ua:refer: call must be a sip.Call")
        end
        local cp = rawget(opts.call, "_p")
        local d = cp and core.sip_call_get_dialog(cp)
        if not d then raise(core.SIP_EINVAL, "ua:refer: the call has no dialog") end
        o.dialog = d
    elseif target == nil then
        raise(core.SIP_EINVAL, "ua:refer: target must be a string (or call given)")
    end
    local s = new_sub(u, nil)
    local rc, p = core.sip_sub_refer(up, target, refer_to, o,
        event_cb(setmetatable({ s = s }, { __mode = "v" })))
    if rc == core.SIP_EURI then
        raise(rc, ("ua:refer: bad target URI %q"):format(target))
    elseif rc < 0 then
        raise(rc, "ua:refer: cannot refer: " .. core.sip_strerror(rc))
    end
    rawset(s, "_p", p)
    rawget(u, "_subs")[s] = true
    return s
end

-- Percent-escapes a URI header value (RFC 3261 §19.1.1).
local function escape(v)
    return (v:gsub("[^%w%-%._~]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end

local function unescape(v)
    return (v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The URI an attended transfer refers to (RFC 3891 §3, RFC 5589 §7): the other call's remote
-- target with a Replaces header naming that call from its far end's view.
local function replaces_uri(call)
    local d = call.dialog
    if not d then raise(core.SIP_EINVAL, "call:transfer: to_call has no dialog") end
    local rep = ("%s;to-tag=%s;from-tag=%s"):format(d.call_id, d.remote_tag or "", d.local_tag)
    local sep = d.remote_target:find("?", 1, true) and "&" or "?"
    return "<" .. d.remote_target .. sep .. "Replaces=" .. escape(rep) .. ">"
end

--- The transferee's reading of a REFER (RFC 3515 §2.1, RFC 3261 §19.1.1):
--- sip.refer_target(req) gives the Refer-To URI without its headers, and those headers
--- (Replaces...) as a table to put in the request sent to it, unescaped.
function M.refer_target(req)
    local v = errors._arg_string(req:header("Refer-To") or "", "sip.refer_target: Refer-To")
    v = v:match("<(.-)>") or v:match("^%s*(.-)%s*$")
    local uri, query = v:match("^([^?]*)%??(.*)$")
    local headers = {}
    for part in query:gmatch("[^&]+") do
        local name, value = part:match("^([^=]*)=?(.*)$")
        headers[unescape(name)] = unescape(value)
    end
    return uri, headers
end

--- Transfers the other side of the call (RFC 3515, RFC 5589), in a task: call:transfer(target,
--- { to_call =, referred_by =, timeout = seconds }): blind to target, or attended to to_call's
--- far end (target nil; the REFER names to_call with Replaces, RFC 3891, so that the far
--- end's new call replaces it). Waits until the transferee reports the outcome of its new
--- call; returns that final status (200 when answered, 486, 487, 481...). Raises (SIP_EIO with
--- status) when the REFER is refused. The call goes on: hang it up once transferred.
local function transfer(c, target, opts)
    opts = errors._check_opts(opts, errors._set { "to_call", "referred_by", "timeout" },
        "call:transfer")
    if (target == nil) == (opts.to_call == nil) then
        raise(core.SIP_EINVAL, "call:transfer: a target or to_call, one of them")
    end
    if opts.to_call ~= nil then
        if getmetatable(opts.to_call) ~= errors._classes.Call then
            raise(core.SIP_EINVAL, "call:transfer: to_call must be a sip.Call")
        end
        target = replaces_uri(opts.to_call)
    end
    errors._arg_string(target, "call:transfer: target")
    local sub = M.refer(rawget(c, "_ua"), nil, target, { call = c,
        referred_by = opts.referred_by })
    sub:wait_established(opts.timeout)
    local status = 0
    while true do
        local n = sub:next_notify(opts.timeout)
        if not n then break end
        if n.status then status = n.status end
    end
    if status == 0 and sub.end_status ~= 200 then error(sub_failed(sub), 0) end
    return status
end
errors._classes.Call.methods.transfer = transfer

local ACCEPT_KEYS = errors._set { "body", "content_type", "state", "expires", "status", "headers" }
local STATES = { active = core.SIP_SUB_ACTIVE, pending = core.SIP_SUB_PENDING }

--- Notifier: accepts a SUBSCRIBE an on_request handler received (RFC 6665 §4.2.1):
--- ua:accept_subscription(req, { body =, content_type =, state = "active" | "pending",
--- expires = longest granted (default 3600), status = 200 | 202, headers = }) answers it and
--- sends the first NOTIFY at once; returns the Subscription (sub:notify(), sub:terminate()).
function M.accept_subscription(u, req, opts)
    local up = rawget(u, "_p")
    if not up then errors._closed() end
    if getmetatable(req) ~= errors._classes.Message then
        raise(core.SIP_EINVAL, "ua:accept_subscription: req must be a sip.Message")
    end
    opts = errors._check_opts(opts, ACCEPT_KEYS, "ua:accept_subscription")
    local o = core.sip_sub_opts_t()
    core.sip_sub_opts_init(o)
    for _, k in ipairs { "body", "content_type" } do
        local v = opt_string(opts[k], "ua:accept_subscription: " .. k)
        if v then o[k] = v end
    end
    if opts.state ~= nil then
        local st = type(opts.state) == "string" and STATES[opts.state:lower()]
        if not st then
            raise(core.SIP_EINVAL, "ua:accept_subscription: state must be 'active' or 'pending'")
        end
        o.state = st
    end
    if opts.expires ~= nil then
        o.expires = seconds(opts.expires, "ua:accept_subscription: expires")
    end
    if opts.status ~= nil then
        local st = errors._arg_int(opts.status, "ua:accept_subscription: status")
        if st ~= 200 and st ~= 202 then
            raise(core.SIP_EINVAL, "ua:accept_subscription: status must be 200 or 202")
        end
        o.status = st
    end
    if opts.headers ~= nil then
        o.headers = require("libsip.call")._header_lines(opts.headers, "ua:accept_subscription")
    end
    local t = rawget(req, "_txn")
    local tp = t and rawget(t, "_p")
    if not tp then raise(core.SIP_EINVAL, "ua:accept_subscription: the request has no transaction") end
    local s = new_sub(u, nil)
    local rc, p = core.sip_sub_accept(up, tp, o, event_cb(setmetatable({ s = s }, { __mode = "v" })))
    if rc == core.SIP_EINVAL then
        raise(rc, "ua:accept_subscription: not an unanswered SUBSCRIBE with an Event")
    elseif rc < 0 then
        raise(rc, "ua:accept_subscription: " .. core.sip_strerror(rc))
    end
    rawset(s, "_p", p)
    rawset(s, "_up", true)
    if core.sip_sub_get_state(p) == TERMINATED then
        over(s)
    else
        rawget(u, "_subs")[s] = true
    end
    return s
end

--- The UA closed: the C subscriptions ended without an event; their waiting tasks get
--- SIP_ECLOSED.
function M._ua_closed(s)
    rawset(s, "_ua_closed", true)
    over(s)
end

-- ---- methods --------------------------------------------------------------------------------

--- Waits (in a task) until the subscription is accepted (its 2xx, or a first NOTIFY) and
--- returns it; raises SIP_EIO (fields status, phrase, response) when it ended first.
function Subscription.methods.wait_established(s, timeout)
    if rawget(s, "_up") then return s end
    if rawget(s, "_ua_closed") then error(closed_error(), 0) end
    if rawget(s, "_over") then
        local st = s.end_status
        if st >= 200 and st < 300 then return s end
        error(sub_failed(s), 0)
    end
    return wait_on(s, "_wait_up", timeout, "sub:wait_established")
end

--- Waits (in a task) until the subscription has ended; returns end_status.
function Subscription.methods.wait_ended(s, timeout)
    if rawget(s, "_ua_closed") then error(closed_error(), 0) end
    if rawget(s, "_over") then return s.end_status end
    return wait_on(s, "_wait_ended", timeout, "sub:wait_ended")
end

--- The next NOTIFY received (a table: message, subscription, state, reason, expires,
--- retry_after, body, content_type), waiting in a task; nil once the subscription (and every
--- fork of its SUBSCRIBE) has ended.
function Subscription.methods.next_notify(s, timeout)
    local q = rawget(s, "_notifies")
    if #q > 0 then return table.remove(q, 1) end
    if rawget(s, "_ua_closed") then error(closed_error(), 0) end
    if all_over(s) then return nil end
    return wait_on(s, "_getters", timeout, "sub:next_notify")
end

--- `for n in sub:notifies() do ... end` (in a task): each NOTIFY until it has ended.
function Subscription.methods.notifies(s)
    return function() return s:next_notify() end
end

--- Subscriber: unsubscribes (Expires: 0; RFC 6665 §4.1.2.3); in a task, waits until the
--- NOTIFY that ends it came and returns end_status.
function Subscription.methods.unsubscribe(s)
    local rc = core.sip_sub_unsubscribe(sub_p(s))
    if rc == core.SIP_EINVAL then
        raise(rc, "sub:unsubscribe: the subscriber's (a notifier terminates)")
    end
    if rc < 0 and rc ~= core.SIP_ECLOSED then
        raise(rc, "sub:unsubscribe: " .. core.sip_strerror(rc))
    end
    if coroutine.isyieldable() then return s:wait_ended() end
    return 0
end

--- Notifier: sends a NOTIFY: sub:notify(body, content_type, state = "active" | "pending").
function Subscription.methods.notify(s, body, content_type, state)
    local st = STATES[(state or "active"):lower()]
    if not st then raise(core.SIP_EINVAL, "sub:notify: state must be 'active' or 'pending'") end
    local rc = core.sip_sub_notify(sub_p(s), st, body, content_type)
    if rc == core.SIP_EINVAL then raise(rc, "sub:notify: the notifier's") end
    if rc < 0 then raise(rc, "sub:notify: " .. core.sip_strerror(rc)) end
end

--- Notifier: ends it with a NOTIFY terminated: sub:terminate(reason, retry_after, body).
function Subscription.methods.terminate(s, reason, retry_after, body)
    if retry_after ~= nil and (math.type(retry_after) ~= "integer" or retry_after < 0) then
        raise(core.SIP_EINVAL, "sub:terminate: retry_after must be an integer >= 0")
    end
    local rc = core.sip_sub_terminate(sub_p(s), reason, retry_after or -1, body)
    if rc == core.SIP_EINVAL then raise(rc, "sub:terminate: the notifier's, with a reason token") end
    if rc < 0 then raise(rc, "sub:terminate: " .. core.sip_strerror(rc)) end
end

--- Ends it at once without sending (the other side finds out by a 481). Idempotent.
function Subscription.methods.close(s)
    local p = rawget(s, "_p")
    if not p or rawget(s, "_over") then return end
    core.sip_sub_close(p)
    rawset(s, "_over", true)
    local ua = rawget(s, "_ua")
    if ua then rawget(ua, "_subs")[s] = nil end
    settle(take(s, "_wait_up"), false, new_error(core.SIP_ECLOSED, "the subscription was closed"))
    settle(take(s, "_wait_ended"), true, 0)
    settle(take(s, "_getters"), true, nil)
end

-- ---- properties -----------------------------------------------------------------------------

--- "Init", "NotifyWait", "Pending", "Active" or "Terminated" (sip_sub_state_name).
Subscription.props.state = function(s) return core.sip_sub_state_name(state_of(s)) end
Subscription.props.is_subscriber = function(s)
    local p = rawget(s, "_p")
    return p ~= nil and core.sip_sub_is_subscriber(p) == 1
end
Subscription.props.event = function(s) return core.sip_sub_get_event(sub_p(s)) end
Subscription.props.id = function(s) return core.sip_sub_get_id(sub_p(s)) end
--- The seconds it has left (0 once ended).
Subscription.props.expires = function(s)
    local p = rawget(s, "_p")
    return p and core.sip_sub_get_expires(p) or 0
end
--- Why it ended (489, 404, 408, 481, 200...), 0 while it has not.
Subscription.props.end_status = function(s)
    local p = rawget(s, "_p")
    return p and core.sip_sub_get_end_status(p) or 0
end
--- The reason of the terminated Subscription-State, or "".
Subscription.props.reason = function(s)
    local p = rawget(s, "_p")
    return p and core.sip_sub_get_reason(p) or ""
end
--- The retry-after seconds of the terminated Subscription-State, or nil.
Subscription.props.retry_after = function(s)
    local p = rawget(s, "_p")
    local v = p and core.sip_sub_get_retry_after(p) or -1
    return v >= 0 and v or nil
end
--- The dialog (a sip.Dialog), or nil while there is none.
Subscription.props.dialog = function(s)
    local p = rawget(s, "_p")
    return p and dialogm._wrap_dialog(core.sip_sub_get_dialog(p)) or nil
end
--- The subscriptions other forks of the SUBSCRIBE made (a list).
Subscription.props.forks = function(s)
    return { table.unpack(rawget(s, "_forks")) }
end
Subscription.props.ua = function(s) return rawget(s, "_ua") end

Subscription.__gc = function(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_sub_unref(p)
    end
end

errors._check_args("Subscription", Subscription.methods, {
    notify = { "body:string?", "content_type:string?", "state:string?" },
    terminate = { "reason:string?", "retry_after:integer?", "body:string?" },
    wait_established = { "timeout:number?" }, wait_ended = { "timeout:number?" },
    next_notify = { "timeout:number?" },
})

M.Subscription = Subscription
return M
