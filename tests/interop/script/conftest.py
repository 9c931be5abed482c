# SPDX-License-Identifier: MIT
"""sipd --script route.py / route.lua against SIPp and libsip on 127.0.0.1: the processes and
their logs come from tests/interop/sipd/conftest.py (loaded here under another name); this
file adds sipd with a script, a script written from a template, and OPTIONS probes.

The environment ctest sets (tests/interop_script.cmake): SIPD, SIP_UAS, SIP_UAC, PYTHONPATH,
SCRIPT_PORT (where this test file's 300 ports start, within 45500-46499)."""
import importlib.util
import os
import re
import socket
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("sipd_conftest",
                                               HERE.parent / "sipd" / "conftest.py")
sipd_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sipd_conftest)

DOMAIN = sipd_conftest.DOMAIN
Env = sipd_conftest.Env
Proc = sipd_conftest.Proc
tool = sipd_conftest.tool
pytest_runtest_makereport = sipd_conftest.pytest_runtest_makereport

LANGS = ["py", "lua"]


class ScriptEnv(Env):
    def script(self, lang, version="1", broken=False, name="route"):
        """Writes work/<name>.<lang> from tests/interop/script/route.<lang> with its version
        (a broken one does not compile). Returns the path."""
        text = (HERE / ("route." + lang)).read_text().replace("@VERSION@", version)
        if broken:
            text += "\nthis is not valid (\n"
        path = self.work / ("%s.%s" % (name, lang))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path

    def sipd_script(self, script, target_port=None, name="sipd", workers=None):
        """sipd -v --script SCRIPT on UDP, with ROUTE_TARGET naming where INVITEs go; workers:
        --workers N (None: sipd's default, one per core)."""
        penv = dict(os.environ)
        if target_port is not None:
            penv["ROUTE_TARGET"] = "sip:service@127.0.0.1:%d" % target_port
        port = self.port()
        argv = [tool("SIPD"), "-v", "--domain", DOMAIN, "--listen",
                "udp:127.0.0.1:%d" % port, "--script", str(script)]
        if workers is not None:
            argv += ["--workers", str(workers)]
        p = Proc(self, name, argv, penv=penv)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if re.search(r"^listening on ", p.log(), re.M):
                break
            if p.p.poll() is not None:
                pytest.fail("%s exited %s at start:\n%s" % (name, p.p.poll(), p.log()))
            time.sleep(0.05)
        else:
            pytest.fail("%s did not start:\n%s" % (name, p.log()))
        p.port = port
        p.listen = ["udp:127.0.0.1:%d" % port]
        return p

    def options(self, sipd, user="probe", timeout=5.0):
        """An OPTIONS to sip:USER@DOMAIN through sipd over UDP: (status, headers) of the final
        response (headers: lower-case name -> value)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.5)
        lport = s.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex
        msg = ("OPTIONS sip:%s@%s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:probe@%s>;tag=%s\r\n"
               "To: <sip:%s@%s>\r\n"
               "Call-ID: %s\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n") % (user, DOMAIN, lport, branch, DOMAIN,
                                               uuid.uuid4().hex[:8], user, DOMAIN,
                                               uuid.uuid4().hex)
        end = time.monotonic() + timeout
        try:
            s.sendto(msg.encode(), ("127.0.0.1", sipd.port))
            last_send = time.monotonic()
            while time.monotonic() < end:
                try:
                    data = s.recv(65535).decode(errors="replace")
                except socket.timeout:
                    if time.monotonic() - last_send > 0.5:
                        s.sendto(msg.encode(), ("127.0.0.1", sipd.port))
                        last_send = time.monotonic()
                    continue
                head = data.split("\r\n\r\n", 1)[0].split("\r\n")
                status = int(head[0].split()[1])
                if status < 200:
                    continue
                headers = {}
                for line in head[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                return status, headers
        finally:
            s.close()
        pytest.fail("no final response to OPTIONS sip:%s within %.0f s" % (user, timeout))


@pytest.fixture
def env(tmp_path, request):
    base = int(os.environ.get("SCRIPT_PORT", "45500"))
    e = ScriptEnv(tmp_path, base)
    yield e
    rep = getattr(request.node, "rep_call", None)
    e.close(failed=rep is None or rep.failed)
