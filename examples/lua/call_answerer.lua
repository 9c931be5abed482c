-- SPDX-License-Identifier: MIT
-- Answers calls: INVITE gets 180, then 200 with an SDP answer after --ring ms; BYE ends them.
--
-- usage: lua5.4 call_answerer.lua [--listen udp:127.0.0.1:5062]... [--ring MS] [-v] [--trace]
--
-- Runs on the user agent layer (sip.UA): the 2xx retransmitted until its ACK, the ACK itself,
-- CANCEL (487), BYE, OPTIONS and re-INVITEs are the core's; the answer comes from the call's
-- offer/answer engine and its capabilities. What is left here is the call logic. SIGINT and
-- SIGTERM end it with status 0.
local sip = require "libsip"

local listen, ring, verbose, trace = {}, 0, false, false
local i = 1
while i <= #arg do
    local a = arg[i]
    if a == "--listen" then
        i = i + 1
        listen[#listen + 1] = arg[i]
    elseif a == "--ring" then
        i = i + 1
        ring = tonumber(arg[i] or "")
        if not ring or ring < 0 or ring ~= math.floor(ring) then
            io.stderr:write("--ring wants a number of milliseconds\n")
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
if #listen == 0 then listen[1] = "udp:127.0.0.1:5062" end

local stack <close> = sip.Stack {
    listen = listen,
    transactions = true,
    log = function(level, module, text) io.stderr:write(level, " ", module, ": ", text, "\n") end,
    log_level = trace and "info" or "warn",
}
stack.loop:set_trace(trace)
local loop = stack.loop
for _, l in ipairs(stack:listeners()) do print("listening on " .. l.spec) end
io.stdout:flush()

-- What this side can do: PCMU and PCMA audio, with telephone-event (no media is sent). The
-- engine answers each offer from it (RFC 3264: codec intersection, 488 when none is common);
-- the c= and o= address is the Contact's host, the listening point the INVITE came through.
local CAPS = table.concat({
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
    "m=audio 40000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv", "",
}, "\r\n")

local ua <close> = stack:ua { contact_user = "answer" }

ua:on_invite(function(call)
    local call_id, started = call.invite.call_id, loop:now()
    call:ring()
    if ring > 0 then sip.sleep(ring) end
    -- The caller may have cancelled meanwhile (the core answered 487).
    local how
    if call.state == "Ended" then
        how = "cancelled"
    else
        call:answer()
        -- Until a BYE from either side, a CANCEL that crossed the 200, or no ACK (BYE after
        -- 64*T1); SIP_ECLOSED when the program ends first.
        local ok, status = pcall(call.wait_ended, call)
        if not ok then return end
        how = status == 200 and "BYE" or ("status " .. status)
    end
    if verbose then
        io.stderr:write(("call_answerer call %s ended: %s after %.3f s\n"):format(
            call_id, how, (loop:now() - started) / 1000))
    end
end, { media = CAPS })

-- The loop hears SIGINT and SIGTERM (in place of their default action) and stops.
for _, name in ipairs({ "INT", "TERM" }) do
    loop:on_signal(name, function() stack:stop() end)
end

stack:run()
print("bye")
