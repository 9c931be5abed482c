# SPDX-License-Identifier: MIT
"""The Python examples run: the rewrite prints the new message, the responder answers OPTIONS
and exits on SIGINT (plain run() and asyncio)."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest

import libsip

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python")


def test_parse_and_rewrite():
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "parse_and_rewrite.py"),
                        "--uri", "sip:bob@192.0.2.4:5080", "--via", "p.example.com"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    out = libsip.Message.parse(r.stdout)
    assert str(out.uri) == "sip:bob@192.0.2.4:5080"
    vias = out.headers["Via"]
    assert [v.host for v in vias] == ["p.example.com", "pc33.atlanta.example.com"]
    assert vias[0].branch.startswith("z9hG4bK") and len(vias[0].branch) == 23
    assert out.max_forwards == 69
    assert [h.canonical_name for h in out.headers.all()][:3] == ["Via", "Via", "Max-Forwards"]


def test_parse_and_rewrite_reports_parse_errors():
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "parse_and_rewrite.py"), "-"],
                       input=b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", capture_output=True,
                       timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith(b"line 2, column 6: ")


@pytest.mark.parametrize("mode", [[], ["--asyncio"], ["-v"]])
def test_options_responder(mode):
    p = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "options_responder.py"),
                          "--listen", "udp:127.0.0.1:0"] + mode,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode()
        assert line.startswith("listening on udp:127.0.0.1:")
        dst = line.split()[-1]
        with libsip.Stack(["udp:127.0.0.1:0"]) as uac:
            got = []
            uac.on_response(lambda rsp: (got.append(rsp), uac.stop()))
            req = libsip.Message.request("OPTIONS", "sip:ping@" + dst.split(":", 1)[1], headers=[
                ("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKex1"), ("Max-Forwards", "70"),
                ("To", "<sip:ping@example.com>"), ("From", "<sip:t@example.com>;tag=1"),
                ("Call-ID", "ex1"), ("CSeq", "1 OPTIONS")])
            uac.send(req, dst)
            guard = uac.loop.call_later(10, uac.stop)
            uac.run()
            guard.stop()
            assert [(r.status, r.headers["Allow"][0].value) for r in got] == [(200, "OPTIONS")]
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0, err.decode()
        assert out == b"bye\n"
        # -v logs each request with where it came from.
        logged = b"OPTIONS from 127.0.0.1:" in err
        assert logged == (mode == ["-v"]), err.decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _sip_uac():
    """The built sip-uac (tests/python.cmake passes it as SIP_UAC): missing means failing."""
    path = os.environ.get("SIP_UAC")
    assert path and os.access(path, os.X_OK), f"SIP_UAC={path!r}: sip-uac not built"
    return path


def _start_answerer(*extra):
    p = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "call_answerer.py"),
                          "--listen", "udp:127.0.0.1:0"] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    assert line.startswith("listening on udp:127.0.0.1:"), line
    return p, int(line.rsplit(":", 1)[1])


def _stop(p, sig=signal.SIGINT):
    p.send_signal(sig)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err.decode()
    assert out == b"bye\n"
    return err.decode()


@pytest.mark.parametrize("ring,calls,sig", [(0, 20, signal.SIGINT), (300, 3, signal.SIGTERM)])
def test_call_answerer_with_sip_uac(ring, calls, sig):
    uac = _sip_uac()
    p, port = _start_answerer("--ring", str(ring), "-v")
    try:
        r = subprocess.run([uac, "--calls", str(calls), "--rate", "50", "--hold", "10",
                            f"sip:answer@127.0.0.1:{port}"], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout.decode().splitlines()[-1] == f"calls: {calls} completed, 0 failed"
        err = _stop(p, sig)
        ends = [ln for ln in err.splitlines() if "call_answerer call " in ln]
        assert len(ends) == calls, err
        assert all(" ended: BYE after " in ln for ln in ends), err
        if ring:
            # Each call was answered --ring ms after its INVITE.
            assert all(float(ln.split(" after ")[1].split()[0]) >= 0.3 for ln in ends), err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_call_answerer_retransmits_200_until_ack():
    """RFC 3261 §13.3.1.4: the 200 goes again at T1 (500 ms), 2*T1 later... until the ACK."""
    p, port = _start_answerer()
    try:
        dst = f"udp:127.0.0.1:{port}"
        with libsip.Stack(["udp:127.0.0.1:0"]) as uac:
            got = []
            uac.on_response(lambda rsp: got.append(rsp))
            me = uac.address()
            invite = libsip.Message.request("INVITE", f"sip:answer@127.0.0.1:{port}", headers=[
                ("Via", f"SIP/2.0/UDP {me[4:]};branch=z9hG4bKca1"), ("Max-Forwards", "70"),
                ("To", "<sip:answer@example.com>"), ("From", "<sip:t@example.com>;tag=1"),
                ("Call-ID", "ca-retx"), ("CSeq", "1 INVITE"),
                ("Contact", f"<sip:t@{me[4:]}>")])
            invite.set_body(b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                            b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", "application/sdp")
            uac.send(invite, dst)

            def run_for(seconds):
                t = uac.loop.call_later(seconds, uac.stop)
                uac.run()
                t.stop()

            # Sent at 0 and 500 ms; the next copy is due at 1500 ms.
            run_for(1.0)
            assert [r.status for r in got] == [180, 200, 200]
            ok = got[1]
            assert str(ok.content_type) == "application/sdp"
            assert b"c=IN IP4 127.0.0.1\r\n" in ok.body
            contact = ok.headers["Contact"][0].parsed.uri
            assert (contact.host, contact.port) == ("127.0.0.1", port)
            assert got[2].to.tag == ok.to.tag == got[0].to.tag
            ack = libsip.Message.request("ACK", str(contact), headers=[
                ("Via", f"SIP/2.0/UDP {me[4:]};branch=z9hG4bKca2"), ("Max-Forwards", "70"),
                ("To", f"<sip:answer@example.com>;tag={ok.to.tag}"),
                ("From", "<sip:t@example.com>;tag=1"), ("Call-ID", "ca-retx"),
                ("CSeq", "1 ACK")])
            uac.send(ack, dst)
            # No copy at 1500 ms once the ACK is in.
            run_for(1.2)
            assert [r.status for r in got] == [180, 200, 200]
            bye = libsip.Message.request("BYE", str(contact), headers=[
                ("Via", f"SIP/2.0/UDP {me[4:]};branch=z9hG4bKca3"), ("Max-Forwards", "70"),
                ("To", f"<sip:answer@example.com>;tag={ok.to.tag}"),
                ("From", "<sip:t@example.com>;tag=1"), ("Call-ID", "ca-retx"),
                ("CSeq", "2 BYE")])
            uac.send(bye, dst)
            run_for(0.5)
            assert [(r.status, r.cseq.method) for r in got[3:]] == [(200, "BYE")]
        _stop(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_click_to_call():
    """3PCC between two UAs of this process (each with the offer/answer engine): A offers in its
    200 and is held, B answers A's offer, A takes B's answer in a re-INVITE; both calls end
    after --duration."""
    caps = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

    async def main():
        loop = libsip.Loop(strict=True)
        stacks = [libsip.Stack(["udp:127.0.0.1:0"], loop=loop, transactions=True, t1_ms=50)
                  for _ in range(2)]
        server = asyncio.ensure_future(loop.serve())
        calls = {}
        try:
            with stacks[0].ua() as alice, stacks[1].ua() as bob:
                for name, ua, port in (("alice", alice, 4000), ("bob", bob, 5000)):
                    def answer(call, name=name):
                        calls[name] = call
                        call.answer()  # the engine answers from caps
                    ua.on_invite(media=caps.format(port=port))(answer)
                uris = [f"sip:{n}@" + s.address().split(":", 1)[1]
                        for n, s in zip(("alice", "bob"), stacks)]
                p = await asyncio.create_subprocess_exec(
                    sys.executable, os.path.join(EXAMPLES, "click_to_call.py"), "--duration",
                    "0.3", "--timeout", "5", "-v", "--a", uris[0], "--b", uris[1],
                    "--listen", "udp:127.0.0.1:0", stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(p.communicate(), 30)
                assert p.returncode == 0, err.decode()
                ends = [await asyncio.wait_for(calls[n].ended(), 5) for n in ("alice", "bob")]
                # Each side sends to the other's media port.
                sdps = (calls["alice"].remote_sdp, calls["bob"].remote_sdp)
                return out.decode().splitlines(), ends, sdps
        finally:
            for s in stacks:
                s.close()
            loop.stop()
            await asyncio.wait_for(server, 5)
            loop.close()

    lines, ends, (alice_remote, bob_remote) = asyncio.run(main())
    assert lines[-2:] == ["connected", "ended: stopped"], lines
    assert ends == [200, 200]
    assert "m=audio 5000 " in alice_remote and "m=audio 4000 " in bob_remote
