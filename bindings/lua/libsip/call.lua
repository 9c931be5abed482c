-- SPDX-License-Identifier: MIT
-- libsip for Lua: calls (INVITE sessions, sip/call.h) driven from coroutine tasks.
--
-- A Call owns one reference to its sip_call_t. Its UA keeps a live call (ua._calls) until the
-- call ends, so the collector never hangs up a call a script runs; once ended, the call goes
-- with its last Lua reference. The C callback holds the call object weakly: the object, not
-- the callback, keeps the C call alive.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"
local txnm = require "libsip.txn"
local dialogm = require "libsip.dialog"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, closed, class, nonempty = errors._raise, errors._closed, errors._class,
    errors._nonempty
local new_error, report = errors._new_error, errors._report
local wrap_msg = message._wrap_msg
local resume, current_task, loop_p = loopm._resume, loopm._current_task, loopm._loop_p
local server_txn, answer_if_open = txnm._server_txn, txnm._answer_if_open

local M = {}

local Call = class("Call")

local CONFIRMED, ENDED = core.SIP_CALL_CONFIRMED, core.SIP_CALL_ENDED
local EV_STATE, EV_RESPONSE = core.SIP_CALL_EVENT_STATE, core.SIP_CALL_EVENT_RESPONSE
local EV_REQUEST, EV_REINVITE = core.SIP_CALL_EVENT_REQUEST, core.SIP_CALL_EVENT_REINVITE

local function call_p(c)
    local p = rawget(c, "_p")
    if not p then closed() end
    return p
end

local function state_of(c)
    local p = rawget(c, "_p")
    if not p then return ENDED end
    return core.sip_call_get_state(p)
end

-- A session description argument: its text, an Sdp (printed), or nil.
local function sdp_text(v, what)
    if v == nil or type(v) == "string" then return v end
    if getmetatable(v) == errors._classes.Sdp then return v:print() end
    raise(core.SIP_EINVAL, ("%s: sdp must be a string or a sip.Sdp, got %s"):format(what, type(v)))
end

-- Why a call did not get answered: (status, reason). The final response's status and phrase
-- when one came (486 Busy Here), else the end status (408 for timer B, 487 for a CANCEL) with
-- its standard phrase; 0 and a sentence when the UA closed under the call.
local function failure(c)
    local p = rawget(c, "_p")
    local status = p and core.sip_call_get_end_status(p) or 0
    local fs = rawget(c, "_final_status")
    if fs and fs >= 300 and (status == 0 or status == fs) then
        return fs, rawget(c, "_final_reason")
    end
    if rawget(c, "_ua_closed") and status == 0 then return 0, "user agent closed" end
    if status == 0 and p and core.sip_call_ended_locally(p) == 1 then
        return 0, "hung up"
    end
    return status, core.sip_status_phrase(status)
end

local function take_waiters(c, key)
    local list = rawget(c, key)
    rawset(c, key, {})
    return list
end

local function wake(list, ...)
    for _, w in ipairs(list) do resume(w.loop, w.co, ...) end
end

-- The call ended: its waiting tasks resume and its UA lets go of it.
local function ended(c)
    if rawget(c, "_ended") then return end
    rawset(c, "_ended", true)
    local ua = rawget(c, "ua")
    local calls = ua and rawget(ua, "_calls")
    if calls then calls[c] = nil end
    wake(take_waiters(c, "_wait_answered"), nil, failure(c))
    local p = rawget(c, "_p")
    wake(take_waiters(c, "_wait_ended"), p and core.sip_call_get_end_status(p) or 0)
end

-- Runs a handler of the call in a new task; an error is reported with its traceback.
local function spawn_handler(c, fn, ...)
    local loop = rawget(c, "_loop")
    loop:spawn(function(...)
        local ok, err = xpcall(fn, debug.traceback, ...)
        if not ok then report(loop_p(loop), err) end
    end, ...)
end

-- The answer to a request inside the call that no handler answered.
local function default_status(method)
    return (method == "INFO" or method == "OPTIONS") and 200 or 501
end

-- A request inside the call for its on_request handler: a Message whose reply() answers it
-- through its server transaction. When the handler's task ends without a final response, the
-- request gets the C layer's default answer (200 for INFO and OPTIONS, else 501); a handler
-- that raises gets 500.
local function on_call_request(c, fn, mp, txnp)
    local ua = rawget(c, "ua")
    local stack = rawget(ua, "stack")
    local loop = rawget(c, "_loop")
    core.sip_msg_ref(mp)
    local req = wrap_msg(mp)
    rawset(req, "_stack", stack)
    rawset(req, "_txn", server_txn(txnp, stack))
    local method = core.sip_msg_get_method_str(mp)
    loop:spawn(function(r)
        local ok, err = xpcall(fn, debug.traceback, r)
        local t = rawget(r, "_txn")
        local p = rawget(t, "_p")
        if not ok then
            if p then answer_if_open(p, 500) end
            report(loop_p(loop), err)
        elseif p then
            answer_if_open(p, default_status(method))
        end
    end, req)
