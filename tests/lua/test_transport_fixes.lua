-- SPDX-License-Identifier: MIT
-- Transports against independent clients and servers, through the Lua package (the same cases
-- as tests/python/test_transport_fixes.py; in C: tests/unit/test_tls_name.c,
-- test_txn_failover.c, test_layers.c, test_transport_logs.c):
-- - TLS to a server found by name sends the name as SNI and checks the certificate against it
--   (RFC 5922 §4.1, §7.2): `openssl s_server`, certificates made here with the openssl command,
--   the name served by a dnsmasq started here;
-- - RFC 3263 §4.3 failover: a UDP target that never answers (or answers 503) is left for the
--   next SRV target before the transaction ends;
-- - the WebSocket subprotocol is "sip", case-sensitively (RFC 6455 §4.1, RFC 7118 §4), with a
--   raw TCP peer (lua-socket) as client and as server;
-- - IPv6 addresses in the log lines are written in brackets (udp:[::1]:5060).
-- Every process started here is stopped at the end of its case; every wait is bounded.
local T = ...
local sip = require "libsip"
local core = sip.core

-- lua-socket (Debian's lua-socket) from the system's Lua folders: the tests' LUA_PATH and
-- LUA_CPATH name only the build tree, which keeps coming first.
package.path = package.path .. ";/usr/local/share/lua/5.4/?.lua;/usr/share/lua/5.4/?.lua"
package.cpath = package.cpath
    .. ";/usr/local/lib/lua/5.4/?.so;/usr/lib/x86_64-linux-gnu/lua/5.4/?.so"
local has_socket, socket = pcall(require, "socket")

-- Not under the sanitizer runtimes a sanitized build preloads into the interpreter: the
-- programs started here are not ours.
local ENV = "env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS "

local function exists(path)
    local f = io.open(path)
    if f then f:close() end
    return f ~= nil
end

local function read_file(path)
    local f = io.open(path, "rb")
    if not f then return "" end
    local s = f:read("a")
    f:close()
    return s
end

local function has(hay, needle) return hay:find(needle, 1, true) ~= nil end

local function options(uri, transport)
    return sip.Message.request("OPTIONS", uri, { headers = {
        { "Via", "SIP/2.0/" .. (transport or "UDP") .. " c.invalid;branch=" .. sip.branch() },
        { "Max-Forwards", 70 }, { "To", "<sip:uas@sip.test>" },
        { "From", "<sip:uac@sip.test>;tag=" .. sip.tag() },
        { "Call-ID", sip.call_id("127.0.0.1") }, { "CSeq", "1 OPTIONS" } } })
end

-- Runs loop until done() or limit_ms (then fails).
local function run_until(loop, done, limit_ms)
    local tick = loop:timer(5, function() if done() then loop:stop() end end, 5)
    local guard = loop:timer(limit_ms or 5000, function() loop:stop() end)
    loop:run()
    tick:close()
    guard:close()
    T.ok(done(), "finished before the time limit")
end

-- A loop whose log lines (every level, and the trace of messages) go to the list it returns.
local function logged_loop()
    local lines = {}
    local loop = sip.Loop { log = function(_, module, text)
        lines[#lines + 1] = module .. ": " .. text
    end, log_level = "trace", trace = true }
    return loop, lines
end

local function logged(lines, text)
    for _, l in ipairs(lines) do if has(l, text) then return true end end
    return false
end

-- Runs fn(cleanup) and then every function cleanup got, even when fn fails.
local function with_cleanup(fn)
    local todo = {}
    local ok, err = xpcall(fn, debug.traceback, function(f) todo[#todo + 1] = f end)
    for i = #todo, 1, -1 do pcall(todo[i]) end
    if not ok then error(err, 0) end
end

-- dnsmasq on 127.0.0.1 at a free high port serving only these records (--no-resolv --no-hosts;
-- names under .test answered here only); returns the port and a stop function, or nil when
-- dnsmasq is not installed.
local function start_dnsmasq(records)
    local bin = "/usr/sbin/dnsmasq"
    if not exists(bin) then return nil end
    local pidfile = os.tmpname()
    for _ = 1, 10 do
        local port = math.random(20000, 60000)
        -- dnsmasq returns once it serves (it forks into the background itself); bounded.
        local cmd = table.concat({ ENV .. "timeout 10", bin, "--conf-file=/dev/null",
            "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1",
            "--port=" .. port, "--pid-file=" .. pidfile, "--local=/test/",
            table.concat(records, " "), ">/dev/null 2>&1" }, " ")
        if os.execute(cmd) then
            local pf = io.open(pidfile)
            local pid = pf and pf:read("n")
            if pf then pf:close() end
            return port, function()
                if pid then os.execute("kill " .. math.tointeger(pid) .. " 2>/dev/null") end
                os.remove(pidfile)
            end
        end
    end
    os.remove(pidfile)
    error("dnsmasq did not start")
end

---- 1. TLS to a server found by name -----------------------------------------------------------

-- A CA, a server certificate for sip.test and secure.test (no address, not the SRV target),
-- one for other.test, all signed by the CA (as tests/unit/test_tls_name.c); gives the folder.
local function make_certs()
    local p = assert(io.popen("mktemp -d /tmp/libsip-lua-tlsname-XXXXXX"))
    local dir = p:read("l")
    p:close()
    local script = table.concat({
        "set -e; cd " .. dir .. "; ",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ",
        "-keyout ca.key -out ca.pem -days 2 -subj /CN=libsip-test-ca ",
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign; ",
        "for n in good:DNS:sip.test,DNS:secure.test other:DNS:other.test; do ",
        "  f=${n%%:*}; san=${n#*:}; ",
        "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $f.key ",
        "  -out $f.csr -subj /CN=libsip-test-server; ",
        "  printf 'subjectAltName=%s\\nextendedKeyUsage=serverAuth\\n' $san > $f.ext; ",
        "  openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 ",
        "  -extfile $f.ext -out $f.pem; ",
        "done" })
    -- The script goes to sh's input: it holds quotes of its own.
    local sh = assert(io.popen(ENV .. "timeout 60 sh >/dev/null 2>&1", "w"))
    sh:write(script, "\n")
    if not sh:close() then
        os.execute("rm -rf " .. dir)
        error("openssl could not make the test certificates")
    end
    return dir
end

local function free_tcp_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return math.tointeger(tonumber(port))
end

-- `openssl s_server` with NAME.pem on a free loopback port. With servername it wants that SNI
-- (-servername_fatal: another name ends the handshake) and prints the name it got; its output
-- then holds what the client sent. Returns { port =, output = fn, stop = fn }.
local function start_s_server(dir, name, servername)
    local cert, key = dir .. "/" .. name .. ".pem", dir .. "/" .. name .. ".key"
    local out = ("%s/s_server-%s-%s.out"):format(dir, name, servername or "any")
    local pidfile = dir .. "/s_server.pid"
    for _ = 1, 5 do
        local port = has_socket and free_tcp_port() or math.random(20000, 60000)
        local cmd = { "echo $$ >", pidfile, "; exec", ENV, "timeout 60 openssl s_server",
            "-accept 127.0.0.1:" .. port, "-cert", cert, "-key", key, "-ign_eof" }
        if servername then
            for _, a in ipairs { "-servername", servername, "-cert2", cert, "-key2", key,
                "-servername_fatal" } do cmd[#cmd + 1] = a end
        end
        cmd[#cmd + 1] = ">" .. out .. " 2>&1"
        -- s_server ends at the end of its input: this pipe stays open until stop.
        local stdin = assert(io.popen(table.concat(cmd, " "), "w"))
        local s = { port = port }
        function s.output() return read_file(out) end
        function s.stop()
            if not stdin then return end
            local pid = read_file(pidfile):match("%d+")
            if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
            stdin:close()
            stdin = nil
        end
        for _ = 1, 250 do
            if has(s.output(), "ACCEPT") then return s end
            if has(s.output(), "error") then break end
            os.execute("sleep 0.02")
        end
        s.stop()
    end
    error("openssl s_server did not start")
end

-- Sends an OPTIONS to uri without a destination (RFC 3263 through a sip.Resolver pointed at
-- dns_port), trusting ca (the transport option tls_ca_file); gives the send's status and the
-- log. With server, waits (bounded) until it printed the request.
local function send_by_name(dns_port, ca, uri, server)
    local loop, log = logged_loop()
    local r = sip.Resolver { servers = "127.0.0.1:" .. dns_port, timeout_ms = 1000,
        transports = { "udp", "tcp", "tls" } }
    local stack = sip.Stack { loop = loop, resolver = r, options = { tls_ca_file = ca } }
    local got = {}
    local ok, err = pcall(function()
        stack:spawn(function()
            got.status = stack:send(options(uri, "TLS"))
            if got.status == 0 and server then
                for _ = 1, 150 do
                    if has(server.output(), "OPTIONS sip") then break end
                    sip.sleep(20)
                end
            end
            got.done = true
        end)
        run_until(loop, function() return got.done end, 15000)
    end)
    stack:close()
    r:close()
    loop:close()
    if not ok then error(err, 0) end
    return got.status, log
end

local function tls_case(name, fn)
    T.case(name, function()
        if not exists("/usr/sbin/dnsmasq") or not os.execute("command -v openssl >/dev/null") then
            error("dnsmasq or openssl not installed: scripts/deps.sh installs what the tests need")
        end
        with_cleanup(function(cleanup)
            local dir = make_certs()
            cleanup(function() os.execute("rm -rf " .. dir) end)
            fn(dir, cleanup)
        end)
    end)
end

tls_case("TLS to a name sends it as SNI and checks the certificate against it",
    function(dir, cleanup)
    local ca = dir .. "/ca.pem"
    local s = start_s_server(dir, "good", "sip.test")
    cleanup(s.stop)
    local dns, stop_dns = start_dnsmasq { "--host-record=sip.test,127.0.0.1" }
    cleanup(stop_dns)
    -- A name with a port: an A record only; the certificate names no address, and the name
    -- went out as SNI (another one would end the handshake).
    local status, log = send_by_name(dns, ca,
        ("sip:uas@sip.test:%d;transport=tls"):format(s.port), s)
    T.eq(status, 0, "send status (log: " .. table.concat(log, " | ") .. ")")
    T.ok(has(s.output(), 'Hostname in TLS extension: "sip.test"'), "SNI sip.test sent")
    T.ok(has(s.output(), "OPTIONS sip:uas@sip.test"), "the request reached s_server")
    -- An address keeps address matching: this certificate names no address.
    status, log = send_by_name(dns, ca, ("sip:uas@127.0.0.1:%d;transport=tls"):format(s.port))
    T.eq(status, core.SIP_EIO, "send to the address")
    T.ok(logged(log, "certificate verify failed: IP address mismatch"), table.concat(log, "\n"))
end)

tls_case("sips: through NAPTR and SRV: the certificate names the SIP domain", function(dir, cleanup)
    local s = start_s_server(dir, "good", "secure.test")
    cleanup(s.stop)
    local dns, stop_dns = start_dnsmasq {
        "--host-record=node1.secure.test,127.0.0.1",
        "--naptr-record=secure.test,10,10,s,SIPS+D2T,,_sips._tcp.secure.test",
        ("--srv-host=_sips._tcp.secure.test,node1.secure.test,%d,10,10"):format(s.port) }
    cleanup(stop_dns)
    local status, log = send_by_name(dns, dir .. "/ca.pem", "sips:uas@secure.test", s)
    T.eq(status, 0, "send status (log: " .. table.concat(log, " | ") .. ")")
    T.ok(has(s.output(), 'Hostname in TLS extension: "secure.test"'), "SNI secure.test sent")
    T.ok(has(s.output(), "OPTIONS sips:uas@secure.test"), "the request reached s_server")
end)

tls_case("TLS: a certificate for another name is refused", function(dir, cleanup)
    local s = start_s_server(dir, "other")
    cleanup(s.stop)
    local dns, stop_dns = start_dnsmasq { "--host-record=sip.test,127.0.0.1" }
    cleanup(stop_dns)
    local status, log = send_by_name(dns, dir .. "/ca.pem",
        ("sip:uas@sip.test:%d;transport=tls"):format(s.port))
    T.eq(status, core.SIP_EIO, "send status")
    T.ok(logged(log, "certificate verify failed: hostname mismatch"), table.concat(log, "\n"))
    T.ok(not has(s.output(), "OPTIONS sip:"), "nothing sent to the wrong server")
end)

---- 2. RFC 3263 §4.3 failover -------------------------------------------------------------------

for _, first_status in ipairs { "silent", 503 } do
    T.case("failover to the next SRV target from a " .. tostring(first_status) .. " target",
        function()
            if not exists("/usr/sbin/dnsmasq") then
                error("dnsmasq not installed: scripts/deps.sh installs what the tests need")
            end
            with_cleanup(function(cleanup)
                local loop = sip.Loop()
                cleanup(function() loop:close() end)
                local seen = { first = {}, second = {} }
                local function responder(name, status)
                    -- T1 10 ms: Timer F (64*T1) gives up on a silent target in 640 ms.
                    local s = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop,
                        transactions = { t1_ms = 10, t4_ms = 50 } }
                    cleanup(function() s:close() end)
                    s:on_request("OPTIONS", function(req)
                        seen[name][#seen[name] + 1] = req.via.branch
                        req:reply(status)
                    end)
                    return s:listeners()[1].port
                end
                local first
                if first_status == "silent" then
                    -- A UDP socket that takes the request and never answers.
                    local dead = sip.Transport { loop = loop, listen = "udp:127.0.0.1:0",
                        on_message = function(req)
                            seen.first[#seen.first + 1] = req.via.branch
                        end }
                    cleanup(function() dead:close() end)
                    first = dead:listeners()[1].port
                else
                    first = responder("first", first_status)
                end
                local second = responder("second", 200)
                local domain = first_status == "silent" and "silent.lua.test" or "busy.lua.test"
                local dns, stop_dns = start_dnsmasq {
                    "--host-record=one." .. domain .. ",127.0.0.1",
                    "--host-record=two." .. domain .. ",127.0.0.1",
                    ("--srv-host=_sip._udp.%s,one.%s,%d,10,10"):format(domain, domain, first),
                    ("--srv-host=_sip._udp.%s,two.%s,%d,20,10"):format(domain, domain, second) }
                cleanup(stop_dns)
                local r = sip.Resolver { servers = "127.0.0.1:" .. dns, timeout_ms = 1000,
                    transports = { "udp" } }
                cleanup(function() r:close() end)
                local uac = sip.Stack { listen = "udp:127.0.0.1:0", loop = loop, resolver = r,
                    transactions = { t1_ms = 10, t4_ms = 50 } }
                cleanup(function() uac:close() end)
                local got, statuses = {}, {}
                uac:spawn(function()
                    local txn = uac:request(options("sip:uas@" .. domain), {
                        on_response = function(status) statuses[#statuses + 1] = status end })
                    got.rsp, got.err = txn:wait()
                    got.done = true
                end)
                run_until(loop, function() return got.done end, 15000)
                T.eq(got.err, nil, "error")
                -- The application hears only the second target's 200.
                T.eq(got.rsp.status, 200, "final response")
                T.eq(table.concat(statuses, ","), "200", "responses the application saw")
                T.ok(#seen.first >= 1, "the first target got the request")
                T.eq(#seen.second, 1, "the second target got it once")
                -- A new branch for the new target (a new client transaction).
                for _, b in ipairs(seen.first) do
                    T.ok(b ~= seen.second[1], "a new branch for the second target")
                end
            end)
        end)
end

---- 3. The WebSocket subprotocol is "sip", case-sensitively --------------------------------------

-- Reads from a non-blocking lua-socket connection inside a task until the data holds stop
-- (a Lua pattern) or the peer closes, for at most 5 s.
local function read_until(conn, buf, stop)
    for _ = 1, 500 do
        if buf:find(stop) then return buf end
        local data, err, partial = conn:receive(65536)
        buf = buf .. (data or partial or "")
        if err == "closed" then return buf end
        if not data then sip.sleep(10) end
    end
    return buf
end

local UPGRADE = "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n" ..
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" ..
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n"

-- One text frame from a client (RFC 6455 §5.2), masked with the key 0 (the payload unchanged).
local function client_frame(payload)
    local n = #payload
    local len = n < 126 and string.char(0x80 | n) or string.pack(">BI2", 0x80 | 126, n)
    return "\x81" .. len .. "\0\0\0\0" .. payload
end

-- The payload of the first server frame in data (unmasked, under 64 KiB), or nil.
local function server_payload(data)
    if #data < 2 then return nil end
    local n, at = data:byte(2) & 0x7f, 3
    if n == 126 then n, at = string.unpack(">I2", data, 3) end
    if #data < at + n - 1 then return nil end
    return data:sub(at, at + n - 1)
end

local function ws_case(name, fn)
    T.case(name, function()
        if not has_socket then
            -- The raw peer needs lua-socket (Debian's lua-socket, in scripts/deps.sh).
            error("lua-socket not installed: scripts/deps.sh installs what the tests need")
        end
        fn()
    end)
end

ws_case('WebSocket server: "SIP" is refused, "sip" is taken (RFC 6455 §4.1)', function()
    local loop, log = logged_loop()
    local uas = sip.Stack { listen = "ws:127.0.0.1:0", loop = loop }
    uas:on_request("OPTIONS", function(req) req:reply(200) end)
    local port = uas:listeners()[1].port
    local got = {}
    local ok, err = pcall(function()
        loop:spawn(function()
            for _, offer in ipairs { "SIP", "sip" } do
                local c = assert(socket.tcp())
                c:settimeout(2)
                assert(c:connect("127.0.0.1", port))
                c:settimeout(0)
                assert(c:send(UPGRADE:format(port, offer)))
                local head = read_until(c, "", "\r\n\r\n")
                got[offer] = { status = head:match("^HTTP/1%.1 (%d+)"),
                    proto = head:match("\r\nSec%-WebSocket%-Protocol: ([^\r]*)\r\n") }
                if offer == "sip" and got.sip.status == "101" then
                    local body = tostring(options(("sip:uas@127.0.0.1:%d;transport=ws")
                        :format(port), "WS"))
                    assert(c:send(client_frame(body)))
                    local data = read_until(c, head:match("\r\n\r\n(.*)$"), "SIP/2%.0 %d+")
                    got.sip.answer = (server_payload(data) or ""):match("^[^\r]*")
                end
                c:close()
            end
            got.done = true
        end)
        run_until(loop, function() return got.done end, 15000)
    end)
    uas:close()
    loop:close()
    if not ok then error(err, 0) end
    T.eq(got.SIP.status, "400", '"SIP" offered')
    T.ok(logged(log, 'no "sip" subprotocol offered'), table.concat(log, "\n"))
    T.eq(got.sip.status, "101", '"sip" offered')
    T.eq(got.sip.proto, "sip", "subprotocol selected")
    T.eq(got.sip.answer, "SIP/2.0 200 OK", "the OPTIONS over the WebSocket")
end)

-- base64(SHA-1(key .. GUID)) (RFC 6455 §4.2.2), by the openssl command.
local function ws_accept(key)
    local p = assert(io.popen(ENV .. "sh -c \"printf %s '" .. key ..
        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11' | openssl dgst -sha1 -binary | base64\""))
    local v = p:read("l")
    p:close()
    return v
end

ws_case('WebSocket client: a server selecting "SIP" is refused (RFC 6455 §4.1)', function()
    local listener = assert(socket.bind("127.0.0.1", 0))
    listener:settimeout(0)
    local _, port = listener:getsockname()
    port = math.tointeger(tonumber(port))
    local loop, log = logged_loop()
    local uac = sip.Stack { loop = loop }
    local got = {}
    local ok, err = pcall(function()
        -- The server: answers the upgrade with the right accept and "SIP".
        loop:spawn(function()
            local c
            for _ = 1, 500 do
                c = listener:accept()
                if c then break end
                sip.sleep(10)
            end
            if not c then got.server_done = true return end
            c:settimeout(0)
            local head = read_until(c, "", "\r\n\r\n")
            got.offered = head:match("\r\nSec%-WebSocket%-Protocol: ([^\r]*)\r\n")
            local key = head:match("\r\nSec%-WebSocket%-Key: ([%w+/=]+)\r\n")
            c:send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" ..
                "Connection: Upgrade\r\nSec-WebSocket-Accept: " .. ws_accept(key or "") ..
                "\r\nSec-WebSocket-Protocol: SIP\r\n\r\n")
            got.rest = read_until(c, "", "^$x") -- until the client closes (or 5 s)
            c:close()
            got.server_done = true
        end)
        loop:spawn(function()
            got.status = uac:send(options(("sip:uas@127.0.0.1:%d;transport=ws"):format(port),
                "WS"), ("ws:127.0.0.1:%d"):format(port))
        end)
        run_until(loop, function() return got.status ~= nil and got.server_done end, 15000)
    end)
    uac:close()
    loop:close()
    listener:close()
    if not ok then error(err, 0) end
    T.eq(got.offered, "sip", "the client offered")
    T.ok(got.status < 0, "send status " .. tostring(got.status))
    T.ok(logged(log, 'WebSocket server did not select the "sip" subprotocol'),
        table.concat(log, "\n"))
    T.ok(not has(got.rest, "OPTIONS"), "no request over the refused connection")
end)

---- 4. IPv6 addresses in the log in brackets ----------------------------------------------------

local function has_ipv6_loopback()
    if not has_socket then
        local p = io.popen("ip -6 addr show lo 2>/dev/null")
        local s = p and p:read("a") or ""
        if p then p:close() end
        return has(s, "::1/128")
    end
    local u = socket.udp6 and socket.udp6()
    local ok = u and u:setsockname("::1", 0)
    if u then u:close() end
    return ok == 1 or ok == true
end

T.case("IPv6 addresses in the log are written in brackets", function()
    if not has_ipv6_loopback() then
        error("no IPv6 loopback: the tests need ::1")
    end
    local loop, log = logged_loop()
    local uac = sip.Stack { listen = "udp:[::1]:0", loop = loop }
    local uas = sip.Stack { listen = { "udp:[::1]:0", "tcp:[::1]:0" }, loop = loop }
    local got = {}
    local a, b, t
    local ok, err = pcall(function()
        uas:on_request("OPTIONS", function(req)
            got[#got + 1] = req.source.transport
            req:reply(200)
        end)
        a, b, t = uac:listeners()[1].port, uas:listeners()[1].port, uas:listeners()[2].port
        T.eq(uas:listeners()[1].spec, ("udp:[::1]:%d"):format(b), "listener spec")
        uac:spawn(function()
            uac:send(options(("sip:uas@[::1]:%d"):format(b)), ("udp:[::1]:%d"):format(b))
            uac:send(options(("sip:uas@[::1]:%d;transport=tcp"):format(t), "TCP"),
                ("tcp:[::1]:%d"):format(t))
        end)
        run_until(loop, function() return #got == 2 end)
    end)
    uac:close()
    uas:close()
    loop:close()
    if not ok then error(err, 0) end
    local text = table.concat(log, "\n")
    T.ok(has(text, ("listening on udp:[::1]:%d"):format(b)), text)
    T.ok(has(text, ("listening on tcp:[::1]:%d"):format(t)), text)
    T.ok(has(text, ("to udp:[::1]:%d (local [::1]:%d)"):format(b, a)), text)
    T.ok(has(text, ("from udp:[::1]:%d (local [::1]:%d)"):format(a, b)), text)
    T.ok(has(text, ("with [::1]:%d ready"):format(t)), text)
    -- Nowhere an address without its brackets.
    T.ok(not has((text:gsub("%[::1%]:", "")), "::1:"), text)
end)
