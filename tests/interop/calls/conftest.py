# SPDX-License-Identifier: MIT
"""Shared pieces of the call-layer interop tests: libsip's programs and SIPp started as
processes on 127.0.0.1 (tests/interop/harness.py: each stopped with SIGTERM, then SIGKILL
after a bounded wait, so no SIPp is left behind), and every log printed when a test fails.

The programs come from the environment ctest sets (tests/interop_calls.cmake): SIP_UAS, SIP_UAC,
SIP_B2BUA; SIPP_CALLS_PORT is where this test file's ports start, so that files run in parallel
(ctest -j2) never probe the same range."""
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
from harness import (SANITIZER, Proc, free_port, pytest_runtest_makereport,  # noqa: E402,F401
                     tool, udp_bound)

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "sipp"


class Env(harness.Env):
    scenarios = SCENARIOS
    log_lines = 80

    # ---- libsip's programs ------------------------------------------------------------------

    def uas(self, name, port, *args):
        """sip-uas -v on UDP port, started once it says it listens."""
        p = Proc(self, name, [tool("SIP_UAS"), "--listen", "udp:127.0.0.1:%d" % port, "-v",
                              *args])
        p.wait_for(r"^listening on udp:", timeout=5.0)
        return p

    def b2bua(self, name, port, *args):
        p = Proc(self, name, [tool("SIP_B2BUA"), "--listen", "udp:127.0.0.1:%d" % port, "-v",
                              *args])
        p.wait_for(r"^listening on udp:", timeout=5.0)
        return p

    def uac(self, name, *args, timeout=60.0):
        """sip-uac run to its end: (exit status, output)."""
        p = Proc(self, name, [tool("SIP_UAC"), *args])
        rc = p.wait(timeout)
        return rc, p.log()

    def stop_clean(self, p, timeout=10.0):
        """Stops a libsip program: exit 0, no sanitizer report. Returns its log."""
        return super().stop_clean(p, timeout)

    def sipp_server(self, name, scenario, port, *args, calls=1, timeout=60):
        """SIPp as the callee on UDP port for calls calls; returns once it holds the port."""
        return super().sipp_server(name, scenario, port, *args, calls=calls, timeout=timeout,
                                   start_within=5)


@pytest.fixture
def env(tmp_path, request):
    if not shutil.which("sipp"):
        pytest.fail("sipp is not installed (scripts/deps.sh)")
    base = int(os.environ.get("SIPP_CALLS_PORT", "24000"))
    e = Env(tmp_path, base)
    yield e
    e.close(failed=harness.failed(request))