end

-- The C callback of one call. It holds the call object weakly (weak.c).
local function event_cb(weak)
    return function(cp, ev, mp, txnp)
        local c = weak.c
        if not c then return end
        if ev == EV_RESPONSE then
            if mp then
                core.sip_msg_ref(mp)
                local m = wrap_msg(mp)
                rawset(c, "response", m)
                local st = core.sip_msg_get_status(mp)
                if st >= 200 then
                    rawset(c, "_final_status", st)
                    rawset(c, "_final_reason", core.sip_msg_get_reason(mp))
                end
            end
        elseif ev == EV_STATE then
            local state = core.sip_call_get_state(cp)
            local fn = rawget(c, "_on_state")
            if fn then
                local m
                if mp then
                    core.sip_msg_ref(mp)
                    m = wrap_msg(mp)
                end
                spawn_handler(c, fn, c, core.sip_call_state_name(state), m)
            end
            if state == CONFIRMED then
                rawset(c, "_answered", true)
                wake(take_waiters(c, "_wait_answered"), true)
            elseif state == ENDED then
                ended(c)
            end
        elseif ev == EV_REQUEST then
            local fn = rawget(c, "_on_request")
            if txnp then
                if fn then
                    on_call_request(c, fn, mp, txnp)
                else
                    -- The answer call.h documents for a request nobody takes (the C layer
                    -- leaves it to its transaction's last reference, which answers 500).
                    answer_if_open(txnp, default_status(core.sip_msg_get_method_str(mp)))
                end
            end
        elseif ev == EV_REINVITE then
            local fn = rawget(c, "_on_reinvite")
            if fn and mp then
                core.sip_msg_ref(mp)
                spawn_handler(c, fn, c, wrap_msg(mp))
            end
        end
    end
end

-- A new Call object of ua and the callback to register for it (sip_call_invite or
-- sip_call_accept); the caller sets _p once the C call exists.
function M._new(ua, loop)
    local c = setmetatable({ ua = ua, _loop = loop, _wait_answered = {}, _wait_ended = {} },
        Call)
    return c, event_cb(setmetatable({ c = c }, { __mode = "v" }))
end

--- Marks the call ended because its UA closed (the C calls end without sending and their
--- callbacks run no more): waiting tasks get nil, 0, "user agent closed".
function M._ua_closed(c)
    rawset(c, "_ua_closed", true)
    ended(c)
end

M._ended = ended

---------------------------------------------------------------------------------------------------
-- Properties

--- "Calling", "Incoming", "Early", "Connecting", "Confirmed" or "Ended" (sip_call_state_name;
--- Python: a CallState).
Call.props.state = function(c) return core.sip_call_state_name(state_of(c)) end
--- Why the call ended: the final status of a failed INVITE (486, 487, 408...), 200 for a BYE
--- either way, 0 while it has not.
Call.props.end_status = function(c)
    local p = rawget(c, "_p")
    return p and core.sip_call_get_end_status(p) or 0
end
--- True when this side ended it (hangup, reject, CANCEL).
Call.props.ended_locally = function(c)
    local p = rawget(c, "_p")
    return p ~= nil and core.sip_call_ended_locally(p) == 1
end
Call.props.is_uac = function(c) return core.sip_call_is_uac(call_p(c)) == 1 end
--- The dialog (confirmed, or the last early one), a sip.Dialog view, or nil.
Call.props.dialog = function(c) return dialogm._wrap_dialog(core.sip_call_get_dialog(call_p(c))) end
--- The INVITE sent or received (nil once the call ended).
Call.props.invite = function(c)
    local mp = core.sip_call_get_invite(call_p(c))
    if not mp then return nil end
    core.sip_msg_ref(mp)
    return wrap_msg(mp)
end
--- The session description last received, or nil.
Call.props.remote_sdp = function(c) return nonempty(core.sip_call_get_remote_sdp(call_p(c))) end
--- The session description last sent, or nil.
Call.props.local_sdp = function(c) return nonempty(core.sip_call_get_local_sdp(call_p(c))) end
Call.props.closed = function(c) return rawget(c, "_p") == nil end

---------------------------------------------------------------------------------------------------
-- Waiting

--- Inside a task: waits until the call is confirmed (the UAC got its 2xx and sent the ACK; the
--- UAS got the ACK) and returns true; returns nil, status, reason when it ended first (486,
--- "Busy Here"; 487 after a CANCEL; 408 for no answer; 0 when this side hung up or the UA
--- closed). Returns at once when the call is past that point (true once it was confirmed).
function Call.methods.wait_answered(c)
    local st = state_of(c)
    if st == CONFIRMED or rawget(c, "_answered") then return true end
    if st == ENDED or rawget(c, "_ended") then return nil, failure(c) end
    local co, l = current_task("call:wait_answered")
    local list = rawget(c, "_wait_answered")
    list[#list + 1] = { co = co, loop = l }
    return coroutine.yield()
end

--- Inside a task: waits until the call ends and returns its end_status.
function Call.methods.wait_ended(c)
    if state_of(c) == ENDED or rawget(c, "_ended") then return c.end_status end
    local co, l = current_task("call:wait_ended")
    local list = rawget(c, "_wait_ended")
    list[#list + 1] = { co = co, loop = l }
    return coroutine.yield()
end

---------------------------------------------------------------------------------------------------
-- Actions

-- Raises the error of a call action, in words.
local function failed(c, rc, what)
    if rc == core.SIP_ECLOSED then
        raise(rc, what .. ": the call has ended")
    elseif rc == core.SIP_EINVAL then
        raise(rc, ("%s: not possible in state %s (%s call)"):format(what, c.state,
            rawget(c, "_p") and core.sip_call_is_uac(rawget(c, "_p")) == 1 and "an outgoing"
            or "an incoming"))
    end
    raise(rc, what .. ": " .. core.sip_strerror(rc))
end

--- UAS: sends a provisional response (default 180) with a To tag, making the call early;
--- sdp (text or Sdp) for early media. Returns true.
function Call.methods.ring(c, status, sdp)
    local p = call_p(c)
    if status == nil then status = 180 end
    status = errors._arg_int(status, "call:ring: status")
    if status < 101 or status > 199 then
        raise(core.SIP_EINVAL, ("call:ring: status must be 101-199, not %d"):format(status))
    end
    local rc = core.sip_call_ring(p, status, sdp_text(sdp, "call:ring"))
    if rc < 0 then failed(c, rc, "call:ring") end
    return true
end

local ANSWER_KEYS = errors._set { "sdp", "status" }

--- UAS: accepts the call: call:answer{ sdp = answer_or_offer, status = 200 } (or
--- call:answer(sdp)). The core sends the 2xx again until the ACK (RFC 3261 §13.3.1.4);
--- call:wait_answered() waits for it. Returns true.
function Call.methods.answer(c, opts)
    local p = call_p(c)
    if type(opts) == "string" or getmetatable(opts) == errors._classes.Sdp then
        opts = { sdp = opts }
    end
    opts = errors._check_opts(opts, ANSWER_KEYS, "call:answer")
    local status = opts.status
    if status == nil then status = 200 end
    status = errors._arg_int(status, "call:answer: status")
    if status < 200 or status > 299 then
        raise(core.SIP_EINVAL, ("call:answer: status must be 200-299, not %d"):format(status))
    end
    local rc = core.sip_call_answer(p, status, sdp_text(opts.sdp, "call:answer"))
    if rc < 0 then failed(c, rc, "call:answer") end
    return true
end

--- UAS: rejects the call with a final response 300-699 (reason nil: the standard phrase).
function Call.methods.reject(c, status, reason)
    local p = call_p(c)
    status = errors._arg_int(status, "call:reject: status")
    if status < 300 or status > 699 then
        raise(core.SIP_EINVAL, ("call:reject: status must be 300-699, not %d"):format(status))
    end
    if reason ~= nil then errors._arg_string(reason, "call:reject: reason") end
    local rc = core.sip_call_reject(p, status, reason)
    if rc < 0 then failed(c, rc, "call:reject") end
    return true
end

--- Ends the call from this side, whatever its state: CANCEL before the final response (the
--- callee answers 487), 480 for an incoming call not answered, BYE once a 2xx went either way.
--- reason: a Reason header value (RFC 3326) for the BYE or CANCEL. The call is Ended at once.
--- Returns true, or false when it had ended already.
function Call.methods.hangup(c, reason)
    local p = rawget(c, "_p")
    if not p then return false end
    if reason ~= nil then errors._arg_string(reason, "call:hangup: reason") end
    local rc = core.sip_call_hangup(p, reason)
    if rc == core.SIP_ECLOSED then
        ended(c)
        return false
    end
    if rc < 0 then failed(c, rc, "call:hangup") end
    -- The state event came from inside hangup; the call is over for the script either way.
    ended(c)
    return true
end
--- The same as call:hangup() (Python: call.bye()).
Call.methods.bye = Call.methods.hangup

--- Sends a request inside the call ("INFO", "OPTIONS", "MESSAGE"...; INVITE, ACK, CANCEL, BYE,
--- PRACK and UPDATE have their own calls) with an optional body and its content type. Inside a
--- task it waits for the final response and returns it (any status), or nil and an error
--- (SIP_EIO with status 408: no response; 503: transport error); outside one it returns nil
--- once sent.
function Call.methods.request(c, method, body, content_type)
    local p = call_p(c)
    errors._arg_string(method, "call:request: method")
    if body ~= nil then message._check_body("call:request", body, content_type) end
    if content_type ~= nil and body == nil then body = "" end
    local w = { done = false }
    local rc = core.sip_call_request(p, method, content_type, body, function(_, status, rp)
        if status < 200 or w.done then return end
        w.done = true
        if rp then
            core.sip_msg_ref(rp)
            w.rsp = wrap_msg(rp)
        else
            w.err = new_error(core.SIP_EIO, status == 408 and "request timed out"
                or "transport error", { status = status })
        end
        if w.co then
            local co, l = w.co, w.loop
            w.co = nil
            if w.rsp then resume(l, co, w.rsp) else resume(l, co, nil, w.err) end
        end
    end)
    if rc == core.SIP_EINVAL then
        raise(rc, ("call:request: %s has its own call or is not a method"):format(method))
    elseif rc == core.SIP_ECLOSED then
        raise(rc, "call:request: the call has no dialog (ended, or not early yet)")
    elseif rc < 0 then
        failed(c, rc, "call:request")
    end
    local co, main = coroutine.running()
    if main or not loopm._task_loops[co] then return nil end
    if w.done then
        if w.rsp then return w.rsp end
        return nil, w.err
    end
    w.co, w.loop = co, loopm._task_loops[co]
    return coroutine.yield()
end

---------------------------------------------------------------------------------------------------
-- Events

--- fn(req) in a new task for each request inside the call that the call does not handle
--- itself (INFO, OPTIONS, MESSAGE, NOTIFY, REFER...): req:reply(status) answers it; when the
--- task ends without a final response the request gets 200 (INFO, OPTIONS) or 501. nil
--- removes the handler (the C layer's answer then: the same defaults).
function Call.methods.on_request(c, fn)
    if fn ~= nil then errors._arg_fn(fn, "call:on_request: handler") end
    rawset(c, "_on_request", fn)
    return c
end

--- fn(call, state, msg) in a new task for each state change (state a name as call.state;
--- msg the message that caused it, or nil for a timeout or a local action).
function Call.methods.on_state(c, fn)
    if fn ~= nil then errors._arg_fn(fn, "call:on_state: handler") end
    rawset(c, "_on_state", fn)
    return c
end

--- fn(call, req) in a new task once a re-INVITE or UPDATE from the other side was answered
--- (call.remote_sdp holds its offer).
function Call.methods.on_reinvite(c, fn)
    if fn ~= nil then errors._arg_fn(fn, "call:on_reinvite: handler") end
    rawset(c, "_on_reinvite", fn)
    return c
end

---------------------------------------------------------------------------------------------------
-- Lifetime

--- Hangs up when the call is live, then drops the reference (call.closed; methods raise
--- SIP_ECLOSED). Idempotent.
function Call.methods.close(c)
    local p = rawget(c, "_p")
    if not p then return end
    if core.sip_call_get_state(p) ~= ENDED then core.sip_call_hangup(p, nil) end
    ended(c)
    rawset(c, "_p", nil)
    core.sip_call_unref(p)
end
Call.__close = Call.methods.close
-- Only an ended call (or one whose UA went too) is collected: a live one is in its UA's
-- _calls. The C call then finishes as sip_call_unref() says.
Call.__gc = function(c)
    local p = rawget(c, "_p")
    if p then
        rawset(c, "_p", nil)
        core.sip_call_unref(p)
    end
end

errors._check_args("Call", Call.methods, {
    ring = { "status:integer?" }, reject = { "status:integer", "reason:string?" },
    hangup = { "reason:string?" }, bye = { "reason:string?" },
    request = { "method:string", "body:string?", "content_type:string?" },
})

M.Call = Call
return M
