# SPDX-License-Identifier: MIT
"""The C example sipua (examples/c/sipua.c) against sipd: two instances register with digest,
one calls the other through sipd (SDP offer and answer), hangs up after --hangup-after, both
unregister; and its failures and exit statuses (wrong password, nobody to call, usage)."""
import re
import subprocess

from conftest import SANITIZER, tool

DOMAIN = "localhost"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}


def start_sipd(env):
    users = env.passwd(env.work / "users", USERS, DOMAIN)
    return env.sipd("sipd", "--domain", DOMAIN, "--users", str(users))


def ua(env, name, sipd, *args, password=None):
    return env.sipua(name, "--registrar", "sip:127.0.0.1:%d" % sipd.port, "--domain", DOMAIN,
                     "--user", name, "--password", password or USERS[name],
                     "--listen", "udp:127.0.0.1:%d" % env.port(), *args)


def test_call_through_sipd(env):
    sipd = start_sipd(env)
    bob = ua(env, "bob", sipd)
    bob.wait_for(r"^sipua: registered sip:bob@localhost \(expires \d+\)$")
    alice = ua(env, "alice", sipd, "--call", "sip:bob@localhost", "--hangup-after", "0.5")
    rc = alice.wait(30)
    log = alice.log()
    assert rc == 0, log
    assert not SANITIZER.search(log), log
    # Registered with digest (the UA answered sipd's 401), then the call through sipd.
    assert re.search(r"^sipua: registered sip:alice@localhost ", log, re.M), log
    assert re.search(r"^sipua: response 180 Ringing$", log, re.M), log
    assert re.search(r"^sipua: response 200 OK$", log, re.M), log
    m = re.search(r"^sipua: call confirmed \(remote SDP (\d+) bytes\)$", log, re.M)
    assert m and int(m.group(1)) > 0, log
    assert re.search(r"^sipua: call ended: 200 \(by us\)$", log, re.M), log
    assert re.search(r"^sipua: unregistered sip:alice@localhost$", log, re.M), log
    # bob answered with the engine's answer and saw alice's BYE.
    bob.wait_for(r"^sipua: call ended: 200 \(by the peer\)$")
    blog = env.stop_clean(bob)
    assert re.search(r"^sipua: incoming call from sip:alice@localhost$", blog, re.M), blog
    assert re.search(r"^sipua: unregistered sip:bob@localhost$", blog, re.M), blog
    slog = env.stop_clean(sipd)
    # sipd challenged the REGISTERs and routed the INVITE to bob's binding.
    assert re.search(r"REGISTER sip:127\.0\.0\.1:\d+ from udp:127\.0\.0\.1:\d+", slog), slog
    assert re.search(r"INVITE sip:bob@localhost from udp:127\.0\.0\.1:\d+", slog), slog


def test_wrong_password_fails(env):
    sipd = start_sipd(env)
    alice = ua(env, "alice", sipd, password="wrong")
    assert alice.wait(30) == 1, alice.log()
    assert re.search(r"^sipua: registration failed: 401$", alice.log(), re.M), alice.log()
    env.stop_clean(sipd)


def test_call_to_nobody_fails(env):
    sipd = start_sipd(env)
    alice = ua(env, "alice", sipd, "--call", "sip:bob@localhost", "--hangup-after", "1")
    assert alice.wait(30) == 1, alice.log()
    log = alice.log()
    assert re.search(r"^sipua: call ended: (404|480) ", log, re.M), log
    # It unregistered on the way out.
    assert re.search(r"^sipua: unregistered sip:alice@localhost$", log, re.M), log
    env.stop_clean(sipd)


def test_usage():
    r = subprocess.run([tool("SIPUA"), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--hangup-after" in r.stdout, r
    r = subprocess.run([tool("SIPUA")], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    r = subprocess.run([tool("SIPUA"), "--user", "a", "--registrar", "http://x"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
    r = subprocess.run([tool("SIPUA"), "--user", "a", "--call", "sip:b@127.0.0.1",
                        "--hangup-after", "x"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, r
