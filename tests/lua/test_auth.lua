-- SPDX-License-Identifier: MIT
-- Digest authentication from Lua (libsip.auth): the client answering challenges, the server
-- checking with plain, late and task lookups, unknown users like wrong passwords, replays, and a
-- REGISTER challenged and authorised over UDP.
local T = ...
local sip = require "libsip"
local auth = require "libsip.auth"

local serial = 0
local function register(cseq, opts)
    serial = serial + 1
    return sip.Message.request("REGISTER", "sip:example.com", {
        headers = {
            { "Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKlua" .. serial },
            { "Max-Forwards", "70" },
            { "From", "<sip:alice@example.com>;tag=a1" },
            { "To", "<sip:alice@example.com>" },
            { "Call-ID", "auth-lua@10.0.0.1" },
            { "CSeq", (cseq or 1) .. " REGISTER" },
        },
        body = opts and opts.body, content_type = opts and opts.body and "text/plain" or nil,
    })
end

local function client(password)
    local ac = sip.AuthClient()
    ac:add("alice", password or "secret", { realm = "example.com" })
    return ac
end

-- A REGISTER the client authorised against a fresh challenge of server.
local function answered(server, ac, opts)
    local sent = register(1)
    local rsp = sent:response(401)
    server:challenge(rsp)
    local nxt = register(2, opts)
    ac:authorize(nxt, sent, rsp)
    return nxt
end

T.case("algorithm names", function()
    T.eq(auth.algorithm_name(4), "SHA-256", "name")
    T.eq(auth.algorithm_from_name("sha-512-256-SESS"), 32, "number")
    T.eq(auth.algorithm_from_name("SHA-1"), 0, "unknown")
end)

T.case("credentials", function()
    local ac <close> = sip.AuthClient()
    ac:add("alice", "pw", { realm = "example.com" })
    ac:add("alice", "other", { realm = "example.com" })
    ac:add("bob", nil, { realm = "example.com", ha1 = ("0"):rep(32) })
    T.eq(ac.count, 2, "count")
    T.raises("SIP_EINVAL", ac.add, ac, "carol")
    T.raises("SIP_EINVAL", ac.add, ac, "carol", nil, { ha1 = ("0"):rep(32) })
    T.raises("SIP_EINVAL", ac.add, ac, "carol", "pw", { colour = "red" })
    ac:clear()
    T.eq(ac.count, 0, "cleared")
end)

T.case("the client answers the strongest challenge; the server takes it", function()
    local server <close> = sip.AuthServer { realm = "example.com",
        algorithms = { "MD5", "SHA-512-256" }, qop = { "auth", "auth-int" } }
    local ac <close> = client()
    local nxt = answered(server, ac, { body = "hello" })
    local a = nxt:header("Authorization")
    T.ok(a:find("algorithm=SHA-512-256", 1, true), "strongest: " .. a)
    T.ok(a:find("qop=auth-int", 1, true), "auth-int")
    local seen
    local c = server:check(nxt, function(q)
        seen = { q.user, q.realm, q.algorithm }
        return "secret"
    end)
    T.eq(seen[1], "alice", "user")
    T.eq(seen[3], "SHA-512-256", "algorithm")
    T.eq(c.verdict, "ok", "verdict")
    T.ok(c.ok, "ok")
    T.eq(c.status, 0, "status")
    T.eq(c.request, nxt, "request")
    T.eq(c.server, server, "server")
    local ok = nxt:response(200)
    c:add_info(ok)
    T.ok(ok:header("Authentication-Info"):find("rspauth=", 1, true), "rspauth")
    T.raises("SIP_EINVAL", c.response, c)
    -- Again: a replayed nonce count.
    T.eq(server:check(nxt, function() return "secret" end).verdict, "replay", "replay")
    -- No credentials: a challenge, one per algorithm.
    c = server:check(register(), function() error("no lookup expected") end)
    T.eq(c.verdict, "challenge", "challenge")
    local rsp = c:response()
    T.eq(rsp.status, 401, "401")
    T.eq(rsp:header_count("WWW-Authenticate"), 2, "two challenges")
    -- Credentials for a realm with none of ours: SIP_EAUTH.
    local other <close> = sip.AuthServer("elsewhere")
    local sent = register()
    local r2 = sent:response(401)
    other:challenge(r2)
    T.raises("SIP_EAUTH", ac.authorize, ac, register(2), sent, r2)
end)

