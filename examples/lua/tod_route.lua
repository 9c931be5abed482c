-- SPDX-License-Identifier: MIT
-- Call logic as a sipd routing script: time-of-day routing, and forward on busy or no answer.
--
-- usage: sipd --script examples/lua/tod_route.lua [--users FILE] [...]
--
-- A call (INVITE) for one of sipd's users goes, during office hours, to the user's registered
-- contacts (forking by q, record-routed); when they are busy (486, 600, 603), do not answer
-- within RING_TIMEOUT seconds (the ringing branches are cancelled), or nobody is registered
-- (480), the call is forwarded to FORWARD_TARGET with a Diversion header (RFC 5806: reason
-- user-busy, no-answer or unavailable). Outside office hours it goes straight to
-- AFTER_HOURS_TARGET (Diversion reason time-of-day). Everything else (REGISTER, requests inside
-- a dialog, other domains, OPTIONS...) takes sipd's default routing, authentication included.
--
-- The settings below may also come from the environment (TOD_* variables), and the clock is
-- injectable: TOD_NOW="Mon 10:30" (a day name and a time) makes every call see that time, and
-- a program that loads this file may assign clock = function() return wday, hour, min end
-- (wday 1 = Sunday, as os.date("*t") gives it).
-- ---- settings -------------------------------------------------------------------------------

-- Office hours: the days (1 = Sunday ... 7 = Saturday) and the hours, local time, as "HH:MM".
OFFICE_DAYS = { [2] = true, [3] = true, [4] = true, [5] = true, [6] = true } -- Monday-Friday
OFFICE_OPEN = os.getenv("TOD_OPEN") or "09:00"
OFFICE_CLOSE = os.getenv("TOD_CLOSE") or "18:00"
-- Where calls go outside office hours (a voicemail server, an answering service...).
AFTER_HOURS_TARGET = os.getenv("TOD_AFTER_HOURS") or "sip:voicemail@127.0.0.1:5070"
-- Where calls go when the user is busy, does not answer or is not registered.
FORWARD_TARGET = os.getenv("TOD_FORWARD") or AFTER_HOURS_TARGET
-- Seconds the user's phones ring before the call is forwarded.
RING_TIMEOUT = tonumber(os.getenv("TOD_RING_TIMEOUT") or "") or 20

-- ---- the clock ------------------------------------------------------------------------------

local DAYS = { sun = 1, mon = 2, tue = 3, wed = 4, thu = 5, fri = 6, sat = 7 }

-- The day (1 = Sunday) and time now: TOD_NOW when set ("Mon 10:30"), else the local clock.
function clock()
    local fixed = os.getenv("TOD_NOW")
    if fixed then
        local day, h, m = fixed:match("^(%a%a%a)%a*%s+(%d%d?):(%d%d)$")
        assert(day and DAYS[day:lower()], "TOD_NOW wants a day and a time: \"Mon 10:30\"")
        return DAYS[day:lower()], tonumber(h), tonumber(m)
    end
    local t = os.date("*t")
    return t.wday, t.hour, t.min
end

local function minutes(hhmm)
    local h, m = hhmm:match("^(%d%d?):(%d%d)$")
    assert(h, "a time is HH:MM: " .. tostring(hhmm))
    return tonumber(h) * 60 + tonumber(m)
end

-- True during office hours.
function office_hours()
    local wday, h, m = clock()
    local now = h * 60 + m
    return OFFICE_DAYS[wday] == true and now >= minutes(OFFICE_OPEN)
        and now < minutes(OFFICE_CLOSE)
end

-- ---- routing --------------------------------------------------------------------------------

-- The outcomes of the user's phones that forward the call, with the Diversion reason.
local FORWARD_ON = { [486] = "user-busy", [600] = "user-busy", [603] = "user-busy",
    [408] = "no-answer", [487] = "no-answer", [480] = "unavailable", [404] = "unavailable" }

-- Forwards req to target, saying why (RFC 5806 Diversion: the user it was for and the reason).
local function divert(req, target, reason)
    req.msg:add_header("Diversion", ("<%s>;reason=%s"):format(tostring(req.uri), reason))
    io.stderr:write(("tod_route: %s for %s: %s, to %s\n"):format(req.method, tostring(req.uri),
        reason, target))
    return req:proxy({ target }, { record_route = true })
end

function route(req)
    if req.routed or req.method ~= "INVITE" or not req.is_local then
        -- Inside a record-routed dialog, REGISTER, ACK, CANCEL, other domains: as sipd does.
        return req:default_route()
    end
    if not office_hours() then
        return divert(req, AFTER_HOURS_TARGET, "time-of-day")
    end
    -- Office hours: the user's phones first (failure routing, as Kamailio's failure_route).
    local out = req:proxy(req:lookup(), { record_route = true, timeout = RING_TIMEOUT })
    local reason = FORWARD_ON[out.status]
    if reason then
        -- After the caller's own CANCEL this relays nothing and gives the 487 again.
        return divert(req, FORWARD_TARGET, reason)
    end
    -- Returning forwards the best response (a 2xx went upstream already).
end
