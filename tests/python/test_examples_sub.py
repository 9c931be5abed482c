# SPDX-License-Identifier: MIT
"""The subscription examples run: event_notifier.py serves message-summary (RFC 3842) and dialog
(RFC 4235); event_watcher.py and sip-uac --subscribe watch it; an unknown package gets 489."""

import os
import signal
import subprocess
import sys

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python")


def _sip_uac():
    path = os.environ.get("SIP_UAC")
    assert path and os.access(path, os.X_OK), f"SIP_UAC={path!r}: sip-uac not built"
    return path


def _start_notifier():
    p = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "event_notifier.py"),
                          "--listen", "udp:127.0.0.1:0", "--every", "0.2", "-v"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    assert line.startswith("listening on udp:127.0.0.1:"), line
    return p, int(line.rsplit(":", 1)[1])


def _watch(port, *args):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, "event_watcher.py"),
                           f"sip:vm@127.0.0.1:{port}"] + list(args), capture_output=True,
                          timeout=60)


def test_notifier_with_watcher_and_sip_uac():
    p, port = _start_notifier()
    try:
        r = _watch(port, "--count", "3")
        assert r.returncode == 0, r.stderr.decode()
        lines = r.stdout.decode().splitlines()
        assert lines[0] == "NOTIFY active waiting=yes (93 bytes)"
        assert len([ln for ln in lines if ln.startswith("NOTIFY active")]) == 3
        assert lines[-2].startswith("NOTIFY terminated") and lines[-1] == "ended: 200"

        r = _watch(port, "--event", "dialog", "--count", "1")
        assert r.returncode == 0, r.stderr.decode()
        out = r.stdout.decode()
        assert out.startswith("NOTIFY active") and "<dialog-info " in out

        r = subprocess.run([_sip_uac(), "--subscribe", "message-summary",
                            f"sip:vm@127.0.0.1:{port}"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        out = r.stdout.decode().splitlines()
        assert out[0] == "NOTIFY: active;expires=600"
        assert out[1] == "Content-Type: application/simple-message-summary"
        assert "Messages-Waiting: yes" in out

        r = subprocess.run([_sip_uac(), "--subscribe", "presence", f"sip:vm@127.0.0.1:{port}"],
                           capture_output=True, timeout=60)
        assert r.returncode == 1
        assert "489 Bad Event" in r.stderr.decode()

        r = _watch(port, "--event", "presence")
        assert r.returncode == 1 and "subscription failed: 489" in r.stderr.decode()
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err.decode()
    assert out == b"bye\n"
    assert err.decode().count("message-summary subscription from") == 2
