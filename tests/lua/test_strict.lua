-- SPDX-License-Identifier: MIT
-- Strict input: header values, bodies, statuses and options are checked by the Lua layer, and
-- every error names what was wrong (never SWIG's "expected 'char const *' got 'table'").
local T = ...
local sip = require "libsip"

local INVITE = table.concat({
    "INVITE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@example.com>",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
    "Content-Length: 0",
    "", "" }, "\r\n")

-- Fails unless fn(...) raises a sip.Error SIP_EINVAL (or name) whose reason holds every word.
local function refuses(name, words, fn, ...)
    local err = T.raises(name, fn, ...)
    for _, w in ipairs(words) do
        T.ok(tostring(err.reason):find(w, 1, true), ("reason names %q: %s"):format(w, err.reason))
    end
    T.ok(not tostring(err.reason):find("expected '", 1, true), "not SWIG's message")
    return err
end

T.case("header values must be strings or numbers", function()
    local m = sip.Message.parse(INVITE)
    refuses("SIP_EINVAL", { "X-None", "nil" }, m.add_header, m, "X-None", nil)
    refuses("SIP_EINVAL", { "X-T", "table" }, m.add_header, m, "X-T", {})
    refuses("SIP_EINVAL", { "X-B", "boolean" }, m.add_header, m, "X-B", true)
    refuses("SIP_EINVAL", { "header name" }, m.add_header, m, {}, "x")
    refuses("SIP_EINVAL", { "Subject", "table" }, m.set_header, m, "Subject", {})
    refuses("SIP_EINVAL", { "X-P", "table" }, m.prepend_header, m, "X-P", {})
    m:add_header("Expires", 300):add_header("X-Float", 1.5)
    T.eq(m:header("Expires"), "300", "an integer")
    T.eq(m:header("X-Float"), "1.5", "a float")
    T.ok(not tostring(m):find("table: 0x", 1, true), "nothing printed as a table")
end)

T.case("a header that does not parse names the header and the value", function()
    local m = sip.Message.parse(INVITE)
    local err = refuses("SIP_EPARSE", { "CSeq", '"x"' }, m.add_header, m, "CSeq", "x")
    T.eq(err.header, "CSeq", "err.header")
end)

T.case("a body needs a content type unless the message has one", function()
    local m = sip.Message.parse(INVITE)
    refuses("SIP_EINVAL", { "content type" }, m.set_body, m, "v=0\r\n")
    refuses("SIP_EINVAL", { "body", "nil" }, m.set_body, m, nil, "text/plain")
    refuses("SIP_EINVAL", { "content type" }, function() m.body = "hello" end)
    m:set_body("v=0\r\n", "application/sdp")
    m.body = "v=0\r\ns=-\r\n"
    T.eq(m.content_type, "application/sdp", "the Content-Type stays")
    m:set_body("")
    T.eq(m.content_type, nil, "an empty body without a type removes both")
end)

T.case("statuses give the allowed range; other bad arguments name themselves", function()
    local m = sip.Message.parse(INVITE)
    refuses("SIP_EINVAL", { "100-699", "99" }, m.response, m, 99)
    refuses("SIP_EINVAL", { "100-699", "700" }, m.response, m, 700)
    refuses("SIP_EINVAL", { "status", "string" }, m.response, m, "200")
    refuses("SIP_EINVAL", { "reason", "table" }, m.response, m, 200, {})
    local r = m:response(200)
    refuses("SIP_EINVAL", { "100-699" }, r.set_status, r, 42)
    refuses("SIP_EINVAL", { "uri", "table" }, m.set_uri, m, {})
    refuses("SIP_EINVAL", { "name", "table" }, m.header, m, {})
    refuses("SIP_EINVAL", { "index" }, m.header, m, "Via", 0)
    refuses("SIP_EINVAL", { "method", "nil" }, sip.Message.request, nil, "sip:a@b")
    refuses("SIP_EINVAL", { "uri", "table" }, sip.Message.request, "OPTIONS", {})
    refuses("SIP_EINVAL", { "src" }, m.copy_headers, m, {}, "Via")
    refuses("SIP_EINVAL", { "bytes", "table" }, sip.Message.parse, {})
    refuses("SIP_EINVAL", { "unknown option", "strem" }, sip.Message.parse, INVITE, { strem = 1 })
    refuses("SIP_EINVAL", { "URI" }, sip.Uri.parse, {})
    local loop <close> = sip.Loop()
    refuses("SIP_EINVAL", { "logger", "string" }, loop.set_log, loop, "not a function")
end)

T.case("option tables: unknown keys raise, listen may be one string", function()
    refuses("SIP_EINVAL", { "unknown option", "'transaction'", "transactions" }, sip.Stack,
        { transaction = true })
    refuses("SIP_EINVAL", { "unknown option", "'mtuu'" }, sip.Stack, { options = { mtuu = 1 } })
    refuses("SIP_EINVAL", { "'mtu'", "integer", "string" }, sip.Stack,
        { options = { mtu = "big" } })
    refuses("SIP_EINVAL", { "'t1'" }, sip.Stack, { transactions = { t1 = 5 } })
    refuses("SIP_EINVAL", { "listen", "number" }, sip.Stack, { listen = 5060 })
    local s <close> = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    T.eq(#s:listeners(), 1, "one listening point from a string")
    T.ok(s.transactions ~= nil, "transactions = true made the layer")
    local req = sip.Message.request("OPTIONS", "sip:a@127.0.0.1:9")
    refuses("SIP_EINVAL", { "unknown option", "'on_responce'" }, s.request, s, req,
        { dst = "udp:127.0.0.1:9", on_responce = print })
    refuses("SIP_EINVAL", { "a sip.Message", "string" }, s.request, s, "OPTIONS sip:x", "udp:1.2.3.4:5")
end)

T.case("a request lacking a mandatory header says which; an ACK without Via says so", function()
    local s <close> = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    local req = sip.Message.request("OPTIONS", "sip:a@127.0.0.1:9")
    req:add_header("From", "<sip:x@127.0.0.1>;tag=1"):add_header("To", "<sip:a@127.0.0.1>")
        :add_header("CSeq", "1 OPTIONS")
    refuses("SIP_EINVAL", { "Call-ID" }, s.request, s, req, "udp:127.0.0.1:9")
    local ack = sip.Message.request("ACK", "sip:a@127.0.0.1:9")
    ack:add_header("From", "<sip:x@127.0.0.1>;tag=1"):add_header("To", "<sip:a@127.0.0.1>")
        :add_header("CSeq", "1 ACK"):add_header("Call-ID", "ack@x")
    refuses("SIP_ENOENT", { "ACK", "Via" }, s.send, s, ack, "udp:127.0.0.1:9")
    local ok, err = pcall(ack.validate, ack)
    T.eq(ok, false, "validate refuses it")
    T.ok(tostring(err.reason):find("Via", 1, true), "validate names Via: " .. tostring(err.reason))
end)

T.case("reply: range, options without the reason, a body needs its type", function()
    local loop = sip.Loop()
    local uas = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = true }
    local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = true }
    local dst = uas:listeners()[1].spec
    local errs = {}
    uas:on_request("OPTIONS", function(req)
        errs.range = select(2, pcall(req.reply, req, 99))
        errs.body = select(2, pcall(req.reply, req, 200, { body = "x" }))
        errs.key = select(2, pcall(req.reply, req, 200, { header = {} }))
        errs.value = select(2, pcall(req.reply, req, 200, { headers = { Allow = true } }))
        req:reply(200, { headers = { Allow = "OPTIONS" }, body = "hi", content_type = "text/plain" })
    end)
    local req = sip.Message.request("OPTIONS", "sip:a@" .. dst:match("^udp:(.*)$"))
    req:add_header("From", "<sip:x@127.0.0.1>;tag=1"):add_header("To", "<sip:a@127.0.0.1>")
        :add_header("CSeq", "1 OPTIONS"):add_header("Call-ID", "reply-opts@x")
        :add_header("Max-Forwards", "70")
    local txn = uac:request(req, dst)
    local guard = loop:timer(5000, function() loop:stop() end)
    local tick = loop:timer(5, function() if txn.done then loop:stop() end end, 5)
    loop:run()
    guard:close()
    tick:close()
    T.ok(errs.range.reason:find("100-699", 1, true), "range: " .. errs.range.reason)
    T.ok(errs.body.reason:find("content type", 1, true), "body: " .. errs.body.reason)
    T.ok(errs.key.reason:find("'header'", 1, true), "key: " .. errs.key.reason)
    T.ok(errs.value.reason:find("Allow", 1, true), "value: " .. errs.value.reason)
    T.eq(txn.status, 200, "reply(status, opts) without the reason")
    T.eq(txn.response.reason, "OK", "the standard phrase")
    T.eq(txn.response:header("Allow"), "OPTIONS", "header from opts")
    T.eq(txn.response.body, "hi", "body")
    uac:close()
    uas:close()
    loop:close()
end)

