-- SPDX-License-Identifier: MIT
-- The registrar and the user table from Lua (libsip.registrar): a UserDB from passwords and
-- files, answering digest checks; a Registrar saving REGISTERs a Stack received over UDP, with
-- the statuses of RFC 3261 §10.3 and the bindings it wrote (as tests/python/test_registrar.py).
local T = ...
local sip = require "libsip"
local auth = require "libsip.auth"

-- A location service in memory with our domain and an alias of alice's AOR.
local function location(loop)
    local loc = sip.Location(loop)
    loc:add_domain("example.com")
    loc:add_alias("sip:1000@example.com", "sip:alice@example.com")
    return loc
end

local tmp = os.tmpname()

T.case("user table: passwords and files", function()
    local db <close> = sip.UserDB()
    T.eq(db.count, 0, "empty")
    db:set_password("Mufasa", "http-auth@example.org", "Circle of Life")
    -- RFC 7616 §3.9.1.
    T.eq(db:get_ha1("Mufasa", "http-auth@example.org", "SHA-256"),
        "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232", "SHA-256")
    T.eq(db:get_ha1("Mufasa", "http-auth@example.org"), "3d78807defe7de2157e2b0b6573a855f", "MD5")
    T.eq(db:get_ha1("Mufasa", "http-auth@example.org", "MD5-sess"),
        "3d78807defe7de2157e2b0b6573a855f", "-sess gives its base's")
    T.eq(db:get_ha1("nobody", "http-auth@example.org"), nil, "unknown")
    db:save(tmp)
    local back <close> = sip.UserDB(tmp)
    T.eq(back.count, 1, "read back")
        back:remove("Mufasa", "http-auth@example.org")
    T.raises("SIP_ENOENT", back.remove, back, "Mufasa", "http-auth@example.org")
    T.raises("SIP_EINVAL", db.set_password, db, "a:b", "realm", "x")
    T.raises("SIP_EINVAL", db.set_password, db, "a", "realm", 5)
    T.raises("SIP_EINVAL", db.get_ha1, db, "a", "realm", "SHA-999")
    local f = assert(io.open(tmp, "w"))
    f:write("# users\nalice:example.com:MD5:3d78807defe7de2157e2b0b6573a855f\nbroken\n")
    f:close()
    local ok, err = pcall(sip.UserDB, tmp)
    T.ok(not ok and err.name == "SIP_EPARSE", "malformed")
    T.eq(err.line, 3, "the line")
    T.raises("SIP_EIO", sip.UserDB, tmp .. ".missing")
    T.raises("SIP_EIO", db.save, db, "/nonexistent-dir/users")
    db:close()
    db:close()
    T.raises("SIP_ECLOSED", function() return db.count end)
    os.remove(tmp)
end)

local function register(cseq)
    return sip.Message.request("REGISTER", "sip:example.com", { headers = {
        { "Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKudb" .. cseq },
        { "Max-Forwards", "70" }, { "From", "<sip:alice@example.com>;tag=a1" },
        { "To", "<sip:alice@example.com>" }, { "Call-ID", "udb@10.0.0.1" },
        { "CSeq", cseq .. " REGISTER" } } })
end

T.case("user table: answers digest checks", function()
    local users <close> = sip.UserDB()
    users:set_password("alice", "example.com", "secret")
    local server <close> = sip.AuthServer { realm = "example.com" }
    for _, case in ipairs { { "secret", "ok" }, { "wrong", "failed" } } do
        local ac = sip.AuthClient()
        ac:add("alice", case[1], { realm = "example.com" })
        local sent = register(1)
        local rsp = sent:response(401)
        server:challenge(rsp)
        local nxt = register(2)
        ac:authorize(nxt, sent, rsp)
        T.eq(server:check(nxt, users:lookup()).verdict, case[2], "verdict")
        local c = server:check(nxt, function() return auth.LATER end)
        users:answer(c)
        T.raises("SIP_EINVAL", users.answer, users, c)
    end
    T.raises("SIP_EINVAL", users.answer, users, "not a check")
end)

