-- SPDX-License-Identifier: MIT
-- The transaction layer through the flat core: an OPTIONS client transaction over UDP on
-- 127.0.0.1, answered 200 by the server's request callback (RFC 3261 §17).
local T = ...
local sip = require "libsip"

local function transport(core, lp)
    local rc, tp = core.sip_transport_create(lp, nil)
    T.eq(rc, 0, "transport created")
    T.eq(core.sip_transport_listen(tp, "udp:127.0.0.1:0"), 0, "listening")
    local rc2, info = core.sip_transport_listener_info(tp, 0)
    T.eq(rc2, 0, "listener info")
    T.ok(info.local_port > 0, "port 0 picked a free port")
    return tp, info.local_port
end

local function options(core, port)
    local rc, req = core.sip_msg_create_request("OPTIONS", "sip:uas@127.0.0.1:" .. port)
    T.eq(rc, 0, "request created")
    for _, h in ipairs {
        { "Max-Forwards", "70" },
        { "From", "<sip:uac@127.0.0.1>;tag=txn1" },
        { "To", "<sip:uas@127.0.0.1:" .. port .. ">" },
        { "Call-ID", "txn-lua-1@127.0.0.1" },
        { "CSeq", "7 OPTIONS" },
    } do
        T.eq(core.sip_msg_add_header(req, h[1], h[2]), 0, h[1])
    end
    return req
end