T.case("a handler error is reported once with one traceback", function()
    local loop = sip.Loop()
    local uas = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = true }
    local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, transactions = true }
    local dst = uas:listeners()[1].spec
    local logged = {}
    loop:set_log(function(level, _, text)
        if level == "error" then logged[#logged + 1] = text end
    end)
    uas:on_request("OPTIONS", function() error("handler bug") end)
    local req = sip.Message.request("OPTIONS", "sip:a@" .. dst:match("^udp:(.*)$"))
    req:add_header("From", "<sip:x@127.0.0.1>;tag=1"):add_header("To", "<sip:a@127.0.0.1>")
        :add_header("CSeq", "1 OPTIONS"):add_header("Call-ID", "one-tb@x")
        :add_header("Max-Forwards", "70")
    local txn = uac:request(req, dst)
    local guard = loop:timer(5000, function() loop:stop() end)
    local tick = loop:timer(5, function() if txn.done then loop:stop() end end, 5)
    loop:run()
    guard:close()
    tick:close()
    T.eq(txn.status, 500, "answered 500")
    T.eq(#logged, 1, "reported once")
    local _, count = logged[1]:gsub("stack traceback:", "")
    T.eq(count, 1, "one traceback in: " .. logged[1])
    uac:close()
    uas:close()
    loop:close()
end)

T.case("a listen failure names its errno", function()
    local a <close> = sip.Stack { listen = "udp:127.0.0.1:0" }
    local taken = a:listeners()[1].spec
    local lines = {}
    local b <close> = sip.Stack { log = function(_, _, text) lines[#lines + 1] = text end }
    local err = T.raises("EADDRINUSE", b.listen, b, taken)
    T.ok(err.reason:find(taken, 1, true), "names the spec: " .. err.reason)
    T.ok(err.reason:find("EADDRINUSE", 1, true), "names the errno: " .. err.reason)
    T.eq(#lines, 0, "not logged as well")
end)

T.case("SDP, URI and loop methods check their arguments too", function()
    local sdp = sip.Sdp.new()
    local media = sdp:add_media("audio", 4000, "RTP/AVP", { 0 })
    local u = sip.Uri.parse("sip:a@example.com;transport=tcp")
    local loop <close> = sip.Loop()
    refuses("SIP_EINVAL", { "add_attr", "name", "table" }, sdp.add_attr, sdp, {}, "x")
    refuses("SIP_EINVAL", { "add_media", "port", "string" }, sdp.add_media, sdp, "audio", "x",
        "RTP/AVP", "0")
    refuses("SIP_EINVAL", { "set_time", "start" }, sdp.set_time, sdp, "now", 0)
    refuses("SIP_EINVAL", { "set_port", "port" }, media.set_port, media, {})
    refuses("SIP_EINVAL", { "rtpmap", "payload" }, media.rtpmap, media, "x")
    refuses("SIP_EINVAL", { "param", "name" }, u.param, u, {})
    refuses("SIP_EINVAL", { "timer", "fn", "nil" }, loop.timer, loop, 10)
    refuses("SIP_EINVAL", { "spawn", "fn" }, loop.spawn, loop, "not a function")
    refuses("SIP_EINVAL", { "post", "fn" }, loop.post, loop, 5)
end)

T.case("sip.Loop takes log, log_level and trace, and refuses other keys", function()
    refuses("SIP_EINVAL", { "sip.Loop", "'strict'" }, sip.Loop, { strict = true })
    refuses("SIP_EINVAL", { "log level", "'loud'" }, sip.Loop, { log_level = "loud" })
    local lines = {}
    local loop <close> = sip.Loop { log = function(_, _, text) lines[#lines + 1] = text end,
        log_level = "info" }
    loop:log("info", "test", "hello")
    T.eq(lines[1], "hello", "the logger given")
end)

T.case("headers[], on_error, set_origin and status_phrase check their arguments", function()
    local m = sip.Message.parse(INVITE)
    refuses("SIP_EINVAL", { "header name", "table" }, function() return m.headers[{}] end)
    refuses("SIP_EINVAL", { "on_error", "string" }, sip.on_error, "x")
    local sdp = sip.Sdp.new()
    refuses("SIP_EINVAL", { "address", "table" }, sdp.set_origin, sdp, { address = {} })
    refuses("SIP_EINVAL", { "status", "string" }, sip.status_phrase, "200")
    T.eq(sip.status_phrase(486), "Busy Here", "status_phrase")
end)
