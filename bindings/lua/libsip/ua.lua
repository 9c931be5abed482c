-- SPDX-License-Identifier: MIT
-- libsip for Lua: the user agent (sip/ua.h) on a Stack's transaction layer: incoming calls and
-- out-of-dialog requests to handlers run as tasks, outgoing calls.

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"
local loopm = require "libsip.loop"
local txnm = require "libsip.txn"
local callm = require "libsip.call"
local bridgem = require "libsip.bridge"
local subm = require "libsip.sub"

local rawget, rawset, setmetatable, type = rawget, rawset, setmetatable, type
local raise, closed, class = errors._raise, errors._closed, errors._class
local report = errors._report
local wrap_msg = message._wrap_msg
local loop_p = loopm._loop_p
local server_txn, answer_if_open = txnm._server_txn, txnm._answer_if_open

local M = {}

local UA = class("UA")

local function ua_p(u)
    local p = rawget(u, "_p")
    if not p then closed() end
    return p
end

-- The C defaults, read once: the default OPTIONS answer below repeats what the UA sends.
local DEFAULTS = (function()
    local o = core.sip_ua_opts_t()
    core.sip_ua_opts_init(o)
    return { allow = o.allow, accept = o.accept, supported = o.supported,
             user_agent = o.user_agent }
end)()

-- The answer the C UA gives an out-of-dialog request nobody takes (sip_ua_create() without a
-- callback): OPTIONS 200 with the capabilities (RFC 3261 §11.2), 501 for an unknown method,
-- 405 with Allow for a known one (§8.2.1). INVITE is the on_invite handler's or 480.
local function default_answer(u, txnp, mp)
    local m = core.sip_msg_get_method(mp)
    -- RFC 3261 §11.2: the core's answer (Allow, Accept, Accept-Encoding, Accept-Language,
    -- Supported).
    local up0 = rawget(u, "_p")
    if m == core.SIP_METHOD_OPTIONS and up0 and core.sip_ua_answer_options(up0, txnp) == 0 then
        return
    end
    local caps = rawget(u, "_caps")
    local status, headers = 405, { { "Allow", caps.allow } }
    if m == core.SIP_METHOD_OPTIONS then
        status, headers = 200, { { "Allow", caps.allow }, { "Accept", caps.accept },
            { "Supported", caps.supported } }
    elseif m == core.SIP_METHOD_UNKNOWN then
        status, headers = 501, {}
    elseif m == core.SIP_METHOD_INVITE then
        status, headers = 480, {}
    end
    local up = rawget(u, "_p")
    if not up then return end
    local rc, rp = core.sip_ua_create_response(up, txnp, status, nil)
    if rc < 0 then return end
    for _, h in ipairs(headers) do
        if h[2] and h[2] ~= "" then core.sip_msg_add_header(rp, h[1], h[2]) end
    end
    core.sip_txn_reply(txnp, rp)
    core.sip_msg_unref(rp)
end

-- An INVITE out of any dialog: a Call for the on_invite handler, run as a task. A handler that
-- raises gets its call rejected 500 when not answered yet.
local function incoming_call(u, fn, txnp)
    local loop = rawget(u, "_loop")
    local c, cb = callm._new(u, loop)
    local rc, cp = core.sip_call_accept(ua_p(u), txnp, rawget(u, "_accept_opts"), cb)
    -- An INVITE the options cannot serve (488, 420, 421, 422) was answered by the call.
    if rc == core.SIP_ENOTACCEPTABLE then return end
    if rc < 0 then
        core.sip_txn_respond(txnp, 500, nil)
        report(loop_p(loop), "libsip: cannot accept an incoming call: " .. core.sip_strerror(rc))
        return
    end
    rawset(c, "_p", cp)
    rawget(u, "_calls")[c] = true
    loop:spawn(function(call)
        local ok, err = xpcall(fn, debug.traceback, call)
        if not ok then
            local p = rawget(call, "_p")
            local st = p and core.sip_call_get_state(p)
            if st == core.SIP_CALL_INCOMING or st == core.SIP_CALL_EARLY then
                core.sip_call_reject(p, 500, nil)
            end
            report(loop_p(loop), err)
        end
    end, c)