T.case("core: an OPTIONS client transaction gets the 200 of sip_txn_respond", function()
    local core = sip.core
    local loop <close> = sip.Loop()
    local lp = rawget(loop, "_p")
    local uac_tp, uac_port = transport(core, lp)
    local uas_tp, uas_port = transport(core, lp)

    -- Timer K (T4 for UDP, RFC 3261 §17.1.2.2) short, so the client transaction ends here.
    local opts = core.sip_txn_opts_t()
    core.sip_txn_opts_init(opts)
    T.eq(opts.t1_ms, 500, "default T1")
    T.eq(opts.t4_ms, 5000, "default T4")
    T.eq(opts.timer_100_ms, 200, "default 100 Trying delay")
    opts.t4_ms = 20
    local rc, uac = core.sip_txn_layer_create(uac_tp, opts)
    T.eq(rc, 0, "client layer")
    local rc2, uas = core.sip_txn_layer_create(uas_tp, nil)
    T.eq(rc2, 0, "server layer")

    local seen, events, strays = {}, {}, {}
    -- Every response matches the client transaction: nothing is stray.
    T.eq(core.sip_txn_layer_set_stray_handler(uac, function(...) strays[#strays + 1] = { ... } end),
        0, "stray handler set")
    T.eq(core.sip_txn_layer_set_request_handler(uas, function(layer, txn, req)
        local via = core.sip_msg_get_via(req)
        seen.method = core.sip_msg_get_method_str(req)
        seen.call_id = core.sip_msg_get_call_id(req)
        seen.branch, seen.via_port = via.branch:sub(1, 7), via.port
        seen.is_client = core.sip_txn_is_client(txn)
        seen.state = core.sip_txn_state_name(core.sip_txn_get_state(txn))
        seen.count = core.sip_txn_layer_count(layer)
        -- No CANCEL, timeout or transport error follows for this one.
        seen.event_rc = core.sip_txn_set_event_handler(txn, function(...)
            events[#events + 1] = { ... }
        end)
        seen.rc = core.sip_txn_respond(txn, 200, nil)
        seen.state_after = core.sip_txn_state_name(core.sip_txn_get_state(txn))
        -- The final response went out: the transaction keeps only its wire form now.
        seen.sent = core.sip_txn_get_response(txn) == nil
    end), 0, "request handler set")

    local got, stop_timer = {}, nil
    local function on_response(txn, status, rsp)
        got[#got + 1] = {
            status = status,
            rsp_status = core.sip_msg_get_status(rsp),
            reason = core.sip_msg_get_reason(rsp),
            call_id = core.sip_msg_get_call_id(rsp),
            branch = core.sip_msg_get_via(rsp).branch:sub(1, 7),
            is_client = core.sip_txn_is_client(txn),
            state = core.sip_txn_state_name(core.sip_txn_get_state(txn)),
        }
        -- Let Timer K run out, then stop.
        local _, t = core.sip_timer_start(lp, 200, 0, function() core.sip_loop_stop(lp) end)
        stop_timer = t
    end

    local dst = core.sip_netinfo_t()
    dst.transport = core.SIP_TRANSPORT_UDP
    dst.remote_ip = "127.0.0.1"
    dst.remote_port = uas_port
    local req = options(core, uas_port)
    local rc3, txn = core.sip_txn_client_create(uac, req, dst, nil, on_response)
    core.sip_msg_unref(req)
    T.eq(rc3, 0, "client transaction started")
    T.eq(core.sip_txn_is_client(txn), 1, "a client transaction")
    T.eq(core.sip_txn_get_state(txn), core.SIP_TXN_TRYING, "Trying")
    T.eq(core.sip_txn_layer_count(uac), 1, "one live transaction")
    T.eq(core.sip_msg_get_via(core.sip_txn_get_request(txn)).branch:sub(1, 7), "z9hG4bK",
        "the layer added a top Via with an RFC 3261 branch")

    local _, guard = core.sip_timer_start(lp, 5000, 0, function() core.sip_loop_stop(lp) end)
    loop:run()
    core.sip_timer_stop(guard)
    core.sip_timer_unref(guard)
    T.ok(stop_timer, "the response callback ran")
    core.sip_timer_unref(stop_timer)

    T.eq(seen.method, "OPTIONS", "server saw the method")
    T.eq(seen.call_id, "txn-lua-1@127.0.0.1", "server saw the Call-ID")
    T.eq(seen.branch, "z9hG4bK", "server saw the branch")
    T.eq(seen.via_port, uac_port, "sent-by is the client's listener")
    T.eq(seen.is_client, 0, "a server transaction")
    T.eq(seen.state, "Trying", "server state before the answer")
    T.eq(seen.count, 1, "the server layer holds it")
    T.eq(seen.event_rc, 0, "event handler set")
    T.eq(seen.rc, 0, "sip_txn_respond")
    T.eq(#events, 0, "no server transaction event")
    T.eq(#strays, 0, "no stray response")
    T.eq(seen.state_after, "Completed", "server state after the final response")
    T.eq(seen.sent, true, "the final response kept only in wire form")
    T.eq(#got, 1, "one response at the client")
    T.eq(got[1].status, 200, "status")
    T.eq(got[1].rsp_status, 200, "response status")
    T.eq(got[1].reason, "OK", "reason")
    T.eq(got[1].call_id, "txn-lua-1@127.0.0.1", "Call-ID")
    T.eq(got[1].branch, "z9hG4bK", "branch")
    T.eq(got[1].is_client, 1, "the client transaction")
    T.eq(got[1].state, "Completed", "client state at the final response")
    -- Timer K fired: the client transaction is over; the server one waits for Timer J (64*T1).
    T.eq(core.sip_txn_get_state(txn), core.SIP_TXN_TERMINATED, "client terminated")
    T.eq(core.sip_txn_layer_count(uac), 0, "client layer empty")
    T.eq(core.sip_txn_layer_count(uas), 1, "server transaction in Completed")

    core.sip_txn_unref(txn)
    core.sip_txn_layer_close(uas)
    T.eq(core.sip_txn_layer_count(uas), 0, "close ends every transaction")
    T.eq(core.sip_txn_layer_get_transport(uas), nil, "no transport once closed")
    core.sip_txn_layer_unref(uas)
    core.sip_txn_layer_unref(uac)
    core.sip_transport_unref(uac_tp)
    core.sip_transport_unref(uas_tp)
end)
