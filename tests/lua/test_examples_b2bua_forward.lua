-- SPDX-License-Identifier: MIT
-- examples/lua/b2bua.lua forwarding: a caller UA and a callee UA on two stacks of this process
-- (one loop), the example in between. The first target is busy everywhere (600) or rings
-- without answering; the caller ends up talking to the second target, and a BYE from either
-- end ends both legs. Every libsip object of this process is gone at the end.
local T = ...
local sip = require "libsip"

local example = T.dir .. "/../../examples/lua/b2bua.lua"
local LIMIT_MS = 15000 -- the bound of each flow

local SDP_A = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
local SDP_VM = "v=0\r\no=vm 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 5002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

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
local function start(args)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. q(dir)))
    local cmd = { q(T.interpreter()), q(example), "--listen", "udp:127.0.0.1:0", "-v" }
    for _, a in ipairs(args) do cmd[#cmd + 1] = q(a) end
    local sh = ("%s >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/rc"):format(
        table.concat(cmd, " "), q(dir), q(dir), q(dir), q(dir))
    assert(os.execute("sh -c " .. q(sh) .. " </dev/null >/dev/null 2>&1 &"))
    local port
    for _ = 1, 400 do
        port = slurp(dir .. "/out"):match("listening on udp:127%.0%.0%.1:(%d+)")
        if port then break end
        sleep_ms(25)
    end
    T.ok(port, "the example printed its listening point (stderr: " .. slurp(dir .. "/err") .. ")")
    return { pid = tonumber(slurp(dir .. "/pid")), port = tonumber(port), dir = dir }
end

-- SIGINT, then its exit status, stdout and stderr (bounded; SIGKILL after 10 s).
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

-- One forwarding flow. The callee UA answers by user part: "busy" 600 Busy Everywhere, "slow"
-- rings and never answers, "vm" answers with SDP_VM. flow(caller_ua, uri, calls) runs as a
-- task; calls[user] is the callee's Call for each INVITE that reached the callee UA.
local function forwarding(first, flow)
    local errors_seen = {}
    sip.on_error(function(text) errors_seen[#errors_seen + 1] = text end)
    local sa = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    local loop = sa.loop
    local sb = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = loop }
    local callee_host = "127.0.0.1:" .. sb:listeners()[1].port
    local args = { "--to", "sip:" .. first .. "@" .. callee_host,
        "--fallback", "sip:vm@" .. callee_host }
    if first == "slow" then
        args[#args + 1] = "--timeout"
        args[#args + 1] = "0.3"
    end
    local h = start(args)
    local done, err = false, nil
    local ok, perr = pcall(function()
        local caller = sa:ua { contact_user = "alice" }
        local callee = sb:ua { contact_user = "callee" }
        local calls = {}
        callee:on_invite(function(call)
            local user = call.invite.uri.user
            calls[user] = call
            if user == "busy" then return call:reject(600) end
            call:ring()
            if user == "vm" then call:answer(SDP_VM) end
        end)
        loop:spawn(function()
            local fok, e = xpcall(flow, debug.traceback, caller, "sip:anyone@127.0.0.1:" .. h.port,
                calls)
            done, err = true, not fok and e or nil
            loop:stop()
        end)
        local guard = loop:timer(LIMIT_MS, function() loop:stop() end)
        loop:run()
        guard:close()
        caller:close()
        callee:close()
    end)
    sip.on_error(nil)
    sb:close()
    sa:close()
    loop:close()
    local rc, out, serr = stop(h)
    if not ok then error(tostring(perr) .. "\nexample stderr: " .. serr, 0) end
    if err then error(err .. "\nexample stderr: " .. serr, 0) end
    T.ok(done, "the flow finished within " .. LIMIT_MS .. " ms (example stderr: " .. serr .. ")")
    T.eq(#errors_seen, 0, "handler errors: " .. table.concat(errors_seen, "\n"))
    T.eq(rc, 0, "example exit status after SIGINT (" .. serr .. ")")
    T.ok(out:match("\nbye\n$"), "example said bye")
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "dialog", "ua", "call", "bridge", "txn", "msg", "txn_layer",
        "transport" } do
        T.eq(live[kind], 0, "live " .. kind .. " objects at the end")
    end
    return serr
end

T.case("b2bua.lua: busy everywhere (600) forwards to the second target; its BYE ends the caller",
    function()
        local log = forwarding("busy", function(caller, uri, calls)
            local call = caller:invite(uri, { sdp = SDP_A })
            call:wait_answered(8)
            -- Connected to the second target: its answer, and A's offer reached it.
            T.eq(call.remote_sdp, SDP_VM, "the caller has the second target's answer")
            T.ok(calls.busy and calls.vm, "both targets were called")
            T.eq(calls.vm.remote_sdp, SDP_A, "the second target has the caller's offer")
            T.eq(calls.busy.state, "Ended", "the busy target's call is over")
            -- The second target hangs up: the BYE crosses the B2BUA to the caller.
            calls.vm:hangup()
            T.eq(call:wait_ended(5), 200, "the caller got the BYE")
            T.ok(not call.ended_locally, "the caller did not end it")
        end)
        T.ok(log:find("answered 600", 1, true), log)
        T.ok(log:find("ended by leg ", 1, true), log)
    end)

T.case("b2bua.lua: no answer within --timeout forwards; the caller's BYE ends both legs",
    function()
        local log = forwarding("slow", function(caller, uri, calls)
            local call = caller:invite(uri, { sdp = SDP_A })
            call:wait_answered(8)
            T.eq(call.remote_sdp, SDP_VM, "the caller has the second target's answer")
            -- The first target was cancelled when --timeout ran out.
            T.eq(calls.slow:wait_ended(5), 487, "the unanswered target got a CANCEL")
            call:hangup()
            T.eq(calls.vm:wait_ended(5), 200, "the second target got the BYE")
            T.ok(not calls.vm.ended_locally, "the second target did not end it")
        end)
        T.ok(log:find("answered 487", 1, true), log)
        T.ok(log:find("ended by leg ", 1, true), log)
    end)