end

-- Another request out of any dialog (an INVITE too when no on_invite handler is set): the
-- on_request handler's (a task; a request it leaves without a final response and does not
-- keep is answered 500, as a Stack handler's), else the Stack's handler for the method (not
-- for an INVITE), else the default answer.
local function other_request(u, txnp, mp)
    local fn = rawget(u, "_on_request")
    local stack = rawget(u, "_stack")
    if not fn then
        local method = core.sip_msg_get_method_str(mp)
        local handlers = rawget(stack, "_handlers")
        if method ~= "INVITE" and handlers and (handlers[method] or handlers["*"]) then
            stack:_on_txn_request(txnp, mp)
        else
            default_answer(u, txnp, mp)
        end
        return
    end
    core.sip_msg_ref(mp)
    local req = wrap_msg(mp)
    rawset(req, "_stack", stack)
    rawset(req, "_txn", server_txn(txnp, stack))
    local loop = rawget(u, "_loop")
    loop:spawn(function(r)
        local ok, err = xpcall(fn, debug.traceback, r)
        local t = rawget(r, "_txn")
        r = nil
        local p = rawget(t, "_p")
        if not ok then
            if p then answer_if_open(p, 500) end
            report(loop_p(loop), err)
            return
        end
        local st = p and core.sip_txn_get_state(p)
        if (st == core.SIP_TXN_TRYING or st == core.SIP_TXN_PROCEEDING) and rawget(stack, "_tp")
        then
            stack:_answer_later(t)
        end
    end, req)
end

-- Every settable field of sip_ua_opts_t (the clock is not bound): a field added in C is an
-- option here with no edit.
local UA_KEYSET = (function()
    local mt = getmetatable(core.sip_ua_opts_t())
    local out = {}
    for k in pairs(mt and mt[".set"] or {}) do out[k] = true end
    -- Not a field of sip_ua_opts_t: ua:add_credential() for each (below).
    out.credentials = true
    return out
end)()

-- ---- credentials and requests outside calls ---------------------------------------------

local CRED_KEYS = errors._set { "user", "password", "realm", "ha1", "algorithm" }

-- A credential table into a sip_auth_cred_t, every key checked here.
local function cred_struct(t, what)
    t = errors._check_opts(t, CRED_KEYS, what)
    if t.user == nil then raise(core.SIP_EINVAL, what .. ": user is required") end
    local c = core.sip_auth_cred_t()
    c.user = errors._arg_string(t.user, what .. ": user")
    for _, k in ipairs { "password", "realm", "ha1" } do
        if t[k] ~= nil then c[k] = errors._arg_string(t[k], what .. ": " .. k) end
    end
    if t.algorithm ~= nil then
        local a = core.sip_auth_algorithm_from_name(errors._arg_string(t.algorithm,
            what .. ": algorithm"))
        if a == 0 then
            raise(core.SIP_EINVAL, ("%s: unknown digest algorithm %q"):format(what, t.algorithm))
        end
        c.algorithm = a
    end
    return c
end

-- opts.credentials of sip.UA: one credential table, or a list of them.
local function cred_list(v, what)
    if type(v) ~= "table" then
        raise(core.SIP_EINVAL, what .. ": credentials must be a table, got " .. type(v))
    end
    if v.user ~= nil then return { v } end
    for i, c in ipairs(v) do
        if type(c) ~= "table" then
            raise(core.SIP_EINVAL, ("%s: credentials[%d] must be a table, got %s"):format(what, i,
                type(c)))
        end
    end
    return v
end

