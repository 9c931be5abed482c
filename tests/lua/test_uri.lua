-- SPDX-License-Identifier: MIT
-- URIs: fields, parameters, printing, RFC 3261 §19.1.4 equality, errors.
local T = ...
local sip = require "libsip"

T.case("fields of a sip URI", function()
    local u = sip.Uri.parse("sips:alice:secret@[2001:db8::10]:5061;transport=tcp;lr" ..
        ";maddr=239.1.1.1;ttl=15?subject=project%20x&priority=urgent")
    T.eq(u.scheme, "sips", "scheme")
    T.eq(u.user, "alice", "user")
    T.eq(u.password, "secret", "password")
    T.eq(u.host, "[2001:db8::10]", "IPv6 host keeps brackets")
    T.eq(u.port, 5061, "port")
    T.eq(u.transport, "tcp", "transport")
    T.eq(u.maddr, "239.1.1.1", "maddr")
    T.eq(u.ttl, 15, "ttl")
    T.eq(u.lr, true, "lr")
    T.eq(u:param("TRANSPORT"), "tcp", "param, any case")
    T.eq(u:param("lr"), "", "flag parameter")
    T.eq(u:param("nope"), nil, "absent parameter")
    T.eq(u:header("subject"), "project%20x", "URI header, still escaped")
    T.eq(u.headers.subject, "project%20x", "headers: a table, as Python's dict")
    T.eq(u.headers.priority, "urgent", "headers")
    T.eq(u.params.lr, "", "params: a flag reads \"\" (as in Python)")
    T.eq(u.params.ttl, "15", "params")
end)

T.case("absent parts are nil; tel and other schemes", function()
    local u = sip.Uri("sip:example.com")
    T.eq(u.user, nil, "user")
    T.eq(u.port, nil, "port")
    T.eq(next(u.params), nil, "params: empty")
    T.eq(u.lr, false, "lr")
    T.eq(u.ttl, nil, "ttl")
    local t = sip.Uri.parse("tel:+1-201-555-0123;phone-context=example.com")
    T.eq(t.scheme, "tel", "tel scheme")
    T.eq(t.user, "+1-201-555-0123", "tel number")
    T.eq(t:param("phone-context"), "example.com", "tel parameter")
    local o = sip.Uri.parse("urn:service:sos")
    T.eq(o.scheme, "urn", "other scheme")
    T.eq(o.opaque, "service:sos", "opaque part")
end)

T.case("tostring prints the canonical form", function()
    T.eq(tostring(sip.Uri.parse("SIP:bob@example.com;transport=udp")),
        "sip:bob@example.com;transport=udp", "scheme lower-cased")
end)

T.case("equality follows RFC 3261 §19.1.4", function()
    local function same(a, b) return sip.Uri.parse(a) == sip.Uri.parse(b) end
    -- The equivalent pairs of §19.1.4.
    T.eq(same("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"), true,
        "escaped user, host and parameter case")
    T.eq(same("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"), true,
        "a parameter only one side has")
    T.eq(same("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"), true,
        "parameter order")
    -- The non-equivalent pairs.
    T.eq(same("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"), false,
        "user is case-sensitive")
    T.eq(same("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"), false, "explicit default port")
    T.eq(same("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"), false,
        "transport on one side")
    T.eq(same("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"), false,
        "different parameter values")
    local u = sip.Uri.parse("sip:x@y")
    T.eq(u == u, true, "an object equals itself")
end)

T.case("malformed URIs raise SIP_EURI", function()
    local e = T.raises("SIP_EURI", sip.Uri.parse, "sip:")
    T.eq(e.code, sip.core.SIP_EURI, "code")
    T.raises("SIP_EURI", sip.Uri.parse, "no scheme here")
    T.raises("SIP_EINVAL", sip.Uri.parse, nil)
end)

T.case("the flat core follows the binding conventions", function()
    local core = sip.core
    local rc, u = core.sip_uri_parse("sip:a@b;x=1")
    T.eq(rc, 0, "rc")
    T.eq(math.type(u.port), "integer", "integers stay integers")
    local found, value = core.sip_uri_param(u, "x")
    T.eq(found, 1, "found")
    T.eq(value, "1", "value")
    local rc2, text = core.sip_uri_print(u)
    T.eq(rc2, 11, "print length")
    T.eq(text, "sip:a@b;x=1", "print text")
    local rc3, u3 = core.sip_uri_parse("::")
    T.eq(rc3, core.SIP_EURI, "failure rc")
    T.eq(u3, nil, "no object on failure")
    local n, rest, name, val = core.sip_params_next("a=b;c")
    T.eq(n, 1, "params_next found")
    T.eq(rest, ";c", "rest (the separator stays)")
    T.eq(name .. "=" .. val, "a=b", "name and value")
    local rcs, s = core.sip_str_copy("abc\0def")
    T.eq(rcs, 7, "str_copy length")
    T.eq(s, "abc\0def", "bytes with NUL")
    local rcu, unesc = core.sip_uri_unescape("a%20b")
    T.eq(rcu, 3, "unescape length")
    T.eq(unesc, "a b", "unescaped")
    local ok, num = core.sip_str_to_u32("4294967295", 4294967295)
    T.eq(ok, 0, "to_u32 rc")
    T.eq(num, 4294967295, "to_u32 value")
end)

T.case("user, method and ttl parameters (as Python's user_param, method, ttl)", function()
    local u = sip.Uri("sip:+15551234@gw.example.com;user=phone;method=REGISTER;maddr=239.1.1.1"
        .. ";ttl=15")
    T.eq(u.user_param, "phone", "user_param")
    T.eq(u.method, "REGISTER", "method")
    T.eq(u.ttl, 15, "ttl")
    local bare = sip.Uri("sip:alice@example.com")
    T.eq(bare.user_param, nil, "no user param")
    T.eq(bare.method, nil, "no method")
    T.eq(bare.ttl, nil, "no ttl")
end)
