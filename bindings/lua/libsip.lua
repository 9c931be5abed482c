-- SPDX-License-Identifier: MIT
-- The idiomatic Lua layer of libsip: messages, URIs, SDP, loops, timers, tasks and stacks.
--
-- Built on the flat core module `libsip_core` (sip.core), which is C-shaped and private. This
-- layer adds objects with fields, errors raised as tables, `<close>`, garbage collection and
-- coroutine tasks; it holds no protocol logic of its own beyond matching a response to the
-- request a task waits for (by Via branch).
--
-- Ownership: every object owns one reference to its C handle. __gc drops it, close() drops it at
-- once; afterwards every method raises a SIP_ECLOSED error, and close() or __gc again does
-- nothing. Values read from a message (strings, URIs, header tables) are copies that outlive it.

local core = require "libsip_core"

local sip = { core = core, VERSION = "0.1.0" }

local rawget, rawset, setmetatable, type, tostring, select = rawget, rawset, setmetatable, type,
    tostring, select

---------------------------------------------------------------------------------------------------
-- Errors

--- An error raised by this layer:
--- {code=, name=, reason=, line=, column=, header=, status=, phrase=}.
local Error = { __name = "libsip.Error" }
Error.__index = Error
Error.__tostring = function(e)
    local s = (e.name or "SIP_EUNKNOWN") .. ": " .. tostring(e.reason or "")
    if e.line and e.line > 0 then
        s = s .. (" (line %d, column %d)"):format(e.line, e.column or 0)
    end
    return s
end
sip.Error = Error

local function new_error(code, reason, extra)
    local e = setmetatable({
        code = code,
        name = core.sip_err_name(code),
        reason = reason or core.sip_strerror(code),
    }, Error)
    if extra then
        for k, v in pairs(extra) do e[k] = v end
    end
    return e
end

local function raise(code, reason, extra)
    error(new_error(code, reason, extra), 0)
end

local function check(rc)
    if rc < 0 then raise(rc) end
    return rc
end

local function closed()
    raise(core.SIP_ECLOSED, "handle is closed")
end

--- Is v an error raised by libsip (optionally with this name, "SIP_EPARSE")?
function sip.is_error(v, name)
    return getmetatable(v) == Error and (name == nil or v.name == name)
end

-- Errors of callbacks and tasks: to the hook when set, else to the logger of the loop that runs
-- them (the innermost loop:run()), else to stderr.
local error_hook = nil
local running = {}       -- loops inside run()/run_once(), innermost last
local interrupted = false
local reporting = false

