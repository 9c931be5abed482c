-- SPDX-License-Identifier: MIT
-- A UDP OPTIONS exchange between two Stacks on 127.0.0.1, port 0.
local T = ...
local sip = require "libsip"

local function options(from_stack, to_spec, call_id)
    local host_port = to_spec:match("^udp:(.*)$")
    local req = sip.Message.request("OPTIONS", "sip:uas@" .. host_port)
    req:add_header("Via", "SIP/2.0/UDP 127.0.0.1;branch=" .. sip.branch())
        :add_header("From", "<sip:uac@127.0.0.1>;tag=uac1")
        :add_header("To", "<sip:uas@" .. host_port .. ">")
        :add_header("Call-ID", call_id)
        :add_header("CSeq", "1 OPTIONS")
        :add_header("Max-Forwards", "70")
    return req
end

T.case("OPTIONS over UDP: request fields at the server, 200 back at the client", function()
    local uas <close> = sip.Stack { listen = { "udp:127.0.0.1:0" } }
    local uac <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = uas.loop,
        transactions = true }
    local loop = uas.loop
    local uas_addr, uac_addr = uas:listeners()[1], uac:listeners()[1]
    T.eq(uas_addr.transport, "udp", "listener transport")
    T.eq(uas_addr.host, "127.0.0.1", "listener host")
    T.ok(uas_addr.port > 0, "port 0 picked a free port")
    local seen = {}
    uas:on_request("OPTIONS", function(req)
        seen.method = req.method
        seen.call_id = req.call_id
        seen.source = req.source
        seen.via_rport = req.via.rport
        req:reply(200, nil, { headers = { Allow = "OPTIONS" } })
    end)
    local got = {}
    uac:spawn(function()
        local rsp, err = uac:request(options(uac, uas_addr.spec, "opt-1@127.0.0.1"),
            uas_addr.spec):wait()
        got.err = err
        if rsp then
            got.status, got.reason, got.call_id = rsp.status, rsp.reason, rsp.call_id
            got.allow, got.to_tag, got.cseq = rsp:header("Allow"), rsp.to.tag, rsp.cseq
            got.source = rsp.source
        end
        loop:stop()
    end)
    loop:run()
    T.eq(got.err, nil, "no error")
    T.eq(seen.method, "OPTIONS", "server saw the method")
    T.eq(seen.call_id, "opt-1@127.0.0.1", "server saw the Call-ID")
    T.eq(seen.source.transport, "udp", "source transport")
    T.eq(seen.source.remote_ip, "127.0.0.1", "source address")
    T.eq(seen.source.remote_port, uac_addr.port, "source port is the client's listener")
    T.eq(seen.via_rport, uac_addr.port, "rport filled in (RFC 3581)")
    T.eq(got.status, 200, "status")
    T.eq(got.reason, "OK", "reason")
    T.eq(got.call_id, "opt-1@127.0.0.1", "Call-ID")
    T.eq(got.allow, "OPTIONS", "extra header of the reply")
    T.eq(got.cseq, 1, "CSeq")
    T.ok(got.to_tag and #got.to_tag > 0, "To tag")
    T.eq(got.source.remote_port, uas_addr.port, "response came from the server")
end)

T.case("stack:send returns the send status; on_response gets unmatched responses", function()
    local uas <close> = sip.Stack { listen = { "udp:127.0.0.1:0" } }
    local uac <close> = sip.Stack { listen = { "udp:127.0.0.1:0" }, loop = uas.loop }
    local loop = uas.loop
    local dst = uas:listeners()[1].spec
    uas:on_request("*", function(req) req:reply(404) end)
    local status, rsp_status
    uac:on_response(function(rsp)
        rsp_status = rsp.status
        loop:stop()
    end)
    uac:spawn(function()
        status = uac:send(options(uac, dst, "opt-2@127.0.0.1"), dst)
    end)
    loop:run()
    T.eq(status, 0, "send status")
    T.eq(rsp_status, 404, "response through on_response")
    T.raises("SIP_EINVAL", uac.send, uac, options(uac, dst, "x"), "bogus")
end)

T.case("a closed stack raises SIP_ECLOSED and leaves its loop closed", function()
    local s = sip.Stack { listen = { "udp:127.0.0.1:0" } }
    local m = options(s, "udp:127.0.0.1:9", "closed@x")
    s:close()
    s:close()
    T.eq(s.closed, true, "closed")
    T.raises("SIP_ECLOSED", s.listen, s, "udp:127.0.0.1:0")
    T.raises("SIP_ECLOSED", s.send, s, m, "udp:127.0.0.1:9")
    T.raises("SIP_ECLOSED", s.run, s)
    T.raises("SIP_ECLOSED", s.loop.run, s.loop)
    T.eq(m.method, "OPTIONS", "messages outlive the stack")
end)

T.case("listening on a bad spec raises once, not a log line too", function()
    local lines = {}
    local s <close> = sip.Stack { log = function(_, _, text) lines[#lines + 1] = text end }
    local err = T.raises("SIP_EINVAL", s.listen, s, "carrier-pigeon:1.2.3.4:5")
    T.ok(err.reason:find("carrier-pigeon:1.2.3.4:5", 1, true), "names the spec: " .. err.reason)
    T.eq(#lines, 0, "nothing logged besides the error")
end)
