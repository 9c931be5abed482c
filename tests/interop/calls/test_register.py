# SPDX-License-Identifier: MIT
"""sip-uac --register against SIPp as the registrar: a challenged REGISTER verified with
verifyauth, the granted expiry printed (the Contact's expires param, not the Expires asked),
--unregister, and a 403 and a silent registrar ending sip-uac with status 1 and a clear
error."""
import re


def test_sip_uac_register_challenged_then_unregister(env):
    port = env.port()
    sipp = env.sipp_server("register", "uas_register_auth.xml", port, calls=1)
    rc, out = env.uac("uac", "--register", "sip:alice@example.com", "--expires", "300",
                      "--unregister", "--user", "alice", "--password", "secret", "--timeout",
                      "20", "sip:127.0.0.1:%d" % port)
    assert rc == 0, out
    lines = out.splitlines()
    assert "REGISTER: 200 OK, expires 120" in lines, out
    assert "UNREGISTER: 200 OK" in lines, out
    env.sipp_ok(sipp, 1)


def test_sip_uac_register_403(env):
    port = env.port()
    sipp = env.sipp_server("register-403", "uas_register_403.xml", port, calls=1)
    rc, out = env.uac("uac", "--register", "sip:bob@example.com", "--timeout", "20",
                      "sip:127.0.0.1:%d" % port)
    assert rc == 1, out
    assert re.search(r"^sip-uac: REGISTER of sip:bob@example\.com failed: 403 Forbidden$", out,
                     re.M), out
    env.sipp_ok(sipp, 1)


def test_sip_uac_register_timeout(env):
    port = env.port()
    # Nothing listens there: with T1 50 ms, Timer F ends the REGISTER after 3.2 s.
    rc, out = env.uac("uac", "--register", "sip:carol@example.com", "--t1", "50", "--timeout",
                      "20", "sip:127.0.0.1:%d" % port)
    assert rc == 1, out
    assert re.search(r"^sip-uac: REGISTER of sip:carol@example\.com failed: 408 .*\(timeout\)$",
                     out, re.M), out


def test_sip_uas_registers_itself_and_unregisters_on_sigterm(env):
    port = env.port()
    sipp = env.sipp_server("uas-register", "uas_register_auth.xml", port, calls=1)
    uas = env.uas("uas", env.port(), "--register", "sip:alice@example.com", "--registrar",
                  "sip:127.0.0.1:%d" % port, "--expires", "300", "--user", "alice",
                  "--password", "secret")
    uas.wait_for(r"^registered sip:alice@example\.com: 200 OK, expires 120$", timeout=10)
    log = env.stop_clean(uas)
    assert re.search(r"^unregistered sip:alice@example\.com: 200 OK$", log, re.M), log
    env.sipp_ok(sipp, 1)


def test_sip_uas_register_refused_exits_1(env):
    port = env.port()
    sipp = env.sipp_server("uas-register-403", "uas_register_403.xml", port, calls=1)
    uas = env.uas("uas-403", env.port(), "--register", "sip:bob@example.com", "--registrar",
                  "sip:127.0.0.1:%d" % port)
    rc = uas.wait(10)
    assert rc == 1, uas.log()
    assert re.search(r"^sip-uas: REGISTER of sip:bob@example\.com failed: 403 Forbidden$",
                     uas.log(), re.M), uas.log()
    env.sipp_ok(sipp, 1)
