# SPDX-License-Identifier: MIT
"""Registration against Kamailio (registrar, usrloc, auth_db on the db_text database of
tests/interop/kamailio/db), started by the test on 127.0.0.1: sip-uac --register with MD5 and
with SHA-256 digest (Kamailio's auth algorithm), a wrong password refused, then a call from
sip-uac to a sip-uas that registered itself, routed by Kamailio's lookup("location"); and the
Python API registering two UAs that call each other through it."""
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import harness  # noqa: E402
from harness import bound, tool  # noqa: E402

CFG = HERE / "kamailio-reg.cfg"
BASE = int(os.environ.get("KAMAILIO_REG_PORT", "29000"))


class Env(harness.Env):
    def kamailio(self, sha256):
        """Kamailio on a UDP+TCP port with a copy of the database, in a process group of its
        own (stopping it stops the workers it forks); returns the port."""
        db = self.work / ("db-sha" if sha256 else "db-md5")
        shutil.copytree(HERE / "db", db)
        port = self.port()
        argv = ["kamailio", "-f", str(CFG), "-A", "KAM_PORT=%d" % port, "-A",
                'DB_URL="text://%s"' % db, "-DD", "-E", "-m", "64", "-M", "8",
                "-Y", str(self.work), "-w", str(self.work)]
        if sha256:
            argv += ["-A", "WITH_SHA256"]
        k = self.proc("kamailio-%d" % port, argv, group=True)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if bound(port):
                return port
            if not k.running():
                break
            time.sleep(0.05)
        pytest.fail("kamailio did not start:\n" + k.log())

    def start(self, name, argv, env=None):
        return self.proc(name, argv, penv=env)

    def uac(self, name, *args, timeout=40.0):
        p = self.start(name, [tool("SIP_UAC"), *args])
        rc = p.wait(timeout)
        return rc, p.log()


@pytest.fixture
def env(tmp_path, request):
    e = Env(tmp_path, BASE)
    yield e
    e.close(failed=harness.failed(request))


@pytest.mark.parametrize("sha256", [False, True], ids=["md5", "sha256"])
def test_sip_uac_registers_with_digest(env, sha256):
    kam = env.kamailio(sha256)
    rc, out = env.uac("uac-ok", "--register", "sip:alice@example.com", "--expires", "300",
                      "--user", "alice", "--password", "secret", "--trace", "--timeout", "20",
                      "sip:127.0.0.1:%d" % kam)
    assert rc == 0, out
    assert "REGISTER: 200 OK, expires 300" in out.splitlines(), out
    algo = "SHA-256" if sha256 else "MD5"
    chal = re.search(r"^WWW-Authenticate: (.*)$", out, re.M).group(1)
    assert ("algorithm=SHA-256" in chal) == sha256, chal
    auth = re.search(r"^Authorization: (.*)$", out, re.M).group(1)
    assert ("algorithm=%s" % algo in auth) or (not sha256 and "algorithm" not in auth), auth
    # A wrong password: Kamailio challenges again and sip-uac gives up with the reason.
    rc, out = env.uac("uac-bad", "--register", "sip:alice@example.com", "--user", "alice",
                      "--password", "wrong", "--timeout", "20", "sip:127.0.0.1:%d" % kam)
    assert rc == 1, out
    assert re.search(r"^sip-uac: REGISTER of sip:alice@example\.com failed: 401 .*"
                     r"\(credentials refused\)$", out, re.M), out
    # Unregister: the binding goes.
    rc, out = env.uac("uac-unreg", "--register", "sip:alice@example.com", "--user", "alice",
                      "--password", "secret", "--unregister", "--timeout", "20",
                      "sip:127.0.0.1:%d" % kam)
    assert rc == 0, out
    assert "UNREGISTER: 200 OK" in out.splitlines(), out
    # Another contact: the 2xx lists every binding of alice (the first run's too), and the grant
    # printed is that of the contact this REGISTER bound (RFC 3261 §10.2.4).
    rc, out = env.uac("uac-contact", "--register", "sip:alice@example.com", "--user", "alice",
                      "--password", "secret", "--contact", "<sip:alice@192.0.2.7:5070>",
                      "--expires", "600", "--trace", "--timeout", "20", "sip:127.0.0.1:%d" % kam)
    assert rc == 0, out
    contact = re.findall(r"^Contact: (.*)$", out, re.M)[-1]
    assert "<sip:alice@192.0.2.7:5070>;expires=600" in contact and "," in contact, contact
    assert "REGISTER: 200 OK, expires 600" in out.splitlines(), out
    # Contact: * with Expires: 0 removes every binding of the AOR (§10.2.2).
    rc, out = env.uac("uac-star", "--register", "sip:alice@example.com", "--user", "alice",
                      "--password", "secret", "--unregister", "--contact", "*", "--trace",
                      "--timeout", "20", "sip:127.0.0.1:%d" % kam)
    assert rc == 0, out
    assert re.search(r"^Contact: \*\s*$", out, re.M), out
    assert "UNREGISTER: 200 OK" in out.splitlines(), out
    rc, out = env.uac("uac-after", "--register", "sip:alice@example.com", "--user", "alice",
                      "--password", "secret", "--trace", "--timeout", "20",
                      "sip:127.0.0.1:%d" % kam)
    assert rc == 0, out
    contact = re.findall(r"^Contact: (.*)$", out, re.M)[-1]
    assert "," not in contact and "192.0.2.7" not in contact, contact


