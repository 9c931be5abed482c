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


def test_fails_on_a_missing_docstring(monkeypatch):
    import libsip
    assert bindings_coverage.missing_docstrings() == []
    monkeypatch.setattr(libsip.Message, "undocumented", property(lambda self: 1), raising=False)
    monkeypatch.setattr(libsip.Sdp, "helper", lambda self: 1, raising=False)
    missing = bindings_coverage.missing_docstrings()
    assert "Message.undocumented" in missing and "Request.undocumented" in missing
    assert "Sdp.helper" in missing


def test_options_fields_are_writable_and_taken(tmp_path):
    include = os.path.join(os.path.dirname(SCRIPT), "..", "libsip", "include", "sip")
    opts = bindings_coverage.options_fields(include)
    assert opts["sip_transport_opts_t"][0] == "sip_transport_opts"
    assert "via_host" in opts["sip_transport_opts_t"][1]
    assert "clock" in opts["sip_txn_opts_t"][1]
    assert bindings_coverage.python_option_problems(opts) == []
    interface = os.path.join(os.path.dirname(SCRIPT), "..", "bindings", "libsip.i")
    assert bindings_coverage.shared_interface_problems(opts, interface) == []
    # A field the shared interface leaves read-only (so neither Python nor Lua can set it).
    text = open(interface, encoding="utf-8").read()
    edited = tmp_path / "libsip.i"
    edited.write_text(text.replace("SIP_MUTABLE(sip_resolver_opts, cache_max)\n", ""))
    problems = bindings_coverage.shared_interface_problems(opts, str(edited))
    assert len(problems) == 1 and problems[0].startswith("sip_resolver_opts_t.cache_max")
    # A field the core lacks and the package does not take.
    fake = dict(opts, sip_resolver_opts_t=("sip_resolver_opts", ["servers", "dns_port"]))
    problems = bindings_coverage.python_option_problems(fake)
    assert problems == ["sip_resolver_opts_t.dns_port: read-only in libsip._core",
                        "sip_resolver_opts_t.dns_port: libsip.Resolver does not take dns_port"]
