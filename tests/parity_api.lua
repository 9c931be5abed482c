-- SPDX-License-Identifier: MIT
-- Prints the public API of the Lua package for tests/parity.py, one feature a line:
--   fn NAME              a function of the sip table (sip.branch)
--   static CLASS NAME    a function of a class table (sip.Message.parse)
--   method CLASS NAME    a method (m:add_header); prop CLASS NAME: a field computed on access
--   field CLASS NAME     a field of a value table (Address.display, Error.code)
--   meta CLASS NAME      a metamethod (__close, __tostring, __eq)
-- Classes come from the class registry of libsip.errors; value tables from sample values.
local sip = require "libsip"
local errors = require "libsip.errors"

local out = {}
local function emit(...) out[#out + 1] = table.concat({ ... }, " ") end
local skip_meta = { __index = true, __name = true, __gc = true, __newindex = true,
                    __metatable = true }

-- Class names as the sip table exposes them (sip.Message is built on the "Message" class).
for name, v in pairs(sip) do
    if name ~= "core" and name ~= "VERSION" then
        if type(v) == "function" then
            if errors._classes[name] then emit("class", name) else emit("fn", name) end
        elseif type(v) == "table" then
            emit("class", name)
            for k, f in pairs(v) do
                if type(f) == "function" and not k:match("^_") and not skip_meta[k] then
                    emit(k:match("^__") and "meta" or "static", name, k)
                end
            end
            local mt = getmetatable(v)
            if mt and mt.__index and type(mt.__index) == "table" and mt.__index ~= v then
                -- sip.Message and sip.Sdp reach their methods through __index: static access
                -- to methods is not a feature of its own.
            end
        end
    end
end

for cname, C in pairs(errors._classes) do
    emit("class", cname)
    for k in pairs(C.methods) do
        if not k:match("^_") then emit("method", cname, k) end
    end
    for k in pairs(C.props) do
        if not k:match("^_") then emit("prop", cname, k) end
    end
    for k, v in pairs(C) do
        if k:match("^__") and not skip_meta[k] and v ~= nil then emit("meta", cname, k) end
    end
end

-- Value tables: their fields, read from samples that set every field.
local function fields(cname, t)
    for k in pairs(t) do
        if type(k) == "string" and not k:match("^_") then emit("field", cname, k) end
    end
    local mt = getmetatable(t)
    if mt then
        for k in pairs(mt) do
            if k:match("^__") and not skip_meta[k] then emit("meta", cname, k) end
        end
    end
end
local m = sip.Message.parse(table.concat({
    "INVITE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP pc33.example.com:5060;branch=z9hG4bK776;received=192.0.2.1;rport=5060"
        .. ";maddr=192.0.2.9;ttl=1",
    "Max-Forwards: 70",
    "To: <sip:bob@example.com>",
    'From: "A" <sip:alice@example.com>;tag=1928301774',
    "Contact: <sip:alice@pc33.example.com>;expires=60;q=0.5",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
    "Content-Length: 0", "", "" }, "\r\n"))
emit("class", "Address")
fields("Address", m:address("Contact"))
fields("Address", m:address("From"))
emit("class", "Via")
fields("Via", m.via)
local _, e = pcall(sip.Message.parse, "INVITE sip:a@b SIP/2.0\r\nCSeq: x\r\n\r\n")
fields("Error", e)
_, e = pcall(sip.Sdp.parse, "v=0\r\nm=audio x RTP/AVP 0\r\n")
fields("Error", e)
-- An offer nothing can answer: the error names the stream (Python's NotAcceptableError).
_, e = pcall(function()
    local hdr = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    local oa <close> = sip.OfferAnswer { address = "10.0.0.1",
        caps = hdr .. "m=audio 4000 RTP/AVP 8\r\n" }
    oa:set_remote_offer(hdr .. "m=audio 5000 RTP/AVP 0\r\n")
    oa:create_answer()
end)
fields("Error", e)
-- A call the callee rejects (Python's CallFailed): the error carries the final response.
do
    local s1 = sip.Stack{ listen = "udp:127.0.0.1:0", transactions = true }
    local s2 = sip.Stack{ listen = "udp:127.0.0.1:0", transactions = true, loop = s1.loop }
    local ua1, ua2 = s1:ua(), s2:ua()
    ua2:on_invite(function(call) call:reject(486) end)
    s1:spawn(function()
        local call = ua1:invite("sip:b@127.0.0.1:" .. s2:listeners()[1].port)
        fields("Error", select(2, pcall(call.wait_answered, call, 5)))
        s1:stop()
    end)
    local guard = s1.loop:timer(5000, function() s1:stop() end)
    s1:run()
    guard:close()
    ua1:close()
    ua2:close()
    s2:close()
    s1:close()
end
-- A received message's source (Python: NetInfo): the fields a netinfo table carries.
emit("class", "NetInfo")
fields("NetInfo", require("libsip.message")._netinfo_table({
    transport = 1, local_ip = "", local_port = 0, remote_ip = "", remote_port = 0, conn_id = 0,
    server_name = "" }))
m:close()
-- Fields a constructor sets on the object itself (stack.loop, watch.signum).
local stack = sip.Stack{}
fields("Stack", stack)
fields("Loop", stack.loop)
local timer = stack.loop:timer(1000, function() end)
fields("Timer", timer)
local watch = stack.loop:on_signal("USR1", function() end)
fields("Signal", watch)
watch:stop()
timer:close()
stack:close()
local tstack = sip.Stack{ listen = "udp:127.0.0.1:0", transactions = true }
local req = sip.Message.request("OPTIONS", "sip:bob@127.0.0.1:9", { headers = {
    { "Via", "SIP/2.0/UDP 127.0.0.1:9;branch=" .. sip.branch() }, { "Max-Forwards", 70 },
    { "To", "<sip:bob@example.com>" }, { "From", "<sip:alice@example.com>;tag=1" },
    { "Call-ID", sip.call_id() }, { "CSeq", "1 OPTIONS" } } })
fields("ClientTransaction", tstack:request(req, "udp:127.0.0.1:9"))
tstack:close()

table.sort(out)
local prev
for _, line in ipairs(out) do
    if line ~= prev then print(line) end
    prev = line
end
