-- SPDX-License-Identifier: MIT
-- examples/lua/event_notifier.lua serves message-summary (RFC 3842) and dialog (RFC 4235);
-- examples/lua/event_watcher.lua and sip-uac --subscribe (tests/lua.cmake passes it as SIP_UAC)
-- watch it; an unknown package gets 489; the notifier exits 0 on SIGINT.
local T = ...

local notifier = T.dir .. "/../../examples/lua/event_notifier.lua"
local watcher = T.dir .. "/../../examples/lua/event_watcher.lua"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function slurp(path)
    local f = io.open(path)
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
end

local function sleep_ms(ms) os.execute(("sleep %.3f"):format(ms / 1000)) end

-- Starts the notifier in the background on a free UDP port: { pid, port, dir }.
local function start()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. q(dir)))
    local cmd = ("%s %s --listen udp:127.0.0.1:0 --every 200 -v >%s/out 2>%s/err & "
        .. "echo $! >%s/pid; wait $!; echo $? >%s/rc"):format(q(T.interpreter()), q(notifier),
        q(dir), q(dir), q(dir), q(dir))
    assert(os.execute("sh -c " .. q(cmd) .. " </dev/null >/dev/null 2>&1 &"))
    local port
    for _ = 1, 400 do
        port = slurp(dir .. "/out"):match("listening on udp:127%.0%.0%.1:(%d+)")
        if port then break end
        sleep_ms(25)
    end
    T.ok(port, "the notifier printed its listening point (stderr: " .. slurp(dir .. "/err") .. ")")
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

local function run(cmd)
    local p = assert(io.popen(cmd .. " 2>&1"))
    local out = p:read("a")
    local _, _, code = p:close()
    return code, out
end

local function watch(port, args)
    return run(("%s %s sip:vm@127.0.0.1:%d %s"):format(q(T.interpreter()), q(watcher), port, args))
end

T.case("event_notifier.lua with event_watcher.lua and sip-uac --subscribe", function()
    local h = start()
    local ok, err = pcall(function()
        local code, out = watch(h.port, "--count 3")
        T.eq(code, 0, "watcher exit status (" .. out .. ")")
        local active = 0
        for _ in out:gmatch("NOTIFY active waiting=yes") do active = active + 1 end
        T.eq(active, 3, "three NOTIFYs with messages waiting")
        T.ok(out:match("NOTIFY terminated[^\n]*\nended: 200\n$"), "unsubscribed: " .. out)

        code, out = watch(h.port, "--event dialog --count 1")
        T.eq(code, 0, "dialog watcher exit status (" .. out .. ")")
        T.ok(out:match("^NOTIFY active") and out:match("<dialog%-info "), "dialog-info: " .. out)

        code, out = watch(h.port, "--event presence")
        T.eq(code, 1, "unknown package")
        T.ok(out:match("subscription failed: 489"), "489: " .. out)

        local uac = os.getenv("SIP_UAC")
        T.ok(uac and uac ~= "", "SIP_UAC names the built sip-uac")
        code, out = run(("%s --subscribe message-summary sip:vm@127.0.0.1:%d"):format(q(uac),
            h.port))
        T.eq(code, 0, "sip-uac exit status (" .. out .. ")")
        T.ok(out:match("^NOTIFY: active;expires=600\nContent%-Type: "
            .. "application/simple%-message%-summary\n"), "the NOTIFY printed: " .. out)
        code, out = run(("%s --subscribe presence sip:vm@127.0.0.1:%d"):format(q(uac), h.port))
        T.eq(code, 1, "sip-uac on 489")
        T.ok(out:match("489 Bad Event"), "the failure printed: " .. out)
    end)
    local rc, stdout, stderr = stop(h)
    if not ok then error(err, 0) end
    T.eq(rc, 0, "notifier exit status after SIGINT (" .. stderr .. ")")
    T.ok(stdout:match("\nbye\n$"), "notifier said bye")
    local n = 0
    for _ in stderr:gmatch("message%-summary subscription from") do n = n + 1 end
    T.eq(n, 2, "message-summary subscriptions seen")
end)
