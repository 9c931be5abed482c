-- SPDX-License-Identifier: MIT
-- libsip for Lua: destinations of the transport layer.
local core = require "libsip_core"
local errors = require "libsip.errors"

local type, tostring, tonumber = type, tostring, tonumber
local raise = errors._raise

local M = {}

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

M._dest_netinfo = dest_netinfo
return M
