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

-- After everything made is closed and collected (sip_live_count): no message and no transaction
-- live at all, and no other kind more than at the start. (Loops that other files drop with
-- timers still active stay alive by design, with what is on them: only growth counts there.)
local function live_now()
    collectgarbage()
    collectgarbage()
    return sip.live_objects()
end

local function assert_none_live(what, base)
    local now = live_now()
    T.eq(now.msg, 0, what .. ": live messages")
    T.eq(now.txn, 0, what .. ": live transactions")
    for kind, n in pairs(now) do
        T.eq(n, base[kind], what .. ": live " .. kind .. " (as at the start)")
    end
end

T.case("sip.live_objects counts every kind; no message left", function()
    local base = live_now()
    for _, kind in ipairs { "msg", "txn", "txn_layer", "transport", "conn", "resolver", "loop",
        "sdp", "oa" } do
        T.eq(math.type(base[kind]), "integer", "count of " .. kind)
    end
    local m = sip.Message.parse(MSG)
    local sdp = sip.Sdp.new()
    T.eq(sip.live_objects().msg, base.msg + 1, "one message more")
    T.eq(sip.live_objects().sdp, base.sdp + 1, "one session description more")
    m:close()
    sdp:close()
    assert_none_live("after parsing", base)
end)

T.case("stacks, transactions, connections and messages: nothing left live", function()
    local base = live_now()
    local loop = sip.Loop()
    local timers = { t1_ms = 10, t4_ms = 10 }
    local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = timers }
    local uas = sip.Stack { listen = "tcp:127.0.0.1:0", loop = loop, transactions = timers }
    local dst = uas:listeners()[1].spec
    uas:on_request("OPTIONS", function(req) req:reply(200) end)
    uas:on_request("MESSAGE", function() end) -- 500 from the layer
    local done = 0
    for _, method in ipairs { "OPTIONS", "MESSAGE" } do
        local req = sip.Message.request(method, "sip:uas@" .. dst:match("^tcp:(.*)$"))
        req:add_header("From", "<sip:uac@127.0.0.1>;tag=" .. sip.tag())
            :add_header("To", "<sip:uas@127.0.0.1>")
            :add_header("Call-ID", sip.call_id("127.0.0.1"))
            :add_header("CSeq", "1 " .. method):add_header("Max-Forwards", 70)
        uac:spawn(function()
            uac:request(req, dst):wait()
            done = done + 1
        end)
    end
    local guard = loop:timer(5000, function() loop:stop() end)
    local tick = loop:timer(5, function()
        -- Until the transactions' own timers (Timer K/J at 64*T1 with T1 10 ms) have ended them.
        if done == 2 and uac.transactions.count == 0 and uas.transactions.count == 0 then
            loop:stop()
        end
    end, 5)
    loop:run()
    guard:close()
    tick:close()
    T.eq(done, 2, "both requests answered")
    T.ok(sip.live_objects().conn > base.conn, "a TCP connection while the stacks live")
    uac:close()
    uas:close()
    loop:close()
    assert_none_live("after the stacks", base)
end)
