# SPDX-License-Identifier: MIT
"""sipd against sipvicious (Debian's package): svmap finds it, svwar cannot tell existing users
from unknown ones (REGISTER, INVITE and OPTIONS scans), and svcrack is blocked (auth_failures)
long before it reaches the right password, after which the blocked source's requests are
dropped while other sources are served."""
import re

from conftest import ATTACKER, DOMAIN, USERS, ask, sip_request

REAL = sorted(USERS)
FAKE = ["mallory", "trent", "1000", "2000", "admin", "operator"]


def sv(env, name, prog, *args, timeout=90):
    """Runs a sipvicious program from the attacker's address with a source port of ours."""
    p = env.proc(name, ["timeout", str(timeout), prog, "-P", str(env.port()), *args])
    p.wait(timeout + 10)
    return p.log()


def test_svmap_finds_sipd(env):
    sipd = env.sipd({"rate": 0})
    out = sv(env, "svmap", "svmap", "-p", str(sipd.port), "127.0.0.1")
    assert re.search(r"127\.0\.0\.1:%d +\| +sipd \(libsip/" % sipd.port, out), out


def found_extensions(out):
    """The extensions svwar's result table lists."""
    return set(re.findall(r"^\| +(\S+) +\| +\S+ +\|$", out, re.M)) - {"Extension"}


def test_svwar_cannot_tell_users_apart(env):
    sipd = env.sipd({"rate": 0, "auth_failures": 0})
    words = env.work / "extensions.txt"
    # The real ones in the middle of the fake ones.
    words.write_text("\n".join(FAKE[:3] + REAL + FAKE[3:]) + "\n")
    for method in ("REGISTER", "INVITE", "OPTIONS"):
        out = sv(env, "svwar-" + method, "svwar", "--force", "-m", method, "-d", str(words),
                 "--domain", DOMAIN, "-p", str(sipd.port), "127.0.0.1")
        assert "Traceback" not in out, out
        found = found_extensions(out)
        # Nothing singled out: either no extension or every one of them looks the same.
        assert found in (set(), set(REAL + FAKE)), (method, found, out)
        assert not (found & set(REAL)) or found >= set(FAKE), (method, found)
    # Without --force svwar gives up at once: an unknown extension is challenged like a real
    # one.
    out = sv(env, "svwar-plain", "svwar", "-d", str(words), "-p", str(sipd.port), "127.0.0.1")
    assert "authentication request for an unknown extension" in out, out
    assert found_extensions(out) == set()


def test_svcrack_is_blocked_before_the_password(env):
    sipd = env.sipd({"rate": 0, "auth_failures": 5, "auth_window": 600, "auth_block": 120},
                    extra='digest: "MD5"')
    words = env.work / "passwords.txt"
    # The right password late in the list: the 41st guess.
    words.write_text("\n".join(["guess%d" % i for i in range(1, 41)] + [USERS["alice"]]) + "\n")
    out = sv(env, "svcrack", "svcrack", "-u", "alice", "-d", str(words), "--maximumtime", "3",
             "-p", str(sipd.port), "127.0.0.1")
    assert USERS["alice"] not in out, out
    assert "found nothing" in out, out
    log = sipd.log()
    assert re.search(r"blocked 127\.0\.0\.1 for 120 s: 5 failed authentications in 600 s",
                     log), log
    # One warning line for the block, however many requests were dropped afterwards.
    assert len(re.findall(r"^sipd warn guard: blocked ", log, re.M)) == 1, log
    # The blocked source gets no answer at all now, even to an OPTIONS ping...
    ping = sip_request("OPTIONS", "ping", ATTACKER, env.port(), sipd.port, n=1)
    assert ask(ATTACKER, env.port(), sipd.port, ping) is None
    # ...while another source is answered, and alice registers from there.
    src = "127.0.0.2"
    sport = env.port()
    rsp = ask(src, sport, sipd.port, sip_request("OPTIONS", "ping", src, sport, sipd.port, n=2))
    assert rsp is not None and rsp.startswith(b"SIP/2.0 200 "), rsp
    rc, out = env.register("alice-register", sipd, "alice", src)
    assert rc == 0 and re.search(r"^REGISTER: 200 ", out, re.M), out
    env.stop_clean(sipd)
