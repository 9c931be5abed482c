-- SPDX-License-Identifier: MIT
-- Raw bytes on the wire to the built sip-uas, on loopback, as tests/python/test_wire.py sends
-- them: requests lacking mandatory headers (RFC 3261 §8.1.1, RFC 4475 §3.1.2.18), responses
-- after a TCP connection closed (§18.2.2), split CRLF keep-alives (RFC 5626 §4.4.1), maddr with
-- rport (RFC 3581 §4), and the stateless answers to malformed requests (§8.2.6.2, §18.2.2).
-- Raw sockets come from Debian's lua-socket (scripts/deps.sh); tests/lua.cmake passes the built
-- sip-uas as SIP_UAS. Every wait is bounded, and sip-uas is stopped whether a case passes or not.
local T = ...
local sip = require "libsip"

local WAIT = 5.0  -- the longest any expected answer is waited for, in seconds
local QUIET = 0.5 -- how long "no answer" is listened for

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- tests/lua.cmake's LUA_PATH and LUA_CPATH name only the build tree (so that libsip is this
-- tree's); lua-socket lives in the interpreter's default directories, which are asked of the
-- interpreter itself and searched after the build tree.
local function require_socket()
    local ok, mod = pcall(require, "socket")
    if ok then return mod end
    local p = assert(io.popen(("env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 "
        .. "%s -e 'io.write(package.path, \"\\n\", package.cpath)'"):format(q(T.interpreter()))))
    local path, cpath = p:read("l", "l")
    p:close()
    package.path = package.path .. ";" .. (path or "")
    package.cpath = package.cpath .. ";" .. (cpath or "")
    ok, mod = pcall(require, "socket")
    if not ok then error("lua-socket is not installed (scripts/deps.sh): " .. tostring(mod), 0) end
    return mod
end
local socket = require_socket()

local CONFORMANCE = T.dir .. "/../../../shared/conformance"

local function slurp(path)
    local f = io.open(path, "rb")
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
end

-- The built sip-uas: tests/lua.cmake passes it as SIP_UAS; next to the module otherwise.
local function sip_uas_path()
    local path = os.getenv("SIP_UAS")
    if not path or path == "" then
        local core = package.searchpath("libsip_core", package.cpath) or ""
        path = (core:match("^(.*)/bindings/lua/[^/]*$") or ".") .. "/tools/sip-uas/sip-uas"
    end
    T.ok(os.execute("test -x " .. q(path)), "sip-uas built (looked for " .. path .. ")")
    return path
end

-- ---- sip-uas in the background -----------------------------------------------------------------

local Uas = {}
Uas.__index = Uas

