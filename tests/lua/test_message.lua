-- SPDX-License-Identifier: MIT
-- Messages: parse, fields, errors, building, printing, closed handles.
local T = ...
local sip = require "libsip"

local INVITE = table.concat({
    "INVITE sip:bob@biloxi.example.com:5070;transport=tcp SIP/2.0",
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;received=192.0.2.1",
    "v: SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bK77",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@biloxi.example.com>",
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
    "CSeq: 314159 INVITE",
    "Contact: <sip:alice@pc33.atlanta.example.com>",
    "X-Custom: first",
    "X-Custom: second",
    "Content-Type: application/sdp",
    "Content-Length: 4",
    "",
    "v=0\n",
}, "\r\n")

T.case("parse gives the start line, URI and shortcut fields", function()
    local m = sip.Message.parse(INVITE)
    T.eq(m.is_request, true, "is_request")
    T.eq(m.method, "INVITE", "method")
    T.eq(m.status, nil, "status of a request")
    T.eq(m.uri.scheme, "sip", "uri.scheme")
    T.eq(m.uri.user, "bob", "uri.user")
    T.eq(m.uri.host, "biloxi.example.com", "uri.host")
    T.eq(m.uri.port, 5070, "uri.port")
    T.eq(m.uri.transport, "tcp", "uri.transport")
    T.eq(m.call_id, "a84b4c76e66710@pc33.atlanta.example.com", "call_id")
    T.eq(m.cseq, 314159, "cseq")
    T.eq(m.cseq_method, "INVITE", "cseq_method")
    T.eq(m.max_forwards, 70, "max_forwards")
    T.eq(m.expires, nil, "expires")
    T.eq(m.content_type, "application/sdp", "content_type")
    T.eq(m.body, "v=0\n", "body")
    T.eq(m.from.display, '"Alice"', "from.display")
    T.eq(m.from.tag, "1928301774", "from.tag")
    T.eq(tostring(m.from.uri), "sip:alice@atlanta.example.com", "from.uri")
    T.eq(m.to.tag, nil, "to.tag")
    T.eq(m.via.branch, "z9hG4bKnashds8", "via.branch")
    T.eq(m.via.host, "pc33.atlanta.example.com", "via.host")
    T.eq(m.via.received, "192.0.2.1", "via.received")
    T.eq(m.source, nil, "source of a parsed message")
end)

