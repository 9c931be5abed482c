-- SPDX-License-Identifier: MIT
-- libsip for Lua: session descriptions (RFC 8866) and multipart bodies (RFC 5621).

local core = require "libsip_core"
local errors = require "libsip.errors"
local message = require "libsip.message"

local rawget, setmetatable, type, tostring = rawget, setmetatable, type, tostring
local raise, check, closed, class, nonempty = errors._raise, errors._check, errors._closed,
    errors._class, errors._nonempty
local check_args = errors._check_args

local M = {}

-- SDP

local Sdp = class("Sdp")
local Media = class("SdpMedia")
M.Sdp = setmetatable({}, { __index = Sdp.methods })

local function sdp_p(s)
    local p = rawget(s, "_p")
    if not p then closed() end
    return p
end

--- Parses a session description (RFC 8866). Raises SIP_ESDP with line, column, reason and the
--- line type at fault (type = "m"...; nil when none), as Python's SdpError.
function M.Sdp.parse(text)
    if type(text) ~= "string" then raise(core.SIP_EINVAL, "SDP text expected") end
    local rc, p, err = core.sip_sdp_parse(text)
    if rc < 0 then
        if err then
            local t = err.type
            if t == "" or t == "\0" then t = nil end
            raise(rc, err.reason, { line = err.line, column = err.column, type = t })
        end
        raise(rc)
    end
    return setmetatable({ _p = p }, Sdp)
end

