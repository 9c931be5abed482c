-- SPDX-License-Identifier: MIT
-- A registrar and proxy that sends a call to voicemail when the callee is busy or does not
-- answer.
--
-- usage: lua5.4 proxy_failover.lua --voicemail URI [--listen udp:127.0.0.1:5060]...
--            [--domain D]... [--user USER:PASSWORD]... [--realm R] [--timeout S] [-v] [--trace]
--
-- REGISTER for a --domain is authenticated against the --user table (digest, realm --realm, by
-- default the first domain) and saved in the location service (in memory). A request for a
-- registered address of record is relayed to its contacts (forking by q, Record-Route); when
-- the outcome is busy (486, 600, 603), no answer within --timeout seconds (the ringing branches
-- are cancelled: 487, or 408 when nothing answered at all) or nobody registered (480, 404), the
-- same request goes to --voicemail instead; after the caller's own CANCEL a relay gives the 487
-- again, so the same test is safe. In-dialog requests follow their
-- Route. Anything for another domain gets 403: not an open relay. SIGINT and SIGTERM end it
-- with status 0 (as examples/python/proxy_failover.py).
local sip = require "libsip"

local listen, domains, users, realm, voicemail, timeout = {}, {}, {}, nil, nil, 20
local verbose, trace = false, false
local function usage(text)
    io.stderr:write(text, "\n")
    os.exit(2)
end
local i = 1
while i <= #arg do
    local a = arg[i]
    if a == "--listen" then
        i = i + 1
        listen[#listen + 1] = arg[i]
    elseif a == "--domain" then
        i = i + 1
        domains[#domains + 1] = arg[i]
    elseif a == "--user" then
        i = i + 1
        local u, pw = (arg[i] or ""):match("^([^:]+):(.*)$")
        if not u then usage("--user wants USER:PASSWORD") end
        users[u] = pw
    elseif a == "--realm" then
        i = i + 1
        realm = arg[i]
    elseif a == "--voicemail" then
        i = i + 1
        voicemail = arg[i]
    elseif a == "--timeout" then
        i = i + 1
        timeout = tonumber(arg[i] or "")
        if not timeout or timeout < 0 then usage("--timeout wants a number of seconds") end
    elseif a == "-v" or a == "--verbose" then
        verbose = true
    elseif a == "--trace" then
        trace = true
    else
        usage("unknown argument " .. a)
    end
    i = i + 1
end
if not voicemail then usage("--voicemail URI is required") end
if not realm and #domains == 0 then usage("give --domain or --realm") end
if #listen == 0 then listen[1] = "udp:127.0.0.1:5060" end

local function log(fmt, ...)
    if verbose then io.stderr:write("proxy_failover: ", fmt:format(...), "\n") end
end

-- The outcomes that send the caller to voicemail.
local FAILOVER = { [404] = true, [408] = true, [480] = true, [486] = true, [487] = true,
    [600] = true, [603] = true }

local stack <close> = sip.Stack {
    listen = listen,
    transactions = true,
    log = function(level, module, text) io.stderr:write(level, " ", module, ": ", text, "\n") end,
    log_level = trace and "info" or "warn",
}
stack.loop:set_trace(trace)
for _, l in ipairs(stack:listeners()) do print("listening on " .. l.spec) end
io.stdout:flush()

local loc = sip.Location(stack.loop)
for _, d in ipairs(domains) do loc:add_domain(d) end
local proxy <close> = sip.Proxy(stack, { location = loc, registrar = sip.Registrar(loc),
    auth = sip.AuthServer(realm or domains[1]), users = users })

proxy:route(function(req)
    if req.routed then
        -- Inside a record-routed dialog: on along the Route set.
        return req:default_route()
    end
    if not req.is_local then return req:reply(403, "Not A Relay") end
    if req.method == "REGISTER" then
        if not req:authenticate() then return req:challenge() end
        log("REGISTER %s: %d", tostring(req.msg.to.uri), req:save())
        return
    end
    local out = req:proxy(req:lookup(), { record_route = true, timeout = timeout })
    log("%s %s: %d from %d branches", req.method, tostring(req.uri), out.status, #out.branches)
    if FAILOVER[out.status] and req.method == "INVITE" then
        out = req:proxy({ voicemail }, { record_route = true })
        log("%s: voicemail answered %d", tostring(req.uri), out.status)
    end
    -- Returning forwards the last outcome's best response (a 2xx went already).
end)

for _, name in ipairs({ "INT", "TERM" }) do
    stack.loop:on_signal(name, function() stack:stop() end)
end
stack:run()
