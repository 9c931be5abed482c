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
local raise, class, nonempty = errors._raise, errors._class, errors._nonempty
local new_error, report = errors._new_error, errors._report
local wrap_msg = message._wrap_msg
local resume, current_task, loop_p = loopm._resume, loopm._current_task, loopm._loop_p
local server_txn, answer_if_open = txnm._server_txn, txnm._answer_if_open

local M = {}

local Call = class("Call")

local CONFIRMED, ENDED = core.SIP_CALL_CONFIRMED, core.SIP_CALL_ENDED
local EV_STATE, EV_RESPONSE = core.SIP_CALL_EVENT_STATE, core.SIP_CALL_EVENT_RESPONSE
local EV_REQUEST, EV_REINVITE = core.SIP_CALL_EVENT_REQUEST, core.SIP_CALL_EVENT_REINVITE
local EV_OFFER, EV_MEDIA = core.SIP_CALL_EVENT_OFFER, core.SIP_CALL_EVENT_MEDIA
local EV_MODIFIED = core.SIP_CALL_EVENT_MODIFIED
-- A wait's timeout: -ETIMEDOUT, a system failure as errors.lua names them ("ETIMEDOUT");
-- Python raises asyncio.TimeoutError there.
local ETIMEDOUT = -110

-- The handle for an action: SIP_ECLOSED once the call's UA closed.
local function call_p(c)
    local p = rawget(c, "_p")
    if not p or rawget(c, "_ua_closed") then
        raise(core.SIP_ECLOSED, "the call's UA is closed")
    end
    return p
end

local function state_of(c)
    local p = rawget(c, "_p")
    if not p or rawget(c, "_ua_closed") then return ENDED end
    return core.sip_call_get_state(p)
end

-- A session description argument: its text, an Sdp (printed), or nil.
local function sdp_text(v, what)
    if v == nil or type(v) == "string" then return v end
    if getmetatable(v) == errors._classes.Sdp then return v:print() end
    raise(core.SIP_EINVAL, ("%s: sdp must be a string or a sip.Sdp, got %s"):format(what, type(v)))
end

