-- SPDX-License-Identifier: MIT
-- Counters per loop (loop:stats()) and the /metrics endpoint (sip.Metrics) from Lua: what an
-- exchange counts, the HTTP answers through curl, argument checks, closing. Ports: 0 (any free
-- one) everywhere.
local T = ...
local sip = require "libsip"
local core = require "libsip_core"

local GAUGES = { "sip_transactions", "sip_dialogs", "sip_bindings", "sip_connections",
    "sip_blocked_sources" }

-- Runs the loop until cond() or about 5 s of waiting.
local function pump_until(loop, cond)
    for _ = 1, 5000 do
        if cond() then return true end
        loop:run_once(false)
        os.execute("sleep 0.001")
    end
    return cond()
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("a")
    f:close()
    return s
end

-- curl in the background (the loop serves it meanwhile): its exit code and output.
local function curl(loop, url, args)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. q(dir)))
    local out, rcf = dir .. "/out", dir .. "/rc"
    local cmd = ("curl -sS -i --max-time 5 %s %s > %s 2>&1; echo $? > %s.tmp; mv %s.tmp %s")
        :format(args or "", q(url), q(out), q(rcf), q(rcf), q(rcf))
    assert(os.execute("sh -c " .. q(cmd) .. " </dev/null >/dev/null 2>&1 &"))
    T.ok(pump_until(loop, function() return read(rcf) ~= nil end), "curl finished")
    local rc, text = tonumber(read(rcf)), read(out)
    os.execute("rm -rf " .. q(dir))
    return rc, text
end

local function have_curl() return os.execute("command -v curl >/dev/null 2>&1") end

T.case("stats: names and start values", function()
    local loop = sip.Loop()
    local s = loop:stats()
    local n = 0
    for _, v in pairs(s) do
        n = n + 1
        T.eq(math.type(v), "integer", "an integer")
    end
    T.eq(n, core.SIP_STAT__COUNT, "every series")
    T.eq(s['sip_requests_received_total{method="INVITE"}'], 0, "INVITE")
    T.eq(s['sip_responses_sent_total{class="2xx"}'], 0, "2xx sent")
    T.eq(s['sip_dropped_total{reason="parse"}'], 0, "drops")
    for _, g in ipairs(GAUGES) do T.eq(s[g], 0, g) end
    core.sip_stat_add(loop._p, core.SIP_STAT_BLOCKED_SOURCES, -1)
    T.eq(loop:stats().sip_blocked_sources, -1, "a gauge reads signed")
    loop:close()
    T.raises("SIP_ECLOSED", loop.stats, loop)
end)

T.case("stats: an exchange counts its messages and gauges go back", function()
    local loop = sip.Loop()
    local uas
    uas = sip.Transport{ loop = loop, listen = "tcp:127.0.0.1:0", on_message = function(req)
        uas:send_response(req:response(200))
    end }
    local uac = sip.Transport{ loop = loop, listen = "tcp:127.0.0.1:0" }
    local got = 0
    uac:on_message(function() got = got + 1 end)
    local dst = uas:listeners()[1].spec
    local req = sip.Message.request("OPTIONS", "sip:uas@" .. dst:match("^%a+:(.*)$"),
        { headers = { { "Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKluastats" },
            { "Max-Forwards", 70 }, { "To", "<sip:uas@example.com>" },
            { "From", "<sip:uac@example.com>;tag=lu" }, { "Call-ID", "luastats@127.0.0.1" },
            { "CSeq", "1 OPTIONS" } } })
    loop:spawn(function() uac:send(req, dst) end)
    T.ok(pump_until(loop, function() return got == 1 end), "the 200 came")
    local s = loop:stats()
    T.eq(s.sip_requests_sent_total, 1, "requests sent")
    T.eq(s['sip_requests_received_total{method="OPTIONS"}'], 1, "OPTIONS received")
    T.eq(s['sip_responses_sent_total{class="2xx"}'], 1, "2xx sent")
    T.eq(s['sip_responses_received_total{class="2xx"}'], 1, "2xx received")
    T.eq(s.sip_connections_accepted_total, 1, "accepted")
    T.eq(s.sip_connections, 2, "both ends of the connection")
    uac:close()
    uas:close()
    loop:run_once(false)
    for _, g in ipairs(GAUGES) do T.eq(loop:stats()[g], 0, g) end
    loop:close()
end)