T.case("registrar: options are checked", function()
    local loop <close> = sip.Loop()
    local loc <close> = location(loop)
    T.raises("SIP_EINVAL", sip.Registrar, loc, { min_expires = 100, max_expires = 50 })
    T.raises("SIP_EINVAL", sip.Registrar, loc, { path = "yes" })
    T.raises("SIP_EINVAL", sip.Registrar, loc, { colour = 1 })
    T.raises("SIP_EINVAL", sip.Registrar, {})
    local r <close> = sip.Registrar(loc, { service_route = "<sip:p.example.com;lr>" })
    T.eq(r.location, loc, "location")
    T.ok(#r.OPTIONS == 10, "OPTIONS")
end)

T.case("registrar: saves over UDP", function()
    local loop <close> = sip.Loop()
    local loc <close> = location(loop)
    local registrar <close> = sip.Registrar(loc, { service_route = "<sip:orig@p.example.com;lr>" })
    local uac <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop,
        transactions = true }
    local uas <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop,
        transactions = true }
    local who = "alice"
    local results = {}
    uas:on_request("REGISTER", function(req)
        results[#results + 1] = table.pack(registrar:save(req, who))
    end)
    local l1 = uas:listeners()[1]
    local uri = ("sip:%s:%d"):format(l1.host, l1.port)
    local got = {}
    local tags = 0
    local guard = loop:timer(5000, function() loop:stop() end)
    loop:spawn(function()
        local function reg(cseq, to, contact, expires)
            to = to or "sip:alice@example.com"
            -- A new From tag each time: the same one with the same CSeq would be a merged
            -- request (RFC 3261 §8.2.2.2), answered 482 by the layer.
            tags = tags + 1
            local h = { { "Max-Forwards", "70" }, { "From", ("<%s>;tag=r%d"):format(to, tags) },
                { "To", "<" .. to .. ">" }, { "Call-ID", "reg-lua@127.0.0.1" },
                { "CSeq", cseq .. " REGISTER" } }
            if contact ~= false then
                h[#h + 1] = { "Contact", contact or "<sip:alice@10.0.0.1>" }
            end
            if expires then h[#h + 1] = { "Expires", tostring(expires) } end
            return uac:request(sip.Message.request("REGISTER", uri, { headers = h })):wait()
        end
        local rsp = reg(1, nil, nil, 600)
        got.first = { rsp.status, rsp:header("Contact"), rsp:header("Service-Route") }
        got.saved = results[#results]
        got.ordering = reg(1).status
        got.ordering_bindings = #results[#results][3]
        rsp = reg(2, nil, nil, 10)
        got.short = { rsp.status, rsp:header("Min-Expires") }
        who = "bob"
        got.forbidden = reg(3, "sip:1000@example.com").status
        who = "alice"
        got.alias = reg(4, "sip:1000@example.com", "<sip:alice@10.0.0.2>").status
        got.alias_bindings = #results[#results][3]
        rsp = reg(5, nil, "*", 0)
        got.star = { rsp.status, rsp:header("Contact") }
        loop:stop()
    end)
    loop:run()
    guard:stop()
    T.eq(got.first[1], 200, "saved")
    T.eq(got.first[2], "<sip:alice@10.0.0.1>;expires=600", "Contact")
    T.eq(got.first[3], "<sip:orig@p.example.com;lr>", "Service-Route")
    local status, response, bindings = got.saved[1], got.saved[2], got.saved[3]
    T.eq(status, 200, "status")
    T.eq(response.status, 200, "response")
    T.eq(#bindings, 1, "one binding")
    T.eq(bindings[1].contact, "sip:alice@10.0.0.1", "binding contact")
    T.eq(bindings[1].cseq, 1, "binding cseq")
    T.ok(bindings[1].received:find("^sip:127%.0%.0%.1:"), "received")
    T.eq(bindings[1].q, nil, "no q")
    T.eq(got.ordering, 500, "out of order")
    T.eq(got.ordering_bindings, 0, "no bindings on an error")
    T.eq(got.short[1], 423, "423")
    T.eq(got.short[2], "60", "Min-Expires")
    T.eq(got.forbidden, 403, "bob may not register alice's alias")
    T.eq(got.alias, 200, "alice may")
    T.eq(got.alias_bindings, 2, "two bindings")
    T.eq(got.star[1], 200, "star")
    T.eq(got.star[2], nil, "no bindings left")
    T.eq(loc.count, 0, "location empty")
end)

T.case("registrar: save needs a task and a server transaction", function()
    local loop <close> = sip.Loop()
    local loc <close> = location(loop)
    local r = sip.Registrar(loc)
    T.raises("SIP_EINVAL", r.save, r, "REGISTER")
    r:close()
    T.raises("SIP_ECLOSED", r.save, r, nil)
end)

T.case("a REGISTER challenged with the users table, then saved as its user", function()
    local loop <close> = sip.Loop()
    local loc <close> = location(loop)
    local users <close> = sip.UserDB()
    users:set_password("alice", "example.com", "secret")
    local server <close> = sip.AuthServer { realm = "example.com" }
    local registrar <close> = sip.Registrar(loc)
    local uac <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop,
        transactions = true }
    local uas <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop,
        transactions = true }
    uas:on_request("REGISTER", function(req)
        local check = server:check(req, users:lookup()):wait()
        if not check.ok then return check:reply() end
        registrar:save(req, check.user)
    end)
    local l1 = uas:listeners()[1]
    local uri = ("sip:%s:%d"):format(l1.host, l1.port)
    local got = {}
    local guard = loop:timer(5000, function() loop:stop() end)
    loop:spawn(function()
        local function reg(cseq)
            return sip.Message.request("REGISTER", uri, { headers = {
                { "Max-Forwards", "70" }, { "From", "<sip:alice@example.com>;tag=d1" },
                { "To", "<sip:alice@example.com>" }, { "Call-ID", "digest-lua@127.0.0.1" },
                { "CSeq", cseq .. " REGISTER" }, { "Contact", "<sip:alice@10.0.0.1>" } } })
        end
        local first = reg(1)
        local rsp = uac:request(first):wait()
        got[1] = rsp.status
        local ac = sip.AuthClient()
        ac:add("alice", "secret", { realm = "example.com" })
        local second = reg(2)
        ac:authorize(second, first, rsp)
        got[2] = uac:request(second):wait().status
        loop:stop()
    end)
    loop:run()
    guard:stop()
    T.eq(got[1], 401, "challenged")
    T.eq(got[2], 200, "saved")
    T.eq(loc.count, 1, "one binding")
end)
