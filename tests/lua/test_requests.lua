-- SPDX-License-Identifier: MIT
-- Requests a UA sends outside calls (ua:request, ua:message, ua:options), call:message, and the
-- UA's credentials answering a hand-made 401 (the digest itself is checked by the C tests),
-- between two user agents on two Stacks over UDP loopback; and the argument checks.
local T = ...
local sip = require "libsip"

local SDP_A = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
local LIMIT_MS = 10000

local KINDS = { "dialog", "ua", "call", "txn", "msg", "txn_layer", "transport" }

local function pair(opts_a, opts_b)
    -- What earlier files left alive is theirs: each case checks its own objects.
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, before = sip.live_objects() }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.a = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true }
    p.loop = p.a.loop
    p.b = sip.Stack { listen = "udp:127.0.0.1:0", transactions = true, loop = p.loop }
    p.ua_a = sip.UA(p.a, opts_a)
    p.ua_b = p.b:ua(opts_b)
    p.target = "sip:bob@127.0.0.1:" .. p.b:listeners()[1].port
    return p
end

local function run(p, fn)
    local done, err = false, nil
    local loop = p.loop
    loop:spawn(function()
        local ok, e = xpcall(fn, debug.traceback)
        done, err = true, not ok and e or nil
        loop:stop()
    end)
    if not done then
        local guard = loop:timer(LIMIT_MS, function() loop:stop() end)
        loop:run()
        guard:close()
    end
    if err then error(err, 0) end
    T.ok(done, "the flow finished within " .. LIMIT_MS .. " ms")
end