T.case("metrics: curl gets the counters, 404, 405", function()
    if not have_curl() then return end
    local loop = sip.Loop()
    core.sip_stat_add(loop._p, core.SIP_STAT_RX_REQ_BYE, 5)
    local calls = 0
    do
        local m <close> = sip.Metrics(loop, "127.0.0.1:0", { max_connections = 4,
            timeout_ms = 2000, extra = function()
                calls = calls + 1
                return "# TYPE app_up gauge\napp_up 1\n"
            end })
        T.ok(m.port > 0, "a port")
        T.eq(m.closed, false, "open")
        T.eq(m.loop, loop, "loop")
        local url = "http://127.0.0.1:" .. m.port
        local rc, text = curl(loop, url .. "/metrics")
        T.eq(rc, 0, "curl")
        T.ok(text:find("^HTTP/1.1 200"), "200")
        T.ok(text:find("\r\nContent-Type: text/plain; version=0.0.4", 1, true), "content type")
        T.ok(text:find('sip_requests_received_total{method="BYE"} 5\n', 1, true), "counter")
        T.ok(text:find("# TYPE app_up gauge\napp_up 1\n$"), "extra at the end")
        T.eq(calls, 1, "extra once")
        rc, text = curl(loop, url .. "/")
        T.ok(text:find("^HTTP/1.1 404"), "404")
        rc, text = curl(loop, url .. "/metrics", "-X POST -d x=1")
        T.ok(text:find("^HTTP/1.1 405"), "405")
        T.ok(text:find("\r\nAllow: GET, HEAD\r\n", 1, true), "Allow")
    end
    loop:close()
end)

T.case("metrics: a failing extra leaves the counters", function()
    if not have_curl() then return end
    local loop = sip.Loop()
    loop:set_log(function() end)
    for _, extra in ipairs { function() error("no") end, function() return 42 end,
        function() return nil end } do
        local m <close> = sip.Metrics(loop, "127.0.0.1:0", { extra = extra })
        local rc, text = curl(loop, "http://127.0.0.1:" .. m.port .. "/metrics")
        T.eq(rc, 0, "curl")
        T.ok(text:find("^HTTP/1.1 200"), "200")
        T.ok(text:find("\nsip_dialogs 0\n", 1, true), "the counters")
    end
    loop:close()
end)

T.case("metrics: argument checks", function()
    local loop = sip.Loop()
    T.raises("SIP_EINVAL", sip.Metrics, nil, "127.0.0.1:0")
    T.raises("SIP_EINVAL", sip.Metrics, loop, 9090)
    T.raises("SIP_EINVAL", sip.Metrics, loop, "127.0.0.1:0", { extra = "text" })
    local err = T.raises("SIP_EINVAL", sip.Metrics, loop, "127.0.0.1:0", { threads = 2 })
    T.ok(tostring(err):find("unknown option 'threads'", 1, true), "names the option")
    T.raises("SIP_EINVAL", sip.Metrics, loop, "127.0.0.1:0", { max_connections = "4" })
    T.raises("SIP_EINVAL", sip.Metrics, loop, "127.0.0.1:0", { max_connections = 0 })
    for _, bad in ipairs { "localhost:9090", "127.0.0.1", "[::1:9090", "127.0.0.1:70000" } do
        T.raises("SIP_EINVAL", sip.Metrics, loop, bad)
    end
    do
        local m <close> = sip.Metrics(loop, "127.0.0.1:0")
        local ok, e = pcall(sip.Metrics, loop, "127.0.0.1:" .. m.port)
        T.ok(not ok and sip.is_error(e) and e.code < 0 and e.code ~= core.SIP_EINVAL,
            "a taken port: the system's error")
    end
    loop:close()
end)

T.case("metrics: closes with its loop and leaves nothing", function()
    local loop = sip.Loop()
    local m = sip.Metrics(loop, "[::1]:0")
    T.ok(m.port > 0, "a port")
    loop:close()
    T.eq(m.closed, true, "closed with the loop")
    T.eq(m.port, 0, "port 0")
    m:close()
    m:close()
    T.raises("SIP_ECLOSED", sip.Metrics, loop, "127.0.0.1:0")
    m = nil
    for _ = 1, 3 do collectgarbage() end
    T.eq(sip.live_objects().metrics, 0, "live metrics endpoints")
end)
