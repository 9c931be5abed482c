# SPDX-License-Identifier: MIT
"""SIGTERM during a call: new requests get 503 with Retry-After, the pending INVITE is answered
(503, its branch cancelled) after shutdown.grace, and sipd exits 0; every binding acknowledged
before the signal is in the SQLite store after a restart; and the per-request log line."""
import re
import signal
import time

from conftest import DOMAIN, config


def test_sigterm_during_call_answers_pending_and_exits_0(env):
    port = env.port()
    f = config(env, "sipd.yaml", "listen: [\"udp:127.0.0.1:%d\"]\ndomains: [%s]\n"
               "shutdown: {grace: 1}\n" % (port, DOMAIN))
    d = env.sipd("sipd", "-c", str(f), "--log-level", "info", "--log-requests")
    callee, caller = env.ua("alice"), env.ua("carol")
    assert callee.register(port, "alice", "").startswith("SIP/2.0 200")
    cid, _ = caller.request("INVITE", "sip:alice@%s" % DOMAIN, port)
    inv = callee.recv(want=r"^INVITE ")
    assert inv, d.log()
    callee.answer(inv, 180, "Ringing")
    assert caller.recv(want=r"^SIP/2\.0 180 "), d.log()
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    d.wait_for(r"shutting down \(1000 ms grace\)")
    # A new request during the grace time: 503 and when to come back (RFC 3261 §21.5.4).
    ocid, _ = caller.request("OPTIONS", "sip:alice@%s" % DOMAIN, port)
    rsp = caller.final(ocid)
    assert rsp and rsp.startswith("SIP/2.0 503 ") and re.search(r"^Retry-After: \d+", rsp,
                                                                re.M), rsp
    # The pending INVITE: answered once the grace time is over, its branch cancelled.
    rsp = caller.final(cid, timeout=10)
    assert rsp and rsp.startswith("SIP/2.0 503 "), d.log()
    assert time.monotonic() - t0 >= 0.9
    cancel = callee.recv(want=r"^CANCEL sip:alice@")
    assert cancel, d.log()
    log = env.stop_clean(d)
    assert re.search(r"^stopped on signal %d; 1 bindings$" % signal.SIGTERM, log, re.M), log
    assert re.search(r"request: INVITE sip:alice@%s from udp:127\.0\.0\.1:%d call-id %s: 503 in "
                     r"\d+ ms" % (re.escape(DOMAIN), caller.port, re.escape(cid)), log), log


def test_store_has_every_acknowledged_binding_after_restart(env):
    port = env.port()
    state = env.work / "state"
    args = ["--listen", "udp:127.0.0.1:%d" % port, "--domain", DOMAIN, "--state", str(state)]
    d = env.sipd("sipd", *args)
    ua = env.ua()
    n = 40
    # Every REGISTER at once; each 200 is an acknowledged binding.
    cids = {}
    for i in range(n):
        ua.user = "user%d" % i
        cid, _ = ua.request("REGISTER", "sip:" + DOMAIN, port, to="sip:user%d@%s" % (i, DOMAIN),
                            extra="Expires: 3600\n")
        cids[cid] = i
    ok = 0
    while ok < n:
        m = ua.recv(timeout=10, want=r"^SIP/2\.0 [2-6]\d\d ")
        assert m and m.startswith("SIP/2.0 200 "), m
        ok += 1
    # SIGTERM at once: the store is committed before the exit.
    log = env.stop_clean(d)
    assert re.search(r"^stopped on signal 15; %d bindings$" % n, log, re.M), log
    d = env.sipd("sipd2", *args)
    assert re.search(r"; %d bindings; stateful$" % n, d.log(), re.M), d.log()
    assert (state / "location.sqlite").exists()
    env.stop_clean(d)


def test_request_log_line(env):
    port = env.port()
    d = env.sipd("sipd", "--listen", "udp:127.0.0.1:%d" % port, "--domain", DOMAIN,
                 "--log-level", "info", "--log-requests")
    ua = env.ua("dave")
    assert ua.register(port, "dave", "").startswith("SIP/2.0 200")
    cid, _ = ua.request("MESSAGE", "sip:nobody@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 ")
    m = d.wait_for(r"^sipd info request: MESSAGE sip:nobody@%s from udp:127\.0\.0\.1:%d "
                   r"call-id %s: 404 in (\d+) ms$" % (re.escape(DOMAIN), ua.port,
                                                      re.escape(cid)))
    assert m.group(1).isdigit()
    assert re.search(r"^sipd info request: REGISTER sip:%s from udp:127\.0\.0\.1:%d call-id "
                     r"\S+: 200 in \d+ ms$" % (re.escape(DOMAIN), ua.port), d.log(), re.M)
    env.stop_clean(d)
    # Without --log-requests (log.requests false), no such line.
    d = env.sipd("quiet", "--listen", "udp:127.0.0.1:%d" % port, "--domain", DOMAIN,
                 "--log-level", "info")
    cid, _ = ua.request("MESSAGE", "sip:nobody@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 ")
    log = env.stop_clean(d)
    assert "request: MESSAGE" not in log, log
    # --log-requests alone shows the lines at the default log level (it raises it to info).
    d = env.sipd("requests", "--listen", "udp:127.0.0.1:%d" % port, "--domain", DOMAIN,
                 "--log-requests")
    cid, _ = ua.request("MESSAGE", "sip:nobody@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 ")
    d.wait_for(r"^sipd info request: MESSAGE sip:nobody@%s from udp:127\.0\.0\.1:%d "
               r"call-id %s: 404 in \d+ ms$" % (re.escape(DOMAIN), ua.port, re.escape(cid)))
    env.stop_clean(d)