def test_call_to_a_registered_sip_uas_routed_by_kamailio(env):
    kam = env.kamailio(True)
    uas_port = env.port()
    uas = env.start("uas", [tool("SIP_UAS"), "--listen", "udp:127.0.0.1:%d" % uas_port, "-v",
                            "--register", "sip:bob@example.com", "--registrar",
                            "sip:127.0.0.1:%d" % kam, "--user", "bob", "--password",
                            "secret2", "--expires", "120"])
    uas.wait_for(r"^registered sip:bob@example\.com: 200 OK, expires 120$")
    rc, out = env.uac("uac-call", "--calls", "2", "-v", "--timeout", "20",
                      "sip:bob@127.0.0.1:%d" % kam)
    assert rc == 0, out
    assert "calls: 2 completed, 0 failed" in out.splitlines(), out
    assert uas.stop() == 0, uas.log()
    log = uas.log()
    assert re.search(r"^unregistered sip:bob@example\.com: 200 OK$", log, re.M), log
    assert re.search(r"^calls 2 answered 2", log, re.M), log
    # Unregistered: Kamailio no longer finds bob.
    rc, out = env.uac("uac-gone", "--timeout", "20", "sip:bob@127.0.0.1:%d" % kam)
    assert rc == 1, out
    assert "404" in out, out


def test_python_uas_register_and_call_through_kamailio(env):
    kam = env.kamailio(True)
    script = env.work / "pair.py"
    script.write_text(PAIR % {"kam": kam})
    penv = dict(os.environ)
    if os.environ.get("KAMAILIO_REG_PY_PRELOAD"):
        # A sanitizer build: its runtime first, and CPython's own allocations not reported.
        penv["LD_PRELOAD"] = os.environ["KAMAILIO_REG_PY_PRELOAD"]
        penv["ASAN_OPTIONS"] = "detect_leaks=0"
    p = env.start("python-pair", [sys.executable, str(script)], penv)
    assert p.wait(60) == 0, p.log()
    assert "OK" in p.log().splitlines(), p.log()


PAIR = r'''
import asyncio, libsip
KAM = "sip:127.0.0.1:%(kam)d"

async def main():
    loop = libsip.Loop()
    a = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True)
    b = libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True)
    server = asyncio.ensure_future(loop.serve())
    with libsip.UA(a) as alice, libsip.UA(b) as bob:
        ra = await alice.register("sip:alice@example.com", password="secret", registrar=KAM,
                                  expires=120)
        rb = await bob.register("sip:bob@example.com", password="secret2", registrar=KAM,
                                expires=120)
        assert ra.expires == 120 and rb.expires == 120, (ra.expires, rb.expires)
        answered = asyncio.get_running_loop().create_future()

        @bob.on_invite
        async def incoming(call):
            await call.answer(sdp=SDP)
            answered.set_result(call)

        call = alice.invite("sip:bob@127.0.0.1:%(kam)d", sdp=SDP)
        await asyncio.wait_for(call.answered(), 10)
        await asyncio.wait_for(answered, 10)
        await call.hangup()
        await asyncio.wait_for(call.ended(), 10)
        await asyncio.wait_for(ra.unregister(), 10)
        await asyncio.wait_for(rb.unregister(), 10)
        print("OK", flush=True)
    a.close(); b.close(); loop.stop()
    await asyncio.wait_for(server, 5)
    loop.close()

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
asyncio.run(main())
'''
