# SPDX-License-Identifier: MIT
"""The transaction layer through the flat core: an OPTIONS client transaction between two UDP
transports on 127.0.0.1, answered 200 by the server's request callback (RFC 3261 §17)."""

from libsip import _core


def _transport(loop):
    rc, tp = _core.sip_transport_create(loop, None)
    assert rc == 0
    assert _core.sip_transport_listen(tp, "udp:127.0.0.1:0") == 0
    rc, info = _core.sip_transport_listener_info(tp, 0)
    assert rc == 0 and info.local_port > 0
    return tp, info.local_port


def _options(port):
    rc, req = _core.sip_msg_create_request("OPTIONS", f"sip:uas@127.0.0.1:{port}")
    assert rc == 0
    for name, value in [("Max-Forwards", "70"),
                        ("From", "<sip:uac@127.0.0.1>;tag=txn1"),
                        ("To", f"<sip:uas@127.0.0.1:{port}>"),
                        ("Call-ID", "txn-py-1@127.0.0.1"),
                        ("CSeq", "7 OPTIONS")]:
        assert _core.sip_msg_add_header(req, name, value) == 0
    return req


def test_options_client_transaction_gets_200():
    rc, loop = _core.sip_loop_create()
    assert rc == 0
    uac_tp, uac_port = _transport(loop)
    uas_tp, uas_port = _transport(loop)

    # Timer K (T4 for UDP, RFC 3261 §17.1.2.2) short, so the client transaction ends in the test.
    opts = _core.sip_txn_opts_t()
    _core.sip_txn_opts_init(opts)
    assert (opts.t1_ms, opts.t2_ms, opts.t4_ms, opts.timer_100_ms) == (500, 4000, 5000, 200)
    opts.t4_ms = 20
    rc, uac = _core.sip_txn_layer_create(uac_tp, opts)
    assert rc == 0
    rc, uas = _core.sip_txn_layer_create(uas_tp, None)
    assert rc == 0
    assert _core.sip_txn_layer_get_transport(uas) is not None

    seen = []
    events = []
    strays = []
    # Every response matches the client transaction: nothing is stray.
    assert _core.sip_txn_layer_set_stray_handler(uac, lambda *a: strays.append(a)) == 0

    def on_request(layer, txn, req):
        via = _core.sip_msg_get_via(req)
        seen.append((_core.sip_msg_get_method_str(req), _core.sip_msg_get_call_id(req),
                     via.branch[:7], via.port, _core.sip_txn_is_client(txn),
                     _core.sip_txn_state_name(_core.sip_txn_get_state(txn)),
                     _core.sip_txn_layer_count(layer)))
        # No CANCEL, timeout or transport error follows for this one.
        seen.append(_core.sip_txn_set_event_handler(txn, lambda *a: events.append(a)))
        seen.append(_core.sip_txn_respond(txn, 200, None))
        seen.append(_core.sip_txn_state_name(_core.sip_txn_get_state(txn)))
        # The final response went out: the transaction keeps only its wire form now.
        seen.append(_core.sip_txn_get_response(txn))

    assert _core.sip_txn_layer_set_request_handler(uas, on_request) == 0

    got = []
    timers = []

    def on_response(txn, status, rsp):
        got.append((status, _core.sip_msg_get_status(rsp), _core.sip_msg_get_reason(rsp),
                    _core.sip_msg_get_call_id(rsp), _core.sip_msg_get_via(rsp).branch[:7],
                    _core.sip_txn_is_client(txn),
                    _core.sip_txn_state_name(_core.sip_txn_get_state(txn))))
        # Let Timer K run out, then stop.
        timers.append(_core.sip_timer_start(loop, 200, 0, lambda t: _core.sip_loop_stop(loop)))

    dst = _core.sip_netinfo_t()
    dst.transport = _core.SIP_TRANSPORT_UDP
    dst.remote_ip = "127.0.0.1"
    dst.remote_port = uas_port
    req = _options(uas_port)
    rc, txn = _core.sip_txn_client_create(uac, req, dst, None, on_response)
    _core.sip_msg_unref(req)
    assert rc == 0
    assert _core.sip_txn_is_client(txn) == 1
    assert _core.sip_txn_get_state(txn) == _core.SIP_TXN_TRYING
    assert _core.sip_txn_layer_count(uac) == 1
    # The layer gave the request a top Via with an RFC 3261 branch.
    assert _core.sip_msg_get_via(_core.sip_txn_get_request(txn)).branch.startswith(b"z9hG4bK")

    rc, guard = _core.sip_timer_start(loop, 5000, 0, lambda t: _core.sip_loop_stop(loop))
    assert rc == 0
    assert _core.sip_loop_run(loop) == 0
    _core.sip_timer_stop(guard)
    _core.sip_timer_unref(guard)
    assert [rc for rc, _ in timers] == [0]
    _core.sip_timer_unref(timers[0][1])

    assert seen == [(b"OPTIONS", b"txn-py-1@127.0.0.1", b"z9hG4bK", uac_port, 0, "Trying", 1),
                    0, 0, "Completed", None]
    assert events == [] and strays == []
    assert got == [(200, 200, b"OK", b"txn-py-1@127.0.0.1", b"z9hG4bK", 1, "Completed")]
    # Timer K fired: the client transaction is over; the server one waits for Timer J (64*T1).
    assert _core.sip_txn_get_state(txn) == _core.SIP_TXN_TERMINATED
    assert _core.sip_txn_layer_count(uac) == 0
    assert _core.sip_txn_layer_count(uas) == 1

    _core.sip_txn_unref(txn)
    _core.sip_txn_layer_close(uas)
    assert _core.sip_txn_layer_count(uas) == 0
    assert _core.sip_txn_layer_get_transport(uas) is None
    _core.sip_txn_layer_unref(uas)
    _core.sip_txn_layer_unref(uac)
    _core.sip_transport_unref(uac_tp)
    _core.sip_transport_unref(uas_tp)
    _core.sip_loop_unref(loop)
