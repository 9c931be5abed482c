-- SPDX-License-Identifier: MIT
-- libsip for Lua: SIP messages, their headers and parsed addresses.

local core = require "libsip_core"
local errors = require "libsip.errors"
local urim = require "libsip.uri"

local rawget, rawset, setmetatable, getmetatable, type, tostring = rawget, rawset, setmetatable,
    getmetatable, type, tostring
local raise, check, closed, class, nonempty = errors._raise, errors._check, errors._closed,
    errors._class, errors._nonempty
local arg_string, arg_int, arg_status = errors._arg_string, errors._arg_int, errors._arg_status

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
    arg_string(data, "Message.parse: the message bytes")
    local rc, p, err
    if opts then
        local o = core.sip_parse_opts_t()
        core.sip_parse_opts_init(o)
        errors._set_struct(o, opts, "Message.parse")
        rc, p, err = core.sip_msg_parse_ex(data, o)
    else
        rc, p, err = core.sip_msg_parse(data)
    end
    if rc < 0 then parse_error(rc, err) end
    return wrap_msg(p)
end

--- A new request with its start line only ("METHOD uri SIP/2.0"); add the headers.
function M.Message.request(method, uri)
    arg_string(method, "Message.request: method")
    if getmetatable(uri) == urim._class then uri = tostring(uri) end
    arg_string(uri, "Message.request: uri")
    local rc, p = core.sip_msg_create_request(method, uri)
    if rc < 0 then
        raise(rc, ("Message.request: cannot make a %q request for %q: %s"):format(method, uri,
            core.sip_strerror(rc)))
    end
    return wrap_msg(p)
end

---------------------------------------------------------------------------------------------------
-- Addresses (From, To, Contact, Route, Record-Route, Reply-To...: RFC 3261 §20.10, §25.1)

local Address = { __name = "libsip.Address" }
Address.__index = Address

-- A params view ("tag=a1;lr;x=y") as a table name -> value ("" for a flag such as lr).
local function params_table(raw)
    local out = {}
    local rest = raw
    while rest ~= nil and rest ~= "" do
        local found, r, name, value = core.sip_params_next(rest)
        if found ~= 1 then break end
        out[name] = value
        rest = r
    end
    return out
end

--- A parsed address: display (as written, quotes kept; nil when none), uri (a sip.Uri; nil for
--- Contact *), tag, params (name -> value, "" for a flag), star, expires and q (Contact q in
--- thousandths: q=0.5 gives 500; nil when absent). tostring() gives the header value.
local function addr_table(a)
    if a == nil then return nil end
    local uri = nil
    local star = a.star == 1
    local raw = a.uri.raw
    if not star and raw ~= "" then uri = urim.Uri.parse(raw) end
    return setmetatable({
        display = nonempty(a.display), uri = uri, tag = nonempty(a.tag),
        params = params_table(a.params), star = star,
        expires = a.expires >= 0 and a.expires or nil, q = a.q >= 0 and a.q or nil,
        _ptext = a.params,
    }, Address)
end
Address.__tostring = function(a)
    if a.star then return "*" end
    local text = "<" .. tostring(a.uri) .. ">"
    if a.display then text = a.display .. " " .. text end
    if a._ptext ~= "" then text = text .. ";" .. a._ptext end
    return text
end
M.Address = Address


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
    local p = msg_p(rawget(hs, "_m"))
    arg_string(name, "headers[name]: a header name")
    return header_values(p, name)
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

local function index_arg(i, what)
    if i == nil then return 0 end
    i = arg_int(i, what .. ": index")
    if i < 1 then raise(core.SIP_EINVAL, what .. ": index must be 1 or more, got " .. i) end
    return i - 1
end

--- The i-th value (1-based, default 1) of a header, or nil.
function Message.methods.header(m, name, i)
    arg_string(name, "header: name")
    local h = core.sip_msg_header_by_name(msg_p(m), name, index_arg(i, "header"))
    if h == nil then return nil end
    return core.sip_header_get_value(h)
end

--- The number of values of a header.
function Message.methods.header_count(m, name)
    arg_string(name, "header_count: name")
    local list = header_values(msg_p(m), name)
    return list and #list or 0