local function finish(p)
    sip.on_error(nil)
    p.ua_a:close()
    p.ua_b:close()
    p.b:close()
    p.a:close()
    p.loop:close()
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs(KINDS) do
        T.eq(live[kind] - p.before[kind], 0, "live " .. kind .. " objects left by the case")
    end
    T.eq(#p.errors, 0, "handler errors: " .. table.concat(p.errors, "\n"))
end

-- bob challenges every request without Authorization (401, realm "test"), then answers 200.
local function challenger(p, seen)
    p.ua_b:on_request(function(req)
        seen.cseq[#seen.cseq + 1] = req.cseq
        local auth = req:header("Authorization")
        if not auth then
            return req:reply(401, { headers = {
                ["WWW-Authenticate"] = 'Digest realm="test", nonce="n-1", qop="auth"' } })
        end
        seen.auth = auth
        seen.body = req.body
        seen.type = req:header("Content-Type")
        req:reply(200)
    end)
end

T.case("requests: a MESSAGE challenged, answered with the UA's credentials", function()
    local p = pair({ credentials = { user = "alice", password = "secret" } })
    local seen = { cseq = {} }
    challenger(p, seen)
    run(p, function()
        local rsp = p.ua_a:message(p.target, "hello Bob")
        T.eq(rsp.status, 200, "the final response (the 401 was answered)")
    end)
    T.eq(#seen.cseq, 2, "two MESSAGEs")
    T.eq(seen.cseq[2], seen.cseq[1] + 1, "CSeq one higher (RFC 3261 §22.2)")
    T.ok(seen.auth:find('username="alice"', 1, true), "Authorization names alice")
    T.ok(seen.auth:find('nonce="n-1"', 1, true), "Authorization answers the nonce")
    T.eq(seen.body, "hello Bob", "body")
    T.eq(seen.type, "text/plain", "content type")
    finish(p)
end)

T.case("requests: without credentials the 401 is the final response", function()
    local p = pair()
    challenger(p, { cseq = {} })
    run(p, function()
        local rsp = p.ua_a:request("OPTIONS", p.target)
        T.eq(rsp.status, 401, "401")
        T.ok(rsp:header("WWW-Authenticate"), "the challenge")
    end)
    finish(p)
end)

T.case("requests: OPTIONS answered by the UA with its capabilities", function()
    local p = pair()
    run(p, function()
        local rsp = p.ua_a:options(p.target)
        T.eq(rsp.status, 200, "200")
        T.ok(table.concat(rsp.headers.Allow, ", "):find("MESSAGE", 1, true), "Allow has MESSAGE")
        for _, h in ipairs { "Accept", "Accept-Encoding", "Accept-Language", "Supported" } do
            T.ok(rsp:header(h), h)
        end
    end)
    finish(p)
end)

T.case("requests: ua:request with headers, body and from; add_credential", function()
    local p = pair()
    local seen = {}
    p.ua_b:on_request(function(req)
        seen.method, seen.x, seen.body = req.method, req:header("X-Test"), req.body
        req:reply(202)
    end)
    p.ua_a:add_credential { user = "alice", ha1 = string.rep("0", 32), realm = "test",
        algorithm = "MD5" }
    run(p, function()
        local rsp = p.ua_a:request("MESSAGE", p.target, { body = "<x/>",
            content_type = "application/xml", headers = { ["X-Test"] = "1" },
            from = "Alice <sip:alice@example.com>" })
        T.eq(rsp.status, 202, "status")
    end)
    T.eq(seen.method, "MESSAGE", "method")
    T.eq(seen.x, "1", "header")
    T.eq(seen.body, "<x/>", "body")
    finish(p)
end)

T.case("requests: call:message both ways", function()
    local p = pair()
    local got = {}
    p.ua_b:on_invite(function(call)
        call:on_request(function(r) got.b = r.body; r:reply(200) end)
        call:answer { sdp = SDP_A }
        call:wait_answered(5)
        got.b_status = call:message("hi Alice").status
    end)
    run(p, function()
        local call = p.ua_a:invite(p.target, { sdp = SDP_A })
        call:on_request(function(r) got.a = r.body; r:reply(200) end)
        call:wait_answered(5)
        got.a_status = call:message("hi Bob").status
        sip.sleep(100)
        call:hangup()
        sip.sleep(50)
    end)
    T.eq(got.b, "hi Bob", "B got A's MESSAGE")
    T.eq(got.a_status, 200, "A's MESSAGE answered")
    T.eq(got.a, "hi Alice", "A got B's MESSAGE")
    T.eq(got.b_status, 200, "B's MESSAGE answered")
    finish(p)
end)

T.case("requests: argument checks", function()
    local p = pair()
    T.raises("SIP_EINVAL", function() sip.UA(p.b, { credentials = "alice" }) end)
    T.raises("SIP_EINVAL", function() p.ua_a:add_credential { user = "alice", pass = "x" } end)
    T.raises("SIP_EINVAL", function() p.ua_a:add_credential { password = "x" } end)
    T.raises("SIP_EINVAL", function() p.ua_a:add_credential { user = 5, password = "x" } end)
    T.raises("SIP_EINVAL", function() p.ua_a:add_credential { user = "alice" } end)
    T.raises("SIP_EINVAL", function()
        p.ua_a:add_credential { user = "a", password = "x", algorithm = "ROT13" }
    end)
    run(p, function()
        T.raises("SIP_EINVAL", function() p.ua_a:request("INVITE", p.target) end)
        T.raises("SIP_EINVAL", function()
            p.ua_a:request("OPTIONS", p.target, { nonsense = 1 })
        end)
        T.raises("SIP_EINVAL", function()
            p.ua_a:request("MESSAGE", p.target, { body = "x" }) -- a body needs its content type
        end)
        T.raises("SIP_EINVAL", function() p.ua_a:message(p.target, 5) end)
    end)
    T.raises("SIP_EINVAL", function() p.ua_a:options(p.target) end)
    finish(p)
end)

T.case("requests: a 407 to the INVITE is answered, the call goes on", function()
    local p = pair({ credentials = { { user = "alice", password = "secret" } } })
    local seen = {}
    p.ua_b:on_request(function(req)          -- no on_invite: INVITEs come here
        seen[#seen + 1] = { req.cseq, req.call_id, req:header("Proxy-Authorization") ~= nil }
        if #seen == 1 then
            return req:reply(407, { headers = {
                ["Proxy-Authenticate"] = 'Digest realm="test", nonce="n-1", qop="auth"' } })
        end
        req:reply(486)
    end)
    local call
    run(p, function()
        call = p.ua_a:invite(p.target, { sdp = SDP_A })
        T.raises("SIP_EIO", call.wait_answered, call, 5)
    end)
    T.eq(call.end_status, 486, "the callee's final answer ends the call")
    T.eq(#seen, 2, "two INVITEs")
    T.eq(seen[2][1], seen[1][1] + 1, "CSeq one higher")
    T.eq(seen[2][2], seen[1][2], "the same Call-ID")
    T.eq(seen[1][3], false, "no credentials at first")
    T.eq(seen[2][3], true, "Proxy-Authorization the second time")
    call = nil
    finish(p)
end)
