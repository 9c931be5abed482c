# SPDX-License-Identifier: MIT
"""sipd --workers N against real peers (tests/interop/workers): the Env of sipd's own interop
tests (tests/interop/sipd/conftest.py: sipd, sip-uas, sip-uac and SIPp on 127.0.0.1), with
helpers for the worker processes: their pids (the parent's children), whether any is left.

The programs come from the environment ctest sets (tests/interop_workers.cmake); WORKERS_PORT
is where this file's 300 ports start (the range is 53000-53999)."""
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import harness  # noqa: E402
from harness import pytest_runtest_makereport, wait_until  # noqa: E402,F401

# sipd's own conftest, under another name (both files are "conftest" to pytest).
_spec = importlib.util.spec_from_file_location("sipd_conftest", HERE.parent / "sipd" /
                                               "conftest.py")
sipd_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sipd_conftest)
DOMAIN, USERS = sipd_conftest.DOMAIN, sipd_conftest.USERS


def children(pid):
    """The pids of pid's children now (the worker processes of a sipd parent)."""
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return sorted(out)


def alive(pid):
    """True while pid is a process that is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class Env(sipd_conftest.Env):
    def sipd_workers(self, name="sipd", *args, workers=2, **kw):
        """sipd --workers N, started once every worker is ready (the parent prints "N workers
        (pids ...)" then). Returns the Proc with .workers, the pids printed."""
        p = self.sipd(name, "--workers", str(workers), *args, **kw)
        m = p.wait_for(r"^(\d+) workers \(pids ([\d ]+)\)$", timeout=15)
        assert int(m.group(1)) == workers, p.log()
        p.workers = [int(x) for x in m.group(2).split()]
        assert sorted(p.workers) == children(p.pid), (p.workers, children(p.pid))
        return p


@pytest.fixture
def env(tmp_path, request):
    base = int(os.environ.get("WORKERS_PORT", "53000"))
    e = Env(tmp_path, base)
    yield e
    e.close(failed=harness.failed(request))
