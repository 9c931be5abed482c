# SPDX-License-Identifier: MIT
"""Shared pieces of the Redis tests: sipd nodes and libsip's programs as in tests/interop/sipd
(its Env, loaded from there), and a redis-server started by the test on 127.0.0.1 without
persistence (--save ""), so that a restart comes back empty. REDIS_PORT is where this file's
100 ports start (tests/interop_redis.cmake)."""
import importlib.util
import os
import socket
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("sipd_conftest", HERE.parent / "sipd" / "conftest.py")
sipd_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sipd_conftest)
harness = sipd_conftest.harness
pytest_runtest_makereport = sipd_conftest.pytest_runtest_makereport
DOMAIN = sipd_conftest.DOMAIN


def redis_cmd(port, *args, timeout=2.0):
    """One command over RESP on a fresh connection: the decoded reply (int, str, list, None),
    or raises OSError when Redis is not there."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        f = s.makefile("rb")

        def read():
            line = f.readline()
            if not line:
                raise OSError("closed")
            t, v = line[:1], line[1:-2]
            if t == b"+":
                return v.decode()
            if t == b"-":
                raise OSError(v.decode())
            if t == b":":
                return int(v)
            if t == b"$":
                n = int(v)
                if n < 0:
                    return None
                data = f.read(n + 2)[:-2]
                return data.decode(errors="replace")
            if t == b"*":
                return [read() for _ in range(int(v))]
            raise OSError("bad reply %r" % line)
        return read()


class Env(sipd_conftest.Env):
    def port(self, tcp=True):
        """The next port of this file's 100 free for UDP (and TCP) on 127.0.0.1, wrapping."""
        for i in range(100):
            p = self.base + (self.next_port - self.base + i) % 100
            if not harness.bound(p) and not (tcp and harness.bound(p, socket.SOCK_STREAM)):
                self.next_port = p + 1
                return p
        pytest.fail("no free port in %d-%d" % (self.base, self.base + 99))

    def redis(self, name="redis", port=None):
        """redis-server on 127.0.0.1:port (a new port when None) without persistence, started
        once it answers PING. Returns the Proc with .port."""
        port = port or self.port()
        p = self.proc(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--daemonize", "no"])
        p.port = port
        end = time.monotonic() + 15
        while time.monotonic() < end:
            try:
                if redis_cmd(port, "PING") == "PONG":
                    return p
            except OSError:
                pass
            if not p.running():
                pytest.fail("redis-server exited %s:\n%s" % (p.p.poll(), p.log()))
            time.sleep(0.05)
        pytest.fail("redis-server did not start:\n%s" % p.log())


@pytest.fixture
def env(tmp_path, request):
    base = int(os.environ.get("REDIS_PORT", "50900"))
    e = Env(tmp_path, base)
    yield e
    e.close(failed=harness.failed(request))
