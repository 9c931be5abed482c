-- SPDX-License-Identifier: MIT
-- bench/script: the routing of bench/proxy's stateful run as a sipd Lua script, the same as
-- kemi.lua does in Kamailio: REGISTER authenticated and saved, requests of a record-routed
-- dialog relayed as their Route says, the rest record-routed and relayed to the callee's
-- registered contacts (a location lookup), 404 when there is none.

local RR = { record_route = true }

function route(req)
    local method = req.method
    if method == "REGISTER" then return req:default_route() end
    if req.routed then
        if method == "ACK" then return req:forward() end
        return req:relay()
    end
    if method == "ACK" or method == "CANCEL" then return req:default_route() end
    local targets = req:lookup()
    if #targets == 0 then return req:reply(404) end
    -- Relayed without waiting for the outcome (Kamailio's t_relay()): the proxy forwards the
    -- best response itself.
    req:relay(targets, RR)
end
