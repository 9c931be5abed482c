# SPDX-License-Identifier: MIT
"""examples/lua/tod_route.lua run by `sipd --script`: bob (sip-uas) registers with digest; a
call from the sipua example during office hours reaches bob, after hours it goes to the
voicemail, a busy bob's call and an unanswered one go to the forward target (with Diversion,
RFC 5806); the voicemail and forward target are sipua too. The clock and the targets come from
the script's TOD_* variables."""
import os
import re

import pytest

from conftest import ROOT, Proc, tool

SCRIPT = ROOT / "examples" / "lua" / "tod_route.lua"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}


def start(env, now, bob_args):
    users = env.passwd(env.work / "users", USERS, "localhost")
    vm_port, fw_port, port = env.port(), env.port(), env.port()
    penv = dict(os.environ, TOD_NOW=now, TOD_RING_TIMEOUT="2",
                TOD_AFTER_HOURS="sip:voicemail@127.0.0.1:%d" % vm_port,
                TOD_FORWARD="sip:forward@127.0.0.1:%d" % fw_port)
    sipd = env.sipd("sipd", "--domain", "localhost", "--users", str(users), "--script",
                    str(SCRIPT), port=port, penv=penv)
    # The voicemail and the forward target: the sipua example answering, not registered.
    vm = env.sipua("voicemail", "--user", "voicemail", "--listen", "udp:127.0.0.1:%d" % vm_port)
    fw = env.sipua("forward", "--user", "forward", "--listen", "udp:127.0.0.1:%d" % fw_port)
    vm.wait_for(r"^sipua: listening on ")
    fw.wait_for(r"^sipua: listening on ")
    bob = Proc(env, "bob", [tool("SIP_UAS"), "--listen", "udp:127.0.0.1:%d" % env.port(), "-v",
                            "--register", "sip:bob@localhost", "--registrar",
                            "sip:127.0.0.1:%d" % port, "--user", "bob", "--password",
                            USERS["bob"], *bob_args])
    bob.wait_for(r"^registered sip:bob@localhost: 200 ")
    return sipd, vm, fw, bob


def call(env, sipd):
    alice = env.sipua("alice", "--registrar", "sip:127.0.0.1:%d" % sipd.port, "--domain",
                      "localhost", "--user", "alice", "--password", USERS["alice"],
                      "--listen", "udp:127.0.0.1:%d" % env.port(), "--call", "sip:bob@localhost",
                      "--hangup-after", "0.3")
    assert alice.wait(40) == 0, alice.log()
    return alice.log()


def invites(p):
    return re.findall(r"^INVITE from ", p.log(), re.M)


def answered(p):
    return re.findall(r"^sipua: incoming call from sip:alice@localhost$", p.log(), re.M)


@pytest.mark.parametrize("case", ["office", "after-hours", "busy", "no-answer"])
def test_tod_route(env, case):
    now = "Sun 22:00" if case == "after-hours" else "Mon 10:30"
    bob_args = {"busy": ["--code", "486"], "no-answer": ["--ring", "600000"]}.get(case, [])
    sipd, vm, fw, bob = start(env, now, bob_args)
    call(env, sipd)
    reason = {"after-hours": "time-of-day", "busy": "user-busy",
              "no-answer": "no-answer"}.get(case)
    if case == "office":
        assert len(invites(bob)) == 1, bob.log()
        assert not answered(vm) and not answered(fw), (vm.log(), fw.log())
    else:
        target, other = (vm, fw) if case == "after-hours" else (fw, vm)
        assert len(answered(target)) == 1, target.log()
        assert not answered(other), other.log()
        assert len(invites(bob)) == (0 if case == "after-hours" else 1), bob.log()
        # RFC 5806: the forwarded INVITE says for whom and why.
        assert re.search(r"^sipua: diverted: <sip:bob@localhost>;reason=%s$" % reason,
                         target.log(), re.M), target.log()
    for p in (bob, vm, fw):
        env.stop_clean(p)
    log = env.stop_clean(sipd)
    if reason:
        assert "tod_route: INVITE for sip:bob@localhost: %s" % reason in log, log