--- A user agent on a Stack's transaction layer: sip.UA(stack, { user_agent =, allow =,
--- supported =, accept =, schemes =, recv_info =, contact_user =, contact_host =, t1_ms =,
--- t2_ms = })
--- (the fields of sip_ua_opts_t; "" leaves a header out), or stack:ua{...}. The stack needs
--- transactions (sip.Stack{ transactions = true }). Until ua:close() the UA is a link of the
--- transport's handler chain (priority "ua", after the transaction layer's matching) and takes
--- the new requests: in-dialog ones go to their calls, INVITEs to ua:on_invite, the others to
--- ua:on_request, else to the stack's on_request handlers, else the UA's default answer.
--- The stack keeps the UA until ua:close() or stack:close(). events = "message-summary, dialog"
--- names the event packages the UA is a notifier of (a SUBSCRIBE for another gets 489 Bad
--- Event; ua:subscribe(), ua:accept_subscription(), ua:refer(): sub.lua).
function M.new(stack, opts)
    -- Unknown options first, as Python's keyword arguments are.
    opts = errors._check_opts(opts, UA_KEYSET, "sip.UA")
    local creds = {}
    if opts.credentials ~= nil then
        for _, c in ipairs(cred_list(opts.credentials, "sip.UA")) do
            creds[#creds + 1] = cred_struct(c, "sip.UA: credentials")
        end
        local rest = {}
        for k, v in pairs(opts) do if k ~= "credentials" then rest[k] = v end end
        opts = rest
    end
    if getmetatable(stack) ~= errors._classes.Stack then
        raise(core.SIP_EINVAL, "sip.UA: stack must be a sip.Stack, got " .. type(stack))
    end
    if not rawget(stack, "_tp") then raise(core.SIP_ECLOSED, "sip.UA: the stack is closed") end
    local layer = rawget(stack, "_layer")
    if not layer then
        raise(core.SIP_EINVAL, "sip.UA needs a stack with transactions: "
            .. "sip.Stack{transactions = true, ...}")
    end
    if rawget(stack, "_ua") then
        raise(core.SIP_EINVAL, "sip.UA: the stack has a UA already (one UA per stack)")
    end
    local o = core.sip_ua_opts_t()
    core.sip_ua_opts_init(o)
    errors._set_struct(o, opts, "sip.UA")
    local caps = {}
    for k, v in pairs(DEFAULTS) do caps[k] = v end
    for k in pairs(caps) do if opts[k] ~= nil then caps[k] = opts[k] end end
    local u = setmetatable({ _stack = stack, _loop = stack.loop, _calls = {}, _bridges = {},
        _caps = caps, _pending = {} }, UA)
    rawset(u, "_subs", {}) -- live subscriptions (sub.lua)
    local weak = setmetatable({ u = u }, { __mode = "v" })
    local rc, p = core.sip_ua_create(rawget(layer, "_p"), o, function(_, txnp, mp)
        local ua = weak.u
        if not ua or not rawget(ua, "_p") then return end
        local fn = rawget(ua, "_on_invite")
        if fn and core.sip_msg_get_method(mp) == core.SIP_METHOD_INVITE then
            return incoming_call(ua, fn, txnp)
        end
        other_request(ua, txnp, mp)
    end)
    if rc < 0 then raise(rc, "sip.UA: cannot create the user agent: " .. core.sip_strerror(rc)) end
    rawset(u, "_p", p)
    rawset(stack, "_ua", u)
    for _, c in ipairs(creds) do
        local crc = core.sip_ua_add_credential(p, c)
        if crc < 0 then
            u:close()
            raise(crc, "sip.UA: credentials: a credential needs a password, or ha1 of its "
                .. "algorithm's length with a realm")
        end
    end
    return u
end

--- Adds a credential the UA answers 401 and 407 challenges with (RFC 3261 §22.2), on every
--- request it sends (calls, their in-dialog requests, ua:request/message/options):
--- ua:add_credential{ user = "alice", password = "secret", realm = nil (any realm), ha1 =
--- H(user:realm:password) in hex instead of the password (realm required), algorithm =
--- "MD5" (default) | "SHA-256" | "SHA-512-256" }. One for the same realm and user replaces
--- the earlier one.
function UA.methods.add_credential(u, cred)
    local p = ua_p(u)
    local c = cred_struct(cred, "ua:add_credential")
    local rc = core.sip_ua_add_credential(p, c)
    if rc == core.SIP_EINVAL then
        raise(rc, "ua:add_credential: the credential needs a password, or ha1 of its "
            .. "algorithm's length with a realm")
    elseif rc < 0 then
        raise(rc, "ua:add_credential: " .. core.sip_strerror(rc))
    end
end

local REQUEST_KEYS = errors._set { "body", "content_type", "headers", "from", "dst" }

--- Inside a task: sends a request outside any dialog (OPTIONS, MESSAGE, SUBSCRIBE...; not
--- INVITE: ua:invite places calls) to uri with a new Call-ID, From tag and CSeq 1, waits for
--- the final response and returns it (a Message of any status: a timeout or a transport failure
--- is a 408 or 503 made locally). Challenges the UA's credentials answer are not seen: the
--- request goes again with them (CSeq one higher). opts { body =, content_type = (with a body),
--- headers = { Name = value } or { {name, value}, ... }, from = "Alice <sip:a@example.com>",
--- dst = "udp:127.0.0.1:5070" or {transport=, host=, port=} (nil: RFC 3263 from the URI) }.
function UA.methods.request(u, method, uri, opts)
    local p = ua_p(u)
    opts = errors._check_opts(opts, REQUEST_KEYS, "ua:request")
    if method == "" then raise(core.SIP_EINVAL, "ua:request: method must not be empty") end
    local up = method:upper()
    if up == "INVITE" or up == "ACK" or up == "CANCEL" then
        raise(core.SIP_EINVAL, ("ua:request: %s is not sent with ua:request (ua:invite places "
            .. "calls, and calls send their ACK and CANCEL)"):format(up))
    end
    if opts.body ~= nil then message._check_body("ua:request", opts.body, opts.content_type) end
    if opts.from ~= nil then errors._arg_string(opts.from, "ua:request: from") end
    local ni = opts.dst ~= nil and require("libsip.transport")._dest_netinfo(opts.dst) or nil
    local co, l = loopm._current_task("ua:request")
    local rc, mp = core.sip_ua_create_request(p, method, uri, opts.from)
    if rc == core.SIP_EURI then
        raise(rc, ("ua:request: bad request URI %q"):format(uri))
    elseif rc < 0 then
        raise(rc, "ua:request: cannot make the request: " .. core.sip_strerror(rc))
    end
    local m = wrap_msg(mp)
    if opts.headers ~= nil then message._add_headers("ua:request", m, opts.headers) end
    if opts.body ~= nil or opts.content_type ~= nil then
        local brc = core.sip_msg_set_body(mp, opts.content_type, opts.body or "")
        if brc < 0 then raise(brc, "ua:request: bad body: " .. core.sip_strerror(brc)) end
    end
    local w = { co = co, loop = l }
    local pending = rawget(u, "_pending")
    rc = core.sip_ua_send_request(p, mp, ni, function(_, _, rp)
        if core.sip_msg_get_status(rp) < 200 or w.done then return end
        pending[w] = nil
        core.sip_msg_ref(rp)
        w.result = { true, wrap_msg(rp) }
        if w.waiting then
            w.done = true
            loopm._resume(l, co, table.unpack(w.result))
        end
    end)
    if rc < 0 then raise(rc, "ua:request: cannot send " .. method .. ": " .. core.sip_strerror(rc)) end
    local ok, v
    if w.result then
        w.done = true
        ok, v = table.unpack(w.result)
    else
        w.waiting = true
        pending[w] = true
        ok, v = coroutine.yield()
    end
    if not ok then error(v, 0) end
    return v
end

--- Inside a task: sends a MESSAGE (RFC 3428) with text as its body (content_type default
--- "text/plain") outside any dialog and returns the final response, as ua:request.
--- call:message() sends one inside a call.
function UA.methods.message(u, uri, text, content_type, opts)
    opts = errors._check_opts(opts, errors._set { "headers", "from", "dst" }, "ua:message")
    return u:request("MESSAGE", uri, { body = text, content_type = content_type or "text/plain",
        headers = opts.headers, from = opts.from, dst = opts.dst })
end

--- Inside a task: asks uri for its capabilities with an OPTIONS outside any dialog (RFC 3261
--- §11) and returns the response (its Allow, Accept, Supported), as ua:request.
function UA.methods.options(u, uri, opts)
    opts = errors._check_opts(opts, errors._set { "headers", "from", "dst" }, "ua:options")
    return u:request("OPTIONS", uri, opts)
end

-- The options both roles of a call take (sip_call_opts_t): the offer/answer engine, RFC 3262
-- reliable provisionals and RFC 4028 session timers.
local CALL_KEYS = { "media", "media_address", "rel100", "session_timer", "session_expires",
    "min_se", "refresher" }
local ACCEPT_KEYS = errors._set(CALL_KEYS)

-- Names of the enum options (Lua passes enums as names; numbers pass as they are).
local ENUMS = {
    rel100 = { supported = core.SIP_CALL_100REL_SUPPORTED, off = core.SIP_CALL_100REL_OFF,
        required = core.SIP_CALL_100REL_REQUIRED },
    session_timer = { supported = core.SIP_CALL_TIMER_SUPPORTED, off = core.SIP_CALL_TIMER_OFF,
        always = core.SIP_CALL_TIMER_ALWAYS, required = core.SIP_CALL_TIMER_REQUIRED },
    refresher = { auto = core.SIP_CALL_REFRESHER_AUTO, ["local"] = core.SIP_CALL_REFRESHER_LOCAL,
        remote = core.SIP_CALL_REFRESHER_REMOTE },
}

local function enum_opt(name, v, what)
    local map = ENUMS[name]
    if type(v) == "string" and map[v:lower()] then return map[v:lower()] end
    if math.type(v) == "integer" then
        for _, n in pairs(map) do if n == v then return v end end
    end
    local names = {}
    for k in pairs(map) do names[#names + 1] = k end
    table.sort(names)
    raise(core.SIP_EINVAL, ("%s: %s must be one of %s, got %s"):format(what, name,
        table.concat(names, ", "), type(v) == "string" and ("'" .. v .. "'") or tostring(v)))
end

local function seconds_opt(name, v, what)
    if math.type(v) ~= "integer" or v < 0 or v > 0xffffffff then
        raise(core.SIP_EINVAL, ("%s: %s must be a whole number of seconds >= 0, got %s"):format(
            what, name, type(v) == "number" and tostring(v) or type(v)))
    end
    return v
end

-- The call options of opts into a sip_call_opts_t: media (text or an Sdp), media_address,
-- rel100, session_timer, refresher (names), session_expires, min_se (seconds).
local function call_opts(o, opts, what)
    if opts.media ~= nil then
        local m = opts.media
        if getmetatable(m) == errors._classes.Sdp then m = m:print() end
        o.media = errors._arg_string(m, what .. ": media")
    end
    if opts.media_address ~= nil then
        o.media_address = errors._arg_string(opts.media_address, what .. ": media_address")
    end
    for _, k in ipairs { "rel100", "session_timer", "refresher" } do
        if opts[k] ~= nil then o[k] = enum_opt(k, opts[k], what) end
    end
    for _, k in ipairs { "session_expires", "min_se" } do
        if opts[k] ~= nil then o[k] = seconds_opt(k, opts[k], what) end
    end
end

--- fn(call) in a new task for every INVITE out of any dialog (without one: ua:on_request's,
--- else 480). The call is Incoming: call:ring(), call:answer{ sdp = ... }, call:reject(486)...
--- A handler that raises gets the call rejected 500 when it was not answered; one that
--- returns leaves the call as it is (the UA keeps it until it ends). opts { media = caps,
--- media_address = "192.0.2.1" } gives each call the offer/answer engine with these local
--- capabilities (an SDP of m= lines, text or Sdp): call:answer() then answers the offer from
--- them (488 when it cannot), and re-INVITEs are answered the same way; media_address is its
--- c=/o= address (default: the Contact host). The same table takes ua:invite's rel100,
--- session_timer, session_expires, min_se and refresher; an INVITE they cannot serve is
--- answered by the core (488, 420, 421, 422) and reaches no handler.
function UA.methods.on_invite(u, fn, opts)
    ua_p(u)
    if fn ~= nil then errors._arg_fn(fn, "ua:on_invite: handler") end
    opts = errors._check_opts(opts, ACCEPT_KEYS, "ua:on_invite")
    local o
    if next(opts) ~= nil then
        o = core.sip_call_opts_t()
        core.sip_call_opts_init(o)
        call_opts(o, opts, "ua:on_invite")
    end
    rawset(u, "_on_invite", fn)
    rawset(u, "_accept_opts", o)
    return u
end

--- fn(req) in a new task for every other request out of any dialog (OPTIONS, MESSAGE...);
--- req:reply(status) answers it; one left without a final response when the task ends, and
--- not kept, is answered 500. Without it, the stack's on_request handlers take them, else the
--- UA answers (OPTIONS 200 with Allow, Accept and Supported; 405 with Allow; 501; INVITE 480).
function UA.methods.on_request(u, fn)
    ua_p(u)
    if fn ~= nil then errors._arg_fn(fn, "ua:on_request: handler") end
    rawset(u, "_on_request", fn)
    return u
end

local INVITE_KEYS = errors._set { "sdp", "from", "headers", "timeout", "dst", "late_offer",
    table.unpack(CALL_KEYS) }

--- Places a call: ua:invite("sip:bob@127.0.0.1:5070", { sdp = offer (text or Sdp; nil: the
--- offer comes in the 2xx), from = "Alice <sip:alice@example.com>", headers = { Name = value }
--- or { {name, value}, ... }, timeout = seconds (CANCEL when no final response by then),
--- dst = "udp:127.0.0.1:5070" or {transport=, host=, port=} (nil: RFC 3263 from the URI),
--- media = caps (the offer/answer engine with these local capabilities, an SDP of m= lines;
--- sdp is then not used: the engine makes the offer, checks the answer, handles hold and
--- re-offers), media_address = its c=/o= address (default: the Contact host), late_offer =
--- true (with media: no offer in the INVITE; the engine answers the 2xx's in the ACK),
--- rel100 = "supported" | "off" | "required" (RFC 3262), session_timer = "supported" | "off" |
--- "always" | "required", session_expires =, min_se = (seconds), refresher = "auto" |
--- "local" | "remote" (RFC 4028) }). Returns the Call at once (also outside a task);
--- call:wait_answered() waits.
-- The sip_call_opts_t of a call this side places (ua:invite(), call:accept_transfer()); what
-- names the caller in errors.
local function invite_opts(opts, what)
    local o = core.sip_call_opts_t()
    core.sip_call_opts_init(o)
    if opts.from ~= nil then o.from = errors._arg_string(opts.from, what .. ": from") end
    if opts.sdp ~= nil then
        local sdp = opts.sdp
        if getmetatable(sdp) == errors._classes.Sdp then sdp = sdp:print() end
        o.sdp = errors._arg_string(sdp, what .. ": sdp")
    end
    if opts.headers ~= nil then o.headers = callm._header_lines(opts.headers, what) end
    call_opts(o, opts, what)
    if opts.late_offer ~= nil then
        if type(opts.late_offer) ~= "boolean" then
            raise(core.SIP_EINVAL, what .. ": late_offer must be a boolean, got "
                .. type(opts.late_offer))
        end
        o.late_offer = opts.late_offer and 1 or 0
    end
    if opts.timeout ~= nil then
        if type(opts.timeout) ~= "number" or opts.timeout < 0 then
            raise(core.SIP_EINVAL, what .. ": timeout must be a number of seconds >= 0, got "
                .. (type(opts.timeout) == "number" and tostring(opts.timeout) or type(opts.timeout)))
        end
        o.timeout_ms = math.floor(opts.timeout * 1000 + 0.5)
    end
    return o
end

function UA.methods.invite(u, target, opts)
    local p = ua_p(u)
    errors._arg_string(target, "ua:invite: target")
    opts = errors._check_opts(opts, INVITE_KEYS, "ua:invite")
    local o = invite_opts(opts, "ua:invite")
    -- Kept until the call is made: the struct points into it.
    local ni = opts.dst ~= nil and require("libsip.transport")._dest_netinfo(opts.dst) or nil
    if ni then o.dst = ni end
    local loop = rawget(u, "_loop")
    local c, cb = callm._new(u, loop)
    local rc, cp = core.sip_call_invite(p, target, o, cb)
    if rc == core.SIP_EURI then
        raise(rc, ("ua:invite: bad target URI %q"):format(target))
    elseif rc == core.SIP_EPARSE and opts.from ~= nil then
        raise(rc, ("ua:invite: bad from address %q"):format(opts.from))
    elseif rc < 0 then
        raise(rc, "ua:invite: cannot place the call: " .. core.sip_strerror(rc))
    end
    rawset(c, "_p", cp)
    if core.sip_call_get_state(cp) == core.SIP_CALL_ENDED then
        callm._over(c)
    else
        rawget(u, "_calls")[c] = true
    end
    return c
end

--- The B2BUA: ua:bridge(call, target, opts) bridges an incoming call to a new outgoing one
--- (sip.Bridge, docs/LUA.md: Calls); inside a task it waits until the outgoing call answered
--- or failed.
UA.methods.bridge = bridgem.bridge

--- The live calls (a list; the UA keeps each until it ends).
UA.props.calls = function(u)
    local out = {}
    for c in pairs(rawget(u, "_calls")) do out[#out + 1] = c end
    return out
end
--- The Stack whose transaction layer the UA works on.
UA.props.stack = function(u) return rawget(u, "_stack") end
UA.props.call_count = function(u)
    local p = rawget(u, "_p")
    return p and core.sip_ua_call_count(p) or 0
end
UA.props.dialog_count = function(u)
    local p = rawget(u, "_p")
    return p and core.sip_ua_dialog_count(p) or 0
end
UA.props.closed = function(u) return rawget(u, "_p") == nil end

--- Closes the UA: every call ends without sending (tasks waiting on them get SIP_ECLOSED),
--- the dialogs go, and the stack's own handlers take the layer's requests
--- again. Idempotent; stack:close() does it too.
function UA.methods.close(u)
    local p = rawget(u, "_p")
    if not p then return end
    rawset(u, "_p", nil)
    core.sip_ua_close(p)
    core.sip_ua_unref(p)
    local stack = rawget(u, "_stack")
    if rawget(stack, "_ua") == u then rawset(stack, "_ua", nil) end
    local calls = rawget(u, "_calls")
    local list = {}
    for c in pairs(calls) do list[#list + 1] = c end
    for _, c in ipairs(list) do callm._ua_closed(c) end
    -- Tasks waiting in ua:request get SIP_ECLOSED.
    local waiting = {}
    for w in pairs(rawget(u, "_pending")) do waiting[#waiting + 1] = w end
    rawset(u, "_pending", {})
    for _, w in ipairs(waiting) do
        if not w.done then
            w.done = true
            loopm._resume(w.loop, w.co, false,
                errors._new_error(core.SIP_ECLOSED, "ua:request: the UA closed"))
        end
    end
    list = {}
    for br in pairs(rawget(u, "_bridges")) do list[#list + 1] = br end
    for _, br in ipairs(list) do bridgem._ua_closed(br) end
    -- Its registrations stopped in the core without an event: so do their waiters.
    local regs = rawget(u, "_regs") or {}
    rawset(u, "_regs", nil)
    for r in pairs(regs) do require("libsip.reg")._ua_closed(r) end
    list = {}
    for sub in pairs(rawget(u, "_subs")) do list[#list + 1] = sub end
    for _, sub in ipairs(list) do subm._ua_closed(sub) end
end
UA.__close = UA.methods.close
UA.__gc = function(u)
    local p = rawget(u, "_p")
    if p then
        rawset(u, "_p", nil)
        core.sip_ua_unref(p)
    end
end

--- Registers contacts for an address of record (sip.Registration, docs/LUA.md: Registration);
--- inside a task it waits until the registrar accepted.
UA.methods.register = require("libsip.reg").register
--- Subscriptions (docs/LUA.md: Subscriptions): ua:subscribe(target, event, opts) and, for a
--- SUBSCRIBE an on_request handler received, ua:accept_subscription(req, opts).
UA.methods.subscribe = subm.subscribe
UA.methods.accept_subscription = subm.accept_subscription
--- REFER (RFC 3515): ua:refer(target, refer_to, opts); call:transfer(target) is sub.lua's too.
UA.methods.refer = subm.refer

errors._check_args("UA", UA.methods, { invite = { "target:string", "opts:table?" },
    bridge = { "call:table", "target:string", "opts:table?" },
    add_credential = { "cred:table" },
    request = { "method:string", "uri:string", "opts:table?" },
    message = { "uri:string", "text:string", "content_type:string?", "opts:table?" },
    options = { "uri:string", "opts:table?" } })

local TRANSFER_KEYS = errors._set { "sdp", "from", "headers", "timeout", "late_offer",
    table.unpack(CALL_KEYS) }

--- Transferee: call:accept_transfer(req, opts) carries out a REFER received in the call
--- (call:on("refer", fn)) as RFC 3515 and RFC 5589 say, and returns the new call at once
--- (call:wait_answered() waits): the REFER is accepted (202 and a NOTIFY "SIP/2.0 100
--- Trying"; none with norefersub, RFC 4488), the new call goes to the Refer-To URI with its
--- headers (Replaces for an attended transfer) and the REFER's Referred-By, and the
--- transferor hears its provisionals and its final status in sipfrag NOTIFYs, the last
--- terminating the subscription. After a 2xx the transferor normally hangs this call up;
--- when it has not after 64*T1, this side does. A failed new call (486, 481...) leaves this
--- call as it is. opts are ua:invite()'s but dst. Raises SIP_EINVAL for a req that is not an
--- unanswered REFER, SIP_ENOTACCEPTABLE when the REFER was refused (416: a Refer-To that is
--- not a SIP or SIPS URI; 400: a missing or bad one).
local function accept_transfer(c, req, opts)
    local cp = rawget(c, "_p")
    if not cp then errors._closed() end
    if getmetatable(req) ~= errors._classes.Message then
        raise(core.SIP_EINVAL, "call:accept_transfer: req must be a sip.Message")
    end
    opts = errors._check_opts(opts, TRANSFER_KEYS, "call:accept_transfer")
    local o = invite_opts(opts, "call:accept_transfer")
    local t = rawget(req, "_txn")
    local tp = t and rawget(t, "_p")
    if not tp then
        raise(core.SIP_EINVAL, "call:accept_transfer: the request has no transaction")
    end
    local u = rawget(c, "_ua")
    local nc, cb = callm._new(u, rawget(u, "_loop"))
    local rc, np = core.sip_call_accept_transfer(cp, tp, o, cb)
    if rc == core.SIP_EINVAL then
        raise(rc, "call:accept_transfer: not an unanswered REFER")
    elseif rc == core.SIP_ENOTACCEPTABLE then
        raise(rc, "call:accept_transfer: the REFER was refused (416: Refer-To not a SIP or "
            .. "SIPS URI; 400: no usable Refer-To)")
    elseif rc < 0 then
        raise(rc, "call:accept_transfer: " .. core.sip_strerror(rc))
    end
    rawset(nc, "_p", np)
    if core.sip_call_get_state(np) == core.SIP_CALL_ENDED then
        callm._over(nc)
    else
        rawget(u, "_calls")[nc] = true
    end
    return nc
end
errors._classes.Call.methods.accept_transfer = accept_transfer

M.UA = UA
return M
