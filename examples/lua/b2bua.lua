-- SPDX-License-Identifier: MIT
-- A B2BUA that forwards each call to a target, and to a second one on busy or no answer.
--
-- usage: lua5.4 b2bua.lua --to SIP-URI [--fallback SIP-URI] [--timeout SECONDS]
--                         [--listen udp:127.0.0.1:5064]... [-v] [--trace]
--
-- Each incoming call is bridged (ua:bridge, sip/bridge.h) to --to: a new call with its own
-- Call-ID, tags and Via carries the caller's offer; ringing, early media, the answer, re-INVITEs,
-- INFO and the BYE go across. When --to is busy, rejects or does not answer within --timeout,
-- the call goes to --fallback (voicemail, a colleague) instead; without one the caller gets the
-- failure. SIGINT and SIGTERM end it with status 0.
local sip = require "libsip"

local listen, to, fallback, timeout, verbose, trace = {}, nil, nil, 20, false, false
local i = 1
while i <= #arg do
    local a = arg[i]
    if a == "--listen" then
        i = i + 1
        listen[#listen + 1] = arg[i]
    elseif a == "--to" then
        i = i + 1
        to = arg[i]
    elseif a == "--fallback" then
        i = i + 1
        fallback = arg[i]
    elseif a == "--timeout" then
        i = i + 1
        timeout = tonumber(arg[i] or "")
        if not timeout or timeout <= 0 then
            io.stderr:write("--timeout wants a number of seconds\n")
            os.exit(2)
        end
    elseif a == "-v" or a == "--verbose" then
        verbose = true
    elseif a == "--trace" then
        trace = true
    else
        io.stderr:write("unknown argument ", a, "\n")
        os.exit(2)
    end
    i = i + 1
end
if not to then
    io.stderr:write("usage: b2bua.lua --to SIP-URI [--fallback SIP-URI] [--timeout SECONDS] "
        .. "[--listen udp:127.0.0.1:5064]... [-v] [--trace]\n")
    os.exit(2)
end
if #listen == 0 then listen[1] = "udp:127.0.0.1:5064" end

local stack <close> = sip.Stack {
    listen = listen,
    transactions = true,
    log = function(level, module, text) io.stderr:write(level, " ", module, ": ", text, "\n") end,
    log_level = trace and "info" or "warn",
}
stack.loop:set_trace(trace)
for _, l in ipairs(stack:listeners()) do print("listening on " .. l.spec) end
io.stdout:flush()

local ua <close> = stack:ua { contact_user = "b2bua" }

local function say(call_id, text)
    if verbose then io.stderr:write(("b2bua call %s: %s\n"):format(call_id, text)) end
end

ua:on_invite(function(call)
    local call_id = call.invite.call_id
    call:ring()
    -- With a fallback, a failure leaves the caller's call to us (keep_a_on_failure).
    local br = ua:bridge(call, to, { timeout = timeout, keep_a_on_failure = fallback ~= nil })
    say(call_id, ("%s answered %d"):format(to, br.status))
    if br.status >= 300 and fallback and call.state ~= "Ended" then
        br = ua:bridge(call, fallback, { timeout = timeout })
        say(call_id, ("%s answered %d"):format(fallback, br.status))
    end
    if br.status < 300 then
        -- Until a BYE on either leg; SIP_ECLOSED when the program ends first.
        local ok, first = pcall(br.wait_ended, br)
        if ok then say(call_id, "ended by leg " .. first) end
    end
end)

-- The loop hears SIGINT and SIGTERM (in place of their default action) and stops.
for _, name in ipairs({ "INT", "TERM" }) do
    stack.loop:on_signal(name, function() stack:stop() end)
end

stack:run()
print("bye")
