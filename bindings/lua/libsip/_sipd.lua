-- SPDX-License-Identifier: MIT
-- The Lua side of sipd's routing-script host (tools/sipd/script_lua.c). Private.
--
-- The script runs as a chunk with an environment of its own (globals of the script fall back
-- to the standard ones): its module-level state lives across requests, and a reload loads a
-- new instance beside the old one, which finishes the requests it took. route(req) is the
-- script's global `route`, or the `route` field of the table the chunk returns; it runs as a
-- task (a coroutine) per request, so sip.sleep, req:lookup() and req:proxy() wait without
-- blocking the loop.

local sip = require "libsip"
local serverm = require "libsip.server"

local M = {}

local Host = {}
Host.__index = Host

local function load_script(path)
    local env = setmetatable({}, { __index = _G })
    env._ENV = env
    local chunk, err = loadfile(path, "t", env)
    if not chunk then error(err, 0) end
    local ret = chunk()
    local route = type(ret) == "table" and ret.route or env.route
    if type(route) ~= "function" then
        error(path .. ": no route(req) function (a global route, or a field of the table the "
            .. "script returns)", 0)
    end
    return { env = env, route = route }
end

--- Loads the script and makes its route the server's (script_lua.c's sipd_script_open).
function M.open(server_p, path)
    -- Each request makes short-lived objects (its task, its request, its outcome) and little
    -- that lives long: Lua 5.4's generational collector is made for that.
    collectgarbage("generational")
    local srv = serverm._adopt(server_p)
    local mod = load_script(path)
    srv.route = mod.route
    return setmetatable({ server = srv, module = mod, sip = sip }, Host)
end

--- A new instance routes new requests; on an error the old one stays.
function Host:reload(path)
    local mod = load_script(path)
    self.server.route = mod.route
    self.module = mod
end

--- Back to the default routing; the server's parts are dropped, not closed.
function Host:close()
    local srv = self.server
    if not srv.closed then pcall(function() srv.route = nil end) end
    srv:_release()
end

return M
