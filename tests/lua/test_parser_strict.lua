-- SPDX-License-Identifier: MIT
-- The header grammar where libsip once stood alone against Sofia-SIP and oSIP2: repeated tags,
-- folded Date, addr-spec with ';', Via rport values and bracketed Via hosts.
local T = ...
local sip = require "libsip"

local function request(o)
    o = o or {}
    return table.concat({
        "OPTIONS sip:bob@example.com SIP/2.0",
        "Via: SIP/2.0/UDP " .. (o.via_host or "pc33.atlanta.example.com") ..
            ";branch=z9hG4bK74bf9" .. (o.via_params or ""),
        "Max-Forwards: 70",
        "From: " .. (o.from or "<sip:alice@atlanta.example.com>;tag=9fxced76sl"),
        "To: " .. (o.to or "<sip:bob@example.com>"),
        "Call-ID: 3848276298220188511@atlanta.example.com",
        "CSeq: 1 OPTIONS",
    }, "\r\n") .. "\r\n" .. (o.extra or "") .. "Content-Length: 0\r\n\r\n"
end

-- Parsing must fail with a 400 naming header; returns the error.
local function refused(data, header)
    local e = T.raises("SIP_EPARSE", sip.Message.parse, data)
    T.eq(e.status, 400, "status")
    T.eq(e.header, header, "header")
    return e
end

-- Seconds since the epoch of the message's first Date header (read through the core).
local function date_time(m)
    local h = sip.core.sip_msg_header_by_name(rawget(m, "_p"), "Date", 0)
    T.ok(h, "a Date header")
    return sip.core.sip_header_num(h).time
end

T.case("a repeated tag in From or To is a 400 naming the header", function()
    for _, from in ipairs({
        "<sip:alice@atlanta.example.com>;tag=a1;tag=evil",
        "<sip:alice@atlanta.example.com>;tag=a1;tag",
        "sip:alice@atlanta.example.com;tag=a1;x=1;TAG=a1",
    }) do
        local e = refused(request{ from = from }, "From")
        T.eq(e.reason, "From header: repeated tag parameter", "reason for " .. from)
    end
    refused(request{ to = "Bob <sip:bob@example.com>;tag=b1;tag=b2" }, "To")
    local m = sip.Message.parse(request{ from = "<sip:a@example.com;tag=u>;tag=a1",
                                         to = "<sip:bob@example.com>;tag=b1" })
    T.eq(m.from.tag, "a1", "from tag")
    T.eq(m.to.tag, "b1", "to tag")
end)

T.case("a folded Date parses and gives the time", function()
    for _, date in ipairs({
        "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n",
        "Date: Sat, 13 Nov 2010\r\n 23:29:00 GMT\r\n",
        "Date: Sat,\r\n 13\r\n\tNov 2010 23:29:00\r\n   GMT\r\n",
    }) do
        local m = sip.Message.parse(request{ extra = date })
        T.eq(date_time(m), 1289690940, "time of " .. ("%q"):format(date))
    end
    refused(request{ extra = "Date: Sat, 13 Nov 20\r\n 10 23:29:00 GMT\r\n" }, "Date")
end)

T.case("without brackets the first ';' ends the URI", function()
    local e = refused(request{ from = "sip:a;b@example.com;tag=t1" }, "From")
    T.eq(e.reason, "From header: unexpected character", "reason")
    local m = sip.Message.parse(request{ from = "<sip:a;b@example.com>;tag=t1" })
    T.eq(m.from.uri.user, "a;b", "user in brackets")
    T.eq(m.from.tag, "t1", "tag")
    m = sip.Message.parse(request{ from = "sip:alice@atlanta.example.com;tag=t1;x=y" })
    T.eq(m.from.uri.user, "alice", "user")
    T.eq(m.from.tag, "t1", "tag of an addr-spec")
end)

T.case("a Via rport that is no port is a 400 naming Via", function()
    for _, params in ipairs({ ";rport=abc", ";rport=70000", ";rport=65536", ";rport=5060x" }) do
        local e = refused(request{ via_params = params }, "Via")
        T.eq(e.reason, "Via header: malformed rport parameter", "reason for " .. params)
    end
    T.eq(sip.Message.parse(request{}).via.rport, nil, "no rport")
    T.eq(sip.Message.parse(request{ via_params = ";rport" }).via.rport, 0, "bare rport")
    T.eq(sip.Message.parse(request{ via_params = ";rport=5060" }).via.rport, 5060, "rport=5060")
end)

T.case("only an IPv6 reference is bracketed in a Via host, as in a URI", function()
    for _, host in ipairs({ "[example.com]", "[192.0.2.1]", "[]", "[1:2]" }) do
        local e = refused(request{ via_host = host }, "Via")
        T.ok(e.reason:find("IPv6", 1, true), "reason for " .. host .. ": " .. e.reason)
        T.ok(not pcall(sip.Uri.parse, "sip:" .. host), "URI sip:" .. host .. " refused")
    end
    local v = sip.Message.parse(request{ via_host = "[2001:db8::10]:5070" }).via
    T.eq(v.host, "[2001:db8::10]", "host")
    T.eq(v.port, 5070, "port")
end)

T.case("a Via host follows the URI grammar", function()
    for _, host in ipairs({ "192.0.2.300", "-a.example.com", "a..example.com", "1.2.3" }) do
        local e = refused(request{ via_host = host }, "Via")
        T.eq(e.reason, "Via header: malformed host", "reason for " .. host)
        T.ok(not pcall(sip.Uri.parse, "sip:" .. host), "URI sip:" .. host .. " refused")
    end
    T.eq(sip.Message.parse(request{ via_host = "192.0.2.1" }).via.host, "192.0.2.1", "IPv4 host")
end)