-- The error of a call that ended unanswered (Python's CallFailed): SIP_EIO with status (the
-- end status: 486, 487 after a CANCEL, 408 when nobody answered), phrase (the final
-- response's reason phrase, else the standard one) and response (the final response, if any).
local function call_failed(c)
    local p = rawget(c, "_p")
    local status = p and core.sip_call_get_end_status(p) or 0
    local rsp = rawget(c, "_final")
    local phrase
    if rsp and rsp.status == status then phrase = rsp.reason end
    if not phrase or phrase == "" then
        phrase = status ~= 0 and core.sip_status_phrase(status) or ""
    end
    local text = phrase ~= "" and ("call failed: %d %s"):format(status, phrase)
        or ("call failed: %d"):format(status)
    return new_error(core.SIP_EIO, text, { status = status, phrase = phrase, response = rsp })
end

local function ua_closed_error()
    return new_error(core.SIP_ECLOSED, "the call's UA was closed")
end

-- Waiting tasks: each waiter is resumed once, with (true, value) or (false, error), by the
-- event that settles it or by its timeout.
local function take_waiters(c, key)
    local list = rawget(c, key)
    rawset(c, key, {})
    return list
end

local settle = loopm._settle

local wait_on = loopm._wait_on

-- The call ended (or its UA closed): its waiting tasks resume and its UA lets go of it.
local function over(c)
    if rawget(c, "_over") then return end
    rawset(c, "_over", true)
    local ua = rawget(c, "_ua")
    local calls = ua and rawget(ua, "_calls")
    if calls then calls[c] = nil end
    if rawget(c, "_ua_closed") then
        settle(take_waiters(c, "_wait_answered"), false, ua_closed_error())
        settle(take_waiters(c, "_wait_ended"), false, ua_closed_error())
        return
    end
    if not rawget(c, "_confirmed") then
        settle(take_waiters(c, "_wait_answered"), false, call_failed(c))
    end
    settle(take_waiters(c, "_wait_ended"), true, c.end_status)
end

-- Runs fn(...) in a new task of the call's loop; an error is reported with its traceback.
local function spawn_handler(c, fn, ...)
    local loop = rawget(c, "_loop")
    loop:spawn(function(...)
        local ok, err = xpcall(fn, debug.traceback, ...)
        if not ok then report(loop_p(loop), err) end
    end, ...)
end

-- The answer to a request inside the call that no handler answered (what the call does
-- without a callback, sip/call.h).
local function default_status(method)
    return (method == "INFO" or method == "OPTIONS") and 200 or 501
end

-- A request inside the call for its handlers (those of its method, else those of "request"),
-- run in order in one task: req:reply() answers it. When the task ends without a final
-- response the request gets the default answer; a handler that raises gets it 500.
local function on_call_request(c, mp, txnp)
    local method = core.sip_msg_get_method_str(mp)
    local handlers = rawget(c, "_handlers")
    local fns = handlers[method:lower()] or handlers.request
    if not fns or #fns == 0 then
        answer_if_open(txnp, default_status(method))
        return
    end
    local stack = rawget(rawget(c, "_ua"), "_stack")
    local loop = rawget(c, "_loop")
    core.sip_msg_ref(mp)
    local req = wrap_msg(mp)
    rawset(req, "_stack", stack)
    rawset(req, "_txn", server_txn(txnp, stack))
    fns = { table.unpack(fns) }
    loop:spawn(function(r)
        local ok, err = true, nil
        for _, fn in ipairs(fns) do
            ok, err = xpcall(fn, debug.traceback, r)
            if not ok then break end
        end
        local p = rawget(rawget(r, "_txn"), "_p")
        if not ok then
            if p then answer_if_open(p, 500) end
            report(loop_p(loop), err)
        elseif p then
            answer_if_open(p, default_status(method))
        end
    end, req)
end

local function wrap_ref(mp)
    if not mp then return nil end
    core.sip_msg_ref(mp)
    return wrap_msg(mp)
end

local function each(c, event, ...)
    local fns = rawget(c, "_handlers")[event]
    if not fns then return end
    for _, fn in ipairs(fns) do spawn_handler(c, fn, ...) end
end

-- The C callback of one call. It holds the call object weakly (weak.c).
local function event_cb(weak)
    return function(cp, ev, mp, txnp)
        local c = weak.c
        if not c then
            -- The script let go of an ended call: its requests get the default answer.
            if txnp and mp then
                answer_if_open(txnp, default_status(core.sip_msg_get_method_str(mp)))
            end
            return
        end
        if ev == EV_RESPONSE then
            local m = wrap_ref(mp)
            if m and m.status >= 200 then rawset(c, "_final", m) end
            each(c, "response", m)
        elseif ev == EV_STATE then
            local state = core.sip_call_get_state(cp)
            if state == CONFIRMED and not rawget(c, "_confirmed") then
                rawset(c, "_confirmed", true)
                settle(take_waiters(c, "_wait_answered"), true, c)
            elseif state == ENDED then
                over(c)
            end
            each(c, "state", core.sip_call_state_name(state), wrap_ref(mp))
        elseif ev == EV_REQUEST then
            if txnp and mp then on_call_request(c, mp, txnp) end
        elseif ev == EV_REINVITE then
            each(c, "reinvite", wrap_ref(mp))
        elseif ev == EV_OFFER then
            local fns = rawget(c, "_handlers").offer
            if fns and #fns > 0 then
                -- Each handler starts now, inside the event: one that answers before it first
                -- waits answers the offer of a 2xx in its ACK.
                each(c, "offer", wrap_ref(mp))
            elseif mp and core.sip_msg_is_request(mp) == 1 then
                -- Nobody answers offers: the session stays as it was (RFC 3264 §8, 488).
                core.sip_call_reject_offer(cp, 488)
            end
        elseif ev == EV_MEDIA then
            each(c, "media")
        elseif ev == EV_MODIFIED then
            local w = rawget(c, "_modifying")
            rawset(c, "_modifying", nil)
            local m = wrap_ref(mp)
            each(c, "modified", m)
            if w and not w.done then
                w.done = true
                if m then
                    resume(w.loop, w.co, true, m)
                else
                    resume(w.loop, w.co, false, new_error(core.SIP_EIO,
                        "request timed out (status 408, no response)", { status = 408 }))
                end
            end
        end
    end
end

-- A new Call object of ua and the callback to register for it (sip_call_invite or
-- sip_call_accept); the caller sets _p once the C call exists.
function M._new(ua, loop)
    local c = setmetatable({ _ua = ua, _loop = loop, _wait_answered = {}, _wait_ended = {},
        _handlers = {} }, Call)
    return c, event_cb(setmetatable({ c = c }, { __mode = "v" }))
end

--- A Call object for a C call made elsewhere (a bridge's leg B; handle referenced by the
--- caller): it reads as any call; its outcome comes from its owner (M._confirmed, M._over).
function M._leg(ua, loop, cp)
    local c = setmetatable({ _ua = ua, _loop = loop, _p = cp, _wait_answered = {},
        _wait_ended = {}, _handlers = {} }, Call)
    return c
end

--- The call is confirmed (for a leg whose events go to its owner).
function M._confirmed(c)
    if rawget(c, "_confirmed") then return end
    rawset(c, "_confirmed", true)
    settle(take_waiters(c, "_wait_answered"), true, c)
end

--- The call's UA closed (the C calls end without sending and their callbacks run no more):
--- waiting tasks get SIP_ECLOSED.
function M._ua_closed(c)
    rawset(c, "_ua_closed", true)
    over(c)
end

M._over = over

---------------------------------------------------------------------------------------------------
-- Properties

--- "Calling", "Incoming", "Early", "Connecting", "Confirmed" or "Ended" (sip_call_state_name;
--- Python: a CallState); "Ended" once the UA closed.
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
Call.props.is_uac = function(c)
    local p = rawget(c, "_p")
    return p ~= nil and core.sip_call_is_uac(p) == 1
end
--- The dialog (confirmed, or the last early one), a sip.Dialog, or nil.
Call.props.dialog = function(c)
    local p = rawget(c, "_p")
    return p and dialogm._wrap_dialog(core.sip_call_get_dialog(p)) or nil
end
--- The INVITE sent or received (nil once the call ended).
Call.props.invite = function(c)
    local p = rawget(c, "_p")
    return p and wrap_ref(core.sip_call_get_invite(p)) or nil
end
--- The session description last received, or nil.
Call.props.remote_sdp = function(c)
    local p = rawget(c, "_p")
    return p and nonempty(core.sip_call_get_remote_sdp(p)) or nil
end
--- The session description last sent, or nil.
Call.props.local_sdp = function(c)
    local p = rawget(c, "_p")
    return p and nonempty(core.sip_call_get_local_sdp(p)) or nil
end
--- True while the other side holds this one (its last SDP is sendonly or inactive; with the
--- media engine).
Call.props.remote_hold = function(c)
    local p = rawget(c, "_p")
    return p ~= nil and core.sip_call_is_remote_hold(p) == 1
end
--- The call's offer/answer engine (a sip.OfferAnswer: hold, local_sdp, remote_sdp), or nil
--- for a call without media capabilities.
Call.props.oa = function(c)
    local p = rawget(c, "_p")
    local op = p and core.sip_call_get_oa(p)
    if not op then return nil end
    core.sip_oa_ref(op)
    return setmetatable({ _p = op }, errors._classes.OfferAnswer)
end
--- A placed call: the final response to its INVITE once it came, else nil.
Call.props.response = function(c) return rawget(c, "_final") end
--- The UA the call belongs to.
Call.props.ua = function(c) return rawget(c, "_ua") end

---------------------------------------------------------------------------------------------------
-- Waiting

--- Inside a task: waits until the call is confirmed (the UAC got its 2xx and sent the ACK; the
--- UAS got the ACK) and returns the call. When it ends first it raises SIP_EIO with status
--- (486, 487 after a CANCEL, 408 when nobody answered...), phrase and response (the final
--- response, or nil): Python's CallFailed. SIP_ECLOSED when the UA closes; ETIMEDOUT after
--- timeout seconds (nil: no limit). A call confirmed earlier returns at once, even ended.
function Call.methods.wait_answered(c, timeout)
    if rawget(c, "_confirmed") then return c end
    if rawget(c, "_ua_closed") then error(ua_closed_error(), 0) end
    if rawget(c, "_over") or state_of(c) == ENDED then error(call_failed(c), 0) end
    return wait_on(c, "_wait_answered", timeout, "call:wait_answered")
end

--- Inside a task: waits until the call ends and returns end_status. Raises SIP_ECLOSED when
--- the UA closes, ETIMEDOUT after timeout seconds.
function Call.methods.wait_ended(c, timeout)
    if rawget(c, "_ua_closed") then error(ua_closed_error(), 0) end
    if rawget(c, "_over") or state_of(c) == ENDED then return c.end_status end
    return wait_on(c, "_wait_ended", timeout, "call:wait_ended")
end

---------------------------------------------------------------------------------------------------
-- Actions

-- "Name: value" lines (CRLF) from { {name, value}, ... } or { Name = value | {value, ...} }.
local function header_lines(headers, what)
    if type(headers) == "string" then return headers end
    if type(headers) ~= "table" then
        raise(core.SIP_EINVAL, what .. ": headers must be a table ({ {name, value}, ... } or "
            .. "{ Name = value }), got " .. type(headers))
    end
    local lines = {}
    local function add(name, value)
        lines[#lines + 1] = name .. ": " .. message._header_text(what, name, value)
    end
    for k, v in pairs(headers) do
        if type(k) == "number" then
            if type(v) ~= "table" then
                raise(core.SIP_EINVAL, what .. ": headers[" .. k .. "] must be a {name, value} "
                    .. "pair, got " .. type(v))
            end
            add(v[1], v[2])
        elseif type(v) == "table" and getmetatable(v) == nil then
            for _, one in ipairs(v) do add(k, one) end
        else
            add(k, v)
        end
    end
    return table.concat(lines, "\r\n")
end

-- Raises the error of a call action, in words.
local function failed(c, rc, what)
    if rc == core.SIP_ECLOSED then
        raise(rc, what .. ": the call has ended or its UA is closed")
    elseif rc == core.SIP_EINVAL then
        raise(rc, ("%s: not allowed in state %s of %s call"):format(what, c.state,
            c.is_uac and "an outgoing" or "an incoming"))
    end
    raise(rc, what .. ": " .. core.sip_strerror(rc))
end

local function status_arg(status, lo, hi, what)
    status = errors._arg_int(status, what .. ": status")
    if status < lo or status > hi then
        raise(core.SIP_EINVAL, ("%s: status must be %d-%d, not %d"):format(what, lo, hi, status))
    end
    return status
end

--- UAS: sends a provisional response (180 by default, 183 with sdp for early media) with a To
--- tag, making the call early. sdp: text or a sip.Sdp.
function Call.methods.ring(c, status, sdp)
    local p = call_p(c)
    status = status_arg(status == nil and 180 or status, 101, 199, "call:ring")
    local rc = core.sip_call_ring(p, status, sdp_text(sdp, "call:ring"))
    if rc < 0 then failed(c, rc, "call:ring") end
end

local ANSWER_KEYS = errors._set { "sdp", "status" }

--- UAS: accepts the call: call:answer{ sdp = answer_or_offer, status = 200 } (or
--- call:answer(sdp)). The core sends the 2xx again until the ACK (RFC 3261 §13.3.1.4);
--- call:wait_answered() waits for it.
function Call.methods.answer(c, opts)
    local p = call_p(c)
    if type(opts) == "string" or getmetatable(opts) == errors._classes.Sdp then
        opts = { sdp = opts }
    end
    opts = errors._check_opts(opts, ANSWER_KEYS, "call:answer")
    local status = status_arg(opts.status == nil and 200 or opts.status, 200, 299,
        "call:answer")
    local rc = core.sip_call_answer(p, status, sdp_text(opts.sdp, "call:answer"))
    if rc < 0 then failed(c, rc, "call:answer") end
end

--- UAS: rejects the call with a final response 300-699 (486 by default; reason nil: the
--- standard phrase). The call ends.
function Call.methods.reject(c, status, reason)
    local p = call_p(c)
    status = status_arg(status == nil and 486 or status, 300, 699, "call:reject")
    if reason ~= nil then errors._arg_string(reason, "call:reject: reason") end
    local rc = core.sip_call_reject(p, status, reason)
    if rc < 0 then failed(c, rc, "call:reject") end
end

--- Ends the call from this side, whatever its state: CANCEL before the final response (the
--- callee answers 487), 480 for an incoming call not answered, BYE once a 2xx went either way.
--- reason: a Reason header value (RFC 3326) for the BYE or CANCEL. The call is Ended at once
--- (the core waits for the BYE's response). Raises SIP_ECLOSED once it has ended.
function Call.methods.hangup(c, reason)
    local p = call_p(c)
    if reason ~= nil then errors._arg_string(reason, "call:hangup: reason") end
    local rc = core.sip_call_hangup(p, reason)
    if rc < 0 then failed(c, rc, "call:hangup") end
end
--- The same as call:hangup() (the request a confirmed call sends).
Call.methods.bye = Call.methods.hangup

--- Inside a task: sends a request inside the call ("INFO", "OPTIONS", "MESSAGE"...; INVITE,
--- ACK, CANCEL, BYE, PRACK and UPDATE have their own calls), with a body and its content type,
--- waits for the final response and returns it (any status). Raises SIP_EIO with status 408
--- (no response) or 503 (transport error) when none came, SIP_ECLOSED without a dialog.
function Call.methods.request(c, method, body, content_type)
    local p = call_p(c)
    if method == "" then raise(core.SIP_EINVAL, "call:request: method must not be empty") end
    if body ~= nil then message._check_body("call:request", body, content_type) end
    if content_type ~= nil and body == nil then body = "" end
    local co, l = current_task("call:request")
    local w = { co = co, loop = l }
    local rc = core.sip_call_request(p, method, content_type, body, function(_, status, rp)
        if status < 200 or w.done then return end
        local m = wrap_ref(rp)
        if m then
            w.result = { true, m }
        else
            w.result = { false, new_error(core.SIP_EIO, ("%s (status %d, no response)"):format(
                status == 408 and "request timed out" or "transport error", status),
                { status = status }) }
        end
        if w.waiting then
            w.done = true
            resume(l, co, table.unpack(w.result))
        end
    end)
    if rc == core.SIP_EINVAL then
        raise(rc, ("call:request: %s is not sent with call:request (INVITE, ACK, CANCEL, BYE, "
            .. "PRACK and UPDATE have their own calls)"):format(method))
    elseif rc == core.SIP_ECLOSED then
        raise(rc, "call:request: the call has no dialog (ended, or not early yet)")
    elseif rc < 0 then
        failed(c, rc, "call:request")
    end
    local ok, v
    if w.result then
        w.done = true
        ok, v = table.unpack(w.result)
    else
        w.waiting = true
        ok, v = coroutine.yield()
    end
    if not ok then error(v, 0) end
    return v
end

--- Inside a task: sends a MESSAGE (RFC 3428) inside the call with text as its body
--- (content_type default "text/plain") and returns the final response, as call:request. A
--- MESSAGE from the other side reaches call:on_request.
function Call.methods.message(c, text, content_type)
    return c:request("MESSAGE", text, content_type or "text/plain")
end

--- Sends a DTMF digit ("0"-"9", "*", "#", "A"-"D") in an INFO with an application/dtmf-relay
--- body ("Signal=5", "Duration=160"), the form SIP phones use; duration_ms 1-60000 (default
--- 160). Sent at once; call:request() is the INFO whose response a task waits for.
function Call.methods.send_dtmf(c, digit, duration_ms)
    local p = call_p(c)
    if #digit ~= 1 then
        raise(core.SIP_EINVAL, ("call:send_dtmf: digit must be one character, got %q"):format(
            digit))
    end
    if duration_ms == nil then duration_ms = 160 end
    if duration_ms < 1 or duration_ms > 60000 then
        raise(core.SIP_EINVAL, ("call:send_dtmf: duration_ms must be 1-60000, not %d"):format(
            duration_ms))
    end
    local rc = core.sip_call_send_dtmf(p, digit, duration_ms)
    if rc == core.SIP_EINVAL then
        raise(rc, ("call:send_dtmf: no DTMF digit %q (0-9, *, #, A-D)"):format(digit))
    elseif rc == core.SIP_ECLOSED then
        raise(rc, "call:send_dtmf: the call has no dialog (ended, or not early yet)")
    elseif rc < 0 then
        failed(c, rc, "call:send_dtmf")
    end
end

-- Sends a re-INVITE or UPDATE (rc of the C call), then, inside a task, waits for its final
-- response (SIP_CALL_EVENT_MODIFIED).
local function modify(c, rc, what)
    if rc == core.SIP_EBUSY then
        raise(rc, what .. ": another offer/answer exchange is open")
    elseif rc == core.SIP_EINVAL then
        raise(rc, what .. ": no sdp to offer and no media engine (ua:invite{media=...}, "
            .. "ua:on_invite(fn, {media=...}))")
    elseif rc == core.SIP_ECLOSED then
        raise(rc, what .. ": the call is not confirmed (or has ended)")
    elseif rc < 0 then
        failed(c, rc, what)
    end
    local co, l = coroutine.running()
    l = loopm._task_loops[co]
    if not l then return nil end
    local w = { co = co, loop = l }
    rawset(c, "_modifying", w)
    local ok, v = coroutine.yield()
    if not ok then error(v, 0) end
    return v
end

local REINVITE_KEYS = errors._set { "sdp", "hold" }

--- Sends a re-INVITE (RFC 3261 §14) with an offer: call:reinvite{ sdp = offer } (or
--- call:reinvite(sdp)), or without sdp the media engine's next offer; call:reinvite{ hold =
--- true } holds the call (sendonly or inactive, RFC 3264 §8.4), hold = false resumes it (both
--- need the engine). A 491 is retried by the core (§14.1). Inside a task it waits for the
--- final response and returns it (a failure leaves the session as it was); outside one it
--- returns nil once sent. Raises SIP_EBUSY while another exchange is open, SIP_ECLOSED unless
--- confirmed.
function Call.methods.reinvite(c, opts)
    local p = call_p(c)
    if type(opts) == "string" or getmetatable(opts) == errors._classes.Sdp then
        opts = { sdp = opts }
    end
    opts = errors._check_opts(opts, REINVITE_KEYS, "call:reinvite")
    if opts.hold ~= nil then
        if type(opts.hold) ~= "boolean" then
            raise(core.SIP_EINVAL, "call:reinvite: hold must be a boolean, got "
                .. type(opts.hold))
        end
        if opts.sdp ~= nil then raise(core.SIP_EINVAL, "call:reinvite: give sdp or hold, not both") end
        local rc = core.sip_call_hold(p, opts.hold and 1 or 0)
        if rc == core.SIP_EINVAL then
            raise(rc, "call:reinvite: hold needs the media engine (ua:invite{media=...}, "
                .. "ua:on_invite(fn, {media=...}))")
        end
        return modify(c, rc, opts.hold and "call:reinvite (hold)" or "call:reinvite (resume)")
    end
    return modify(c, core.sip_call_reinvite(p, sdp_text(opts.sdp, "call:reinvite")),
        "call:reinvite")
end

--- Sends an UPDATE (RFC 3311), in an early dialog too: with sdp (or the engine's next offer)
--- it changes the session, with neither it refreshes it. Waits and returns as reinvite().
function Call.methods.update(c, sdp)
    local p = call_p(c)
    return modify(c, core.sip_call_update(p, sdp_text(sdp, "call:update")), "call:update")
end

--- Answers the offer an "offer" handler got (a call without the media engine): in the 200 of
--- the re-INVITE or UPDATE, or in the ACK of an INVITE sent without an offer (then before the
--- handler first waits).
function Call.methods.answer_offer(c, sdp)
    local p = call_p(c)
    local text = sdp_text(sdp, "call:answer_offer")
    if text == nil then
        raise(core.SIP_EINVAL, "call:answer_offer: sdp must be a string or a sip.Sdp, got nil")
    end
    local rc = core.sip_call_answer_offer(p, text)
    if rc == core.SIP_EINVAL then raise(rc, "call:answer_offer: no offer awaits an answer") end
    if rc < 0 then failed(c, rc, "call:answer_offer") end
end

--- Refuses the offer an "offer" handler got with a final response (488 by default); the
--- session stays as it was. An offer in a 2xx cannot be refused: hang up instead.
function Call.methods.reject_offer(c, status)
    local p = call_p(c)
    status = status_arg(status == nil and 488 or status, 300, 699, "call:reject_offer")
    local rc = core.sip_call_reject_offer(p, status)
    if rc == core.SIP_EINVAL then raise(rc, "call:reject_offer: no offer awaits an answer") end
    if rc < 0 then failed(c, rc, "call:reject_offer") end
end

--- Extra headers for the next message the call sends (a provisional or final response, a
--- re-INVITE, UPDATE, BYE, INFO...), then forgotten: { Name = value }, { {name, value}, ... } or
--- "Name: value" lines; nil clears them.
function Call.methods.set_headers(c, headers)
    local p = call_p(c)
    local text = headers ~= nil and header_lines(headers, "call:set_headers") or nil
    local rc = core.sip_call_set_headers(p, text)
    if rc == core.SIP_EINVAL then
        raise(rc, ("call:set_headers: a header line does not parse: %q"):format(text))
    end
    if rc < 0 then failed(c, rc, "call:set_headers") end
end

---------------------------------------------------------------------------------------------------
-- Events

local EVENTS = errors._set { "state", "response", "reinvite", "request", "offer", "media",
    "modified" }
local OWN = errors._set { "invite", "ack", "cancel", "bye", "prack", "update" }

--- Adds fn for an event; each call runs in a new task: "state" fn(state, msg) on each state
--- change (msg: the message that caused it, or nil); "response" fn(rsp) for each response to
--- a placed call's INVITE; "reinvite" fn(req) once a re-INVITE or UPDATE from the other side
--- was answered; "request" fn(req) for a request inside the call; a method name ("info",
--- "options", "message", "notify", "refer") fn(req) for that method only; "offer" fn(msg)
--- when the other side offers and the call has no media engine (answer with
--- call:answer_offer(), refuse with call:reject_offer(); without a handler an offer in a
--- request gets 488); "media" fn() when an exchange changed local_sdp and remote_sdp;
--- "modified" fn(rsp) when a re-INVITE or UPDATE of ours got its final response. A request's
--- handlers run in order in one task and answer with req:reply(); a request not answered
--- when they return gets 200 (INFO, OPTIONS) or 501. Returns the call.
function Call.methods.on(c, event, fn)
    local key = event:lower()
    if not EVENTS[key] and (OWN[key] or not key:match("^%a+$")) then
        raise(core.SIP_EINVAL, ("call:on: no call event '%s' (state, response, reinvite, "
            .. "request, offer, media, modified, or a method such as info)"):format(event))
    end
    local handlers = rawget(c, "_handlers")
    local list = handlers[key] or {}
    handlers[key] = list
    list[#list + 1] = fn
    return c
end

--- call:on("state", fn).
function Call.methods.on_state(c, fn) return c:on("state", fn) end
--- call:on("request", fn).
function Call.methods.on_request(c, fn) return c:on("request", fn) end

---------------------------------------------------------------------------------------------------
-- Lifetime: a live call is in its UA's _calls; an ended one is collected with its last
-- reference, and the C call finishes as sip_call_unref() says.
Call.__gc = function(c)
    local p = rawget(c, "_p")
    if p then
        rawset(c, "_p", nil)
        core.sip_call_unref(p)
    end
end

errors._check_args("Call", Call.methods, {
    ring = { "status:integer?" }, reject = { "status:integer?", "reason:string?" },
    hangup = { "reason:string?" }, bye = { "reason:string?" },
    request = { "method:string", "body:string?", "content_type:string?" },
    on = { "event:string", "fn:function" }, on_state = { "fn:function" },
    update = { "sdp:string|table?" }, reject_offer = { "status:integer?" },
    send_dtmf = { "digit:string", "duration_ms:integer?" },
    message = { "text:string", "content_type:string?" },
    on_request = { "fn:function" },
})

M.Call, M._header_lines = Call, header_lines
return M
