-- SPDX-License-Identifier: MIT
-- The routing script of tests/interop/script (Lua): INVITEs go to $ROUTE_TARGET with
-- Record-Route, dialogs and REGISTER take sipd's default routing, and OPTIONS to a few users
-- show module state (X-Count), the version loaded (X-Version), waiting inside a route, and what
-- a script error does.
local sip = require "libsip"

local VERSION = "@VERSION@"
local TARGET = os.getenv("ROUTE_TARGET")
local count = 0

function route(req)
    count = count + 1
    local uri = req.uri
    local user = uri and uri.user
    if req.method == "OPTIONS" and user == "boom" then
        error("boom from the route script")
    end
    if req.method == "OPTIONS" and user == "sleep" then
        sip.sleep(50)
        return req:reply(200, { ["X-Slept"] = "yes", ["X-Version"] = VERSION })
    end
    if req.method == "OPTIONS" then
        return req:reply(200, { ["X-Count"] = tostring(count), ["X-Version"] = VERSION })
    end
    if req.routed or not TARGET or req.method == "REGISTER" then
        return req:default_route()
    end
    -- SIPp's built-in uac sends its ACK and BYE to sipd without a Route: the fixed target.
    if req.method == "ACK" then return req:forward(TARGET) end
    local out = req:proxy(TARGET, { record_route = true })
    if out.status >= 300 then req:reply(out.status, { ["X-Version"] = VERSION }) end
end
