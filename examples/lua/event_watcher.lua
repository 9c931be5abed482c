-- SPDX-License-Identifier: MIT
-- Watches an event package of a notifier (RFC 6665): message-summary (RFC 3842) or dialog
-- (RFC 4235), printing each NOTIFY's state and body, then unsubscribes.
--
-- usage: lua5.4 event_watcher.lua TARGET [--event message-summary] [--count N]
--                                 [--listen SPEC] [--trace]
--
-- TARGET is the notifier's URI ("sip:voicemail@127.0.0.1:5064"). After --count NOTIFYs
-- (default 2) it unsubscribes and waits for the NOTIFY that ends the subscription. Exits 0 when
-- it got them, 1 when the subscription failed (489 Bad Event, 404, no NOTIFY) or ended first.
local sip = require "libsip"

local ACCEPT = { ["message-summary"] = "application/simple-message-summary",
    dialog = "application/dialog-info+xml" }

local target, event, count, listen, trace = nil, "message-summary", 2, "udp:127.0.0.1:0", false
local i = 1
while i <= #arg do
    local a = arg[i]
    if a == "--event" then
        i = i + 1
        event = arg[i]
    elseif a == "--count" then
        i = i + 1
        count = math.tointeger(tonumber(arg[i] or ""))
        if not count or count < 1 then
            io.stderr:write("--count wants a whole number from 1 up\n")
            os.exit(2)
        end
    elseif a == "--listen" then
        i = i + 1
        listen = arg[i]
    elseif a == "--trace" then
        trace = true
    elseif not target and not a:match("^%-") then
        target = a
    else
        io.stderr:write("unknown argument ", a, "\n")
        os.exit(2)
    end
    i = i + 1
end
if not target then
    io.stderr:write("usage: event_watcher.lua TARGET [--event E] [--count N]\n")
    os.exit(2)
end

-- The Messages-Waiting line of a summary (RFC 3842 §5.2), or "".
local function waiting(body)
    return body:match("[Mm]essages%-[Ww]aiting:%s*(%a+)") or ""
end

local stack <close> = sip.Stack { listen = { listen }, transactions = true }
stack.loop:set_trace(trace)
local ua <close> = stack:ua {}
local status = 1

stack:spawn(function()
    local sub = ua:subscribe(target, event, { expires = 600, accept = ACCEPT[event] })
    local ok, e = pcall(sub.wait_established, sub)
    if not ok then
        io.stderr:write(("subscription failed: %s %s\n"):format(e.status or "?", e.phrase or ""))
        stack:stop()
        return
    end
    local got = 0
    for n in sub:notifies() do
        got = got + 1
        local extra = event == "message-summary" and (" waiting=" .. waiting(n.body)) or ""
        print(("NOTIFY %s%s (%d bytes)"):format(n.state, extra, #n.body))
        if event == "dialog" then io.write(n.body) end
        io.stdout:flush()
        if got == count then sub:unsubscribe() end
    end
    print((("ended: %d %s"):format(sub.end_status, sub.reason):gsub("%s+$", "")))
    status = got >= count and 0 or 1
    stack:stop()
end)

stack:run()
os.exit(status)
