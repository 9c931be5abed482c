-- SPDX-License-Identifier: MIT
-- examples/lua/call_answerer.lua answers sip-uac's calls (tests/lua.cmake passes the built
-- program as SIP_UAC; without it the cases fail), its UA core retransmits the 200 until the ACK,
-- and it exits 0 on SIGINT and on SIGTERM.
local T = ...
local sip = require "libsip"

local example = T.dir .. "/../../examples/lua/call_answerer.lua"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function slurp(path)
    local f = io.open(path)
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
end

local function sleep_ms(ms) os.execute(("sleep %.3f"):format(ms / 1000)) end

-- Starts the example in the background on a free UDP port: { pid, port, dir }. A wrapper shell
-- records its exit status in dir/rc.
local function start(...)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. q(dir)))
    local args = { q(T.interpreter()), q(example), "--listen", "udp:127.0.0.1:0" }
    for _, a in ipairs({ ... }) do args[#args + 1] = q(a) end
    local cmd = ("%s >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/rc"):format(
        table.concat(args, " "), q(dir), q(dir), q(dir), q(dir))
    assert(os.execute("sh -c " .. q(cmd) .. " </dev/null >/dev/null 2>&1 &"))
    local port
    for _ = 1, 400 do
        port = slurp(dir .. "/out"):match("listening on udp:127%.0%.0%.1:(%d+)")
        if port then break end
        sleep_ms(25)
    end
    T.ok(port, "the example printed its listening point (stderr: " .. slurp(dir .. "/err") .. ")")
    return { pid = tonumber(slurp(dir .. "/pid")), port = tonumber(port), dir = dir }
end

-- A signal (INT unless named), then its exit status, stdout and stderr (the files are removed).
local function stop(h, sig)
    os.execute(("kill -%s %d"):format(sig or "INT", h.pid))
    local rc
    for _ = 1, 400 do
        rc = tonumber(slurp(h.dir .. "/rc"))
        if rc then break end
        sleep_ms(25)
    end
    if not rc then os.execute("kill -KILL " .. h.pid) end
    local out, err = slurp(h.dir .. "/out"), slurp(h.dir .. "/err")
    os.execute("rm -rf " .. q(h.dir))
    return rc, out, err
end

local function sip_uac(calls, port)
    local uac = os.getenv("SIP_UAC")
    T.ok(uac and uac ~= "", "SIP_UAC names the built sip-uac")
    local p = assert(io.popen(("%s --calls %d --rate 50 --hold 10 sip:answer@127.0.0.1:%d 2>&1")
        :format(q(uac), calls, port)))
    local out = p:read("a")
    local _, _, code = p:close()
    return code, out
end

local function run_calls(ring, calls)
    local h = start("--ring", tostring(ring), "-v")
    local ok, code, out = pcall(sip_uac, calls, h.port)
    local rc, stdout, err = stop(h)
    if not ok then error(code, 0) end
    T.eq(code, 0, "sip-uac exit status (" .. out .. ")")
    T.eq(out:match("calls: [^\n]*"), ("calls: %d completed, 0 failed"):format(calls), "summary")
    T.eq(rc, 0, "example exit status after SIGINT (" .. err .. ")")
    T.ok(stdout:match("\nbye\n$"), "example said bye")
    local ends = 0
    for line in err:gmatch("[^\n]+") do
        if line:match("^call_answerer call ") then
            ends = ends + 1
            local secs = tonumber(line:match(" ended: BYE after ([%d.]+) s$"))
            T.ok(secs, "call end line: " .. line)
            T.ok(secs >= ring / 1000, "answered after --ring: " .. line)
        end
    end
    T.eq(ends, calls, "call end lines")
end

T.case("call_answerer.lua: 20 calls from sip-uac, no ring", function() run_calls(0, 20) end)
T.case("call_answerer.lua: 3 calls from sip-uac, 300 ms ring", function() run_calls(300, 3) end)

T.case("call_answerer.lua: the 200 goes again at T1 until the ACK (RFC 3261 §13.3.1.4)", function()
    local h = start()
    local ok, err = pcall(function()
        local uac <close> = sip.Stack { listen = { "udp:127.0.0.1:0" } }
        local me = uac:listeners()[1]
        local me_hp = "127.0.0.1:" .. me.port
        local dst = "udp:127.0.0.1:" .. h.port
        local got = {}
        uac:on_response(function(rsp) got[#got + 1] = rsp end)
        local function req(method, uri, branch, cseq, to_tag)
            local m = sip.Message.request(method, uri)
            m:add_header("Via", "SIP/2.0/UDP " .. me_hp .. ";branch=" .. branch)
                :add_header("Max-Forwards", "70")
                :add_header("From", "<sip:t@example.com>;tag=1")
                :add_header("To", "<sip:answer@example.com>"
                    .. (to_tag and ";tag=" .. to_tag or ""))
                :add_header("Call-ID", "ca-retx-lua")
                :add_header("CSeq", cseq)
                :add_header("Contact", "<sip:t@" .. me_hp .. ">")
            return m
        end
        local function run_for(ms)
            uac.loop:timer(ms, function() uac:stop() end)
            uac:run()
        end
        local invite = req("INVITE", "sip:answer@127.0.0.1:" .. h.port, "z9hG4bKlua1", "1 INVITE")
        invite:set_body("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            .. "m=audio 4000 RTP/AVP 0\r\n", "application/sdp")
        uac:send(invite, dst)
        -- Sent at 0 and 500 ms; the next copy is due at 1500 ms.
        run_for(1000)
        local statuses = {}
        for k, r in ipairs(got) do statuses[k] = r.status end
        T.eq(table.concat(statuses, " "), "180 200 200", "responses before the ACK")
        local ok200 = got[2]
        T.eq(ok200.content_type, "application/sdp", "answer content type")
        T.ok(ok200.body:find("c=IN IP4 127.0.0.1\r\n", 1, true), "answer on the local address")
        T.eq(ok200:header("Contact"), ("<sip:answer@127.0.0.1:%d>"):format(h.port),
            "Contact")
        T.eq(got[3].to.tag, ok200.to.tag, "same To tag in the copy")
        T.eq(got[1].to.tag, ok200.to.tag, "same To tag as the 180")
        local contact = "sip:answer@127.0.0.1:" .. h.port
        uac:send(req("ACK", contact, "z9hG4bKlua2", "1 ACK", ok200.to.tag), dst)
        -- No copy at 1500 ms once the ACK is in.
        run_for(1200)
        T.eq(#got, 3, "responses after the ACK")
        uac:send(req("BYE", contact, "z9hG4bKlua3", "2 BYE", ok200.to.tag), dst)
        run_for(500)
        T.eq(#got, 4, "BYE answered")
        T.eq(got[4].status, 200, "BYE status")
        T.eq(got[4].cseq_method, "BYE", "BYE CSeq")
    end)
    local rc, sout, serr = stop(h, "TERM")
    if not ok then error(err, 0) end
    T.eq(rc, 0, "example exit status after SIGTERM (" .. serr .. ")")
    T.ok(sout:match("\nbye\n$"), "example said bye after SIGTERM")
end)
