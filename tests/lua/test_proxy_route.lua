-- SPDX-License-Identifier: MIT
-- sip.Proxy and its route functions: a UAC, two UASs and a proxy, each a Stack on 127.0.0.1
-- (ports 32500-32999, ten per case) sharing one loop; routes that relay, fork, route on
-- failure, redirect, reply, edit headers and the Request-URI, hook branches, authenticate and
-- save registrations (as tests/python/test_proxy_route.py); and the argument checks.
local T = ...
local sip = require "libsip"

local LIMIT_MS = 15000
local BASE = 32500

local OFFER = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
local ANSWER = "v=0\r\no=bob 2 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    .. "m=audio 5000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

-- Four stacks on one loop: the proxy (BASE + 10n), a UAC (+1), two UASs (+2, +3).
local function setup(n, proxy_opts, make_proxy)
    for _ = 1, 3 do collectgarbage() end
    local p = { errors = {}, base = sip.live_objects(), port = BASE + 10 * n }
    sip.on_error(function(text) p.errors[#p.errors + 1] = text end)
    p.loop = sip.Loop()
    p.stacks = {}
    for i = 0, 3 do
        p.stacks[i] = sip.Stack { listen = "udp:127.0.0.1:" .. (p.port + i), loop = p.loop,
            transactions = { t1_ms = 50 } }
    end
    if make_proxy then
        p.proxy = make_proxy(p.stacks[0], p.loop)
    else
        p.proxy = sip.Proxy(p.stacks[0], proxy_opts)
    end
    p.a, p.b, p.c = sip.UA(p.stacks[1]), sip.UA(p.stacks[2]), sip.UA(p.stacks[3])
    function p.uri(user, i) return ("sip:%s@127.0.0.1:%d"):format(user, p.port + (i or 0)) end
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
    if err and p.errors and #p.errors > 0 then
        err = err .. "\nhandler errors:\n" .. table.concat(p.errors, "\n")
    end
    if err then error(err, 0) end
    T.ok(done, "the flow finished within " .. LIMIT_MS .. " ms")
end

local function finish(p, expect_errors)
    sip.on_error(nil)
    p.proxy:close()
    for _, ua in ipairs { p.a, p.b, p.c } do ua:close() end
    for i = 0, 3 do p.stacks[i]:close() end
    p.loop:close()
    p.stacks, p.proxy, p.a, p.b, p.c = nil, nil, nil, nil, nil
    for _ = 1, 3 do collectgarbage() end
    local live = sip.live_objects()
    for _, kind in ipairs { "proxy", "proxy_req", "location", "bindings", "registrar", "userdb",
        "ua", "call", "dialog", "txn", "msg", "txn_layer", "transport" } do
        T.eq(live[kind], p.base[kind], "live " .. kind .. " objects at the end")
    end
    T.eq(#p.errors, expect_errors or 0, "handler errors: " .. table.concat(p.errors, "\n"))
end

-- ua answers each INVITE (180 first) with status after ms.
local function answer_after(ua, ms, status, seen)
    ua:on_invite(function(call)
        if seen then seen[#seen + 1] = call.invite end
        call:ring()
        if ms and ms > 0 then sip.sleep(ms) end
        if (status or 200) == 200 then
            call:answer { sdp = ANSWER }
        else
            call:reject(status)
        end
    end)
end

T.case("proxy: plain relay with Record-Route, the BYE routed through", function()
    local p = setup(0)
    local outcomes, routed = {}, {}
    p.proxy:route(function(req)
        if req.routed then
            routed[#routed + 1] = req.method
            if req.method == "ACK" then return req:forward() end -- the 2xx's: no transaction
            return req:proxy() -- along the Route set
        end
        outcomes[#outcomes + 1] = req:proxy({ p.uri("bob", 2) }, { record_route = true })
    end)
    answer_after(p.b)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(5)
        T.ok(call.remote_sdp:find("o=bob", 1, true), "the answer came through")
        local rr = false
        for _, r in ipairs(call.dialog.route_set) do
            if r:find("127.0.0.1:" .. p.port, 1, true) then rr = true end
        end
        T.ok(rr, "the proxy is in the route set")
        call:hangup()
        T.eq(call:wait_ended(5), 200, "BYE answered")
        for _ = 1, 100 do -- the BYE goes through the proxy
            if routed[#routed] == "BYE" then break end
            sip.sleep(20)
        end
    end)
    local out = outcomes[1]
    T.eq(out.status, 200, "outcome")
    T.eq(#out.branches, 1, "one branch")
    T.eq(out.branches[1].status, 200, "branch status")
    T.eq(out.branches[1].target, p.uri("bob", 2), "branch target")
    T.eq(out.response.status, 200, "best response")
    T.ok(table.concat(routed, ","):find("BYE", 1, true), "the BYE came back routed")
    out, outcomes = nil, nil
    finish(p)
end)

T.case("proxy: forking, one busy and one answering", function()
    local p = setup(1)
    local outcomes = {}
    p.proxy:route(function(req)
        if req.routed then return req:default_route() end -- the ACK and BYE, as sipd does
        outcomes[#outcomes + 1] = req:proxy({ p.uri("b", 2), p.uri("c", 3) },
            { record_route = true })
    end)
    answer_after(p.b, 0, 486)
    answer_after(p.c, 200)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(5)
        T.eq(#call.dialog.route_set, 1, "record-routed")
        call:hangup()
        T.eq(call:wait_ended(5), 200, "BYE answered")
    end)
    local out = outcomes[1]
    T.eq(out.status, 200, "outcome")
    local st = {}
    for _, b in ipairs(out.branches) do st[#st + 1] = b.status end
    table.sort(st)
    T.eq(table.concat(st, ","), "200,486", "branch statuses")
    out, outcomes = nil, nil
    finish(p)
end)

T.case("proxy: failure routing to a second target after 486", function()
    local p = setup(2)
    local statuses, seen = {}, {}
    p.proxy:route(function(req)
        if req.routed then return req:default_route() end
        local out = req:proxy(p.uri("bob", 2))
        statuses[#statuses + 1] = out.status
        if out.status == 486 or out.status == 408 then
            out = req:proxy { p.uri("vm", 3) }
            statuses[#statuses + 1] = out.status
        end
    end)
    answer_after(p.b, 0, 486)
    answer_after(p.c, 0, 200, seen)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(5)
        call:hangup()
    end)
    T.eq(table.concat(statuses, ","), "486,200", "outcomes")
    T.eq(seen[1].uri.user, "vm", "the voicemail got the call")
    seen = nil
    finish(p)
end)

T.case("proxy: no answer within the timeout, and the caller cancelling, in failure routing",
    function()
    local p = setup(14)
    local outs, cancelled = {}, false
    p.proxy:route(function(req)
        local out = req:proxy(p.uri("bob", 2), { timeout = req.uri.user == "bob" and 0.5 or nil })
        outs[#outs + 1] = out.status
        if out.status == 408 or out.status == 480 or out.status == 486 or out.status == 487 then
            if req.uri.user == "cancel" then cancelled = true end
            out = req:proxy { p.uri("vm", 3) }
            outs[#outs + 1] = out.status
        end
    end)
    p.b:on_invite(function(call) call:ring() end) -- rings, never answers
    answer_after(p.c)
    run(p, function()
        -- No answer within the timeout: the ringing branch is cancelled, the voicemail answers.
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(5)
        T.ok(outs[1] == 408 or outs[1] == 487, "no answer: " .. tostring(outs[1]))
        T.eq(outs[2], 200, "the voicemail answered")
        call:hangup()
        -- The caller cancels: the outcome is 487, and relaying again gives it again.
        outs = {}
        call = p.a:invite(p.uri("cancel"), { sdp = OFFER })
        sip.sleep(300)
        call:hangup()
        local e = T.raises("SIP_EIO", call.wait_answered, call, 5)
        T.eq(e.status, 487, "cancelled")
        for _ = 1, 50 do
            if #outs == 2 then break end
            sip.sleep(20)
        end
    end)
    T.ok(cancelled, "the route saw the 487")
    T.eq(table.concat(outs, ","), "487,487", "outcomes")
    finish(p)
end)

T.case("proxy: the route cancels its relay", function()
    local p = setup(16)
    local outs = {}
    p.proxy:route(function(req)
        p.loop:timer(200, function() req:cancel() end) -- CANCEL to the ringing branch
        outs[#outs + 1] = req:proxy(p.uri("bob", 2)).status
        T.raises("SIP_ENOENT", req.cancel, req) -- nothing left to cancel
    end)
    p.b:on_invite(function(call) call:ring() end)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        local e = T.raises("SIP_EIO", call.wait_answered, call, 5)
        T.eq(e.status, 487, "cancelled")
    end)
    T.eq(table.concat(outs, ","), "487", "the outcome")
    finish(p)
end)

T.case("proxy: a route returning forwards the best response; an empty target list is 480",
    function()
    local p = setup(3)
    p.proxy:route(function(req)
        if req.uri.user == "nobody" then
            local out = req:proxy {}
            T.eq(out.status, 480, "nobody: 480 at once")
            T.eq(#out.branches, 0, "no branch")
            return
        end
        req:proxy(p.uri("bob", 2))
    end)
    answer_after(p.b, 0, 486)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        local e = T.raises("SIP_EIO", call.wait_answered, call, 5)
        T.eq(e.status, 486, "the busy went upstream")
        call = p.a:invite(p.uri("nobody"), { sdp = OFFER })
        e = T.raises("SIP_EIO", call.wait_answered, call, 5)
        T.eq(e.status, 480, "480 upstream")
    end)
    finish(p)
end)

T.case("proxy: redirect and reply", function()
    local p = setup(4)
    p.proxy:route(function(req)
        if req.uri.user == "moved" then
            req:redirect({ p.uri("carol", 3), "sip:dave@192.0.2.4" }, 301)
        elseif req.uri.user == "nobody" then
            req:redirect {}
        else
            req:reply(403, "Go Away", { ["X-Why"] = "policy" })
        end
    end)
    run(p, function()
        local call = p.a:invite(p.uri("moved"), { sdp = OFFER })
        local e = T.raises("SIP_EIO", call.wait_answered, call, 5)
        T.eq(e.status, 301, "moved")
        local contacts = e.response.headers["Contact"]
        T.eq(contacts[1], "<" .. p.uri("carol", 3) .. ">", "first contact")
        T.eq(contacts[2], "<sip:dave@192.0.2.4>", "second contact")
        T.eq(p.a:options(p.uri("nobody")).status, 404, "nobody: 404")
        local rsp = p.a:options(p.uri("x"))
        T.eq(rsp.status, 403, "reply")
        T.eq(rsp.reason, "Go Away", "reason")
        T.eq(rsp:header("X-Why"), "policy", "header")
    end)
    finish(p)
end)

T.case("proxy: header edits and a Request-URI rewrite reach the UAS", function()
    local p = setup(5)
    local got
    p.proxy:route(function(req)
        T.eq(req.method, "MESSAGE", "method")
        req.msg:add_header("X-Routed", "yes")
        req.msg:remove_header("Subject")
        req.uri = p.uri("carol", 3)
        req:proxy()
    end)
    p.c:on_request(function(r)
        got = { uri = tostring(r.uri), routed = r:header("X-Routed"), subject = r:header("Subject"),
            mf = r.max_forwards }
        r:reply(200)
    end)
    run(p, function()
        local rsp = p.a:message(p.uri("bob"), "hi", "text/plain",
            { headers = { Subject = "secret" } })
        T.eq(rsp.status, 200, "answered")
    end)
    T.eq(got.uri, p.uri("carol", 3), "rewritten Request-URI")
    T.eq(got.routed, "yes", "added header")
    T.eq(got.subject, nil, "removed header")
    T.eq(got.mf, 69, "Max-Forwards decremented")
    finish(p)
end)

T.case("proxy: branch hooks edit requests and responses", function()
    local p = setup(6)
    local seen = {}
    p.proxy:route(function(req)
        req:proxy({ p.uri("skip", 3), p.uri("bob", 2) }, {
            on_request = function(msg, index)
                msg:add_header("X-Branch", tostring(index))
                return msg.uri.user == "skip"
            end,
            on_response = function(msg, index)
                if msg.status == 200 then msg:add_header("X-Hooked", tostring(index)) end
            end })
    end)
    p.b:on_request(function(r)
        seen[#seen + 1] = r:header("X-Branch")
        r:reply(200)
    end)
    p.c:on_request(function(r)
        seen[#seen + 1] = "c"
        r:reply(500)
    end)
    run(p, function()
        local rsp = p.a:message(p.uri("bob"), "hi")
        T.eq(rsp.status, 200, "answered")
        T.eq(rsp:header("X-Hooked"), seen[1], "the response hook ran")
    end)
    T.eq(#seen, 1, "the skipped target got nothing")
    finish(p)
end)

T.case("proxy: follow_redirects turns a 3xx's Contacts into targets", function()
    local p = setup(15)
    local outs = {}
    p.proxy:route(function(req)
        local out = req:proxy(p.uri("bob", 2), { follow_redirects = req.uri.user == "follow" })
        local targets = {}
        for _, b in ipairs(out.branches) do targets[#targets + 1] = b.target end
        outs[#outs + 1] = out.status .. " " .. table.concat(targets, ",")
    end)
    p.b:on_request(function(r)
        r:reply(302, { headers = { Contact = "<" .. p.uri("carol", 3) .. ">" } })
    end)
    p.c:on_request(function(r) r:reply(200) end)
    run(p, function()
        T.eq(p.a:message(p.uri("follow"), "hi").status, 200, "followed")
        T.eq(p.a:message(p.uri("keep"), "hi").status, 302, "kept")
    end)
    T.eq(outs[1], "200 " .. p.uri("bob", 2) .. "," .. p.uri("carol", 3), "followed outcome")
    T.eq(outs[2], "302 " .. p.uri("bob", 2), "kept outcome")
    finish(p)
end)

T.case("proxy: authenticate and challenge, with a lookup and with a users table", function()
    local server = sip.AuthServer("example.com")
    local p = setup(7, { auth = server, users = { alice = "secret" } })
    local users = {}
    -- The options read back: the table became a UserDB.
    T.eq(getmetatable(p.proxy.users), getmetatable(sip.UserDB()), "a sip.UserDB")
    T.eq(p.proxy.users.count, 1, "made from the table")
    T.ok(p.proxy.redirect == false and p.proxy.stateless == false, "redirect, stateless")
    p.proxy:route(function(req)
        local user
        if req.uri.user == "table" then
            user = req:authenticate()
        else
            user = req:authenticate(function(u, realm)
                sip.sleep(1)
                if u == "alice" and realm == "example.com" then return "secret" end
            end)
        end
        if not user then return req:challenge() end
        users[#users + 1] = user .. "/" .. req.auth_user
        req:reply(200, { ["X-User"] = user })
    end)
    run(p, function()
        local rsp = p.a:options(p.uri("x"))
        T.ok(rsp.status == 401 or rsp.status == 407, "challenged: " .. rsp.status)
        p.a:add_credential { user = "alice", password = "secret" }
        rsp = p.a:options(p.uri("x"))
        T.eq(rsp.status, 200, "authenticated")
        T.eq(rsp:header("X-User"), "alice", "as alice")
        T.eq(p.a:options(p.uri("table")).status, 200, "the users table answered")
        p.b:add_credential { user = "alice", password = "wrong" }
        rsp = p.b:options(p.uri("x"))
        T.ok(rsp.status == 401 or rsp.status == 407, "a wrong password: " .. rsp.status)
    end)
    T.eq(table.concat(users, ","), "alice/alice,alice/alice", "users")
    finish(p)
    server:close()
end)

T.case("proxy: registrar save, lookup and a call to the registered contact", function()
    local p = setup(8, nil, function(stack, loop)
        local loc = sip.Location(loop)
        -- The proxy's own address is an alias of the domain: a call to sip:bob@127.0.0.1:PORT
        -- reaches sip:bob@example.com without a dst (whose netinfo the Lua core leaks).
        loc:add_domain("example.com")
        loc:add_domain("127.0.0.1", "example.com")
        return sip.Proxy(stack, { location = loc, registrar = sip.Registrar(loc),
            auth = sip.AuthServer("example.com"), users = { bob = "pw" } })
    end)
    local lookups = {}
    p.proxy:route(function(req)
        if req.method == "REGISTER" then
            if not req:authenticate() then return req:challenge() end
            T.eq(req:save(), 200, "saved")
            return
        end
        if req.routed then return req:default_route() end
        local found = req:lookup()
        lookups[#lookups + 1] = found
        req:proxy(found)
    end)
    answer_after(p.b)
    run(p, function()
        local reg = p.b:register("sip:bob@example.com", { password = "pw",
            registrar = "sip:127.0.0.1:" .. p.port })
        T.ok(reg.expires > 0, "registered")
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(5)
        local found = lookups[1]
        T.eq(#found, 1, "one binding")
        T.eq(found[1].aor, "sip:bob@example.com", "aor")
        T.ok(found[1].contact:find("127.0.0.1:" .. (p.port + 2), 1, true), found[1].contact)
        call:hangup()
        reg:unregister(nil, 5)
        reg:close()
    end)
    finish(p)
end)

T.case("proxy: without a route function the proxy routes as sipd does", function()
    local p = setup(13, nil, function(stack, loop)
        local loc = sip.Location(loop)
        loc:add_domain("127.0.0.1") -- ours: the port of sip:bob@127.0.0.1:PORT is not the AOR's
        return sip.Proxy(stack, { location = loc,
            registrar = sip.Registrar(loc, { auth_required = false }) })
    end)
    answer_after(p.b)
    run(p, function()
        T.ok(p.proxy:is_local("sip:bob@127.0.0.1"), "127.0.0.1 is local")
        local reg = p.b:register("sip:bob@127.0.0.1", { registrar = "sip:127.0.0.1:" .. p.port })
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        call:wait_answered(5)
        T.ok(call.remote_sdp:find("o=bob", 1, true), "answered by the registered UA")
        call:hangup()
        local st = p.a:options(p.uri("nobody")).status
        T.ok(st == 404 or st == 480, "nobody registered: " .. st)
        reg:unregister(nil, 5)
        reg:close()
    end)
    finish(p)
end)

T.case("proxy: a route that fails or decides nothing answers 500", function()
    local p = setup(9)
    p.proxy:route(function(req)
        if req.uri.user == "boom" then error("route failed") end
        if req.uri.user == "idle" then return end
        req:reply(200)
    end)
    run(p, function()
        T.eq(p.a:options(p.uri("boom")).status, 500, "error: 500")
        T.eq(p.a:options(p.uri("idle")).status, 500, "nothing decided: 500")
    end)
    T.ok(p.errors[1] and p.errors[1]:find("route failed", 1, true), "the error was reported")
    finish(p, 1)
end)

T.case("proxy: a binding is called at its contact unless behind a NAT", function()
    local p = setup(17)
    local got = {}
    local from_c = ("sip:127.0.0.1:%d;transport=udp"):format(p.port + 3)
    local contacts = { pub = p.uri("pub", 2), priv = "sip:priv@10.1.2.3:5060" }
    p.proxy:route(function(req)
        -- A binding as a lookup gives it, registered from c's address (its received).
        req:proxy { { contact = contacts[req.uri.user], path = "", received = from_c,
            conn_id = 0, instance = "", reg_id = 0 } }
    end)
    p.b:on_request(function(r)
        got[#got + 1] = "b:" .. r.uri.user
        r:reply(202)
    end)
    p.c:on_request(function(r)
        got[#got + 1] = "c:" .. r.uri.user
        r:reply(202)
    end)
    -- RFC 3261 §10.2: a public contact another UA registered is called where it says; a
    -- private one (behind a NAT) through the address its REGISTER came from.
    run(p, function()
        T.eq(p.a:message(p.uri("pub"), "hi").status, 202, "the public contact answered")
        T.eq(p.a:message(p.uri("priv"), "hi").status, 202, "the private contact answered")
    end)
    T.eq(table.concat(got, ","), "b:pub,c:priv", "called where each should be")
    finish(p)
end)

T.case("proxy: a stateless proxy forwards, and refuses to relay", function()
    local p = setup(10, { stateless = true })
    local got = {}
    p.proxy:route(function(req)
        T.raises("SIP_ENOTSUP", req.proxy, req, p.uri("bob", 2))
        req:forward(p.uri("bob", 2))
    end)
    p.b:on_request(function(r)
        got[#got + 1] = tostring(r.uri)
        r:reply(202)
    end)
    run(p, function()
        T.eq(p.a:message(p.uri("x"), "hi").status, 202, "forwarded and answered")
    end)
    T.eq(got[1], p.uri("bob", 2), "the UAS got it")
    T.ok(p.proxy.stateless == true and p.proxy.users == nil, "stateless, no users")
    finish(p)
end)

T.case("proxy: argument checks", function()
    local p = setup(11)
    local stack = p.stacks[0]
    T.raises("SIP_EINVAL", sip.Proxy, stack, { stateles = true })
    T.raises("SIP_EINVAL", sip.Proxy, stack, { stateless = 1 })
    T.raises("SIP_EINVAL", sip.Proxy, stack, { location = "here" })
    T.raises("SIP_EINVAL", sip.Proxy, 42)
    T.raises("SIP_EINVAL", p.proxy.route, p.proxy, 42)
    local n = 0
    p.proxy:route(function(req)
        T.ok(p.proxy.count >= 1 and not req.done and not req.routed, "a request being routed")
        T.ok(req.transaction and req.auth_user == nil and req.is_local, "its properties")
        T.eq(#req.branches, 0, "no branch yet")
        for _, f in ipairs {
            function() req:proxy(42) end, function() req:proxy { 1 } end,
            function() req:proxy(nil, { parallel = "yes" }) end,
            function() req:proxy(nil, { timeout = "x" }) end,
            function() req:proxy(nil, { on_request = 3 }) end,
            function() req:reply("200") end, function() req:redirect("sip:a@b", "302") end,
            function() req:forward(5) end, function() req:authenticate(7) end,
            function() req:proxy(nil, { colour = "red" }) end,
            function() req:reply(99) end, function() req:redirect("sip:a@b", 200) end,
            function() req:proxy(nil, { timeout = -1 }) end,
            function() req:authenticate() end } do
            T.raises("SIP_EINVAL", f)
            n = n + 1
        end
        T.raises("SIP_ENOENT", req.lookup, req)
        T.raises("SIP_ENOENT", req.save, req)
        req:reply(200)
        T.ok(req.done, "done once answered")
        T.raises("SIP_EBUSY", req.reply, req, 200)
    end)
    run(p, function()
        T.eq(p.a:options(p.uri("x")).status, 200, "answered")
    end)
    T.eq(n, 14, "every bad argument raised")
    finish(p)
end)

T.case("proxy: closing the stack closes the proxy", function()
    local p = setup(12)
    local kept
    p.proxy:route(function(req)
        kept = req
        req:proxy(p.uri("bob", 2))
    end)
    p.b:on_invite(function(call) call:ring() end)
    run(p, function()
        local call = p.a:invite(p.uri("bob"), { sdp = OFFER })
        sip.sleep(200)
        T.ok(kept, "the route ran")
        p.proxy:close()
        T.eq(p.proxy.closed, true, "closed")
        T.raises("SIP_ECLOSED", kept.reply, kept, 200)
        call:hangup()
    end)
    kept = nil
    -- The route waiting on the relay got SIP_ECLOSED (reported as its error).
    finish(p, 1)
end)

T.case("proxy: examples/lua/proxy_failover.lua sends a busy callee's calls to voicemail",
    function()
    local port = BASE + 200
    local lua = arg and arg[-1] or "lua5.4"
    local script = T.dir .. "/../../examples/lua/proxy_failover.lua"
    -- The example serves the domain 127.0.0.1, so that the UAs reach it by its address (a dst
    -- would leak its netinfo in the Lua core).
    local cmd = ("%s %s --listen udp:127.0.0.1:%d --domain 127.0.0.1 --user bob:pw "
        .. "--voicemail sip:vm@127.0.0.1:%d --timeout 2 >/dev/null 2>&1 & echo $!"):format(lua,
        script, port, port + 3)
    local f = assert(io.popen(cmd))
    local pid = f:read("l")
    f:close()
    local loop = sip.Loop()
    local stacks, uas = {}, {}
    -- Whatever fails below, the example is stopped and everything made is closed.
    local ok, err = pcall(function()
        for i = 1, 3 do
            stacks[i] = sip.Stack { listen = "udp:127.0.0.1:" .. (port + i), loop = loop,
                transactions = { t1_ms = 50 } }
            uas[i] = sip.UA(stacks[i])
        end
    end)
    local a, bob, vm = uas[1], uas[2], uas[3]
    local seen, busy = {}, true
    if ok then
        bob:on_invite(function(call)
            call:ring()
            if busy then call:reject(486) end -- else rings until cancelled
        end)
        answer_after(vm, 0, 200, seen)
        ok, err = pcall(run, { loop = loop }, function()
            local target = "sip:bob@127.0.0.1:" .. port
            local reg
            for _ = 1, 50 do
                local rok, r = pcall(bob.register, bob, "sip:bob@127.0.0.1", { password = "pw",
                    registrar = "sip:127.0.0.1:" .. port, retry_initial = false })
                if rok then reg = r break end
                sip.sleep(100)
            end
            T.ok(reg, "registered with the example")
            local call = a:invite(target, { sdp = OFFER })
            call:wait_answered(5)
            T.eq(seen[1].uri.user, "vm", "the voicemail answered the busy callee's call")
            call:hangup()
            busy = false
            call = a:invite(target, { sdp = OFFER })
            call:wait_answered(10)
            T.eq(#seen, 2, "and the unanswered one")
            T.eq(seen[2].uri.user, "vm", "the voicemail answered again")
            call:hangup()
            reg:close()
        end)
    end
    os.execute("kill " .. pid .. " 2>/dev/null")
    for _, ua in pairs(uas) do ua:close() end
    for _, st in pairs(stacks) do st:close() end
    loop:close()
    if not ok then error(err, 0) end
end)