--- Sends every error raised inside a callback or task to fn(message_with_traceback); nil resets
--- to the default (the running loop's logger at level "error", module "lua").
function sip.on_error(fn)
    error_hook = fn
end

-- lua5.4 turns SIGINT into the error "interrupted!" raised at the next Lua instruction, which
-- is usually inside a callback: it stops every running loop and loop:run() raises it again, so
-- Ctrl-C ends a script as it would end one without libsip.
local function is_interrupt(text)
    local first = tostring(text):match("^[^\n]*")
    return first:sub(-12) == "interrupted!"
end

local function report(loop_p, text)
    text = tostring(text)
    if is_interrupt(text) then
        interrupted = true
        for _, l in ipairs(running) do
            local p = rawget(l, "_p")
            if p then core.sip_loop_stop(p) end
        end
        return
    end
    if reporting then
        -- The logger itself failed: do not loop through it again.
        io.stderr:write("libsip lua: ", text, "\n")
        return
    end
    reporting = true
    local ok, err = true, nil
    if error_hook then
        ok, err = pcall(error_hook, text)
        if not ok then io.stderr:write("libsip lua: error hook failed: ", tostring(err), "\n") end
    end
    if not error_hook or not ok then
        if not loop_p then
            local l = running[#running]
            loop_p = l and rawget(l, "_p")
        end
        if loop_p then
            core.sip_log_write(loop_p, core.SIP_LOG_ERROR, "lua", text)
        else
            io.stderr:write("libsip lua: ", text, "\n")
        end
    end
    reporting = false
end
-- Errors the core's trampolines catch (with their traceback) come here too.
core.set_error_hook(function(text) report(nil, text) end)

---------------------------------------------------------------------------------------------------
-- Small class helper: methods, then read-only properties computed on access.

local function class(name)
    local C = { __name = "libsip." .. name, methods = {}, props = {} }
    C.__index = function(self, k)
        local m = C.methods[k]
        if m ~= nil then return m end
        local p = C.props[k]
        if p ~= nil then return p(self) end
        return nil
    end
    return C
end

local function nonempty(s)
    if s == nil or s == "" then return nil end
    return s
end

local level_ids = {
    error = core.SIP_LOG_ERROR, warn = core.SIP_LOG_WARN, info = core.SIP_LOG_INFO,
    debug = core.SIP_LOG_DEBUG, trace = core.SIP_LOG_TRACE,
}
local function level_id(level)
    if level == nil then return core.SIP_LOG_WARN end
    if type(level) == "number" then return level end
    local id = level_ids[level]
    if not id then raise(core.SIP_EINVAL, "unknown log level '" .. tostring(level) .. "'") end
    return id
end

---------------------------------------------------------------------------------------------------
-- URI

local Uri = class("Uri")
sip.Uri = setmetatable({}, {
    __index = Uri.methods,
    __call = function(_, text) return sip.Uri.parse(text) end,
})

local function wrap_uri(p)
    return setmetatable({ _p = p }, Uri)
end

--- Parses a URI (sip, sips, tel, or any absolute URI). Raises SIP_EURI.
function sip.Uri.parse(text)
    if type(text) ~= "string" then raise(core.SIP_EINVAL, "URI text expected") end
    local rc, p = core.sip_uri_parse(text)
    if rc < 0 then raise(rc, "malformed URI '" .. text .. "'") end
    return wrap_uri(p)
end

local function uri_p(u)
    local p = rawget(u, "_p")
    if not p then closed() end
    return p
end

Uri.props.scheme = function(u)
    local p = uri_p(u)
    return core.sip_uri_scheme_name(p.scheme) or p.scheme_str:lower()
end
Uri.props.user = function(u) return nonempty(uri_p(u).user) end
Uri.props.password = function(u) return nonempty(uri_p(u).password) end
Uri.props.host = function(u) return uri_p(u).host end
Uri.props.port = function(u)
    local port = uri_p(u).port
    if port == 0 then return nil end
    return port
end
Uri.props.params = function(u) return nonempty(uri_p(u).params) end
Uri.props.headers = function(u) return nonempty(uri_p(u).headers) end
Uri.props.opaque = function(u) return nonempty(uri_p(u).opaque) end
Uri.props.transport = function(u) return nonempty(uri_p(u).transport) end
Uri.props.user_param = function(u) return nonempty(uri_p(u).user_param) end
Uri.props.method = function(u) return nonempty(uri_p(u).method) end
Uri.props.maddr = function(u) return nonempty(uri_p(u).maddr) end
Uri.props.ttl = function(u)
    local ttl = uri_p(u).ttl
    if ttl < 0 then return nil end
    return ttl
end
Uri.props.lr = function(u) return uri_p(u).lr == 1 end
Uri.props.raw = function(u) return uri_p(u).raw end

--- The value of a URI parameter ("" for a flag such as lr), or nil.
function Uri.methods.param(u, name)
    local found, value = core.sip_uri_param(uri_p(u), name)
    if found == 1 then return value end
    return nil
end

--- The value of a URI header ("?subject=x"), or nil.
function Uri.methods.header(u, name)
    local found, value = core.sip_uri_header(uri_p(u), name)
    if found == 1 then return value end
    return nil
end

Uri.__tostring = function(u)
    local rc, text = core.sip_uri_print(uri_p(u))
    check(rc)
    return text
end
-- RFC 3261 §19.1.4 comparison (RFC 3966 §4 for tel).
Uri.__eq = function(a, b)
    local pa, pb = rawget(a, "_p"), rawget(b, "_p")
    if not pa or not pb then return false end
    return core.sip_uri_equal(pa, pb) == 1
end

---------------------------------------------------------------------------------------------------
-- Messages

local Message = class("Message")
sip.Message = setmetatable({}, { __index = Message.methods })

local function wrap_msg(p)
    return setmetatable({ _p = p }, Message)
end

local function msg_p(m)
    local p = rawget(m, "_p")
    if not p then closed() end
    return p
end

local function parse_error(rc, err)
    if not err then raise(rc) end
    local e = {
        line = err.line, column = err.column, header = nonempty(err.header),
        status = err.status ~= 0 and err.status or nil, phrase = nonempty(err.phrase),
    }
    raise(err.code ~= 0 and err.code or rc, err.reason ~= "" and err.reason or nil, e)
end

--- Parses one SIP message. Raises an Error with code, name, reason, line, column, header,
--- status and phrase (the response a server should send).
function sip.Message.parse(data, opts)
    if type(data) ~= "string" then raise(core.SIP_EINVAL, "message bytes expected") end
    local rc, p, err
    if opts then
        local o = core.sip_parse_opts_t()
        core.sip_parse_opts_init(o)
        for k, v in pairs(opts) do
            if k == "stream" then v = v and 1 or 0 end
            o[k] = v
        end
        rc, p, err = core.sip_msg_parse_ex(data, o)
    else
        rc, p, err = core.sip_msg_parse(data)
    end
    if rc < 0 then parse_error(rc, err) end
    return wrap_msg(p)
end

--- A new request with its start line only ("METHOD uri SIP/2.0"); add the headers.
function sip.Message.request(method, uri)
    local rc, p = core.sip_msg_create_request(method, tostring(uri))
    if rc < 0 then raise(rc) end
    return wrap_msg(p)
end

local function addr_table(a)
    if a == nil then return nil end
    local uri = nil
    local raw = a.uri.raw
    if raw ~= "" then uri = sip.Uri.parse(raw) end
    return {
        display = nonempty(a.display), uri = uri, tag = nonempty(a.tag),
        params = nonempty(a.params), star = a.star == 1,
    }
end

local function netinfo_table(ni)
    if ni == nil then return nil end
    return {
        transport = core.sip_transport_param(ni.transport),
        local_ip = ni.local_ip, local_port = ni.local_port,
        remote_ip = ni.remote_ip, remote_port = ni.remote_port,
        conn_id = ni.conn_id,
    }
end

-- The server transaction of a request received by a Stack with transactions (nil otherwise,
-- and for the ACK of a 2xx).
Message.props.transaction = function(m) return rawget(m, "_txn") end
Message.props.cancelled = function(m)
    local txn = rawget(m, "_txn")
    return txn ~= nil and txn.cancelled
end
Message.props.is_request = function(m) return core.sip_msg_is_request(msg_p(m)) == 1 end
Message.props.method = function(m)
    local p = msg_p(m)
    if core.sip_msg_is_request(p) == 0 then return nil end
    return core.sip_msg_get_method_str(p)
end
Message.props.status = function(m)
    local p = msg_p(m)
    if core.sip_msg_is_request(p) == 1 then return nil end
    return core.sip_msg_get_status(p)
end
Message.props.reason = function(m)
    local p = msg_p(m)
    if core.sip_msg_is_request(p) == 1 then return nil end
    return core.sip_msg_get_reason(p)
end
Message.props.uri = function(m)
    local u = core.sip_msg_get_uri(msg_p(m))
    if u == nil then return nil end
    return sip.Uri.parse(u.raw)
end
Message.props.body = function(m) return core.sip_msg_get_body(msg_p(m)) end
Message.props.call_id = function(m) return nonempty(core.sip_msg_get_call_id(msg_p(m))) end
Message.props.cseq = function(m)
    local c = core.sip_msg_get_cseq(msg_p(m))
    if c == nil then return nil end
    return c.seq
end
Message.props.cseq_method = function(m)
    local c = core.sip_msg_get_cseq(msg_p(m))
    if c == nil then return nil end
    return c.method_str
end
Message.props.from = function(m) return addr_table(core.sip_msg_get_from(msg_p(m))) end
Message.props.to = function(m) return addr_table(core.sip_msg_get_to(msg_p(m))) end
Message.props.via = function(m)
    local v = core.sip_msg_get_via(msg_p(m))
    if v == nil then return nil end
    return {
        transport = v.transport, host = v.host, port = v.port ~= 0 and v.port or nil,
        branch = nonempty(v.branch), received = nonempty(v.received), maddr = nonempty(v.maddr),
        rport = v.rport >= 0 and v.rport or nil, params = nonempty(v.params),
    }
end
Message.props.max_forwards = function(m)
    local n = core.sip_msg_get_max_forwards(msg_p(m))
    if n < 0 then return nil end
    return n
end
Message.props.expires = function(m)
    local n = core.sip_msg_get_expires(msg_p(m))
    if n < 0 then return nil end
    return n
end
Message.props.content_type = function(m)
    local ct = core.sip_msg_get_content_type(msg_p(m))
    if ct == nil then return nil end
    return ct.type .. "/" .. ct.subtype
end
Message.props.source = function(m) return netinfo_table(core.sip_msg_get_netinfo(msg_p(m))) end

-- m.headers["Via"]: every value of a header (any form of its name, any case) as a list of
-- strings, or nil when absent; pairs(m.headers) walks the names in wire order.
local function header_values(p, name)
    local list, i = nil, 0
    while true do
        local h = core.sip_msg_header_by_name(p, name, i)
        if h == nil then break end
        list = list or {}
        list[i + 1] = core.sip_header_get_value(h)
        i = i + 1
    end
    return list
end

local Headers = { __name = "libsip.Headers" }
Headers.__index = function(hs, name)
    return header_values(msg_p(rawget(hs, "_m")), name)
end
Headers.__newindex = function()
    raise(core.SIP_EINVAL, "headers are read-only here: use m:set_header/m:add_header")
end
Headers.__pairs = function(hs)
    local p = msg_p(rawget(hs, "_m"))
    local names, seen = {}, {}
    local h = core.sip_msg_header_first(p)
    while h ~= nil do
        local n = core.sip_header_get_name(h)
        local id = core.sip_header_get_id(h)
        local key = id ~= core.SIP_HDR_OTHER and core.sip_hdr_name(id) or n
        if not seen[key:lower()] then
            seen[key:lower()] = true
            names[#names + 1] = key
        end
        h = core.sip_header_next(h)
    end
    local i = 0
    return function()
        i = i + 1
        local n = names[i]
        if n == nil then return nil end
        return n, header_values(p, n)
    end, hs, nil
end
Message.props.headers = function(m)
    msg_p(m)
    return setmetatable({ _m = m }, Headers)
end

--- The i-th value (1-based, default 1) of a header, or nil.
function Message.methods.header(m, name, i)
    local h = core.sip_msg_header_by_name(msg_p(m), name, (i or 1) - 1)
    if h == nil then return nil end
    return core.sip_header_get_value(h)
end

--- The number of values of a header.
function Message.methods.header_count(m, name)
    local list = header_values(msg_p(m), name)
    return list and #list or 0
end

--- Every header value in wire order: { {name, value}, ... }.
function Message.methods.header_list(m)
    local out = {}
    local h = core.sip_msg_header_first(msg_p(m))
    while h ~= nil do
        out[#out + 1] = { core.sip_header_get_name(h), core.sip_header_get_value(h) }
        h = core.sip_header_next(h)
    end
    return out
end

--- Adds a header after the others (raises SIP_EPARSE for a malformed value). Returns m.
function Message.methods.add_header(m, name, value)
    check(core.sip_msg_add_header(msg_p(m), name, tostring(value)))
    return m
end

--- Adds a header before every other one. Returns m.
function Message.methods.prepend_header(m, name, value)
    check(core.sip_msg_prepend_header(msg_p(m), name, tostring(value)))
    return m
end

--- Adds a copy of every value of header name from message src (already parsed: nothing is
--- parsed again, so a Contact or Allow kept in a template costs less than add_header). Returns m.
function Message.methods.copy_headers(m, src, name)
    local sp, i = msg_p(src), 0
    while true do
        local h = core.sip_msg_header_by_name(sp, name, i)
        if h == nil then break end
        check(core.sip_msg_add_header_copy(msg_p(m), h))
        i = i + 1
    end
    return m
end

--- Replaces every value of a header with one. Returns m.
function Message.methods.set_header(m, name, value)
    check(core.sip_msg_set_header(msg_p(m), name, tostring(value)))
    return m
end

--- Removes the i-th value of a header, or every value when i is nil. Returns the count removed.
function Message.methods.remove_header(m, name, i)
    if i == nil then return check(core.sip_msg_remove_headers(msg_p(m), name)) end
    local rc = core.sip_msg_remove_header(msg_p(m), name, i - 1)
    if rc == core.SIP_ENOENT then return 0 end
    check(rc)
    return 1
end

--- Sets the body and its Content-Type (nil removes the Content-Type). Returns m.
function Message.methods.set_body(m, body, content_type)
    check(core.sip_msg_set_body(msg_p(m), content_type, body or ""))
    return m
end

--- Sets the status and reason phrase of a response. Returns m.
function Message.methods.set_status(m, status, reason)
    check(core.sip_msg_set_status(msg_p(m), status, reason))
    return m
end

--- Sets the Request-URI of a request. Returns m.
function Message.methods.set_uri(m, uri)
    check(core.sip_msg_set_uri(msg_p(m), tostring(uri)))
    return m
end

--- A response to this request (RFC 3261 §8.2.6.2: Via, From, To, Call-ID, CSeq copied; a To tag
--- added for status > 100 unless to_tag says which).
function Message.methods.response(m, status, reason, to_tag)
    local rc, p = core.sip_msg_create_response(msg_p(m), status, reason, to_tag)
    check(rc)
    local r = wrap_msg(p)
    return r
end

--- An independent deep copy.
function Message.methods.clone(m)
    local rc, p = core.sip_msg_clone(msg_p(m))
    check(rc)
    return wrap_msg(p)
end

--- The wire form (also tostring(m)).
function Message.methods.print(m)
    local rc, text = core.sip_msg_print(msg_p(m))
    check(rc)
    return text
end

--- Drops the message now. Idempotent.
function Message.methods.close(m)
    local p = rawget(m, "_p")
    if p then
        rawset(m, "_p", nil)
        core.sip_msg_unref(p)
    end
end

local txn_reply -- defined with the transactions below

--- Sends a response to a request received by a Stack (status, reason or nil, and optionally
--- { headers = { {name, value}, ... } or {name = value}, body = "...", content_type = "..." }).
--- On a stack with transactions it goes through the request's server transaction (provisional
--- or final, now or later; the To tag of an earlier provisional is kept). Returns the response.
function Message.methods.reply(m, status, reason, opts)
    local stack = rawget(m, "_stack")
    if not stack then raise(core.SIP_EINVAL, "reply: not a request received by a Stack") end
    local txn = rawget(m, "_txn")
    if txn == nil and rawget(stack, "_layer") then
        raise(core.SIP_EINVAL, "reply: an ACK gets no response")
    end
    local to_tag
    if txn then to_tag = txn:_to_tag() end
    local rsp = m:response(status, reason, to_tag)
    if opts then
        if opts.headers then
            for k, v in pairs(opts.headers) do
                if type(k) == "number" then rsp:add_header(v[1], v[2]) else rsp:add_header(k, v) end
            end
        end
        if opts.body then rsp:set_body(opts.body, opts.content_type) end
    end
    if txn then
        txn_reply(txn, rsp, status)
        -- The transaction may keep only the wire form of what it sent: the To tag of the first
        -- response with one is remembered for the later ones.
        if status > 100 and not rawget(txn, "_tag") then
            rawset(txn, "_tag", rsp.to and rsp.to.tag)
        end
    else
        stack:send_response(rsp)
    end
    return rsp
end


--- fn(cancel) when a CANCEL matches this INVITE (RFC 3261 §9.2): the layer has answered the
--- CANCEL 200 and the INVITE 487 (unless a final response went first). Runs in a new task.
function Message.methods.on_cancel(m, fn)
    local txn = rawget(m, "_txn")
    if not txn then raise(core.SIP_EINVAL, "on_cancel: the request has no server transaction") end
    txn:on_cancel(fn)
    return m
end

--- fn(event, msg) for the server transaction's events ("cancel", "timeout", "error").
function Message.methods.on_event(m, fn)
    local txn = rawget(m, "_txn")
    if not txn then raise(core.SIP_EINVAL, "on_event: the request has no server transaction") end
    txn:on_event(fn)
    return m
end

Message.__tostring = function(m) return m:print() end
Message.__gc = Message.methods.close
Message.__close = Message.methods.close
Message.__newindex = function(m, k, v)
    if k == "uri" then
        m:set_uri(v)
    elseif k == "body" then
        m:set_body(v, m.content_type)
    elseif k == "status" then
        m:set_status(v)
    elseif type(k) == "string" and k:sub(1, 1) == "_" then
        rawset(m, k, v)
    else
        raise(core.SIP_EINVAL, "cannot set field '" .. tostring(k) .. "'")
    end
end

---------------------------------------------------------------------------------------------------
-- SDP

local Sdp = class("Sdp")
local Media = class("SdpMedia")
sip.Sdp = setmetatable({}, { __index = Sdp.methods })

local function sdp_p(s)
    local p = rawget(s, "_p")
    if not p then closed() end
    return p
end

--- Parses a session description (RFC 8866). Raises SIP_ESDP with line, column and reason.
function sip.Sdp.parse(text)
    if type(text) ~= "string" then raise(core.SIP_EINVAL, "SDP text expected") end
    local rc, p, err = core.sip_sdp_parse(text)
    if rc < 0 then
        if err then raise(rc, err.reason, { line = err.line, column = err.column }) end
        raise(rc)
    end
    return setmetatable({ _p = p }, Sdp)
end

--- A minimal session to build on ("v=0", "o=- 0 0 IN IP4 0.0.0.0", "s=-", "t=0 0").
function sip.Sdp.new()
    local rc, p = core.sip_sdp_create()
    check(rc)
    return setmetatable({ _p = p }, Sdp)
end

local function conn_table(c)
    if c == nil then return nil end
    return {
        nettype = c.nettype, addrtype = c.addrtype, address = c.address,
        ttl = c.ttl >= 0 and c.ttl or nil, count = c.count,
    }
end

local function attr_list(count, at)
    local out = {}
    for i = 0, count - 1 do
        local a = at(i)
        out[#out + 1] = { name = a.name, value = a.has_value == 1 and a.value or nil }
    end
    return out
end

local dir_ids = {
    sendrecv = core.SIP_SDP_SENDRECV, sendonly = core.SIP_SDP_SENDONLY,
    recvonly = core.SIP_SDP_RECVONLY, inactive = core.SIP_SDP_INACTIVE,
}
local function dir_id(name)
    local id = dir_ids[name]
    if id == nil then raise(core.SIP_EINVAL, "unknown direction '" .. tostring(name) .. "'") end
    return id
end

Sdp.props.origin = function(s)
    local o = core.sip_sdp_get_origin(sdp_p(s))
    return {
        username = o.username, sess_id = o.sess_id, sess_version = o.sess_version,
        nettype = o.nettype, addrtype = o.addrtype, address = o.address,
    }
end
Sdp.props.session_name = function(s) return core.sip_sdp_get_session_name(sdp_p(s)) end
Sdp.props.info = function(s) return nonempty(core.sip_sdp_get_info(sdp_p(s))) end
Sdp.props.uri = function(s) return nonempty(core.sip_sdp_get_uri(sdp_p(s))) end
Sdp.props.connection = function(s) return conn_table(core.sip_sdp_get_connection(sdp_p(s))) end
Sdp.props.direction = function(s)
    return core.sip_sdp_dir_name(core.sip_sdp_get_direction(sdp_p(s)))
end
Sdp.props.attrs = function(s)
    local p = sdp_p(s)
    return attr_list(core.sip_sdp_attr_count(p), function(i) return core.sip_sdp_attr_at(p, i) end)
end
Sdp.props.media = function(s)
    local out = {}
    for i = 0, core.sip_sdp_media_count(sdp_p(s)) - 1 do
        out[i + 1] = setmetatable({ _sdp = s, _i = i }, Media)
    end
    return out
end

--- The value of the i-th (default first) session attribute with that name ("" for a flag), or nil.
function Sdp.methods.attr(s, name, i)
    local a = core.sip_sdp_attr_get(sdp_p(s), name, (i or 1) - 1)
    if a == nil then return nil end
    return a.value
end
function Sdp.methods.add_attr(s, name, value)
    check(core.sip_sdp_add_attr(sdp_p(s), name, value))
    return s
end
function Sdp.methods.remove_attr(s, name) return check(core.sip_sdp_remove_attr(sdp_p(s), name)) end
function Sdp.methods.set_origin(s, o)
    check(core.sip_sdp_set_origin(sdp_p(s), o.username or "-", tostring(o.sess_id or 0),
        tostring(o.sess_version or 0), o.nettype or "IN", o.addrtype or "IP4",
        o.address or "0.0.0.0"))
    return s
end
function Sdp.methods.set_session_name(s, name)
    check(core.sip_sdp_set_session_name(sdp_p(s), name))
    return s
end
--- Sets the session c= line (address nil removes it); addrtype defaults to IP4.
function Sdp.methods.set_connection(s, address, addrtype, nettype)
    check(core.sip_sdp_set_connection(sdp_p(s), nettype or "IN", addrtype or "IP4", address))
    return s
end
function Sdp.methods.set_time(s, start, stop)
    check(core.sip_sdp_set_time(sdp_p(s), start, stop))
    return s
end
function Sdp.methods.set_direction(s, dir)
    check(core.sip_sdp_set_direction(sdp_p(s), dir_id(dir)))
    return s
end
--- Adds an m= section; formats is a list or a space-separated string. Returns the Media.
function Sdp.methods.add_media(s, mtype, port, proto, formats)
    if type(formats) == "table" then formats = table.concat(formats, " ") end
    local idx = check(core.sip_sdp_add_media(sdp_p(s), mtype, port, proto, tostring(formats)))
    return setmetatable({ _sdp = s, _i = idx }, Media)
end
function Sdp.methods.print(s)
    local rc, text = core.sip_sdp_print(sdp_p(s))
    check(rc)
    return text
end
function Sdp.methods.close(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_sdp_unref(p)
    end
end
Sdp.__tostring = function(s) return s:print() end
Sdp.__gc = Sdp.methods.close
Sdp.__close = Sdp.methods.close

local function media_p(m)
    local sp = sdp_p(rawget(m, "_sdp"))
    local p = core.sip_sdp_media_at(sp, rawget(m, "_i"))
    if p == nil then raise(core.SIP_ENOENT, "no such media") end
    return p, sp
end

Media.props.index = function(m) return rawget(m, "_i") + 1 end
Media.props.type = function(m) return core.sip_sdp_media_get_type((media_p(m))) end
Media.props.port = function(m) return core.sip_sdp_media_get_port((media_p(m))) end
Media.props.port_count = function(m) return core.sip_sdp_media_get_port_count((media_p(m))) end
Media.props.proto = function(m) return core.sip_sdp_media_get_proto((media_p(m))) end
Media.props.formats = function(m)
    local p = media_p(m)
    local out = {}
    for i = 0, core.sip_sdp_media_format_count(p) - 1 do
        out[i + 1] = core.sip_sdp_media_format_at(p, i)
    end
    return out
end
Media.props.connection = function(m)
    return conn_table(core.sip_sdp_media_get_connection((media_p(m))))
end
Media.props.direction = function(m)
    return core.sip_sdp_dir_name(core.sip_sdp_media_get_direction((media_p(m))))
end
Media.props.ptime = function(m)
    local v = core.sip_sdp_media_get_ptime((media_p(m)))
    if v == -1 then return nil end
    return check(v)
end
Media.props.attrs = function(m)
    local p = media_p(m)
    return attr_list(core.sip_sdp_media_attr_count(p),
        function(i) return core.sip_sdp_media_attr_at(p, i) end)
end
function Media.methods.attr(m, name, i)
    local a = core.sip_sdp_media_attr_get((media_p(m)), name, (i or 1) - 1)
    if a == nil then return nil end
    return a.value
end
--- The a=rtpmap of a payload type: {payload, encoding, clock_rate, params, channels}, or nil.
function Media.methods.rtpmap(m, pt)
    local rc, r = core.sip_sdp_media_rtpmap((media_p(m)), pt)
    if rc == core.SIP_ENOENT then return nil end
    check(rc)
    return {
        payload = r.payload, encoding = r.encoding, clock_rate = r.clock_rate,
        params = nonempty(r.params), channels = r.channels,
    }
end
--- The a=fmtp parameters of a format ("101"), or nil.
function Media.methods.fmtp(m, fmt)
    local rc, f = core.sip_sdp_media_fmtp((media_p(m)), tostring(fmt))
    if rc == core.SIP_ENOENT then return nil end
    check(rc)
    return f.params
end
function Media.methods.set_port(m, port)
    local _, sp = media_p(m)
    check(core.sip_sdp_media_set_port(sp, rawget(m, "_i"), port))
    return m
end
function Media.methods.add_attr(m, name, value)
    local _, sp = media_p(m)
    check(core.sip_sdp_media_add_attr(sp, rawget(m, "_i"), name, value))
    return m
end
function Media.methods.remove_attr(m, name)
    local _, sp = media_p(m)
    return check(core.sip_sdp_media_remove_attr(sp, rawget(m, "_i"), name))
end
function Media.methods.set_direction(m, dir)
    local _, sp = media_p(m)
    check(core.sip_sdp_media_set_direction(sp, rawget(m, "_i"), dir_id(dir)))
    return m
end
function Media.methods.set_connection(m, address, addrtype, nettype)
    local _, sp = media_p(m)
    check(core.sip_sdp_media_set_connection(sp, rawget(m, "_i"), nettype or "IN",
        addrtype or "IP4", address))
    return m
end

---------------------------------------------------------------------------------------------------
-- Loop, timers and tasks

local Loop = class("Loop")
local Timer = class("Timer")
local Signal = class("Signal")

-- The loop of each running task (a coroutine started by loop:spawn or a Stack handler).
local task_loops = setmetatable({}, { __mode = "k" })

local function loop_p(l)
    local p = rawget(l, "_p")
    if not p then closed() end
    return p
end

--- A new event loop.
function sip.Loop()
    local rc, p = core.sip_loop_create()
    check(rc)
    -- _live keeps active timers (and their functions) alive while nothing else refers to them.
    return setmetatable({ _p = p, _live = {} }, Loop)
end

local function run_with(l, fn, p, ...)
    if rawget(l, "_running") then raise(core.SIP_EINVAL, "the loop is already running") end
    rawset(l, "_running", true)
    running[#running + 1] = l
    local rc = fn(p, ...)
    running[#running] = nil
    rawset(l, "_running", nil)
    if rawget(l, "_close_pending") then l:close() end
    if interrupted and #running == 0 then
        interrupted = false
        error("interrupted!", 0)
    end
    return check(rc)
end

--- Runs until loop:stop() or until nothing is left to do.
function Loop.methods.run(l)
    run_with(l, core.sip_loop_run, loop_p(l))
end

--- One iteration (wait: block for an event). Returns true while work is pending.
function Loop.methods.run_once(l, wait)
    return run_with(l, core.sip_loop_run_once, loop_p(l), wait and 1 or 0) == 1
end

function Loop.methods.stop(l)
    core.sip_loop_stop(loop_p(l))
end

--- The loop's time in milliseconds (monotonic).
function Loop.methods.now(l)
    return core.sip_loop_now(loop_p(l))
end

--- Sets the logger: fn(level_name, module, text), down to level ("warn" by default).
--- fn nil restores the stderr default.
function Loop.methods.set_log(l, fn, level)
    local cb = nil
    if fn then
        cb = function(_, lvl, module, text)
            local ok, err = pcall(fn, core.sip_log_level_name(lvl), module, text)
            if not ok then
                -- Never through the logger that just failed.
                if is_interrupt(err) then report(nil, err) return end
                io.stderr:write("libsip lua: logger failed: ", tostring(err), "\n")
            end
        end
    end
    check(core.sip_loop_set_log(loop_p(l), level_id(level), cb))
end

--- Logs every SIP message sent and received (level "info", module "trace").
function Loop.methods.set_trace(l, on)
    core.sip_loop_set_trace(loop_p(l), on and 1 or 0)
end

--- Writes one line through the loop's logger.
function Loop.methods.log(l, level, module, text)
    core.sip_log_write(loop_p(l), level_id(level), module, text)
end

--- Runs fn on the loop in a later iteration.
function Loop.methods.post(l, fn)
    check(core.sip_loop_post(loop_p(l), function() fn() end))
end

local function timer_p(t)
    local p = rawget(t, "_p")
    if not p then closed() end
    return p
end

--- Starts a timer: fn(timer) after ms, then every repeat_ms when given. The timer stays alive
--- while it is active, whether or not the script keeps the object.
function Loop.methods.timer(l, ms, fn, repeat_ms)
    local p = loop_p(l)
    local live = rawget(l, "_live")
    local t = setmetatable({ _loop = l }, Timer)
    local one_shot = not repeat_ms or repeat_ms == 0
    local rc, tp = core.sip_timer_start(p, ms, repeat_ms or 0, function()
        if one_shot then
            -- Ends the registration now: the function (and t through it) is released from the
            -- registry, so an expired timer can be collected.
            live[t] = nil
            local tp = rawget(t, "_p")
            if tp then core.sip_timer_stop(tp) end
        end
        fn(t)
    end)
    check(rc)
    rawset(t, "_p", tp)
    live[t] = true
    return t
end

Timer.props.active = function(t)
    local p = rawget(t, "_p")
    return p ~= nil and core.sip_timer_is_active(p) == 1
end
--- Stops the timer: no callback after this. Idempotent.
function Timer.methods.stop(t)
    local p = rawget(t, "_p")
    if p then core.sip_timer_stop(p) end
    local l = rawget(t, "_loop")
    rawget(l, "_live")[t] = nil
end
function Timer.methods.close(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_timer_unref(p)
    end
    rawget(rawget(t, "_loop"), "_live")[t] = nil
end
Timer.__gc = function(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_timer_unref(p)
    end
end
Timer.__close = Timer.methods.close

--- Watches a signal ("TERM", "SIGINT" or a number): fn(watch, signum) runs on the loop instead
--- of the signal's default action until watch:stop(); it wakes a loop blocked in run() at once.
--- A watch alone does not keep run() going. The loop keeps the watch until it is stopped.
function Loop.methods.on_signal(l, sig, fn)
    local p = loop_p(l)
    local num = sig
    if type(sig) == "string" then
        num = core.sip_signal_number(sig)
        if num < 0 then raise(num, "unknown signal " .. sig) end
    elseif math.type(sig) ~= "integer" then
        raise(core.SIP_EINVAL, "a signal is a name or a number")
    end
    local live = rawget(l, "_live")
    local s = setmetatable({ _loop = l, signum = num }, Signal)
    local rc, sp = core.sip_signal_start(p, num, function(_, signum) fn(s, signum) end)
    check(rc)
    rawset(s, "_p", sp)
    live[s] = true
    return s
end

Signal.props.active = function(s)
    local p = rawget(s, "_p")
    return p ~= nil and core.sip_signal_is_active(p) == 1
end
--- Ends the watch: no callback after this; the default action is back once no watch is left.
function Signal.methods.stop(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_signal_stop(p)
        core.sip_signal_unref(p)
    end
    rawget(rawget(s, "_loop"), "_live")[s] = nil
end
Signal.methods.close = Signal.methods.stop
Signal.__gc = function(s)
    local p = rawget(s, "_p")
    if p then
        rawset(s, "_p", nil)
        core.sip_signal_unref(p)
    end
end
Signal.__close = Signal.methods.stop

-- Resumes a task; its error (with the task's traceback) goes to the error hook or the logger.
local function resume(l, co, ...)
    local ok, err = coroutine.resume(co, ...)
    if not ok then
        local text = debug.traceback(co, tostring(err))
        coroutine.close(co)
        task_loops[co] = nil
        report(rawget(l, "_p"), text)
    elseif coroutine.status(co) == "dead" then
        task_loops[co] = nil
    end
end

--- Runs fn(...) as a task: a coroutine that may wait (sip.sleep, stack:send, stack:request)
--- without blocking the loop. Returns the coroutine.
function Loop.methods.spawn(l, fn, ...)
    loop_p(l)
    local co = coroutine.create(fn)
    task_loops[co] = l
    resume(l, co, ...)
    return co
end

local function current_task(what)
    local co, main = coroutine.running()
    local l = not main and task_loops[co]
    if not l then
        raise(core.SIP_EINVAL, what .. ": not inside a libsip task (loop:spawn or a handler)")
    end
    return co, l
end

--- Waits ms milliseconds inside a task; the loop runs meanwhile.
function sip.sleep(ms)
    local co, l = current_task("sip.sleep")
    l:timer(ms, function() resume(l, co) end)
    return coroutine.yield()
end
function Loop.methods.sleep(l, ms)
    local co = current_task("loop:sleep")
    l:timer(ms, function() resume(l, co) end)
    return coroutine.yield()
end

--- Closes every handle on the loop (timers, stacks...) and the loop. From inside loop:run() it
--- stops the loop and closes once run() returns. Idempotent.
function Loop.methods.close(l)
    local p = rawget(l, "_p")
    if not p then return end
    if rawget(l, "_running") then
        rawset(l, "_close_pending", true)
        core.sip_loop_stop(p)
        return
    end
    rawset(l, "_close_pending", nil)
    rawset(l, "_p", nil)
    core.sip_loop_close(p)
    core.sip_loop_unref(p)
    rawset(l, "_live", {})
end
Loop.props.closed = function(l) return rawget(l, "_p") == nil end
Loop.__gc = function(l)
    local p = rawget(l, "_p")
    if p then
        rawset(l, "_p", nil)
        core.sip_loop_unref(p)
    end
end
Loop.__close = Loop.methods.close

---------------------------------------------------------------------------------------------------
-- Transactions (RFC 3261 §17, RFC 6026) of a Stack made with transactions = true

local ServerTxn = class("ServerTransaction")
local ClientTxn = class("ClientTransaction")
local TxnLayer = class("TxnLayer")

local event_names = {
    [core.SIP_TXN_EVENT_CANCEL] = "cancel", [core.SIP_TXN_EVENT_TIMEOUT] = "timeout",
    [core.SIP_TXN_EVENT_ERROR] = "error",
}

local function txn_state(t)
    local p = rawget(t, "_p")
    if not p then return "Terminated" end
    return core.sip_txn_state_name(core.sip_txn_get_state(p))
end

local function txn_opts(cfg, keys)
    local o = core.sip_txn_opts_t()
    core.sip_txn_opts_init(o)
    for _, k in ipairs(keys) do
        local v = cfg[k]
        if v ~= nil then
            if type(v) ~= "number" or v < 0 then
                raise(core.SIP_EINVAL, k .. " must be a number of milliseconds >= 0")
            end
            o[k] = math.tointeger(v) or math.floor(v)
        end
    end
    return o
end
local LAYER_TIMERS = { "t1_ms", "t2_ms", "t4_ms", "timer_100_ms" }
local CLIENT_TIMERS = { "t1_ms", "t2_ms", "t4_ms" }

TxnLayer.props.t1_ms = function(l) return rawget(l, "_t")[1] end
TxnLayer.props.t2_ms = function(l) return rawget(l, "_t")[2] end
TxnLayer.props.t4_ms = function(l) return rawget(l, "_t")[3] end
TxnLayer.props.timer_100_ms = function(l) return rawget(l, "_t")[4] end
TxnLayer.props.count = function(l)
    local p = rawget(l, "_p")
    return p and core.sip_txn_layer_count(p) or 0
end
TxnLayer.props.closed = function(l) return rawget(l, "_p") == nil end
function TxnLayer.methods.close(l)
    local p = rawget(l, "_p")
    if p then
        rawset(l, "_p", nil)
        core.sip_txn_layer_close(p)
        core.sip_txn_layer_unref(p)
    end
end
TxnLayer.__gc = function(l)
    local p = rawget(l, "_p")
    if p then
        rawset(l, "_p", nil)
        core.sip_txn_layer_unref(p)
    end
end

-- Server transactions: the object owns one reference; dropping it (with its request) without
-- a final response makes the layer answer 500.
local function server_txn(p, stack)
    core.sip_txn_ref(p)
    return setmetatable({ _p = p, _stack = stack, _cancel = {}, _events = {}, cancelled = false },
        ServerTxn)
end

ServerTxn.props.state = txn_state
ServerTxn.props.is_client = function() return false end
ServerTxn.props.response = function(t)
    local p = rawget(t, "_p")
    local r = p and core.sip_txn_get_response(p)
    if not r then return nil end
    core.sip_msg_ref(r)
    return wrap_msg(r)
end

function ServerTxn.methods._to_tag(t)
    local tag = rawget(t, "_tag")
    if tag then return tag end
    local p = rawget(t, "_p")
    local prev = p and core.sip_txn_get_response(p)
    if prev and core.sip_msg_get_status(prev) > 100 then
        local to = core.sip_msg_get_to(prev)
        return to and nonempty(to.tag)
    end
    return nil
end

function ServerTxn.methods._watch(t)
    if rawget(t, "_watching") then return end
    local p = rawget(t, "_p")
    if not p then closed() end
    -- The layer keeps this function until the transaction ends: it holds the object weakly, so
    -- a request nobody keeps still gets its 500.
    local weak = setmetatable({ t = t }, { __mode = "v" })
    local loop = rawget(t, "_stack").loop
    check(core.sip_txn_set_event_handler(p, function(_, event, mp)
        local st = weak.t
        if not st then return end
        local m
        if mp then
            core.sip_msg_ref(mp)
            m = wrap_msg(mp)
        end
        local name = event_names[event] or tostring(event)
        if name == "cancel" then
            rawset(st, "cancelled", true)
            for _, fn in ipairs(rawget(st, "_cancel")) do loop:spawn(fn, m) end
        end
        for _, fn in ipairs(rawget(st, "_events")) do loop:spawn(fn, name, m) end
    end))
    rawset(t, "_watching", true)
end

--- fn(cancel) in a new task when a CANCEL matches this INVITE.
function ServerTxn.methods.on_cancel(t, fn)
    t:_watch()
    local list = rawget(t, "_cancel")
    list[#list + 1] = fn
    return t
end
--- fn(event, msg) in a new task for "cancel" (msg the CANCEL), "timeout" (Timer H: no ACK for
--- a non-2xx final) and "error" (the transport failed to send a response).
function ServerTxn.methods.on_event(t, fn)
    t:_watch()
    local list = rawget(t, "_events")
    list[#list + 1] = fn
    return t
end

--- Stops the transaction (no more sending or events). Idempotent.
function ServerTxn.methods.close(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_close(p)
        core.sip_txn_unref(p)
    end
end
ServerTxn.__gc = function(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_unref(p)
    end
end
ServerTxn.__close = ServerTxn.methods.close

txn_reply = function(t, rsp, status)
    local p = rawget(t, "_p")
    if not p then closed() end
    local rc = core.sip_txn_reply(p, msg_p(rsp))
    if rc == core.SIP_EINVAL then
        raise(rc, ("reply: cannot send %d in transaction state %s"):format(status, txn_state(t)))
    elseif rc == core.SIP_ECLOSED then
        raise(rc, "reply: the stack or transaction is closed")
    end
    check(rc)
end

-- An answer for a request whose handler failed or is missing, if it has no final one yet.
local function answer_if_open(txnp, status)
    local st = core.sip_txn_get_state(txnp)
    if st == core.SIP_TXN_TRYING or st == core.SIP_TXN_PROCEEDING then
        core.sip_txn_respond(txnp, status, nil)
    end
end

-- Client transactions: the callback the layer keeps holds the object until the transaction
-- ends, so on_response runs though the script drops it.
ClientTxn.props.state = txn_state
ClientTxn.props.is_client = function() return true end
-- Kept by the object: the transaction drops its request once the final response has arrived
-- (it then keeps only what matching needs).
ClientTxn.props.request = function(t)
    if not rawget(t, "_p") then closed() end
    return rawget(t, "_req")
end

local function client_finish(t, err)
    if rawget(t, "done") then return end
    rawset(t, "done", true)
    rawset(t, "error", err)
    local stack = rawget(t, "_stack")
    rawget(stack, "_clients")[t] = nil
    local waiters = rawget(t, "_waiters")
    rawset(t, "_waiters", {})
    for _, w in ipairs(waiters) do
        if err then
            resume(w.loop, w.co, nil, err)
        else
            resume(w.loop, w.co, rawget(t, "response"))
        end
    end
end

--- Inside a task: waits for the final response and returns it (any class: a 487 after
--- cancel(), a 404...), or nil and an Error when the transaction ended without one (SIP_EIO
--- with status 408: timeout, 503: transport error) or the stack closed (SIP_ECLOSED).
function ClientTxn.methods.wait(t)
    if rawget(t, "done") then
        local err = rawget(t, "error")
        if err then return nil, err end
        return rawget(t, "response")
    end
    local co, l = current_task("transaction:wait")
    local waiters = rawget(t, "_waiters")
    waiters[#waiters + 1] = { co = co, loop = l }
    return coroutine.yield()
end

--- Cancels a pending INVITE (RFC 3261 §9.1): the CANCEL goes out once a provisional response
--- has arrived; the INVITE then ends with the server's 487.
function ClientTxn.methods.cancel(t)
    local p = rawget(t, "_p")
    if not p then closed() end
    local rc = core.sip_txn_cancel(p)
    if rc == core.SIP_ECLOSED then
        raise(rc, "cancel: the transaction has a final response or is closed")
    elseif rc == core.SIP_EINVAL then
        raise(rc, "cancel: only an INVITE can be cancelled")
    end
    check(rc)
end

--- Stops the transaction: no more retransmission or callback; a task waiting on it gets nil
--- and a SIP_ECLOSED error. Idempotent.
function ClientTxn.methods.close(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_close(p)
        core.sip_txn_unref(p)
    end
    client_finish(t, new_error(core.SIP_ECLOSED, "transaction closed"))
end
ClientTxn.__gc = function(t)
    local p = rawget(t, "_p")
    if p then
        rawset(t, "_p", nil)
        core.sip_txn_unref(p)
    end
end
ClientTxn.__close = ClientTxn.methods.close

---------------------------------------------------------------------------------------------------
-- Stack: a loop (own or given) and a transport, with handlers per method.

local Stack = class("Stack")

local function stack_tp(s)
    local p = rawget(s, "_tp")
    if not p then closed() end
    return p
end

-- "udp:127.0.0.1:5060", "tcp:[::1]:5061" or {transport=, host=, port=} to a sip_netinfo_t.
local function dest_netinfo(dst)
    local tname, host, port
    if type(dst) == "string" then
        tname, host, port = dst:match("^(%a+):%[([^%]]+)%]:(%d+)$")
        if not tname then tname, host, port = dst:match("^(%a+):([^:]+):(%d+)$") end
        if not tname then raise(core.SIP_EINVAL, "bad destination '" .. dst .. "'") end
    elseif type(dst) == "table" then
        tname, host, port = dst.transport or "udp", dst.host, dst.port
    else
        raise(core.SIP_EINVAL, "destination expected")
    end
    if type(host) ~= "string" or #host == 0 or #host > 47 then
        raise(core.SIP_EINVAL, "destination needs an IP address")
    end
    local t = core.sip_transport_from_name(tname)
    if t == core.SIP_TRANSPORT_NONE then
        raise(core.SIP_EINVAL, "unknown transport '" .. tostring(tname) .. "'")
    end
    local ni = core.sip_netinfo_t()
    ni.transport = t
    ni.remote_ip = host
    ni.remote_port = tonumber(port)
    return ni
end

--- sip.Stack{ listen = {"udp:127.0.0.1:0", ...}, loop = Loop (default: its own),
---            options = { mtu = ..., tls_cert_file = ... }, log = fn, log_level = "info" }
function sip.Stack(cfg)
    cfg = cfg or {}
    local loop = cfg.loop or sip.Loop()
    local s = setmetatable({
        loop = loop, _own_loop = cfg.loop == nil, _handlers = {}, _responders = {},
        _waiting = {},
    }, Stack)
    local opts = core.sip_transport_opts_t()
    core.sip_transport_opts_init(opts)
    for k, v in pairs(cfg.options or {}) do
        if type(v) == "boolean" then v = v and 1 or 0 end
        opts[k] = v
    end
    local rc, tp = core.sip_transport_create(loop_p(loop), opts)
    check(rc)
    rawset(s, "_tp", tp)
    -- The handler holds the stack weakly, so a stack nobody keeps can be collected.
    local weak = setmetatable({ s = s }, { __mode = "v" })
    check(core.sip_transport_set_handler(tp, function(_, mp)
        local st = weak.s
        if st then st:_on_message(mp) end
    end))
    if cfg.transactions then
        -- The layer becomes the transport's message handler (RFC 3261 §17).
        local tcfg = type(cfg.transactions) == "table" and cfg.transactions or {}
        local o = txn_opts(tcfg, LAYER_TIMERS)
        local lrc, lp = core.sip_txn_layer_create(tp, o)
        check(lrc)
        rawset(s, "_layer", setmetatable({ _p = lp, _t = { o.t1_ms, o.t2_ms, o.t4_ms,
            o.timer_100_ms } }, TxnLayer))
        rawset(s, "_clients", {})
        check(core.sip_txn_layer_set_request_handler(lp, function(_, txnp, mp)
            local st = weak.s
            if st then st:_on_txn_request(txnp, mp) end
        end))
        check(core.sip_txn_layer_set_stray_handler(lp, function(_, mp)
            local st = weak.s
            if st then st:_on_message(mp) end
        end))
    end
    if cfg.log then loop:set_log(cfg.log, cfg.log_level) end
    for _, spec in ipairs(cfg.listen or {}) do s:listen(spec) end
    return s
end

--- The transaction layer (Stack{transactions = true | {t1_ms=, t2_ms=, t4_ms=,
--- timer_100_ms=}}), with its timers as fields (t1_ms...) and count; nil without.
Stack.props.transactions = function(s) return rawget(s, "_layer") end

function Stack.methods._on_txn_request(s, txnp, mp)
    core.sip_msg_ref(mp)
    local m = wrap_msg(mp)
    local loop = s.loop
    rawset(m, "_stack", s)
    if txnp then rawset(m, "_txn", server_txn(txnp, s)) end
    local fn = s._handlers[m.method] or s._handlers["*"]
    if not fn then
        -- RFC 3261 §8.2.1: a method this UAS does not handle.
        if txnp then core.sip_txn_respond(txnp, 501, nil) end
        return
    end
    if not txnp then
        loop:spawn(fn, m)
        return
    end
    -- A handler that fails leaves no request without a final response: 500 at once.
    loop:spawn(function(req)
        local ok, err = xpcall(fn, debug.traceback, req)
        if not ok then
            local t = rawget(req, "_txn")
            local p = rawget(t, "_p")
            if p then answer_if_open(p, 500) end
            error(err, 0)
        end
    end, m)
end

--- Opens a listening point ("udp:127.0.0.1:0" picks a free port). Returns its address.
function Stack.methods.listen(s, spec)
    local idx = core.sip_transport_listen(stack_tp(s), spec)
    if idx < 0 then raise(idx, core.sip_strerror(idx) .. " (listen " .. spec .. ")") end
    return s:listeners()[idx + 1]
end

--- The listening points: { {transport=, host=, port=, spec="udp:127.0.0.1:5060"}, ... }.
function Stack.methods.listeners(s)
    local tp = stack_tp(s)
    local out = {}
    for i = 0, core.sip_transport_listener_count(tp) - 1 do
        local rc, info = core.sip_transport_listener_info(tp, i)
        check(rc)
        local t = core.sip_transport_param(info.transport)
        local host = info.local_ip
        local shown = host:find(":", 1, true) and "[" .. host .. "]" or host
        out[#out + 1] = {
            transport = t, host = host, port = info.local_port,
            spec = t .. ":" .. shown .. ":" .. info.local_port,
        }
    end
    return out
end

--- Calls fn(req) in a new task for every request with this method ("*": any method without
--- its own handler). req:reply(status) answers it.
function Stack.methods.on_request(s, method, fn)
    stack_tp(s)
    s._handlers[method] = fn
    return s
end

--- Calls fn(rsp) in a new task for every response no stack:request() waits for.
function Stack.methods.on_response(s, fn)
    stack_tp(s)
    s._responders[1] = fn
    return s
end

function Stack.methods._on_message(s, mp)
    core.sip_msg_ref(mp)
    local m = wrap_msg(mp)
    local loop = s.loop
    if core.sip_msg_is_request(mp) == 1 then
        rawset(m, "_stack", s)
        local fn = s._handlers[m.method] or s._handlers["*"]
        if fn then
            loop:spawn(fn, m)
        else
            core.sip_log_write(loop_p(loop), core.SIP_LOG_DEBUG, "lua",
                "no handler for " .. tostring(m.method) .. "; request dropped")
        end
        return
    end
    local via = m.via
    local w = via and via.branch and s._waiting[via.branch]
    if w and m.status >= 200 then
        s._waiting[via.branch] = nil
        w.timer:stop()
        resume(loop, w.co, m)
        return
    end
    if w then return end -- provisional response of a request a task waits for
    local fn = s._responders[1]
    if fn then loop:spawn(fn, m) end
end

--- Sends a request to an address ("udp:127.0.0.1:5060" or {transport=, host=, port=}).
--- Inside a task it waits for the outcome and returns the status (0, or a negative error code);
--- outside it returns 0 once queued. Immediate failures raise.
function Stack.methods.send(s, msg, dst)
    local tp = stack_tp(s)
    local ni = dest_netinfo(dst)
    local co, main = coroutine.running()
    local l = not main and task_loops[co]
    if not l then
        check(core.sip_transport_send(tp, msg_p(msg), ni, nil))
        return 0
    end
    check(core.sip_transport_send(tp, msg_p(msg), ni, function(_, status)
        resume(l, co, status)
    end))
    return coroutine.yield()
end

--- With transactions: stack:request(msg, {dst=, on_response=fn, t1_ms=, t2_ms=, t4_ms=})
--- sends the request in a client transaction (RFC 3261 §17.1) and returns it at once (also
--- outside a task). dst ("udp:127.0.0.1:5060" or {transport=, host=, port=}) may also be the
--- second argument itself; without one the request goes where its Route or Request-URI says
--- (RFC 3263). on_response(status, rsp, txn) runs for every response, and once with rsp nil
--- for a 408 (timeout) or 503 (transport error) end. Inside a task, txn:wait() yields until
--- the final response. A top Via with a fresh branch is added when the request has none.
local function txn_request(s, layer, req, opts)
    if type(opts) ~= "table" or opts.host then opts = { dst = opts } end
    local ni = opts.dst and dest_netinfo(opts.dst) or nil
    local o = nil
    for _, k in ipairs(CLIENT_TIMERS) do
        if opts[k] ~= nil then o = txn_opts(opts, CLIENT_TIMERS) break end
    end
    local t = setmetatable({ _stack = s, _req = req, _waiters = {}, status = 0, done = false },
        ClientTxn)
    local on_response = opts.on_response
    local loop = s.loop
    local lp = rawget(layer, "_p")
    if not lp then closed() end
    local rc, p = core.sip_txn_client_create(lp, msg_p(req), ni, o, function(_, status, rp)
        local m
        if rp then
            core.sip_msg_ref(rp)
            m = wrap_msg(rp)
        end
        if not rawget(t, "done") then
            rawset(t, "status", status)
            rawset(t, "response", m)
            if status >= 200 then
                client_finish(t, not m and new_error(core.SIP_EIO,
                    status == 408 and "request timed out" or "transport error",
                    { status = status }) or nil)
            end
        end
        -- RFC 6026: 2xx retransmissions (and other forks' 2xx) still arrive in Accepted.
        if on_response then
            local ok, err = xpcall(on_response, debug.traceback, status, m, t)
            if not ok then report(loop_p(loop), err) end
        end
    end)
    if rc < 0 then
        raise(rc, "request: cannot send: " .. core.sip_strerror(rc))
    end
    rawset(t, "_p", p)
    rawget(s, "_clients")[t] = true
    return t
end

--- Without transactions: sends a request and waits (inside a task) for its final response,
--- matched by the top Via branch. Returns the response, or nil and an Error (SIP_EIO with the
--- send status, or -ETIMEDOUT after timeout_ms, default 32000 as RFC 3261 Timer F).
function Stack.methods.request(s, req, dst, timeout_ms)
    local tp = stack_tp(s)
    local layer = rawget(s, "_layer")
    if layer then return txn_request(s, layer, req, dst) end
    local co, l = current_task("stack:request")
    local via = req.via
    local branch = via and via.branch
    if not branch then raise(core.SIP_EINVAL, "stack:request needs a top Via with a branch") end
    local ni = dest_netinfo(dst)
    local w = { co = co }
    w.timer = l:timer(timeout_ms or 32000, function()
        if s._waiting[branch] == w then
            s._waiting[branch] = nil
            -- -ETIMEDOUT (Linux), as the resolver reports a DNS timeout.
            resume(l, co, nil, new_error(-110, "no response before the timeout",
                { name = "ETIMEDOUT" }))
        end
    end)
    s._waiting[branch] = w
    local ok, err = pcall(function()
        check(core.sip_transport_send(tp, msg_p(req), ni, function(_, status)
            if status < 0 and s._waiting[branch] == w then
                s._waiting[branch] = nil
                w.timer:stop()
                resume(l, co, nil, new_error(status))
            end
        end))
    end)
    if not ok then
        s._waiting[branch] = nil
        w.timer:stop()
        error(err, 0)
    end
    return coroutine.yield()
end

--- Sends a response where RFC 3261 §18.2.2 says (the request's connection or Via).
function Stack.methods.send_response(s, rsp)
    check(core.sip_transport_send_response(stack_tp(s), msg_p(rsp)))
end

function Stack.methods.run(s)
    stack_tp(s)
    s.loop:run()
end
function Stack.methods.stop(s)
    stack_tp(s)
    s.loop:stop()
end
--- Spawns a task on the stack's loop.
function Stack.methods.spawn(s, fn, ...)
    stack_tp(s)
    return s.loop:spawn(fn, ...)
end

--- Closes the transport, and the loop when the stack made it. Idempotent.
function Stack.methods.close(s)
    local tp = rawget(s, "_tp")
    if not tp then return end
    rawset(s, "_tp", nil)
    for b, w in pairs(s._waiting) do
        s._waiting[b] = nil
        w.timer:stop()
    end
    local layer = rawget(s, "_layer")
    if layer then
        layer:close()
        for t in pairs(rawget(s, "_clients")) do
            client_finish(t, new_error(core.SIP_ECLOSED, "stack closed"))
        end
    end
    core.sip_transport_close(tp)
    core.sip_transport_unref(tp)
    if rawget(s, "_own_loop") then s.loop:close() end
end
Stack.props.closed = function(s) return rawget(s, "_tp") == nil end
Stack.__gc = function(s)
    local tp = rawget(s, "_tp")
    if tp then
        rawset(s, "_tp", nil)
        core.sip_transport_unref(tp)
    end
end
Stack.__close = Stack.methods.close

---------------------------------------------------------------------------------------------------
-- Small helpers

--- The standard reason phrase of a status code.
function sip.status_phrase(status) return core.sip_status_phrase(status) end

--- A fresh RFC 3261 §8.1.1.7 branch ("z9hG4bK" + random hex).
function sip.branch()
    local t = {}
    for i = 1, 16 do t[i] = ("%x"):format(math.random(0, 15)) end
    return "z9hG4bK" .. table.concat(t)
end

return sip
