-- SPDX-License-Identifier: MIT
-- libsip for Lua: session descriptions (RFC 8866).

local core = require "libsip_core"
local errors = require "libsip.errors"

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

--- Parses a session description (RFC 8866). Raises SIP_ESDP with line, column and reason.
function M.Sdp.parse(text)
    if type(text) ~= "string" then raise(core.SIP_EINVAL, "SDP text expected") end
    local rc, p, err = core.sip_sdp_parse(text)
    if rc < 0 then
        if err then raise(rc, err.reason, { line = err.line, column = err.column }) end
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