--- A minimal session to build on ("v=0", "o=- 0 0 IN IP4 0.0.0.0", "s=-", "t=0 0").
function M.Sdp.new()
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
-- GB28181's y= (SSRC) and f= (media format), GB/T 28181-2016 Annex F: nil when absent.
Sdp.props.ssrc = function(s) return nonempty(core.sip_sdp_get_ssrc(sdp_p(s))) end
Sdp.props.format = function(s) return nonempty(core.sip_sdp_get_format(sdp_p(s))) end
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
    for _, k in ipairs { "username", "nettype", "addrtype", "address" } do
        if o[k] ~= nil and type(o[k]) ~= "string" then
            raise(core.SIP_EINVAL, ("Sdp:set_origin: %s must be a string, got %s"):format(k,
                type(o[k])))
        end
    end
    for _, k in ipairs { "sess_id", "sess_version" } do
        if o[k] ~= nil and type(o[k]) ~= "string" and math.type(o[k]) ~= "integer" then
            raise(core.SIP_EINVAL, ("Sdp:set_origin: %s must be an integer or a string, got %s")
                :format(k, type(o[k])))
        end
    end
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
--- Replaces every time description with one "t=start stop" line (NTP seconds; 0 0: an
--- unbounded session, RFC 8866 §5.9).
function Sdp.methods.set_time(s, start, stop)
    for _, arg in ipairs { { "start", start }, { "stop", stop } } do
        local name, v = arg[1], arg[2]
        if v < 0 then
            raise(core.SIP_EINVAL, ("SDP t=: %s must not be negative, not %d"):format(name, v))
        end
    end
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
--- True once closed (as Python's sdp.closed).
Sdp.props.closed = function(s) return rawget(s, "_p") == nil end
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
-- Multipart bodies (RFC 5621, RFC 2046 §5.1)

local Multipart = class("Multipart")
M.Multipart = setmetatable({}, { __index = Multipart.methods })

local function mp_p(mp)
    local p = rawget(mp, "_p")
    if not p then raise(core.SIP_ECLOSED, "multipart body is closed") end
    return p
end

--- A new empty multipart body (Python: libsip.Multipart(subtype, boundary)): subtype
--- "mixed" (default), "alternative", "related"...; boundary default "libsip-boundary".
function M.Multipart.new(subtype, boundary)
    if subtype ~= nil then errors._arg_string(subtype, "Multipart.new: subtype") end
    if boundary ~= nil then errors._arg_string(boundary, "Multipart.new: boundary") end
    local rc, p = core.sip_multipart_create(subtype or "mixed", boundary or "libsip-boundary")
    if rc < 0 then
        raise(rc, ("Multipart.new: cannot make a multipart/%s body with boundary %q: %s")
            :format(subtype or "mixed", boundary or "libsip-boundary", core.sip_strerror(rc)))
    end
    return setmetatable({ _p = p }, Multipart)
end

--- Parses a multipart body with its Content-Type (the boundary is read from it). Raises
--- SIP_EBODY (Python: BodyError).
function M.Multipart.parse(content_type, body)
    errors._arg_string(content_type, "Multipart.parse: content_type")
    errors._arg_string(body, "Multipart.parse: body")
    local rc, p = core.sip_multipart_parse(content_type, body)
    if rc < 0 then
        raise(rc, ("cannot parse a multipart body of Content-Type %q: %s"):format(content_type,
            core.sip_strerror(rc)))
    end
    return setmetatable({ _p = p }, Multipart)
end

--- The multipart subtype ("mixed", "alternative", "related").
Multipart.props.subtype = function(mp) return core.sip_multipart_get_subtype(mp_p(mp)) end
--- The boundary string between the parts.
Multipart.props.boundary = function(mp) return core.sip_multipart_get_boundary(mp_p(mp)) end
--- The Content-Type to send this body with ("multipart/mixed;boundary=...").
Multipart.props.content_type = function(mp)
    local rc, text = core.sip_multipart_print_content_type(mp_p(mp))
    check(rc)
    return text
end
--- The parts in order: { {content_type = "application/sdp" (nil when the part has none),
--- headers = { {name, value}, ... }, body = "..."}, ... }.
Multipart.props.parts = function(mp)
    local p = mp_p(mp)
    local out = {}
    for i = 0, core.sip_multipart_count(p) - 1 do
        local part = core.sip_multipart_part_at(p, i)
        local headers = {}
        for j = 0, core.sip_multipart_part_header_count(part) - 1 do
            local rc, name, value = core.sip_multipart_part_header_at(part, j)
            check(rc)
            headers[#headers + 1] = { name, value }
        end
        out[i + 1] = {
            content_type = nonempty(core.sip_multipart_part_get_content_type(part)),
            headers = headers, body = core.sip_multipart_part_get_body(part),
        }
    end
    return out
end
--- True once closed.
Multipart.props.closed = function(mp) return rawget(mp, "_p") == nil end

--- Appends a part with its content type (nil: none, text/plain by RFC 2046 §5.1.1), body and
--- extra headers ({ {name, value}, ... }); returns its index (1 for the first).
function Multipart.methods.add_part(mp, content_type, body, headers)
    local p = mp_p(mp)
    local items = {}
    for i, h in ipairs(headers or {}) do
        if type(h) ~= "table" then
            raise(core.SIP_EINVAL, ("Multipart:add_part: headers[%d] must be a {name, value} "
                .. "pair, got %s"):format(i, type(h)))
        end
        items[i] = { h[1], message._header_text("Multipart:add_part", h[1], h[2]) }
    end
    message._check_body("Multipart:add_part", body, content_type, true)
    local idx = check(core.sip_multipart_add_part(p, content_type, body))
    for _, h in ipairs(items) do
        local rc = core.sip_multipart_part_add_header(p, idx, h[1], h[2])
        if rc < 0 then
            raise(rc, ("Multipart:add_part: bad %s header value %q in a multipart part"):format(
                h[1], h[2]))
        end
    end
    return idx + 1
end
--- The body as sent (Python: bytes(mp)).
function Multipart.methods.print(mp)
    local rc, text = core.sip_multipart_print(mp_p(mp))
    check(rc)
    return text
end
--- Drops the body now (later use raises SIP_ECLOSED). Idempotent.
function Multipart.methods.close(mp)
    local p = rawget(mp, "_p")
    if p then
        rawset(mp, "_p", nil)
        core.sip_multipart_unref(p)
    end
end
Multipart.__tostring = function(mp) return mp:print() end
Multipart.__gc = Multipart.methods.close
Multipart.__close = Multipart.methods.close


check_args("Multipart", Multipart.methods, {
    add_part = { "content_type:string?", "body:string", "headers:table?" },
})
check_args("Sdp", Sdp.methods, {
    attr = { "name:string", "i:integer?" }, add_attr = { "name:string", "value:string?" },
    remove_attr = { "name:string" }, set_origin = { "origin:table" },
    set_session_name = { "name:string" },
    set_connection = { "address:string?", "addrtype:string?", "nettype:string?" },
    set_time = { "start:integer", "stop:integer" }, set_direction = { "direction:string" },
    add_media = { "type:string", "port:integer", "proto:string", "formats:string|table" },
})
check_args("SdpMedia", Media.methods, {
    attr = { "name:string", "i:integer?" }, rtpmap = { "payload:integer" },
    fmtp = { "format:string|integer" }, set_port = { "port:integer" },
    add_attr = { "name:string", "value:string?" }, remove_attr = { "name:string" },
    set_direction = { "direction:string" },
    set_connection = { "address:string?", "addrtype:string?", "nettype:string?" },
})

return M