T.case("headers by name, compact forms, index and wire order", function()
    local m = sip.Message.parse(INVITE)
    local via = m.headers["Via"]
    T.eq(#via, 2, "Via count (long and compact form)")
    T.eq(via[2], "SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bK77", "second Via")
    T.eq(m.headers.v[1], via[1], "compact name")
    T.eq(m.headers["x-custom"][2], "second", "unknown header, any case")
    T.eq(m:header("Via", 2), via[2], "m:header(name, i)")
    T.eq(m:header("Via", 3), nil, "past the end")
    T.eq(m:header("Subject"), nil, "absent header")
    T.eq(m.headers.Subject, nil, "absent header in the table")
    T.eq(m:header_count("X-Custom"), 2, "header_count")
    local names = {}
    for name, values in pairs(m.headers) do names[#names + 1] = name .. "=" .. #values end
    T.eq(table.concat(names, ","), "Via=2,Max-Forwards=1,To=1,From=1,Call-ID=1,CSeq=1," ..
        "Contact=1,X-Custom=2,Content-Type=1,Content-Length=1", "pairs(m.headers)")
    local list = m:header_list()
    T.eq(#list, 12, "header_list size")
    T.eq(list[2][1], "v", "name as written")
end)

T.case("a response parses with status and reason", function()
    local r = sip.Message.parse("SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n" ..
        "CSeq: 2 INVITE\r\nCall-ID: c\r\nFrom: <sip:a@b>;tag=x\r\nTo: <sip:c@d>;tag=y\r\n" ..
        "Content-Length: 0\r\n\r\n")
    T.eq(r.is_request, false, "is_request")
    T.eq(r.status, 486, "status")
    T.eq(r.reason, "Busy Here", "reason")
    T.eq(r.method, nil, "method of a response")
    T.eq(r.uri, nil, "uri of a response")
    T.eq(r.to.tag, "y", "to.tag")
end)

T.case("parse errors are tables with code, name, line, column and reason", function()
    local e = T.raises("SIP_EPARSE", sip.Message.parse,
        "OPTIONS sip:a@b SIP/2.0\r\nVia: bad\r\nCall-ID: x\r\n\r\n")
    T.eq(e.code, sip.core.SIP_EPARSE, "code")
    T.eq(e.line, 2, "line")
    T.eq(e.column, 6, "column")
    T.eq(e.header, "Via", "header")
    T.eq(e.status, 400, "status a server answers")
    T.eq(e.reason, "Via header: malformed sent-protocol", "reason")
    T.eq(tostring(e), "SIP_EPARSE: Via header: malformed sent-protocol (line 2, column 6)",
        "tostring")
    local v = T.raises("SIP_EVERSION", sip.Message.parse,
        "OPTIONS sip:a@b SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n")
    T.eq(v.status, 505, "505 for another version")
    T.raises("SIP_EINVAL", sip.Message.parse, 42)
    T.raises("SIP_ETOOBIG", sip.Message.parse, INVITE, { max_size = 100 })
end)

T.case("building a request and printing it", function()
    local m = sip.Message.request("MESSAGE", "sip:bob@example.com")
    m:add_header("Via", "SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1")
        :add_header("From", "<sip:alice@example.com>;tag=1")
        :add_header("To", "<sip:bob@example.com>")
        :add_header("Call-ID", "m1")
        :add_header("CSeq", "1 MESSAGE")
        :add_header("Max-Forwards", "70")
    m:set_body("hello\0world", "text/plain")
    T.eq(tostring(m), "MESSAGE sip:bob@example.com SIP/2.0\r\n" ..
        "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\n" ..
        "From: <sip:alice@example.com>;tag=1\r\n" ..
        "To: <sip:bob@example.com>\r\n" ..
        "Call-ID: m1\r\n" ..
        "CSeq: 1 MESSAGE\r\n" ..
        "Max-Forwards: 70\r\n" ..
        "Content-Type: text/plain\r\n" ..
        "Content-Length: 11\r\n\r\nhello\0world", "wire form")
    T.eq(m.body, "hello\0world", "body keeps NULs")
    -- The printed form parses back to the same fields.
    local again = sip.Message.parse(tostring(m))
    T.eq(again.cseq, 1, "reparsed cseq")
    T.eq(again.body, "hello\0world", "reparsed body")
    T.raises("SIP_EPARSE", m.add_header, m, "CSeq", "not a number")
    T.raises("SIP_EURI", sip.Message.request, "OPTIONS", "not a uri")
end)

T.case("copying parsed headers from a template", function()
    local tmpl = sip.Message.request("OPTIONS", "sip:t.invalid")
    tmpl:add_header("Contact", "<sip:bob@192.0.2.4:5070;transport=tcp>;expires=60")
        :add_header("Allow", "INVITE, BYE")
    local m = sip.Message.request("MESSAGE", "sip:bob@example.com")
    T.eq(m:copy_headers(tmpl, "m"), m, "returns the message")
    m:copy_headers(tmpl, "Allow"):copy_headers(tmpl, "Route")
    tmpl:close()
    collectgarbage()
    T.eq(m:header("Contact"), "<sip:bob@192.0.2.4:5070;transport=tcp>;expires=60", "contact copied")
    T.eq(m.headers["Allow"][1], "INVITE", "first list value")
    T.eq(m.headers["Allow"][2], "BYE", "second list value")
    T.eq(m.headers["Route"], nil, "nothing to copy")
    T.eq(tostring(m), "MESSAGE sip:bob@example.com SIP/2.0\r\n" ..
        "Contact: <sip:bob@192.0.2.4:5070;transport=tcp>;expires=60\r\n" ..
        "Allow: INVITE\r\nAllow: BYE\r\nContent-Length: 0\r\n\r\n", "wire form")
    T.raises("SIP_ECLOSED", m.copy_headers, m, tmpl, "Allow")
end)

T.case("editing headers, URI and status", function()
    local m = sip.Message.parse(INVITE)
    T.eq(m:remove_header("X-Custom", 1), 1, "remove one")
    T.eq(m:header("X-Custom"), "second", "the other stays")
    T.eq(m:remove_header("X-Custom", 5), 0, "remove past the end")
    m:set_header("Max-Forwards", "69")
    T.eq(m.max_forwards, 69, "set_header")
    m:prepend_header("Via", "SIP/2.0/UDP new.example.com;branch=z9hG4bKnew")
    T.eq(m.via.host, "new.example.com", "prepended Via is the top one")
    T.eq(m:remove_header("Via"), 3, "remove every Via")
    m.uri = "sip:carol@chicago.example.com"
    T.eq(m.uri.user, "carol", "uri assignment")
    T.raises("SIP_EINVAL", function() m.nonsense = 1 end)
    local c = m:clone()
    c:set_header("Call-ID", "other")
    T.eq(m.call_id, "a84b4c76e66710@pc33.atlanta.example.com", "clone is independent")
end)

T.case("m:response copies the dialog headers and adds a To tag", function()
    local m = sip.Message.parse(INVITE)
    local r = m:response(180)
    T.eq(r.status, 180, "status")
    T.eq(r.reason, "Ringing", "standard reason")
    T.eq(r.call_id, m.call_id, "Call-ID copied")
    T.eq(r:header_count("Via"), 2, "every Via copied")
    T.ok(r.to.tag and #r.to.tag > 0, "To tag added")
    local r2 = m:response(603, "Go Away", "fixed")
    T.eq(r2.reason, "Go Away", "reason given")
    T.eq(r2.to.tag, "fixed", "to tag given")
    r2.status = 604
    T.eq(r2.status, 604, "status assignment")
    T.raises("SIP_EINVAL", m.reply, m, 200) -- not received by a Stack
end)

T.case("closed messages raise SIP_ECLOSED; close is idempotent; <close> works", function()
    local m = sip.Message.parse(INVITE)
    local uri = m.uri
    m:close()
    m:close()
    local e = T.raises("SIP_ECLOSED", function() return m.method end)
    T.eq(tostring(e), "SIP_ECLOSED: handle is closed", "message")
    T.raises("SIP_ECLOSED", m.add_header, m, "X", "y")
    T.raises("SIP_ECLOSED", tostring, m)
    T.eq(uri.host, "biloxi.example.com", "values read before close stay valid")
    local kept
    do
        local c <close> = sip.Message.parse(INVITE)
        kept = c
        T.eq(c.method, "INVITE", "inside the block")
    end
    T.raises("SIP_ECLOSED", function() return kept.method end)
end)