T.case("an unknown user and a wrong password get the same answer", function()
    local server <close> = sip.AuthServer { realm = "example.com" }
    local nxt = answered(server, client("wrong"))
    local a = server:check(nxt, function() return "secret" end)
    local b = server:check(nxt, function() return nil end)
    T.eq(a.verdict, "failed", "wrong password")
    T.eq(b.verdict, "failed", "unknown user")
    T.eq(a.status, b.status, "status")
    local ha, hb = a:response():header_list(), b:response():header_list()
    T.eq(#ha, #hb, "as many headers")
    for i = 1, #ha do
        T.eq(ha[i][1], hb[i][1], "header " .. i)
        if ha[i][1] == "WWW-Authenticate" then
            T.eq(ha[i][2]:gsub('nonce="[^"]*"', ""), hb[i][2]:gsub('nonce="[^"]*"', ""),
                "challenge " .. i)
        end
    end
end)

T.case("the client takes a nextnonce and checks the rspauth", function()
    local server <close> = sip.AuthServer { realm = "example.com", algorithms = "SHA-256" }
    local ac <close> = client()
    local nxt = answered(server, ac)
    local c = server:check(nxt, function() return "secret" end)
    T.eq(c.verdict, "ok", "authorised")
    local ok = nxt:response(200)
    c:add_info(ok)
    ac:update(nxt, ok)
    local later = register(3)
    ac:prepare(later)
    T.ok(later:header("Authorization"):find("nc=00000001", 1, true), "nc restarts at 1")
    T.eq(server:check(later, function() return "secret" end).verdict, "ok", "nextnonce taken")
    local forged = nxt:response(200)
    forged:add_header("Authentication-Info",
        'nextnonce="x", qop=auth, rspauth="00", cnonce="c", nc=00000001')
    T.raises("SIP_EAUTH", ac.update, ac, nxt, forged)
    T.raises("SIP_EINVAL", ac.update, ac, ok, nxt)
end)

T.case("a lookup answered later, an HA1, a lookup that fails", function()
    local server <close> = sip.AuthServer { realm = "example.com", algorithms = "MD5",
        proxy = true }
    local ac <close> = client()
    local sent = register()
    local rsp = sent:response(407)
    server:challenge(rsp)
    local nxt = register(2)
    ac:authorize(nxt, sent, rsp)
    T.ok(nxt:header("Proxy-Authorization"), "Proxy-Authorization")
    local kept
    local c = server:check(nxt, function(q) kept = q; return auth.LATER end)
    T.ok(c.pending, "pending")
    T.eq(kept, c, "the lookup got the check")
    T.raises("SIP_EINVAL", c.answer, c, { ha1 = "abc" })
    T.ok(c.pending, "still pending")
    c:answer { password = "secret" }
    T.eq(c.verdict, "ok", "answered later")
    T.raises("SIP_EINVAL", c.answer, c, "secret")
    c = server:check(register(), function() return nil end)
    T.eq(c.status, 407, "a proxy's 407")
    -- A lookup that raises counts as no such user.
    local errs = {}
    sip.on_error(function(text) errs[#errs + 1] = text end)
    local ok, msg = pcall(function()
        local n2 = register(3)
        ac:prepare(n2)
        c = server:check(n2, function() error("database down") end)
    end)
    sip.on_error(nil)
    T.ok(ok, tostring(msg))
    T.eq(c.verdict, "failed", "failed lookup")
    T.ok(#errs == 1 and errs[1]:find("database down", 1, true), "reported")
    -- Closed while pending: no verdict, answers refused.
    c = server:check(answered(server, ac), function() return auth.LATER end)
    c:close()
    T.raises("SIP_ECLOSED", c.answer, c, "secret")
end)

T.case("auth.check keeps one server per realm", function()
    local req = register()
    local c = auth.check(req, function() return "x" end)
    T.eq(c.verdict, "challenge", "challenge")
    T.eq(c.realm, "example.com", "realm from the Request-URI")
    T.eq(auth.check(req, function() end).server, c.server, "the same server")
    T.eq(auth.check(req, function() end, { realm = "other" }).realm, "other", "realm")
    T.raises("SIP_EINVAL", auth.check, req, function() end, { colour = 1 })
end)

T.case("a REGISTER challenged and authorised over UDP, lookups as tasks", function()
    local loop <close> = sip.Loop()
    local uac <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop,
        transactions = true }
    local uas <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = loop,
        transactions = true }
    local server <close> = sip.AuthServer { realm = "example.com" }
    local passwords = { alice = "secret" }
    uas:on_request("REGISTER", function(req)
        local c = server:check(req, function(q)
            sip.sleep(1) -- a lookup may wait: it runs as a task
            return passwords[q.user]
        end):wait()
        if c.ok then c:reply(200) else c:reply() end
    end)
    local l1 = uas:listeners()[1]
    local uri = ("sip:%s:%d"):format(l1.host, l1.port)
    local results = {}
    local guard = loop:timer(5000, function() loop:stop() end)
    loop:spawn(function()
        local function reg(cseq)
            return sip.Message.request("REGISTER", uri, { headers = {
                { "Max-Forwards", "70" }, { "From", "<sip:alice@example.com>;tag=r1" },
                { "To", "<sip:alice@example.com>" }, { "Call-ID", "reg-lua@127.0.0.1" },
                { "CSeq", cseq .. " REGISTER" } } })
        end
        local ac = client()
        local first = reg(1)
        local rsp = uac:request(first):wait()
        results[1] = rsp.status
        local second = reg(2)
        ac:authorize(second, first, rsp)
        rsp = uac:request(second):wait()
        results[2] = rsp.status
        results[3] = rsp:header("Authentication-Info")
        loop:stop()
    end)
    loop:run()
    guard:stop()
    T.eq(results[1], 401, "challenged")
    T.eq(results[2], 200, "authorised")
    T.ok(results[3] and results[3]:find("rspauth=", 1, true), "Authentication-Info")
end)
