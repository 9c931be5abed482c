# SPDX-License-Identifier: MIT
"""sipsak against sipd: usrloc mode (-U) registers a user with digest (-a), sends a request to
that user through sipd, which sipd's lookup routes back to sipsak's own contact, and removes
the binding; a wrong password is refused; and an OPTIONS ping to sipd itself is answered."""
import re
import shutil

import pytest

from conftest import USERS


def sipsak(env, name, *args, timeout=60):
    exe = shutil.which("sipsak")
    if not exe:
        pytest.fail("sipsak is not installed (scripts/deps.sh)")
    from conftest import Proc
    p = Proc(env, name, ["timeout", str(timeout), exe, *args])
    rc = p.wait(timeout + 10)
    return rc, p.log()


def test_sipsak_usrloc_with_digest(env):
    # sipsak stops at the first challenge whose algorithm it does not know: MD5 only.
    # Two workers: sipsak answers a challenge once, and its retry is taken by whichever worker
    # it reaches (one secret for the set; RFC 7616 §3.3).
    d = env.sipd("sipd", "--digest", "MD5", "--workers", "2")
    # -x: an expiry above sipd's minimum (60 s; sipsak asks 15 s by default: 423).
    rc, out = sipsak(env, "sipsak-usrloc", "-U", "-vv", "-x", "120", "-H", "127.0.0.1", "-l",
                     str(env.port()), "-u", "alice", "-a", USERS["alice"], "-s",
                     "sip:alice@127.0.0.1:%d" % d.port)
    assert rc == 0, out
    assert "All usrloc tests completed successful" in out, out
    # sipsak was challenged (401 for our realm), answered, and its binding was saved.
    assert len(re.findall(r"^sipd info sipd: REGISTER ", d.log(), re.M)) >= 2, d.log()
    # A contact registered by sipsak for a sip-uas (-C), then sipsak's OPTIONS to bob through
    # sipd: the lookup routes it to sip-uas, whose 200 comes back.
    uport = env.port()
    uas = env.uas("uas", uport)
    rc, out = sipsak(env, "sipsak-contact", "-U", "-vv", "-x", "120", "-H", "127.0.0.1", "-l",
                     str(env.port()), "-u", "bob", "-a", USERS["bob"], "-C",
                     "sip:bob@127.0.0.1:%d" % uport, "-s", "sip:bob@127.0.0.1:%d" % d.port)
    assert rc == 0, out
    rc, out = sipsak(env, "sipsak-options", "-vv", "-H", "127.0.0.1", "-l", str(env.port()),
                     "-s", "sip:bob@127.0.0.1:%d" % d.port)
    assert rc == 0, out
    assert re.search(r"SIP/2\.0 200 ", out), out
    assert re.search(r"^OPTIONS from udp:127\.0\.0\.1:%d" % d.port, uas.log(), re.M), uas.log()
    env.stop_clean(uas)
    env.stop_clean(d)


def test_sipsak_wrong_password(env):
    d = env.sipd("sipd", "--digest", "MD5")
    rc, out = sipsak(env, "sipsak-bad", "-U", "-vv", "-x", "120", "-H", "127.0.0.1", "-l",
                     str(env.port()), "-u", "alice", "-a", "wrong", "-s",
                     "sip:alice@127.0.0.1:%d" % d.port, timeout=40)
    assert rc != 0, out
    assert re.search(r"\b401\b", out), out
    env.stop_clean(d)


def test_sipsak_options_ping(env):
    d = env.sipd()
    rc, out = sipsak(env, "sipsak-ping", "-vv", "-H", "127.0.0.1", "-l", str(env.port()),
                     "-s", "sip:127.0.0.1:%d" % d.port)
    assert rc == 0, out
    assert re.search(r"SIP/2\.0 200 ", out), out
    env.stop_clean(d)