--- sip-uas on udp and tcp 127.0.0.1 (ephemeral ports), logging to a file. A wrapper shell
--- writes its pid and, when it ends, its exit status (each file renamed into place whole).
function Uas.start(...)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. q(dir)))
    local args = { q(sip_uas_path()), "-v", "--trace", "--listen", "udp:127.0.0.1:0",
        "--listen", "tcp:127.0.0.1:0" }
    for _, a in ipairs({ ... }) do args[#args + 1] = q(a) end
    -- Instrumented, sip-uas reports whatever it leaks when it exits.
    local env = os.getenv("LIBSIP_LUA_SANITIZED") and "ASAN_OPTIONS=detect_leaks=1 " or ""
    local d = q(dir)
    local cmd = ("%s%s >%s/out 2>%s/log </dev/null & echo $! >%s/pid.new && mv %s/pid.new %s/pid;"
        .. " wait $!; echo $? >%s/rc.new && mv %s/rc.new %s/rc"):format(env,
        table.concat(args, " "), d, d, d, d, d, d, d, d, d, d)
    assert(os.execute("sh -c " .. q(cmd) .. " </dev/null >/dev/null 2>&1 &"))
    local u = setmetatable({ dir = dir, ports = {} }, Uas)
    local deadline = socket.gettime() + WAIT
    while not (u.pid and u.ports.udp and u.ports.tcp) do
        u.pid = tonumber(slurp(dir .. "/pid"))
        for proto, port in slurp(dir .. "/out"):gmatch("listening on (%a+):127%.0%.0%.1:(%d+)\n") do
            u.ports[proto] = tonumber(port)
        end
        if u.pid and u.ports.udp and u.ports.tcp then break end
        if socket.gettime() > deadline or slurp(dir .. "/rc") ~= "" then
            local log = u:logged()
            error(("sip-uas did not say where it listens (%s):\n%s"):format(
                u:stop() or "stopped", log), 2)
        end
        socket.sleep(0.02)
    end
    return u
end

function Uas:logged() return slurp(self.dir .. "/log") end

--- Stops sip-uas with SIGINT (SIGKILL if it has not ended after 10 s); it must exit cleanly (and,
--- instrumented, without leaks). Returns an error message, or nil.
function Uas:stop()
    if self.stopped then return nil end
    self.stopped = true
    local rc
    local function wait_rc(secs)
        local deadline = socket.gettime() + secs
        repeat
            rc = tonumber(slurp(self.dir .. "/rc"))
            if rc then return true end
            socket.sleep(0.02)
        until socket.gettime() > deadline
        return false
    end
    if not self.pid then
        -- The wrapper had not written the pid yet: it soon will.
        wait_rc(0)
        self.pid = tonumber(slurp(self.dir .. "/pid"))
    end
    if self.pid and not tonumber(slurp(self.dir .. "/rc")) then
        os.execute(("kill -INT %d 2>/dev/null"):format(self.pid))
        if not wait_rc(10) then
            os.execute(("kill -KILL %d 2>/dev/null"):format(self.pid))
            wait_rc(WAIT)
        end
    else
        wait_rc(0)
    end
    local log = self:logged()
    os.execute("rm -rf " .. q(self.dir))
    if rc ~= 0 then return ("sip-uas exit status %s:\n%s"):format(rc, log:sub(-4000)) end
    if log:find("Sanitizer", 1, true) then return "sip-uas:\n" .. log:sub(-4000) end
    return nil
end

--- Runs fn(uas) with a sip-uas started with these arguments, stopping it whatever happens.
local function with_uas(args, fn)
    local u = Uas.start(table.unpack(args))
    local ok, err = xpcall(fn, debug.traceback, u)
    local stop_err = u:stop()
    if not ok then error(err .. (stop_err and "\n(and) " .. stop_err or ""), 0) end
    if stop_err then error(stop_err, 0) end
end

local MODES = { stateful = {}, stateless = { "--stateless" } }

--- One case per mode, as the pytest fixture's params: a sip-uas stateful, then --stateless.
local function uas_case(name, fn)
    for _, mode in ipairs({ "stateful", "stateless" }) do
        T.case(("%s [%s]"):format(name, mode), function() with_uas(MODES[mode], fn) end)
    end
end

-- ---- sockets -----------------------------------------------------------------------------------

local function udp_socket()
    local s = assert(socket.udp())
    assert(s:setsockname("127.0.0.1", 0))
    return s
end

local function port_of(s) return tonumber((select(2, s:getsockname()))) end

local function tcp_to(port)
    local s = assert(socket.tcp())
    s:settimeout(WAIT)
    assert(s:connect("127.0.0.1", port))
    s:setoption("tcp-nodelay", true)
    return s
end

local function send_all(s, data)
    s:settimeout(WAIT)
    local i = 1
    while i <= #data do
        local last, err, partial = s:send(data, i)
        T.ok(last or partial, "sending: " .. tostring(err))
        i = (last or partial) + 1
    end
end

--- One datagram, or nil when none comes within timeout.
local function recv_datagram(s, timeout)
    s:settimeout(timeout or WAIT)
    local data = s:receive(65535)
    return data
end

--- Bytes read from a stream until done(data) holds, the peer closes or timeout passes.
local function recv_stream(s, done, timeout)
    local data = ""
    local deadline = socket.gettime() + (timeout or WAIT)
    while not done(data) do
        local left = deadline - socket.gettime()
        if left <= 0 or #socket.select({ s }, nil, left) == 0 then break end
        s:settimeout(0)
        local chunk, err, partial = s:receive(65536)
        data = data .. (chunk or partial or "")
        if err == "closed" or (err ~= "timeout" and not chunk) then break end
    end
    return data
end

local function whole_message(data) return data:find("\r\n\r\n", 1, true) ~= nil end

local function starts(data, prefix) return data ~= nil and data:sub(1, #prefix) == prefix end

local function request(method, via, opts)
    opts = opts or {}
    local drop = {}
    for _, n in ipairs(opts.drop or {}) do drop[n] = true end
    local headers = { { "Via", via }, { "Max-Forwards", "70" },
        { "From", "<sip:t@example.com>;tag=ft1" }, { "To", "<sip:uas@example.com>" },
        { "Call-ID", opts.call_id or "wire1" }, { "CSeq", "1 " .. method } }
    local lines = { ("%s %s SIP/2.0"):format(method, opts.uri or "sip:uas@127.0.0.1") }
    for _, h in ipairs(headers) do
        if not drop[h[1]] then lines[#lines + 1] = h[1] .. ": " .. h[2] end
    end
    for _, h in ipairs(opts.extra or {}) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
    local body = opts.body or ""
    lines[#lines + 1] = "Content-Length: " .. #body
    return table.concat(lines, "\r\n") .. "\r\n\r\n" .. body
end

local function parse(data)
    local msg = sip.Message.parse(data)
    T.ok(msg.status, "a response: " .. data)
    return msg
end

local function to_tag(msg) return msg.to.tag end

-- ---- 1. requests without Call-ID, CSeq, To or From: 400 naming the header ----------------------

for _, missing in ipairs({ "Call-ID", "CSeq", "To", "From" }) do
    uas_case("a request without " .. missing .. " over UDP is answered 400", function(uas)
        local s = udp_socket()
        s:sendto(request("OPTIONS", ("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKmiss1"):format(
            port_of(s)), { drop = { missing } }), "127.0.0.1", uas.ports.udp)
        local data = recv_datagram(s)
        s:close()
        T.ok(data, ("an answer to a request without %s:\n%s"):format(missing, uas:logged()))
        T.ok(starts(data, ("SIP/2.0 400 Bad Request (Missing %s header)\r\n"):format(missing)),
            "400 naming the header: " .. data)
        local rsp = parse(data)
        if missing ~= "To" then T.ok(to_tag(rsp), "To tag (§8.2.6.2): " .. data) end
        T.ok(uas:logged():find(missing .. " header missing; answered 400", 1, true),
            "logged:\n" .. uas:logged())
    end)
end

for _, missing in ipairs({ "Call-ID", "CSeq", "To", "From" }) do
    uas_case("a request without " .. missing .. " over TCP is answered 400", function(uas)
        local s = tcp_to(uas.ports.tcp)
        send_all(s, request("INVITE", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKmiss2",
            { drop = { missing }, extra = { { "Contact", "<sip:t@127.0.0.1>" } } }))
        local data = recv_stream(s, whole_message)
        s:close()
        T.ok(starts(data, ("SIP/2.0 400 Bad Request (Missing %s header)\r\n"):format(missing)),
            ("400 naming the header: %q\n%s"):format(data, uas:logged()))
    end)
end

-- RFC 4475 §3.1.2.18: no Call-ID, From or To (the first one missing is named); over TCP so the
-- answer comes back on the connection (its Via names 192.0.2.95 without rport).
uas_case("RFC 4475 insuf is answered 400", function(uas)
    local insuf = slurp(CONFORMANCE .. "/rfc4475/insuf.dat")
    T.ok(#insuf > 0, "insuf.dat read from " .. CONFORMANCE)
    local s = tcp_to(uas.ports.tcp)
    local at = assert(insuf:find("SIP/2.0/UDP", 1, true))
    send_all(s, insuf:sub(1, at - 1) .. "SIP/2.0/TCP" .. insuf:sub(at + #"SIP/2.0/UDP"))
    local data = recv_stream(s, whole_message)
    s:close()
    T.ok(starts(data, "SIP/2.0 400 Bad Request (Missing To header)\r\n"),
        ("400 naming To: %q\n%s"):format(data, uas:logged()))
    local rsp = parse(data)
    T.eq(rsp:header("CSeq"), "193942 INVITE", "CSeq")
end)

-- RFC 3261 §7.3.1, RFC 4475 §3.3.8 multi01: a header that may appear once, twice.
for _, hv in ipairs({ { "Call-ID", "wire2" }, { "CSeq", "2 OPTIONS" },
    { "To", "<sip:other@example.com>" }, { "Max-Forwards", "69" } }) do
    uas_case("a repeated " .. hv[1] .. " is answered 400", function(uas)
        local s = udp_socket()
        s:sendto(request("OPTIONS", ("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKdup1"):format(
            port_of(s)), { extra = { hv } }), "127.0.0.1", uas.ports.udp)
        local data = recv_datagram(s)
        s:close()
        T.ok(data, "an answer:\n" .. uas:logged())
        T.ok(starts(data, ("SIP/2.0 400 Bad Request (Duplicate %s header)\r\n"):format(hv[1])),
            "400 naming the header: " .. data)
    end)
end

uas_case("an ACK without Call-ID is not answered", function(uas)
    local s = udp_socket()
    s:sendto(request("ACK", ("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKack1;rport"):format(
        port_of(s)), { drop = { "Call-ID" } }), "127.0.0.1", uas.ports.udp)
    T.eq(recv_datagram(s, QUIET), nil, "an answer")
    s:close()
    T.ok(uas:logged():find("Call-ID header missing; dropped", 1, true), "logged:\n" .. uas:logged())
end)

uas_case("a request without Via is dropped and logged", function(uas)
    local s = udp_socket()
    s:sendto(request("OPTIONS", "unused", { drop = { "Via" } }), "127.0.0.1", uas.ports.udp)
    T.eq(recv_datagram(s, QUIET), nil, "an answer")
    s:close()
    T.ok(uas:logged():find("request without Via from udp:127.0.0.1:", 1, true),
        "logged:\n" .. uas:logged())
end)

-- A response whose Via is the server's own but lacks a mandatory header: dropped, logged.
for _, missing in ipairs({ "Call-ID", "CSeq", "To", "From" }) do
    uas_case("a response without " .. missing .. " is dropped and logged", function(uas)
        local s = udp_socket()
        local port = uas.ports.udp
        local lines = {}
        for _, l in ipairs({ "SIP/2.0 200 OK",
            ("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKrsp1"):format(port),
            "From: <sip:uas@example.com>;tag=a", "To: <sip:t@example.com>;tag=b",
            "Call-ID: rsp1", "CSeq: 1 OPTIONS", "Content-Length: 0" }) do
            if not starts(l, missing .. ":") then lines[#lines + 1] = l end
        end
        s:sendto(table.concat(lines, "\r\n") .. "\r\n\r\n", "127.0.0.1", port)
        T.eq(recv_datagram(s, QUIET), nil, "an answer")
        s:close()
        T.ok(uas:logged():find(missing .. " header missing; dropped", 1, true),
            "logged:\n" .. uas:logged())
    end)
end

-- ---- 2. the response after the request's TCP connection closed ---------------------------------

-- RFC 3261 §18.2.2: a new connection to received and the sent-by port, never to the closed
-- connection's ephemeral port.
T.case("a TCP response after the connection closed goes to the sent-by port", function()
    with_uas({ "--ring", "1000" }, function(u)
        local lsn = assert(socket.bind("127.0.0.1", 0))
        local sent_by = port_of(lsn)
        local ok, err = xpcall(function()
            local s = tcp_to(u.ports.tcp)
            send_all(s, request("INVITE",
                ("SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKclose1"):format(sent_by),
                { call_id = "close1",
                    extra = { { "Contact", ("<sip:t@127.0.0.1:%d>"):format(sent_by) } } }))
            local ringing = recv_stream(s, function(d)
                return d:find("SIP/2.0 180 ", 1, true) and whole_message(d)
            end)
            T.ok(ringing:find("SIP/2.0 180 ", 1, true), ("180: %q\n%s"):format(ringing,
                u:logged()))
            s:close()
            T.ok(#socket.select({ lsn }, nil, WAIT) > 0,
                "a connection to the sent-by port:\n" .. u:logged())
            lsn:settimeout(WAIT)
            local c = assert(lsn:accept())
            local data = recv_stream(c, function(d)
                return d:find("SIP/2.0 200 ", 1, true) and whole_message(d)
            end)
            c:close()
            local at = data:find("SIP/2.0 200 OK\r\n", 1, true)
            T.ok(at, ("200 on the new connection: %q"):format(data))
            T.eq(parse(data:sub(at)).call_id, "close1", "Call-ID")
        end, debug.traceback)
        lsn:close()
        if not ok then error(err, 0) end
    end)
end)

-- ---- 3. CRLF keep-alives split across segments -------------------------------------------------

for _, parts in ipairs({ { "\r\n", "\r\n" }, { "\r\n\r", "\n" }, { "\r", "\n", "\r", "\n" } }) do
    local shown = {}
    for i, p in ipairs(parts) do shown[i] = '"' .. p:gsub("\r", "\\r"):gsub("\n", "\\n") .. '"' end
    uas_case("a CRLF ping split as " .. table.concat(shown, " ") .. " gets one pong", function(uas)
        local s = tcp_to(uas.ports.tcp)
        for i, part in ipairs(parts) do
            if i > 1 then socket.sleep(0.1) end -- separate segments, separate reads
            send_all(s, part)
        end
        local got = recv_stream(s, function(d) return #d >= 2 end)
        T.eq(got, "\r\n", "pong (" .. uas:logged() .. ")")
        -- Exactly one pong, and the connection still frames messages after it.
        send_all(s, request("OPTIONS", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKka1"))
        local data = recv_stream(s, whole_message)
        s:close()
        T.ok(starts(data, "SIP/2.0 200 OK\r\n"), ("200 after the pong: %q"):format(data))
    end)
end

uas_case("a lone CRLF gets no pong", function(uas)
    local s = tcp_to(uas.ports.tcp)
    send_all(s, "\r\n")
    T.eq(recv_stream(s, function(d) return #d > 0 end, QUIET), "", "answer to a lone CRLF")
    s:close()
end)

-- ---- 4. maddr and rport together ---------------------------------------------------------------

-- RFC 3581 §4 applies rport only without maddr; with maddr the response goes to maddr and the
-- sent-by port (RFC 3261 §18.2.2).
uas_case("maddr wins over rport", function(uas)
    local src, dst = udp_socket(), udp_socket()
    src:sendto(request("OPTIONS", ("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKmaddr1;rport;"
        .. "maddr=127.0.0.1"):format(port_of(dst))), "127.0.0.1", uas.ports.udp)
    local data = recv_datagram(dst)
    local stray = recv_datagram(src, 0.1)
    src:close()
    dst:close()
    T.ok(starts(data, "SIP/2.0 200 OK\r\n"), ("200 at maddr and the sent-by port: %q %q\n%s")
        :format(data, stray, uas:logged()))
    T.eq(stray, nil, "an answer at the source port")
end)

uas_case("rport without maddr goes to the source", function(uas)
    local src, other = udp_socket(), udp_socket()
    src:sendto(request("OPTIONS", ("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKrp1;rport"):format(
        port_of(other))), "127.0.0.1", uas.ports.udp)
    local data = recv_datagram(src)
    src:close()
    other:close()
    T.ok(starts(data, "SIP/2.0 200 OK\r\n"), ("200 at the source: %q"):format(data))
end)

-- RFC 3581 §4: the server sets rport to the source port (and received to the source address),
-- whatever value the client put there.
uas_case("rport and received values written by the sender are replaced", function(uas)
    local src, other = udp_socket(), udp_socket()
    local port = port_of(other)
    src:sendto(request("OPTIONS", ("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKrp2;"
        .. "received=192.0.2.66;rport=%d"):format(port, port)), "127.0.0.1", uas.ports.udp)
    local data = recv_datagram(src)
    local stray = recv_datagram(other, 0.1)
    local src_port = port_of(src)
    src:close()
    other:close()
    T.ok(starts(data, "SIP/2.0 200 OK\r\n"), ("200 at the source: %q\n%s"):format(data,
        uas:logged()))
    T.eq(stray, nil, "an answer at the port the sender wrote")
    local via = parse(data).via
    T.eq(via.received, "127.0.0.1", "received")
    T.eq(via.rport, src_port, "rport")
end)

-- ---- 5. stateless answers to malformed requests ------------------------------------------------

-- A request the parser refuses (a Max-Forwards that is no number; or a SIP version other than
-- 2.0) whose Via, From, To, Call-ID and CSeq are fine, so the answer parses.
local function malformed(via, version)
    local data = request("OPTIONS", via, { drop = { "Max-Forwards" },
        extra = { { "Max-Forwards", "x" } } })
    local a, b = data:find("SIP/2.0\r\n", 1, true)
    return data:sub(1, a - 1) .. "SIP/" .. (version or "2.0") .. "\r\n" .. data:sub(b + 1)
end

for _, vs in ipairs({ { "2.0", 400 }, { "3.0", 505 } }) do
    local version, status = vs[1], vs[2]
    uas_case(("a malformed SIP/%s request over UDP: %d to the sent-by port with a To tag")
        :format(version, status), function(uas)
        local src, dst = udp_socket(), udp_socket()
        src:sendto(malformed(("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKbad1"):format(
            port_of(dst)), version), "127.0.0.1", uas.ports.udp)
        local data = recv_datagram(dst)
        local stray = recv_datagram(src, 0.1)
        src:close()
        dst:close()
        T.ok(data, ("an answer at the sent-by port (at the source: %q)\n%s"):format(stray,
            uas:logged()))
        T.ok(starts(data, ("SIP/2.0 %d "):format(status)), "status: " .. data)
        T.ok(to_tag(parse(data)), "To tag: " .. data)
    end)
end

uas_case("a malformed request over UDP with rport: answered at the source", function(uas)
    local src, other = udp_socket(), udp_socket()
    src:sendto(malformed(("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKbad2;rport"):format(
        port_of(other))), "127.0.0.1", uas.ports.udp)
    local data = recv_datagram(src)
    src:close()
    other:close()
    T.ok(starts(data, "SIP/2.0 400 "), ("400 at the source: %q"):format(data))
    T.ok(to_tag(parse(data)), "To tag: " .. data)
end)

-- An unstamped Via's received= and rport= values are the sender's word: the packet's source
-- stands for them.
uas_case("a malformed request over UDP: received and rport the sender wrote are ignored",
    function(uas)
        local src, other = udp_socket(), udp_socket()
        local port = port_of(other)
        src:sendto(malformed(("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKbad6;received=127.0.0.1;"
            .. "rport=%d"):format(port, port)), "127.0.0.1", uas.ports.udp)
        local data = recv_datagram(src)
        local stray = recv_datagram(other, 0.1)
        src:close()
        other:close()
        T.ok(starts(data, "SIP/2.0 400 "), ("400 at the source: %q"):format(data))
        T.eq(stray, nil, "an answer at the port the sender wrote")
    end)

-- Without a Via that parses there is nowhere else to answer: the packet's source.
uas_case("a malformed request over UDP with an unparseable Via: answered at the source",
    function(uas)
        local src = udp_socket()
        src:sendto(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad3;;"),
            "127.0.0.1", uas.ports.udp)
        local data = recv_datagram(src)
        src:close()
        T.ok(starts(data, "SIP/2.0 400 Bad Request (Malformed Via"), ("400: %q"):format(data))
    end)

uas_case("a malformed request over TCP: the 400 has a To tag", function(uas)
    local s = tcp_to(uas.ports.tcp)
    send_all(s, malformed("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKbad4"))
    local data = recv_stream(s, whole_message)
    s:close()
    T.ok(starts(data, "SIP/2.0 400 "), ("400: %q"):format(data))
    T.ok(to_tag(parse(data)), "To tag: " .. data)
end)

uas_case("a malformed request's 400 keeps an existing To tag", function(uas)
    local s = tcp_to(uas.ports.tcp)
    local req = malformed("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKbad5")
    local to = "To: <sip:uas@example.com>"
    local a, b = req:find(to, 1, true)
    send_all(s, req:sub(1, a - 1) .. to .. " ; TAG = kept" .. req:sub(b + 1))
    local data = recv_stream(s, whole_message)
    s:close()
    T.ok(starts(data, "SIP/2.0 400 "), ("400: %q"):format(data))
    local _, tags = data:gsub("tag", "")
    local _, caps = data:gsub("TAG", "")
    T.eq(tags + caps, 2, "tags (From's and the kept one) in " .. data)
    T.ok(data:find(to .. " ; TAG = kept\r\n", 1, true), "the To header as sent: " .. data)
end)
