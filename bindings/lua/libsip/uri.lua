-- SPDX-License-Identifier: MIT
-- libsip for Lua: URIs (RFC 3261 §19.1, RFC 3966).

local core = require "libsip_core"
local errors = require "libsip.errors"

local rawget, setmetatable, type = rawget, setmetatable, type
local raise, check, closed, class, nonempty = errors._raise, errors._check, errors._closed,
    errors._class, errors._nonempty

local M = {}

-- URI

local Uri = class("Uri")
M.Uri = setmetatable({}, {
    __index = Uri.methods,
    __call = function(_, text) return M.Uri.parse(text) end,
})

local function wrap_uri(p)
    return setmetatable({ _p = p }, Uri)
end

--- Parses a URI (sip, sips, tel, or any absolute URI). Raises SIP_EURI.
function M.Uri.parse(text)
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


errors._check_args("Uri", Uri.methods, { param = { "name:string" }, header = { "name:string" } })

M._wrap_uri, M._class = wrap_uri, Uri
return M
