-- SPDX-License-Identifier: MIT
-- libsip for Lua: the B2BUA bridge (sip/bridge.h): an incoming call bridged to an outgoing one.
--
-- A Bridge owns one reference to its sip_bridge_t; the UA keeps a live bridge (ua._bridges)
-- until it ends, as it keeps live calls. The C callback holds the bridge object weakly.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"
local callm = require "libsip.call"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, class = errors._raise, errors._class
local new_error, report = errors._new_error, errors._report
local wrap_msg = message._wrap_msg
local resume, loop_p = loopm._resume, loopm._loop_p

local M = {}

local Bridge = class("Bridge")

local LEGS = { [core.SIP_BRIDGE_A] = "a", [core.SIP_BRIDGE_B] = "b" }
-- A wait's timeout: -ETIMEDOUT, a system failure as errors.lua names them ("ETIMEDOUT");
-- Python raises asyncio.TimeoutError there.
local ETIMEDOUT = -110

local function bridge_p(br)
    local p = rawget(br, "_p")
    if not p or rawget(br, "_ua_closed") then
        raise(core.SIP_ECLOSED, "the bridge's UA is closed")
    end
    return p
end

local function wrap_ref(mp)
    if not mp then return nil end
    core.sip_msg_ref(mp)
    return wrap_msg(mp)
end

-- Waiting tasks, resumed once with (true, value) or (false, error), as a call's.
local function settle(br, key, ok, v)
    local list = rawget(br, key)
    rawset(br, key, {})
    loopm._settle(list, ok, v)
end

local wait_on = loopm._wait_on

-- Runs the handlers of an event, each in a new task started now (a "relay" handler that
-- calls br:set_sdp() before it first waits changes what is relayed).
local function each(br, event, ...)
    local fns = rawget(br, "_handlers")[event]
    if not fns then return end
    local loop = rawget(br, "_loop")
    for _, fn in ipairs(fns) do
        loop:spawn(function(...)
            local ok, err = xpcall(fn, debug.traceback, ...)
            if not ok then report(loop_p(loop), err) end
        end, ...)
    end
end

-- The bridge is over: its waiting tasks resume and its UA lets go of it.
local function over(br, first)
    if rawget(br, "_over") then return end
    rawset(br, "_over", true)
    rawset(br, "_first", first)
    local ua = rawget(br, "_ua")
    local bridges = ua and rawget(ua, "_bridges")
    if bridges then bridges[br] = nil end
    if rawget(br, "_ua_closed") then
        local err = new_error(core.SIP_ECLOSED, "the bridge's UA was closed")
        settle(br, "_wait_outcome", false, err)
        settle(br, "_wait_ended", false, err)
        return
    end
    settle(br, "_wait_outcome", true, br)
    settle(br, "_wait_ended", true, first)
end

