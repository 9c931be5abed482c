-- SPDX-License-Identifier: MIT
-- A Stack that answers OPTIONS with 200 (and anything else with 501) until SIGINT, or until it
-- has answered --count N requests.
--
-- usage: lua5.4 options_responder.lua [--listen udp:127.0.0.1:5060]... [--count N] [--trace]
--                                     [--self-test]
-- --self-test sends one OPTIONS to the first listening point from a second stack and checks the
-- answer (what the ctest runs, with --count 1).
local sip = require "libsip"

local listen, count, trace, self_test = {}, nil, false, false
local i = 1
while i <= #arg do
    local a = arg[i]
    if a == "--listen" then
        i = i + 1
        listen[#listen + 1] = arg[i]
    elseif a == "--count" then
        i = i + 1
        count = tonumber(arg[i])
    elseif a == "--trace" then
        trace = true
    elseif a == "--self-test" then
        self_test = true
    else
        io.stderr:write("unknown argument ", a, "\n")
        os.exit(2)
    end
    i = i + 1
end
if #listen == 0 then listen[1] = "udp:127.0.0.1:5060" end

local stack <close> = sip.Stack {
    listen = listen,
    log = function(level, module, text) io.stderr:write(level, " ", module, ": ", text, "\n") end,
    log_level = trace and "info" or "warn",
}
stack.loop:set_trace(trace)
for _, l in ipairs(stack:listeners()) do print("listening on " .. l.spec) end

local answered = 0
local self_test_ok = nil -- true once the self-test got its answer

-- Stops once --count requests are answered (and the self-test, if any, is over). The stop waits
-- a moment: a reply is queued, and the loop must run to put it on the wire.
local function maybe_stop()
    if count and answered >= count and (not self_test or self_test_ok ~= nil) then
        stack.loop:timer(50, function() stack:stop() end)
    end
end
local function done_one()
    answered = answered + 1
    maybe_stop()
end

stack:on_request("OPTIONS", function(req)
    req:reply(200, nil, { headers = { Allow = "OPTIONS", Accept = "application/sdp" } })
    done_one()
end)
stack:on_request("*", function(req)
    -- RFC 3261 §8.2.6: an ACK is never answered.
    if req.method ~= "ACK" then req:reply(501) end
    done_one()
end)

-- lua5.4 turns SIGINT into an error at the next Lua instruction; a periodic tick makes sure one
-- runs soon, and stack:run() then raises "interrupted!".
stack.loop:timer(250, function() end, 250)

local client
if self_test then
    client = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = stack.loop, transactions = true }
    client:spawn(function()
        local dst = stack:listeners()[1].spec
        local req = sip.Message.request("OPTIONS", "sip:ping@" .. dst:match("^%a+:(.*)$"))
        req:add_header("Via", "SIP/2.0/UDP 127.0.0.1;branch=" .. sip.branch())
            :add_header("From", "<sip:self-test@127.0.0.1>;tag=st")
            :add_header("To", "<sip:ping@127.0.0.1>")
            :add_header("Call-ID", "self-test@127.0.0.1")
            :add_header("CSeq", "1 OPTIONS")
            :add_header("Max-Forwards", "70")
        local rsp, err = client:request(req, dst):wait()
        if rsp then
            print(("self-test: %d %s, Allow: %s"):format(rsp.status, rsp.reason,
                rsp:header("Allow")))
            self_test_ok = rsp.status == 200 and rsp:header("Allow") == "OPTIONS"
        else
            io.stderr:write("self-test: ", tostring(err), "\n")
            self_test_ok = false
            stack:stop()
        end
        maybe_stop()
    end)
end

local ok, err = pcall(stack.run, stack)
if client then client:close() end
print(("answered %d request(s)"):format(answered))
if not ok then
    if tostring(err):match("interrupted!") then os.exit(130) end
    error(err, 0)
end
if self_test and not self_test_ok then os.exit(1) end
