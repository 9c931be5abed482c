-- SPDX-License-Identifier: MIT
-- Parity with Python: parsed addresses (sip.Address, as Python's .parsed on address headers),
-- set_header replacing in place while add_header appends, and the generators' names.
local T = ...
local sip = require "libsip"

local REQ = table.concat({
    "INVITE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds",
    "Max-Forwards: 70",
    'To: "Bob B." <sip:bob@example.com>',
    "From: Alice <sip:alice@example.com>;tag=1928301774;x-flag",
    "Contact: <sip:alice@pc33.example.com>;expires=60;q=0.5, *",
    "Route: <sip:p1.example.com;lr>",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
    "Content-Length: 0",
    "", "" }, "\r\n")

T.case("address headers parse into sip.Address: display, URI, tag and params", function()
    local m = sip.Message.parse(REQ)
    local from = m:address("From")
    T.eq(from.display, "Alice", "display")
    T.eq(from.uri.user, "alice", "URI user")
    T.eq(from.uri.host, "example.com", "URI host")
    T.eq(from.tag, "1928301774", "tag")
    T.eq(from.params.tag, "1928301774", "params.tag")
    T.eq(from.params["x-flag"], "", "a flag param")
    T.eq(tostring(from), "Alice <sip:alice@example.com>;tag=1928301774;x-flag", "tostring")
    T.eq(m.from.tag, from.tag, "m.from is an Address too")
    T.eq(m:address("To").display, '"Bob B."', "quoted display kept as written")
    local contacts = m:addresses("Contact")
    T.eq(#contacts, 2, "two Contact values")
    T.eq(contacts[1].expires, 60, "expires")
    T.eq(contacts[1].q, 500, "q in thousandths")
    T.eq(contacts[2].star, true, "Contact *")
    T.eq(contacts[2].uri, nil, "* has no URI")
    T.eq(tostring(contacts[2]), "*", "tostring of *")
    T.eq(m:address("Route").uri.lr, true, "Route URI lr")
    T.eq(m:address("Record-Route"), nil, "absent header")
    T.raises("SIP_EINVAL", m.address, m, "CSeq")
    -- An Address is a value add_header takes.
    local r = sip.Message.request("OPTIONS", "sip:x@example.com")
    r:add_header("From", from)
    T.eq(r:address("From").tag, "1928301774", "round trip through add_header")
end)

T.case("set_header replaces in place; add_header appends", function()
    local m = sip.Message.parse(REQ)
    m:set_header("Max-Forwards", 69)
    local names = {}
    for _, h in ipairs(m:header_list()) do names[#names + 1] = h[1] end
    T.eq(names[2], "Max-Forwards", "Max-Forwards stays second")
    T.eq(m:header("Max-Forwards"), "69", "new value")
    m:add_header("Subject", "hi")
    local list = m:header_list()
    T.eq(list[#list][1], "Subject", "add_header appends")
    m:add_header("Subject", "again")
    m:set_header("Subject", "one")
    T.eq(m:header_count("Subject"), 1, "set_header leaves one value")
    local printed = tostring(m)
    T.ok(printed:find("Via: [^\r]*\r\nMax%-Forwards: 69\r\n"), "printed in place")
end)

T.case("the generators keep their Lua names", function()
    T.eq(type(sip.branch), "function", "sip.branch")
    T.eq(sip.branch():sub(1, 7), "z9hG4bK", "RFC 3261 magic cookie")
    T.ok(sip.branch() ~= sip.branch(), "fresh each time")
    T.ok(sip.tag():match("^%x+$") and #sip.tag() == 16, "sip.tag: 64 bits in hex")
    T.ok(#sip.call_id() == 32, "sip.call_id: 128 bits in hex")
    T.ok(sip.call_id("example.com"):match("^%x+@example%.com$"), "sip.call_id(host)")
    T.ok(sip.tag() ~= sip.tag(), "fresh tags")
end)
