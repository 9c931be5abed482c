-- SPDX-License-Identifier: MIT
-- libsip for Lua: SIP messages, their headers and parsed addresses.

local core = require "libsip_core"
local errors = require "libsip.errors"
local urim = require "libsip.uri"

local rawget, rawset, setmetatable, getmetatable, type, tostring = rawget, rawset, setmetatable,
    getmetatable, type, tostring
local raise, check, closed, class, nonempty = errors._raise, errors._check, errors._closed,
    errors._class, errors._nonempty

local M = {}

-- Messages

local Message = class("Message")
M.Message = setmetatable({}, { __index = Message.methods })

local function wrap_msg(p)
    return setmetatable({ _p = p }, Message)
end

local function msg_p(m)
    local p = rawget(m, "_p")
    if not p then closed() end
    return p
end

--- The C handle of a message argument; raises SIP_EINVAL naming what expected it otherwise.
local function check_msg(v, what)
    if getmetatable(v) ~= Message then
        raise(core.SIP_EINVAL, what .. ": a sip.Message expected, got " .. type(v))
    end
    return msg_p(v)
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
function M.Message.parse(data, opts)
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
function M.Message.request(method, uri)
    local rc, p = core.sip_msg_create_request(method, tostring(uri))
    if rc < 0 then raise(rc) end
    return wrap_msg(p)
end

local function addr_table(a)
    if a == nil then return nil end
    local uri = nil
    local raw = a.uri.raw
    if raw ~= "" then uri = urim.Uri.parse(raw) end
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
    return urim.Uri.parse(u.raw)
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


M._class, M._wrap_msg, M._msg_p, M._check_msg = Message, wrap_msg, msg_p, check_msg
M._netinfo_table = netinfo_table
return M
