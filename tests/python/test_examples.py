# SPDX-License-Identifier: MIT
"""The Python examples run: the rewrite prints the new message, the responder answers OPTIONS
and exits on SIGINT (plain run() and asyncio)."""

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


@pytest.mark.parametrize("mode", [[], ["--asyncio"]])
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
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
