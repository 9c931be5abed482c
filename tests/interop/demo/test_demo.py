# SPDX-License-Identifier: MIT
"""sipd --demo: alice and bob register with sipd (with digest when sipd has a users file),
alice calls bob through it, the ladder is printed as it happens, then sipd keeps serving on its
configuration; a demo that fails makes sipd exit 1."""
import re

from conftest import Proc, tool

OK = r"^demo: alice and bob registered%s, called through sipd and hung up: ok$"
SERVES = r"^demo: sipd serves on; Ctrl-C stops it$"
ARROW = r"^ *\d+\.\d{3} +%s → %s +"


def ladder(log):
    """The ladder's message lines as (sender, receiver, what)."""
    return re.findall(r"^ *\d+\.\d{3} +(alice|bob|sipd) → (alice|bob|sipd) +(.+?)\s*$", log,
                      re.M)


def check_call(log, digest):
    """The ladder of the demo in log: registrations (challenged with digest), the call through
    sipd in order, the unregistrations."""
    seen = [(a, b, w.replace("  [SDP]", "")) for a, b, w in ladder(log)]
    for who in ("alice", "bob"):
        i = seen.index((who, "sipd", "REGISTER sip:localhost"))
        j = seen.index(("sipd", who, "200 OK (REGISTER)"))
        assert j > i, log
        challenged = ("sipd", who, "401 Unauthorized (REGISTER)") in seen
        assert challenged == digest, log
        if digest:
            assert i < seen.index(("sipd", who, "401 Unauthorized (REGISTER)")) < j, log
    # The call through sipd, in order, the INVITE and its 200 with SDP.
    order = [("alice", "sipd", "INVITE sip:bob@localhost"),
             ("sipd", "bob", None), ("bob", "sipd", "180 Ringing (INVITE)"),
             ("sipd", "alice", "180 Ringing (INVITE)"), ("bob", "sipd", "200 OK (INVITE)"),
             ("sipd", "alice", "200 OK (INVITE)"), ("alice", "sipd", None),
             ("sipd", "bob", None), ("alice", "sipd", None), ("sipd", "bob", None),
             ("bob", "sipd", "200 OK (BYE)"), ("sipd", "alice", "200 OK (BYE)")]
    methods = [None, "INVITE", None, None, None, None, "ACK", "ACK", "BYE", "BYE", None, None]
    pos = 0
    for (a, b, what), method in zip(order, methods):
        while pos < len(seen):
            s = seen[pos]
            pos += 1
            if s[0] == a and s[1] == b and (what is None or s[2] == what) and \
                    (method is None or s[2].startswith(method + " sip:bob@")):
                break
        else:
            raise AssertionError("no %s → %s %s in order:\n%s" % (a, b, what or method, log))
    assert re.search(ARROW % ("alice", "sipd") + r"INVITE sip:bob@localhost  \[SDP\]$", log,
                     re.M), log
    assert re.search(ARROW % ("bob", "sipd") + r"200 OK \(INVITE\)  \[SDP\]$", log, re.M), log
    # Both unregistered at the end.
    assert re.search(r"^ *\d+\.\d{3}  alice unregistered$", log, re.M), log
    assert re.search(r"^ *\d+\.\d{3}  bob unregistered$", log, re.M), log


def test_demo_on_the_embedded_defaults(env):
    sipd = env.sipd("sipd", "--demo", ready=r"^demo: ")
    sipd.wait_for(OK % "", timeout=30)
    sipd.wait_for(SERVES)
    log = sipd.log()
    # No users file: the demo says its REGISTERs go unauthenticated, as everyone's do.
    assert re.search(r"^demo: sipd has no users file, so REGISTER is not authenticated", log,
                     re.M), log
    check_call(log, digest=False)
    # sipd serves on after it, on its embedded defaults: a REGISTER is not challenged.
    carol = env.sipua("carol", "--registrar", "sip:127.0.0.1:%d" % sipd.port, "--user", "carol",
                      "--listen", "udp:127.0.0.1:%d" % env.port())
    carol.wait_for(r"^sipua: registered sip:carol@127\.0\.0\.1 ")
    env.stop_clean(carol)
    log = env.stop_clean(sipd)
    # The ladder ended with the demo: carol's messages are not in it.
    assert not ladder(log.split("demo: sipd serves on")[1]), log


def test_demo_with_a_users_file(env):
    users = env.passwd(env.work / "users", {"carol": "carol-pw"}, "localhost")
    sipd = env.sipd("sipd", "--demo", "--users", str(users), ready=r"^demo: ")
    sipd.wait_for(OK % r" \(digest\)", timeout=30)
    sipd.wait_for(SERVES)
    check_call(sipd.log(), digest=True)
    # The file's users are still there; the demo's were in memory only.
    carol = env.sipua("carol", "--registrar", "sip:127.0.0.1:%d" % sipd.port, "--domain",
                      "localhost", "--user", "carol", "--password", "carol-pw",
                      "--listen", "udp:127.0.0.1:%d" % env.port())
    carol.wait_for(r"^sipua: registered sip:carol@localhost ")
    env.stop_clean(carol)
    env.stop_clean(sipd)
    assert "alice" not in users.read_text() and "bob" not in users.read_text()


def test_demo_failure_exits_1(env):
    # A redirect server answers alice's INVITE 302: the call fails, and so does the demo.
    sipd = env.sipd("sipd", "--demo", "--redirect", ready=r"^demo: ")
    sipd.wait_for(r"^demo: FAILED: alice's call to bob failed: 302$", timeout=30)
    try:
        rc = sipd.p.wait(10)
    except Exception:
        rc = sipd.stop()
    sipd.rc = rc
    assert rc == 1, sipd.log()


def test_demo_refused_without_udp_or_with_its_users_taken(env):
    # The ladder names alice and bob by their UDP source ports: no udp: listening point, no
    # demo.
    port = env.port()
    sipd = Proc(env, "sipd-tcp", [tool("SIPD"), "--demo", "--listen",
                                  "tcp:127.0.0.1:%d" % port])
    assert sipd.wait(20) == 1, sipd.log()
    assert "sipd: --demo needs a udp: listening point" in sipd.log(), sipd.log()
    # A users file that has an alice of the domain already: the demo does not take her over.
    users = env.passwd(env.work / "users", {"alice": "alice-pw"}, "localhost")
    sipd = Proc(env, "sipd-users", [tool("SIPD"), "--demo", "--users", str(users), "--listen",
                                    "udp:127.0.0.1:%d" % env.port()])
    assert sipd.wait(20) == 1, sipd.log()
    assert "the users file has alice or bob of localhost already" in sipd.log(), sipd.log()