-- The Call object of leg B (the bridge placed it; its events are the bridge's).
local function leg_b(br, p)
    local b = rawget(br, "_b")
    if b then return b end
    local cp = core.sip_bridge_get_call(p, core.SIP_BRIDGE_B)
    if not cp then return nil end
    core.sip_call_ref(cp)
    b = callm._leg(rawget(br, "_ua"), rawget(br, "_loop"), cp)
    rawset(br, "_b", b)
    return b
end

local function event_cb(weak)
    return function(bp, ev, leg, mp)
        local br = weak.br
        if not br then return end
        local m = wrap_ref(mp)
        if ev == core.SIP_BRIDGE_EVENT_RELAY then
            each(br, "relay", LEGS[leg], m)
        elseif ev == core.SIP_BRIDGE_EVENT_ANSWERED then
            local b = leg_b(br, bp)
            rawset(br, "_status", m and m.status or 200)
            rawset(br, "_response", m)
            if b then callm._confirmed(b) end
            each(br, "answered", m)
            settle(br, "_wait_outcome", true, br)
        elseif ev == core.SIP_BRIDGE_EVENT_FAILED then
            local b = leg_b(br, bp)
            local st = m and m.status or 0
            if st == 0 and b then st = b.end_status end
            rawset(br, "_status", st ~= 0 and st or 408)
            rawset(br, "_response", m)
            if b then callm._over(b) end
            each(br, "failed", m)
            -- The waiting task resumes at the end of the bridge (next): then the call is free
            -- to bridge elsewhere (keep_a_on_failure).
        elseif ev == core.SIP_BRIDGE_EVENT_ENDED then
            local b = leg_b(br, bp)
            if b then callm._over(b) end
            each(br, "ended", LEGS[leg])
            over(br, LEGS[leg])
        end
    end
end

local BRIDGE_KEYS = errors._set { "from", "headers", "timeout", "keep_a_on_failure", "dst",
    "sdp" }

--- Bridges call (an incoming call not answered yet, without the media engine: the bridge
--- relays SDP as it is) to a new outgoing call to target, placed on the same UA with a new
--- Call-ID, tags and Via (the B2BUA of drachtio-srf's createB2BUA): B's INVITE carries the
--- caller's offer, B's provisionals (early media too) and answer go back to the caller, then
--- re-INVITE, UPDATE and INFO go across both ways, a CANCEL of the caller cancels B, and a BYE
--- on either leg ends the other. opts: { from = (B's From; default the caller's, with a new
--- tag), headers =, timeout = seconds (CANCEL B), keep_a_on_failure = true (when B fails, the
--- call stays unanswered for the script: bridge it elsewhere; default: it gets B's status),
--- dst =, sdp = (the offer B's INVITE carries instead of the caller's) }. Inside a task it waits until B answered or failed and returns the bridge
--- (br.status: 200, or B's failure status: 486, 487, 408...); outside one it returns it at once.
function M.bridge(ua, call, target, opts)
    local up = rawget(ua, "_p")
    if not up then raise(core.SIP_ECLOSED, "ua:bridge: the UA is closed") end
    if getmetatable(call) ~= errors._classes.Call then
        raise(core.SIP_EINVAL, "ua:bridge: call must be a sip.Call, got " .. type(call))
    end
    errors._arg_string(target, "ua:bridge: target")
    opts = errors._check_opts(opts, BRIDGE_KEYS, "ua:bridge")
    local o = core.sip_bridge_opts_t()
    core.sip_bridge_opts_init(o)
    if opts.from ~= nil then o.from = errors._arg_string(opts.from, "ua:bridge: from") end
    if opts.headers ~= nil then o.headers = callm._header_lines(opts.headers, "ua:bridge") end
    if opts.timeout ~= nil then
        if type(opts.timeout) ~= "number" or opts.timeout < 0 then
            raise(core.SIP_EINVAL, "ua:bridge: timeout must be a number of seconds >= 0, got "
                .. (type(opts.timeout) == "number" and tostring(opts.timeout)
                or type(opts.timeout)))
        end
        o.timeout_ms = math.floor(opts.timeout * 1000 + 0.5)
    end
    if opts.keep_a_on_failure ~= nil then
        if type(opts.keep_a_on_failure) ~= "boolean" then
            raise(core.SIP_EINVAL, "ua:bridge: keep_a_on_failure must be a boolean, got "
                .. type(opts.keep_a_on_failure))
        end
        o.keep_a_on_failure = opts.keep_a_on_failure and 1 or 0
    end
    local ni = opts.dst ~= nil and require("libsip.transport")._dest_netinfo(opts.dst) or nil
    if ni then o.dst = ni end
    if opts.sdp ~= nil then
        -- The offer of B's INVITE instead of the caller's (a sip.Sdp or its text).
        local sdp = opts.sdp
        if getmetatable(sdp) == errors._classes.Sdp then sdp = sdp:print() end
        o.sdp = errors._arg_string(sdp, "ua:bridge: sdp")
    end
    local cp = rawget(call, "_p")
    if not cp or rawget(call, "_ua_closed") then
        raise(core.SIP_ECLOSED, "ua:bridge: the call's UA is closed")
    end
    local br = setmetatable({ _ua = ua, _loop = rawget(ua, "_loop"), _a = call,
        _handlers = {}, _wait_outcome = {}, _wait_ended = {}, _status = 0 }, Bridge)
    local rc, bp = core.sip_bridge_create(cp, target, o,
        event_cb(setmetatable({ br = br }, { __mode = "v" })))
    if rc == core.SIP_EINVAL then
        raise(rc, "ua:bridge: the call must be an incoming call not answered yet, with an offer "
            .. "and without the media engine")
    elseif rc == core.SIP_EBUSY then
        raise(rc, "ua:bridge: the call is bridged already")
    elseif rc == core.SIP_ECLOSED then
        raise(rc, "ua:bridge: the call has ended")
    elseif rc == core.SIP_EURI then
        raise(rc, ("ua:bridge: bad target URI %q"):format(target))
    elseif rc < 0 then
        raise(rc, "ua:bridge: " .. core.sip_strerror(rc))
    end
    rawset(br, "_p", bp)
    leg_b(br, bp)
    rawget(ua, "_bridges")[br] = true
    local co = coroutine.running()
    if not loopm._task_loops[co] or rawget(br, "_over") or rawget(br, "_status") ~= 0 then
        return br
    end
    return wait_on(br, "_wait_outcome", nil, "ua:bridge")
end

--- The UA closed under the bridge: waiting tasks get SIP_ECLOSED.
function M._ua_closed(br)
    rawset(br, "_ua_closed", true)
    over(br, "a")
end

--- The incoming call (leg A).
Bridge.props.a = function(br) return rawget(br, "_a") end
--- The outgoing call (leg B): read its state, dialog and SDP; the bridge drives it.
Bridge.props.b = function(br) return rawget(br, "_b") end
--- True while both legs are up or being set up.
Bridge.props.active = function(br)
    local p = rawget(br, "_p")
    return p ~= nil and not rawget(br, "_ua_closed") and core.sip_bridge_is_active(p) == 1
end
--- 0 while B has not answered; then 200 (B's 2xx), or B's failure status (486, 487, 408...).
Bridge.props.status = function(br) return rawget(br, "_status") end
--- B's final response once it came (nil for a timeout).
Bridge.props.response = function(br) return rawget(br, "_response") end
--- The UA the bridge belongs to.
Bridge.props.ua = function(br) return rawget(br, "_ua") end

--- Inside a task: waits until both legs are over and returns the leg that ended first ("a" or
--- "b"). Raises SIP_ECLOSED when the UA closes, ETIMEDOUT after timeout seconds.
function Bridge.methods.wait_ended(br, timeout)
    if rawget(br, "_ua_closed") then
        raise(core.SIP_ECLOSED, "the bridge's UA was closed")
    end
    if rawget(br, "_over") then return rawget(br, "_first") end
    return wait_on(br, "_wait_ended", timeout, "bridge:wait_ended")
end

local EVENTS = errors._set { "relay", "answered", "failed", "ended" }

--- Adds fn for an event, each call in a new task: "relay" fn(leg, msg) when msg, received on
--- the other leg, is about to go to leg ("a" or "b": a provisional, the answer, a re-INVITE,
--- UPDATE or INFO, a BYE): br:set_sdp() replaces its SDP and call:set_headers() on that leg adds
--- headers, before the handler first waits; "answered" fn(rsp) once B answered and A was
--- answered with B's session; "failed" fn(rsp) when B failed before answering (rsp nil for a
--- timeout); "ended" fn(leg) when both legs are over (leg: the one that ended first).
function Bridge.methods.on(br, event, fn)
    if not EVENTS[event] then
        raise(core.SIP_EINVAL, ("bridge:on: no bridge event '%s' (relay, answered, failed, "
            .. "ended)"):format(event))
    end
    local handlers = rawget(br, "_handlers")
    local list = handlers[event] or {}
    handlers[event] = list
    list[#list + 1] = fn
    return br
end

--- During a "relay" handler (before it first waits): the SDP to send instead of the received
--- one (text or a sip.Sdp; nil: none).
function Bridge.methods.set_sdp(br, sdp)
    local p = bridge_p(br)
    if sdp ~= nil and type(sdp) ~= "string" then
        if getmetatable(sdp) ~= errors._classes.Sdp then
            raise(core.SIP_EINVAL, "bridge:set_sdp: sdp must be a string or a sip.Sdp, got "
                .. type(sdp))
        end
        sdp = sdp:print()
    end
    local rc = core.sip_bridge_set_sdp(p, sdp)
    if rc == core.SIP_EINVAL then
        raise(rc, "bridge:set_sdp: only inside a relay handler, before it waits, for a message "
            .. "that carries SDP")
    end
    if rc < 0 then raise(rc, "bridge:set_sdp: " .. core.sip_strerror(rc)) end
end

--- Ends both legs (CANCEL, reject or BYE, as call:hangup()); reason a Reason header value.
--- Raises SIP_ECLOSED once the bridge is over.
function Bridge.methods.hangup(br, reason)
    local p = bridge_p(br)
    if reason ~= nil then errors._arg_string(reason, "bridge:hangup: reason") end
    local rc = core.sip_bridge_hangup(p, reason)
    if rc == core.SIP_ECLOSED then raise(rc, "bridge:hangup: the bridge is over") end
    if rc < 0 then raise(rc, "bridge:hangup: " .. core.sip_strerror(rc)) end
end

Bridge.__gc = function(br)
    local p = rawget(br, "_p")
    if p then
        rawset(br, "_p", nil)
        core.sip_bridge_unref(p)
    end
end

errors._check_args("Bridge", Bridge.methods, {
    on = { "event:string", "fn:function" }, hangup = { "reason:string?" },
})

M.Bridge = Bridge
return M
