# SPDX-License-Identifier: MIT
"""tests/bindings_coverage.py finds every public function and fails on a missing one."""

import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "bindings_coverage.py")
sys.path.insert(0, os.path.dirname(SCRIPT))
import bindings_coverage  # noqa: E402


def test_lists_public_functions():
    found = bindings_coverage.public_functions(
        os.path.join(os.path.dirname(SCRIPT), "..", "libsip", "include", "sip"))
    assert found["sip_msg_parse"] == "msg.h"
    assert found["sip_sdp_media_attr_get"] == "sdp.h"  # declaration spread over two lines
    assert found["sip_log"] == "loop.h"
    assert "sip_str" not in found and "SIP_EXTERN" not in found


def test_fails_on_missing_and_passes_on_union(tmp_path):
    import libsip._core as core
    names = sorted(n for n in dir(core) if n.startswith("sip_"))
    partial = tmp_path / "partial.txt"
    partial.write_text("\n".join(n for n in names if n != "sip_uri_equal") + "\n")
    r = subprocess.run([sys.executable, SCRIPT, "--names", str(partial)], capture_output=True)
    assert r.returncode == 1
    assert b"sip_uri_equal (uri.h) missing from" in r.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = subprocess.run([sys.executable, SCRIPT, "--names", str(partial), "--names", str(empty),
                        "--python"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    r = subprocess.run([sys.executable, SCRIPT, "--each", "--python", "--names", str(partial)],
                       capture_output=True)
    assert r.returncode == 1
