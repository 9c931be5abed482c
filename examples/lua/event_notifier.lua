-- SPDX-License-Identifier: MIT
-- Serves two event packages: message-summary (RFC 3842, a voicemail box) and dialog (RFC 4235,
-- this UA's calls).
--
-- usage: lua5.4 event_notifier.lua [--listen udp:127.0.0.1:5064]... [--messages N]
--                                  [--every MS] [-v] [--trace]
--
-- A SUBSCRIBE for either package is accepted (the UA answers one for another package 489 Bad
-- Event with Allow-Events) and the first NOTIFY carries the state: the mailbox's summary, or a
-- dialog-info document of the calls. A new message every --every ms notifies the
-- message-summary subscribers again; calls answered here and their end notify the dialog
-- subscribers. Refreshes, expiry and unsubscribes are the library's (RFC 6665). SIGINT and
-- SIGTERM end it (each subscription with a NOTIFY terminated;reason=noresource), status 0.
local sip = require "libsip"

local MWI, DIALOG = "application/simple-message-summary", "application/dialog-info+xml"

local listen, messages, every, verbose, trace = {}, 2, 1000, false, false
local i = 1
while i <= #arg do
    local a = arg[i]
    if a == "--listen" then
        i = i + 1
        listen[#listen + 1] = arg[i]
    elseif a == "--messages" or a == "--every" then
        i = i + 1
        local n = math.tointeger(tonumber(arg[i] or ""))
        if not n or n < 0 then
            io.stderr:write(a, " wants a whole number\n")
            os.exit(2)
        end
        if a == "--messages" then messages = n else every = n end
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
if #listen == 0 then listen[1] = "udp:127.0.0.1:5064" end

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

-- The mailbox, the calls, and the subscriptions that watch them.
local box = { new = messages, old = 0, version = 0, calls = {}, order = {},
    watchers = { ["message-summary"] = {}, dialog = {} } }

local function summary()
    -- RFC 3842 §5.2: the summary, then one line per message class.
    return ("Messages-Waiting: %s\r\nMessage-Account: sip:voicemail@example.com\r\n"
        .. "Voice-Message: %d/%d (0/0)\r\n"):format(box.new > 0 and "yes" or "no", box.new, box.old)
end

local function dialog_info()
    -- RFC 4235 §4: a full document, its version one higher each time.
    box.version = box.version + 1
    local items = {}
    for _, cid in ipairs(box.order) do
        items[#items + 1] = ('  <dialog id="%s"><state>%s</state></dialog>\n'):format(cid,
            box.calls[cid])
    end
    return ('<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" '
        .. 'version="%d" state="full" entity="sip:notifier@example.com">\n%s</dialog-info>\n')
        :format(box.version, table.concat(items))
end

local function body(event) return event == "message-summary" and summary() or dialog_info() end

local function notify(event)
    local kind = event == "message-summary" and MWI or DIALOG
    local keep = {}
    for _, sub in ipairs(box.watchers[event]) do
        if sub.state ~= "Terminated" then
            sub:notify(body(event), kind)
            keep[#keep + 1] = sub
        end
    end
    box.watchers[event] = keep
end

local ua <close> = stack:ua { events = "message-summary, dialog", contact_user = "notifier" }

ua:on_request(function(req)
    if req.method ~= "SUBSCRIBE" then
        req:reply(405)
        return
    end
    local event = req:header("Event"):match("^%s*([^;%s]+)")
    local sub = ua:accept_subscription(req, { body = body(event),
        content_type = event == "message-summary" and MWI or DIALOG })
    local list = box.watchers[event]
    list[#list + 1] = sub
    if verbose then
        io.stderr:write(("event_notifier %s subscription from %s\n"):format(event,
            req:header("From")))
    end
end)

ua:on_invite(function(call)
    local cid = call.invite.call_id
    call:answer { sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
        .. "m=audio 40000 RTP/AVP 0\r\n" }
    box.order[#box.order + 1] = cid
    box.calls[cid] = "confirmed"
    notify("dialog")
    pcall(call.wait_ended, call)
    box.calls[cid] = "terminated"
    notify("dialog")
end)

-- A new voicemail every --every ms.
local tick = every > 0 and loop:timer(every, function()
    box.new = box.new + 1
    notify("message-summary")
end, every) or nil

-- SIGINT and SIGTERM: every subscription ends with a NOTIFY, then the loop stops.
for _, name in ipairs({ "INT", "TERM" }) do
    loop:on_signal(name, function()
        if tick then tick:close() end
        for _, list in pairs(box.watchers) do
            for _, sub in ipairs(list) do
                if sub.state ~= "Terminated" then sub:terminate("noresource") end
            end
        end
        loop:timer(200, function() stack:stop() end)
    end)
end

stack:run()
print("bye")
