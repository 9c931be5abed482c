# SPDX-License-Identifier: MIT
"""SIGHUP: sipd reads its configuration file again, applies its flags over it again, and
reloads. A new user and a new domain take effect without dropping a registration or an
established SIPp call (its BYE goes through after the reload); a broken file, or one whose new
listening point cannot open, is refused with the reason (file, line, key) and the old
configuration keeps serving; log.trace turns SIP traces on and off without a restart."""
import re
import signal
import socket

from conftest import DOMAIN, USERS, config


def sipd_config(env, port, users, domains=(DOMAIN,), extra=""):
    return ("listen: [\"udp:127.0.0.1:%d\"]\n"
            "domains: [%s]\n"
            "users: \"%s\"\n"
            "log:\n  level: info\n  requests: true\n%s" % (port, ", ".join(domains), users, extra))


def test_sighup_adds_user_and_domain_keeps_registration_and_call(env):
    port = env.port()
    users = env.passwd(env.work / "users", users={"alice": USERS["alice"]})
    f = config(env, "sipd.yaml", sipd_config(env, port, users))
    # Two workers: a nonce made by one is taken by the other (one secret for the set).
    d = env.sipd("sipd", "-c", str(f), "--workers", "2")
    ua = env.ua()
    # other.test is not ours yet: a request there is for forwarding, for our users only.
    cid, _ = ua.request("OPTIONS", "sip:nobody@other.test", port)
    assert ua.final(cid).startswith("SIP/2.0 407 "), d.log()
    # bob is nobody yet.
    rsp = ua.register(port, "bob", USERS["bob"])
    assert not rsp.startswith("SIP/2.0 200"), rsp
    # alice registers the SIPp callee; a SIPp call reaches it and stays up (-d) over the reload.
    uas_port = env.port()
    uas = env.sipp("uas", "uas.xml", uas_port, "-m", "1", wait_bound=True)
    rsp = ua.register(port, "alice", USERS["alice"], contact_port=uas_port)
    assert rsp.startswith("SIP/2.0 200"), rsp
    uac = env.sipp("uac", "uac_hold.xml", env.port(), "-s", "alice", "-d", "4000", "-m", "1",
                   "127.0.0.1:%d" % port)
    # The INVITE transaction ended with its 200: the call is established.
    d.wait_for(r"request: INVITE sip:alice@127\.0\.0\.1:%d from .*: 200 in " % port)

    # bob into the users file, other.test into the domains; then SIGHUP.
    env.passwd(env.work / "users", users={"bob": USERS["bob"]})
    f.write_text(sipd_config(env, port, users, domains=(DOMAIN, "other.test")))
    d.signal(signal.SIGHUP)
    d.wait_for(r"reloaded: 2 domains, 2 users, 1 listening points")
    assert "refused" not in d.log()

    # The call ends normally: its BYE went by the Record-Route after the reload.
    env.sipp_ok(uac, 1, timeout=60)
    env.sipp_ok(uas, 1, timeout=60)
    assert re.search(r"request: BYE .*: 200 in ", d.log()), d.log()
    # alice's binding is still there; bob registers; other.test is ours (404 for nobody).
    rsp = ua.register(port, "alice", USERS["alice"], fetch=True)
    assert rsp.startswith("SIP/2.0 200") and \
        re.search(r"^Contact: <sip:alice@127\.0\.0\.1:%d>" % uas_port, rsp, re.M), rsp
    rsp = ua.register(port, "bob", USERS["bob"])
    assert rsp.startswith("SIP/2.0 200"), rsp
    cid, _ = ua.request("OPTIONS", "sip:nobody@other.test", port)
    assert ua.final(cid).startswith("SIP/2.0 404 "), d.log()
    env.stop_clean(d)


def test_broken_config_refused_old_keeps_serving(env):
    port = env.port()
    users = env.passwd(env.work / "users", users={"alice": USERS["alice"]})
    f = config(env, "sipd.yaml", sipd_config(env, port, users))
    # Two workers: a nonce made by one is taken by the other (one secret for the set).
    d = env.sipd("sipd", "-c", str(f), "--workers", "2")
    ua = env.ua()
    assert ua.register(port, "alice", USERS["alice"]).startswith("SIP/2.0 200")
    # A file that does not load: the error names the file, the line, the column and the key.
    f.write_text(sipd_config(env, port, users) + "limits:\n  rate: lots\n")
    d.signal(signal.SIGHUP)
    d.wait_for(r"reload refused: .*sipd\.yaml:8:9: limits\.rate: \"lots\": wants a whole "
               r"number")
    # A new listening point that cannot open: refused, nothing changed.
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken = env.port()
    held.bind(("127.0.0.1", taken))
    try:
        text = sipd_config(env, port, users, domains=(DOMAIN, "new.test"))
        f.write_text(text.replace("\"udp:127.0.0.1:%d\"]" % port,
                                  "\"udp:127.0.0.1:%d\", \"udp:127.0.0.1:%d\"]" % (port, taken)))
        d.signal(signal.SIGHUP)
        d.wait_for(r"reload refused: listen: cannot listen on udp:127\.0\.0\.1:%d: address "
                   r"already in use" % taken)
    finally:
        held.close()
    cid, _ = ua.request("OPTIONS", "sip:nobody@new.test", port)
    assert ua.final(cid).startswith("SIP/2.0 407 "), d.log()  # new.test did not come in
    # A change that needs a restart.
    f.write_text(sipd_config(env, port, users) + "mode: stateless\n")
    d.signal(signal.SIGHUP)
    d.wait_for(r"reload refused: mode: changing it needs a restart")
    # Still serving with the old configuration, registration and all.
    assert d.p.poll() is None
    assert ua.register(port, "alice", USERS["alice"]).startswith("SIP/2.0 200")
    # A good one again.
    f.write_text(sipd_config(env, port, users, domains=(DOMAIN, "new.test")))
    d.signal(signal.SIGHUP)
    d.wait_for(r"reloaded: 2 domains")
    cid, _ = ua.request("OPTIONS", "sip:nobody@new.test", port)
    assert ua.final(cid).startswith("SIP/2.0 404 "), d.log()
    env.stop_clean(d)


