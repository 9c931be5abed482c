-- SPDX-License-Identifier: MIT
-- 100,000 parse/read/destroy cycles leave neither the Lua heap nor the process growing.
local T = ...
local sip = require "libsip"

local MSG = "OPTIONS sip:bob@example.com SIP/2.0\r\n" ..
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n" ..
    "Max-Forwards: 70\r\n" ..
    "To: <sip:bob@example.com>\r\n" ..
    "From: <sip:alice@example.com>;tag=1928301774\r\n" ..
    "Call-ID: a84b4c76e66710\r\n" ..
    "CSeq: 63104 OPTIONS\r\n" ..
    "Content-Length: 0\r\n\r\n"

local function cycle(n, explicit_close)
    for _ = 1, n do
        local m = sip.Message.parse(MSG)
        assert(m.cseq == 63104 and m.uri.host == "example.com")
        assert(m.headers.Via[1] and #tostring(m) > 0)
        if explicit_close then m:close() end
    end
end

-- Under AddressSanitizer freed memory sits in quarantine, so the resident size only settles
-- after the quarantine fills; the ctest of a sanitized build says so through this variable.
local sanitized = os.getenv("LIBSIP_LUA_SANITIZED") == "1"

T.case("100000 parse/destroy cycles: no growth", function()
    cycle(5000, false)
    cycle(5000, true)
    collectgarbage()
    collectgarbage()
    local heap0, rss0 = collectgarbage("count"), T.rss_kb()
    cycle(50000, false) -- left to the collector
    cycle(50000, true)  -- closed at once
    collectgarbage()
    collectgarbage()
    local heap1, rss1 = collectgarbage("count"), T.rss_kb()
    local heap_growth = heap1 - heap0
    T.ok(heap_growth < 64, ("Lua heap grew by %.1f kB"):format(heap_growth))
    if not sanitized then
        T.ok(rss1 - rss0 < 1024, ("resident size grew by %d kB"):format(rss1 - rss0))
    end
end)

T.case("a failing parse leaks nothing either", function()
    local bad = "OPTIONS sip:x SIP/2.0\r\nVia: bad\r\n\r\n"
    for _ = 1, 2000 do pcall(sip.Message.parse, bad) end
    collectgarbage()
    collectgarbage()
    local heap0, rss0 = collectgarbage("count"), T.rss_kb()
    for _ = 1, 20000 do pcall(sip.Message.parse, bad) end
    collectgarbage()
    collectgarbage()
    T.ok(collectgarbage("count") - heap0 < 64, "Lua heap")
    if not sanitized then T.ok(T.rss_kb() - rss0 < 1024, "resident size") end
end)
