# SPDX-License-Identifier: MIT
"""Shared pieces of the demo and examples tests (tests/interop/demo): sipd, the sipua example
and the Lua routing example as processes on 127.0.0.1, each stopped by the test (SIGTERM, then
SIGKILL after a bounded wait), and every log printed when a test fails.

The programs come from the environment ctest sets (tests/interop_demo.cmake): SIPD, SIPUA;
DEMO_PORT is where this test file's 200 ports start (the demo's range is 46500-47499), so that
files run in parallel (ctest -j2) never probe the same ports."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import harness  # noqa: E402
from harness import SANITIZER, Proc, pytest_runtest_makereport, tool  # noqa: E402,F401

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SPAN = 200

# Where the next test of this file starts in the file's range: a test does not take the ports
# the test before it used.
_cursor = [0]


class Env(harness.Env):
    span = SPAN
    wait_timeout = 15.0

    def __init__(self, work, base):
        super().__init__(work, base)
        self.next_port = base + _cursor[0]

    def passwd(self, path, users, realm):
        """Writes a users file with `sipd passwd` (the password on standard input)."""
        for user, pw in users.items():
            r = subprocess.run([tool("SIPD"), "passwd", str(path), user, "--realm", realm],
                               input=(pw + "\n").encode(), capture_output=True, timeout=20)
            assert r.returncode == 0, r.stderr.decode(errors="replace")
        return path

    def sipd(self, name, *args, port=None, ready=r"^domain ", penv=None):
        """sipd -v on UDP+TCP 127.0.0.1:port with args; started once its log matches ready.
        Returns the Proc with .port."""
        port = port or self.port()
        argv = [tool("SIPD"), "-v", "--listen", "udp:127.0.0.1:%d" % port,
                "--listen", "tcp:127.0.0.1:%d" % port, *args]
        p = Proc(self, name, argv, penv=penv)
        p.wait_for(ready)
        p.port = port
        return p

    def sipua(self, name, *args):
        """The sipua example (examples/c/sipua.c), started; the caller waits for its lines."""
        return Proc(self, name, [tool("SIPUA"), *args])


@pytest.fixture
def env(tmp_path, request):
    base = int(os.environ.get("DEMO_PORT", "46500"))
    e = Env(tmp_path, base)
    yield e
    _cursor[0] = (e.next_port - base) % SPAN
    e.close(failed=harness.failed(request))