def test_sighup_applies_the_flags_over_the_file_again(env):
    port = env.port()
    users = env.passwd(env.work / "users", users={"alice": USERS["alice"]})
    f = config(env, "sipd.yaml", "listen: [\"udp:127.0.0.1:%d\"]\ndomains: [file.example]\n"
               "log: {level: warn, requests: false}\n" % port)
    d = env.sipd("sipd", "-c", str(f), "--domain", DOMAIN, "--log-level", "info",
                 "--log-requests", "--users", str(users))
    ua = env.ua("dave")
    # The file changes (another domain list, quieter logs); the flags still win after SIGHUP.
    f.write_text("listen: [\"udp:127.0.0.1:%d\"]\ndomains: [file.example, other.example]\n"
                 "log: {level: error, requests: false}\n" % port)
    d.signal(signal.SIGHUP)
    d.wait_for(r"reloaded: 1 domains, 1 users")
    cid, _ = ua.request("OPTIONS", "sip:nobody@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 "), d.log()  # DOMAIN is still ours
    d.wait_for(r"request: OPTIONS sip:nobody@%s .*: 404 in " % re.escape(DOMAIN))
    cid, _ = ua.request("OPTIONS", "sip:nobody@other.example", port)
    # other.example is not ours (the file's list did not come in): forwarding is for our users.
    assert ua.final(cid).startswith("SIP/2.0 407 "), d.log()
    env.stop_clean(d)


def test_traces_on_demand_by_sighup(env):
    # SIP traces turned on and off without a restart: log.trace in the file and a SIGHUP. The
    # trace shows at the default log.level (notice) too.
    port = env.port()
    text = "listen: [\"udp:127.0.0.1:%%d\"]\ndomains: [%s]\nlog: {trace: %%s}\n" % DOMAIN
    f = config(env, "sipd.yaml", text % (port, "false"))
    # One process: one "reloaded" line per SIGHUP (each worker writes its own).
    d = env.sipd("sipd", "-c", str(f), "--workers", "1")
    ua = env.ua()
    trace = r"^sipd info trace: received \d+ bytes from udp:127\.0\.0\.1:%d .*\nOPTIONS sip:%s@"
    cid, _ = ua.request("OPTIONS", "sip:before@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 "), d.log()
    f.write_text(text % (port, "true"))
    d.signal(signal.SIGHUP)
    d.wait_for(r"reloaded: ")
    cid, _ = ua.request("OPTIONS", "sip:during@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 "), d.log()
    d.wait_for(trace % (ua.port, "during"))
    d.wait_for(r"^sipd info trace: sent \d+ bytes to udp:127\.0\.0\.1:%d .*\nSIP/2\.0 404 "
               % ua.port)
    f.write_text(text % (port, "false"))
    d.signal(signal.SIGHUP)
    d.wait_for(r"reloaded: ", count=2)
    cid, _ = ua.request("OPTIONS", "sip:after@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 "), d.log()
    log = env.stop_clean(d)
    assert not re.search(trace % (ua.port, "before"), log, re.M), log
    assert not re.search(trace % (ua.port, "after"), log, re.M), log


def test_trace_flag_alone_shows_the_trace(env):
    # --trace without -v: every message at the default log.level.
    port = env.port()
    d = env.sipd("sipd", "--listen", "udp:127.0.0.1:%d" % port, "--domain", DOMAIN, "--trace")
    ua = env.ua()
    cid, _ = ua.request("OPTIONS", "sip:nobody@%s" % DOMAIN, port)
    assert ua.final(cid).startswith("SIP/2.0 404 "), d.log()
    d.wait_for(r"^sipd info trace: received \d+ bytes from udp:127\.0\.0\.1:%d " % ua.port)
    env.stop_clean(d)