end

--- The i-th value (1-based, default 1) of an address header (From, To, Contact, Route,
--- Record-Route...) parsed as a sip.Address, or nil when absent. Raises SIP_EINVAL for a header
--- that does not hold addresses, SIP_EPARSE for a value that does not parse.
function Message.methods.address(m, name, i)
    arg_string(name, "address: name")
    local h = core.sip_msg_header_by_name(msg_p(m), name, index_arg(i, "address"))
    if h == nil then return nil end
    if core.sip_hdr_kind(core.sip_header_get_id(h)) ~= core.SIP_HK_ADDR then
        raise(core.SIP_EINVAL, ("address: %s is not an address header"):format(name))
    end
    local a = core.sip_header_addr(h)
    if a == nil then
        raise(core.SIP_EPARSE, ("address: the %s value %q does not parse"):format(name,
            core.sip_header_get_value(h)))
    end
    return addr_table(a)
end

--- Every value of an address header as sip.Address objects ({} when absent).
function Message.methods.addresses(m, name)
    local out = {}
    for i = 1, m:header_count(name) do out[i] = m:address(name, i) end
    return out
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

-- A header value from a script: a string, or a number written as an integer when it is one;
-- anything else (nil, a table, a boolean) is refused rather than sent as "table: 0x55...".
local function header_text(what, name, value)
    arg_string(name, what .. ": header name")
    local tv = type(value)
    if tv == "string" then return value end
    if tv == "number" then
        local i = math.tointeger(value)
        return i and ("%d"):format(i) or tostring(value)
    end
    if getmetatable(value) == Address or getmetatable(value) == urim._class then
        return tostring(value)
    end
    raise(core.SIP_EINVAL, ("%s: the value of %s must be a string or a number, got %s"):format(
        what, name, tv))
end

-- Why a header edit failed, naming the header and the value.
local function header_failed(rc, what, name, text)
    if rc == core.SIP_EPARSE or rc == core.SIP_EINVAL then
        raise(rc, ("%s: %q is not a valid %s value"):format(what, text, name),
            { header = name })
    end
    raise(rc, ("%s %s: %s"):format(what, name, core.sip_strerror(rc)), { header = name })
end

--- Adds a header after the others (a string, or a number; an Address or Uri is printed).
--- Raises SIP_EPARSE naming the header and value when it does not parse. Returns m.
function Message.methods.add_header(m, name, value)
    local text = header_text("add_header", name, value)
    local rc = core.sip_msg_add_header(msg_p(m), name, text)
    if rc < 0 then header_failed(rc, "add_header", name, text) end
    return m
end

--- Adds a header before every other one. Returns m.
function Message.methods.prepend_header(m, name, value)
    local text = header_text("prepend_header", name, value)
    local rc = core.sip_msg_prepend_header(msg_p(m), name, text)
    if rc < 0 then header_failed(rc, "prepend_header", name, text) end
    return m
end

--- Adds a copy of every value of header name from message src (already parsed: nothing is
--- parsed again, so a Contact or Allow kept in a template costs less than add_header). Returns m.
function Message.methods.copy_headers(m, src, name)
    local sp, i = check_msg(src, "copy_headers: src"), 0
    arg_string(name, "copy_headers: name")
    while true do
        local h = core.sip_msg_header_by_name(sp, name, i)
        if h == nil then break end
        check(core.sip_msg_add_header_copy(msg_p(m), h))
        i = i + 1
    end
    return m
end

--- Replaces a header in place: the new value takes the position of the first one and the
--- other values go; a header not there yet is added after the others (add_header appends).
--- Returns m.
function Message.methods.set_header(m, name, value)
    local text = header_text("set_header", name, value)
    local rc = core.sip_msg_set_header(msg_p(m), name, text)
    if rc < 0 then header_failed(rc, "set_header", name, text) end
    return m
end

--- Removes the i-th value of a header, or every value when i is nil. Returns the count removed.
function Message.methods.remove_header(m, name, i)
    arg_string(name, "remove_header: name")
    if i == nil then return check(core.sip_msg_remove_headers(msg_p(m), name)) end
    local rc = core.sip_msg_remove_header(msg_p(m), name, index_arg(i, "remove_header"))
    if rc == core.SIP_ENOENT then return 0 end
    check(rc)
    return 1
