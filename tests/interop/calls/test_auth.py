# SPDX-License-Identifier: MIT
"""Digest authentication and MESSAGE between sip-uac and SIPp: SIPp challenges the INVITE with
401 and checks the answer with verifyauth; a MESSAGE is challenged and checked the
same way; a MESSAGE answered 404, and a wrong password, end sip-uac with status 1 and a clear
error."""
import re


def _requests(trace, method):
    """The requests of a method SIPp received, as their text (from its -trace_msg log)."""
    parts = re.split(r"^-+ .*$", trace, flags=re.M)
    return [p for p in parts if re.search(r"^%s sip:" % method, p, re.M)]


def _header(msg, name):
    m = re.search(r"^%s: *(.*)$" % name, msg, re.M | re.I)
    return m.group(1).strip() if m else ""


def test_sip_uac_answers_challenged_invite(env):
    port = env.port()
    sipp = env.sipp_server("auth", "uas_auth_invite.xml", port, calls=2)
    rc, out = env.uac("uac", "--calls", "2", "--rate", "10", "--user", "alice", "--password",
                      "secret", "-v", "--timeout", "20", "sip:service@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "calls: 2 completed, 0 failed" in out.splitlines(), out
    env.sipp_ok(sipp, 2)
    invites = _requests(env.messages(sipp), "INVITE")
    assert len(invites) == 4, invites
    # The first INVITE had no credentials; the second call's first INVITE may carry the cached
    # answer to the first call's challenge (RFC 7616 §3.4), which SIPp challenges anew.
    assert not _header(invites[0], "Authorization")
    by_call = {}
    for m in invites:
        by_call.setdefault(_header(m, "Call-ID"), []).append(m)
    assert len(by_call) == 2, by_call.keys()
    for first, again in by_call.values():
        # RFC 3261 §22.2, §8.1.3.5: the same From tag, CSeq one higher, a new branch.
        assert _header(first, "From") == _header(again, "From")
        assert re.search(r"^1 INVITE", _header(first, "CSeq"))
        assert re.search(r"^2 INVITE", _header(again, "CSeq"))
        b1 = re.search(r"branch=([^;\s]+)", _header(first, "Via")).group(1)
        b2 = re.search(r"branch=([^;\s]+)", _header(again, "Via")).group(1)
        assert b1 != b2
        assert 'realm="sipp.test"' in _header(again, "Authorization")


def test_sip_uac_wrong_password_fails(env):
    port = env.port()
    sipp = env.sipp_server("auth-bad", "uas_auth_invite.xml", port, calls=1)
    rc, out = env.uac("uac", "--user", "alice", "--password", "wrong", "--timeout", "20",
                      "sip:service@127.0.0.1:%d" % port)
    assert rc == 1, out
    assert "calls: 0 completed, 1 failed" in out.splitlines(), out
    # SIPp challenges the wrong answer again: the call ends with that 401.
    assert re.search(r"^sip-uac: call 0 failed: INVITE 401 Unauthorized$", out, re.M), out
    sipp.kill()


def test_sip_uac_message_challenged(env, tmp_path):
    port = env.port()
    sipp = env.sipp_server("message", "uas_message.xml", port, calls=1)
    pw = tmp_path / "password"
    pw.write_text("secret\n")
    rc, out = env.uac("uac", "--message", "hello from libsip", "--user", "alice",
                      "--password-file", str(pw), "--timeout", "20",
                      "sip:bob@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "MESSAGE: 200 OK" in out.splitlines(), out
    env.sipp_ok(sipp, 1)


def test_sip_uac_message_404(env):
    port = env.port()
    sipp = env.sipp_server("message-404", "uas_message_404.xml", port, calls=1)
    rc, out = env.uac("uac", "--message", "anyone?", "--timeout", "20",
                      "sip:nobody@127.0.0.1:%d" % port)
    assert rc == 1, out
    assert "MESSAGE: 404 Not Found" in out.splitlines(), out
    assert re.search(r"^sip-uac: MESSAGE to sip:nobody@127\.0\.0\.1:\d+ failed: 404 Not Found$",
                     out, re.M), out
    env.sipp_ok(sipp, 1)


def test_sip_uac_message_to_sip_uas(env):
    """sip-uas -v prints the MESSAGE it took (RFC 3428: 200, even with Accept
    application/sdp)."""
    port = env.port()
    uas = env.uas("uas", port)
    rc, out = env.uac("uac", "--message", "hi there", "--timeout", "20",
                      "sip:bob@127.0.0.1:%d" % port)
    assert rc == 0, out
    assert "MESSAGE: 200 OK" in out.splitlines(), out
    log = env.stop_clean(uas)
    assert re.search(r"^MESSAGE from <sip:uac@127\.0\.0\.1> text/plain: hi there$", log, re.M), log
