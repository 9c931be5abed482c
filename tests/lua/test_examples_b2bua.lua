-- SPDX-License-Identifier: MIT
-- examples/lua/b2bua.lua between two UAs of this process: a call bridged to its target, and
-- forwarded to the fallback on busy and on no answer; exits 0 on SIGINT.
local T = ...
local sip = require "libsip"

local example = T.dir .. "/../../examples/lua/b2bua.lua"

local SDP_A = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
local function sdp_of(port)
    return ("v=0\r\no=callee 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        .. "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"):format(port)
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function slurp(path)
    local f = io.open(path)
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
end

local function sleep_ms(ms) os.execute(("sleep %.3f"):format(ms / 1000)) end

-- Starts the example in the background on a free UDP port: { pid, port, dir }.
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

local function stop(h)
    os.execute(("kill -INT %d"):format(h.pid))
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

-- The callees, on the caller's UA (one UA per stack) answering by user part: "busy" 486, "slow" rings and never answers,
-- "bob" and "vm" answer with SDP of their own port (5001, 5002).
local function callees(ua)
    local seen = {}
    ua:on_invite(function(call)
        local user = call.invite.uri.user
        seen[#seen + 1] = user
        if user == "busy" then return call:reject(486) end
        call:ring()
        if user == "slow" then return end
        call:answer(sdp_of(user == "bob" and 5001 or 5002))
    end)
    return seen
end

-- Runs the example with the arguments, places one call through it from a caller UA, and checks
-- it: answered by the callee that expect_user names (its SDP), BYE across, exit 0.
local function through(expect_port, expect_seen, ...)
    local s = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    local port = s:listeners()[1].port
    local args = {}
    for _, a in ipairs({ ... }) do args[#args + 1] = (a:gsub("PORT", tostring(port))) end
    local h = start(table.unpack(args))
    local errors_seen = {}
    sip.on_error(function(text) errors_seen[#errors_seen + 1] = text end)
    local ok, err = pcall(function()
        local ua = s:ua { contact_user = "alice" }
        local seen = callees(ua)
        local done = false
        s:spawn(function()
            local call = ua:invite("sip:anyone@127.0.0.1:" .. h.port, { sdp = SDP_A })
            local got, e = pcall(call.wait_answered, call, 8)
            T.ok(got, "answered through the B2BUA: " .. tostring(e))
            T.eq(call.remote_sdp, sdp_of(expect_port), "the answer of the callee that took it")
            call:hangup()
            for _, c in ipairs(ua.calls) do
                if not c.is_uac and c.state == "Confirmed" then
                    T.eq(c:wait_ended(5), 200, "the BYE crossed the B2BUA")
                end
            end
            T.eq(table.concat(seen, " "), expect_seen, "the targets the B2BUA tried")
            done = true
            s:stop()
        end)
        local guard = s.loop:timer(15000, function() s:stop() end)
        s:run()
        guard:close()
        T.ok(done, "the call finished within 15 s: " .. table.concat(errors_seen, "\n"))
        T.eq(#errors_seen, 0, "handler errors: " .. table.concat(errors_seen, "\n"))
        ua:close()
    end)
    sip.on_error(nil)
    s:close()
    local rc, out, serr = stop(h)
    if not ok then error(tostring(err) .. "\nexample stderr: " .. serr, 0) end
    T.eq(rc, 0, "example exit status after SIGINT (" .. serr .. ")")
    T.ok(out:match("\nbye\n$"), "example said bye")
    return serr
end

T.case("b2bua.lua: a call bridged to its target; BYE across", function()
    local log = through(5001, "bob", "--to", "sip:bob@127.0.0.1:PORT", "-v")
    T.ok(log:find("sip:bob@127.0.0.1:%d+ answered 200"), log)
end)

T.case("b2bua.lua: busy goes to the fallback", function()
    local log = through(5002, "busy vm", "--to", "sip:busy@127.0.0.1:PORT",
        "--fallback", "sip:vm@127.0.0.1:PORT", "-v")
    T.ok(log:find("answered 486", 1, true), log)
end)

T.case("b2bua.lua: no answer within --timeout goes to the fallback", function()
    local log = through(5002, "slow vm", "--to", "sip:slow@127.0.0.1:PORT",
        "--fallback", "sip:vm@127.0.0.1:PORT", "--timeout", "0.3", "-v")
    T.ok(log:find("answered 487", 1, true), log)
end)