end

-- A body needs a string, and a content type (given, or the message's own: has_type).
local function check_body(what, body, content_type, has_type)
    arg_string(body, what .. ": body")
    if content_type ~= nil then arg_string(content_type, what .. ": content_type") end
    if body ~= "" and content_type == nil and not has_type then
        raise(core.SIP_EINVAL, what .. ": a body needs a content type: pass content_type "
            .. "(\"application/sdp\", \"text/plain\", ...)")
    end
end

--- Sets the body and its Content-Type. A non-empty body needs a content type; "" with no
--- content type removes the body and the Content-Type. Returns m.
function Message.methods.set_body(m, body, content_type)
    local p = msg_p(m)
    check_body("set_body", body, content_type)
    local rc = core.sip_msg_set_body(p, content_type, body)
    if rc < 0 then
        raise(rc, rc == core.SIP_EINVAL and content_type ~= nil
            and ("set_body: bad content type %q"):format(content_type) or nil)
    end
    return m
end

local function optional_string(v, what)
    if v ~= nil then arg_string(v, what) end
    return v
end

--- Sets the status (100-699) and reason phrase (nil: the standard one) of a response. Returns m.
function Message.methods.set_status(m, status, reason)
    local p = msg_p(m)
    status = arg_status(status, "set_status")
    optional_string(reason, "set_status: reason")
    local rc = core.sip_msg_set_status(p, status, reason)
    if rc < 0 then
        raise(rc, core.sip_msg_is_request(p) == 1 and "set_status: a request has no status" or nil)
    end
    return m
end

--- Sets the Request-URI of a request (a string or a sip.Uri). Returns m.
function Message.methods.set_uri(m, uri)
    local p = msg_p(m)
    if getmetatable(uri) == urim._class then uri = tostring(uri) end
    arg_string(uri, "set_uri: uri")
    local rc = core.sip_msg_set_uri(p, uri)
    if rc < 0 then raise(rc, ("set_uri: not a Request-URI: %q"):format(uri)) end
    return m
end

--- Checks what the grammar alone does not (RFC 3261 §8.1.1, §7.3.1): To, From, CSeq, Call-ID
--- and Via present, Call-ID, CSeq, From, To, Max-Forwards and Content-Length at most once.
--- Returns m, or raises SIP_EPARSE whose reason and header name the header.
function Message.methods.validate(m)
    local rc, err = core.sip_msg_validate(msg_p(m))
    if rc < 0 then parse_error(rc, err) end
    return m
end

--- A response to this request (RFC 3261 §8.2.6.2: Via, From, To, Call-ID, CSeq copied; a To tag
--- added for status > 100 unless to_tag says which).
function Message.methods.response(m, status, reason, to_tag)
    local p = msg_p(m)
    status = arg_status(status, "response")
    optional_string(reason, "response: reason")
    optional_string(to_tag, "response: to_tag")
    if core.sip_msg_is_request(p) == 0 then
        raise(core.SIP_EINVAL, "response: a response is made from a request")
    end
    local rc, p = core.sip_msg_create_response(p, status, reason, to_tag)
    if rc < 0 then
        raise(rc, ("response: cannot make a %d response: %s"):format(status,
            core.sip_strerror(rc)))
    end
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
        -- The Content-Type stays as it is (parameters included).
        local ct = m:header("Content-Type")
        check_body("body", v, nil, ct ~= nil)
        m:set_body(v, ct)
    elseif k == "status" then
        m:set_status(v)
    elseif type(k) == "string" and k:sub(1, 1) == "_" then
        rawset(m, k, v)
    else
        raise(core.SIP_EINVAL, "cannot set field '" .. tostring(k) .. "'")
    end
end


M._header_text, M._check_body = header_text, check_body
M._class, M._wrap_msg, M._msg_p, M._check_msg = Message, wrap_msg, msg_p, check_msg
M._netinfo_table = netinfo_table
return M
