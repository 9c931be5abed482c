-- SPDX-License-Identifier: MIT
-- Parses a SIP request, rewrites it as a proxy would before forwarding it, and prints both.
--
-- usage: lua5.4 parse_and_rewrite.lua [FILE]   (FILE holds one message; a sample otherwise)
local sip = require "libsip"

local SAMPLE = table.concat({
    "INVITE sip:bob@biloxi.example.com SIP/2.0",
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@biloxi.example.com>",
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
    "CSeq: 314159 INVITE",
    "Contact: <sip:alice@pc33.atlanta.example.com>",
    "Content-Type: application/sdp",
    "Content-Length: 0",
    "", "",
}, "\r\n")

local data = SAMPLE
if arg[1] then
    local f = assert(io.open(arg[1], "rb"))
    data = f:read("a")
    f:close()
end

local ok, msg = pcall(sip.Message.parse, data)
if not ok then
    -- msg is a libsip error: code, name, reason, line, column (and the status to answer).
    io.stderr:write("cannot parse: ", tostring(msg), "\n")
    os.exit(1)
end
if not msg.is_request then
    io.stderr:write("not a request: ", msg.status, " ", msg.reason, "\n")
    os.exit(1)
end

print(("%s %s from %s (Call-ID %s, CSeq %d)"):format(msg.method, tostring(msg.uri),
    tostring(msg.from.uri), msg.call_id, msg.cseq))

-- RFC 3261 §16.6: retarget, decrement Max-Forwards, add our own Via on top and a Record-Route.
local hops = msg.max_forwards or 70
if hops == 0 then
    print("would answer 483 Too Many Hops")
    os.exit(0)
end
msg.uri = "sip:bob@192.0.2.20:5060"
msg:set_header("Max-Forwards", hops - 1)
msg:prepend_header("Via", "SIP/2.0/UDP proxy.example.com;branch=" .. sip.branch())
msg:prepend_header("Record-Route", "<sip:proxy.example.com;lr>")

-- An offer with no body gets one, built with sip.Sdp.
if msg.body == "" then
    local sdp = sip.Sdp.new()
    sdp:set_origin { username = "-", sess_id = 1, sess_version = 1, address = "192.0.2.10" }
    sdp:set_connection("192.0.2.10")
    sdp:add_media("audio", 49170, "RTP/AVP", { 0, 8 })
    msg:set_body(tostring(sdp), "application/sdp")
end

io.write(tostring(msg))

-- The rewritten message parses back with the new values.
local again = sip.Message.parse(tostring(msg))
assert(again.uri.host == "192.0.2.20")
assert(again.max_forwards == hops - 1)
assert(#again.headers.Via == #msg.headers.Via)
assert(sip.Sdp.parse(again.body).media[1].port == 49170)
