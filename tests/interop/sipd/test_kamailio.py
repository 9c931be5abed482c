# SPDX-License-Identifier: MIT
"""sipd and Kamailio in a chain, both ways (tests/interop/kamailio/sipd-chain.cfg, started and
stopped here): a caller at Kamailio reaching a UA registered at sipd (Kamailio forwards what it
has no binding for to sipd), and a caller at sipd reaching a UA registered at Kamailio (sipd's
binding for carol points at Kamailio, which looks carol up). Both record-route, so every
request of the dialog crosses both."""
import re
import shutil
import time
from pathlib import Path

import pytest

from conftest import DOMAIN, USERS, Proc, bound

CFG = Path(__file__).resolve().parent.parent / "kamailio" / "sipd-chain.cfg"


def kamailio(env, sipd_port):
    exe = shutil.which("kamailio") or "/usr/sbin/kamailio"
    port = env.port()
    argv = [exe, "-f", str(CFG), "-A", "KAM_PORT=%d" % port, "-A", 'SIPD_URI="sip:127.0.0.1:%d"' % sipd_port,
            "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(env.work), "-w", str(env.work)]
    # Its own process group: stopping it stops the workers it forks (harness.Proc).
    k = Proc(env, "kamailio", argv, group=True)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if bound(port):
            return k, port
        if k.p.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail("kamailio did not start:\n" + k.log())


def test_caller_at_kamailio_callee_at_sipd(env):
    d = env.sipd()
    k, kport = kamailio(env, d.port)
    uas = env.uas("uas-bob", env.port(), "--register", "sip:bob@%s" % DOMAIN, "--registrar",
                  "sip:127.0.0.1:%d" % d.port, "--user", "bob", "--password", USERS["bob"],
                  "--expires", "300")
    uas.wait_for(r"^registered sip:bob@%s: 200 OK" % re.escape(DOMAIN))
    rc, out = env.uac("uac", "--calls", "3", "--rate", "10", "-v", "--timeout", "30",
                      "--trace", "sip:bob@127.0.0.1:%d" % kport)
    assert rc == 0, out
    assert "calls: 3 completed, 0 failed" in out.splitlines(), out
    # The 200 carried both proxies' Record-Route (sipd's nearer the callee, RFC 3261 §16.6
    # step 4), and the BYE crossed Kamailio and then sipd.
    rr = re.findall(r"^Record-Route: (.*)$", out, re.M)
    assert any("127.0.0.1:%d" % d.port in r for r in rr), out
    assert any("127.0.0.1:%d" % kport in r for r in rr), out
    # bob unregisters at its exit, through sipd still up.
    assert re.search(r"^calls 3 answered 3", env.stop_clean(uas), re.M)
    log = env.stop_clean(d)
    assert re.search(r"^sipd info sipd: BYE .* \(routed\)$", log, re.M), log
    assert re.search(r"kamailio: BYE ", k.log()), k.log()


def test_caller_at_sipd_callee_at_kamailio(env):
    d = env.sipd()
    k, kport = kamailio(env, d.port)
    # carol registers at Kamailio (no authentication there) ...
    uas = env.uas("uas-carol", env.port(), "--register", "sip:carol@127.0.0.1", "--registrar",
                  "sip:127.0.0.1:%d" % kport, "--expires", "300")
    uas.wait_for(r"^registered sip:carol@127\.0\.0\.1: 200 OK")
    # ... and sipd's carol points at Kamailio (a binding made with carol's credentials).
    env.register("reg-carol", d, "carol", contact="<sip:carol@127.0.0.1:%d>" % kport)
    rc, out = env.uac("uac", "--calls", "3", "--rate", "10", "-v", "--timeout", "30",
                      "--trace", "sip:carol@127.0.0.1:%d" % d.port)
    assert rc == 0, out
    assert "calls: 3 completed, 0 failed" in out.splitlines(), out
    assert re.search(r"kamailio: INVITE sip:carol@127\.0\.0\.1:%d from 127\.0\.0\.1:%d" %
                     (kport, d.port), k.log()), k.log()
    assert re.search(r"kamailio: BYE ", k.log()), k.log()
    log = env.stop_clean(d)
    assert re.search(r"^sipd info sipd: BYE .* \(routed\)$", log, re.M), log
    assert re.search(r"^calls 3 answered 3", env.stop_clean(uas), re.M)
