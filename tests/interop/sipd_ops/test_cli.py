# SPDX-License-Identifier: MIT
"""sipd's command line around the configuration file: --help names the new flags, the signals
and the exit statuses; --check-config prints "ok" or the error with the file, line, column and
key (exit 0 or 2); flags override the file (a list flag replaces the file's whole list); the
systemd unit the install ships passes `systemd-analyze verify`."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DOMAIN, config, run, tool

SAMPLE = Path(__file__).resolve().parents[3] / "tools" / "sipd" / "sipd.yaml"


def test_help_names_flags_signals_and_exit_statuses():
    rc, out, err = run("--help")
    assert rc == 0, err
    for word in ("-c, --config FILE", "--check-config", "--script FILE", "--metrics ADDR",
                 "--log-level L", "--trace", "--demo", "--pid-file FILE", "--log-requests",
                 "SIGHUP", "SIGTERM", "shutdown.grace", "Exit status", "sipd passwd"):
        assert word in out, word


def test_check_config_good_and_bad(env):
    rc, out, err = run("--check-config", "-c", str(SAMPLE))
    assert (rc, out) == (0, "ok\n"), err
    bad = config(env, "bad.yaml", "listen:\n  - udp:127.0.0.1:5060\nlog:\n  level: loud\n")
    rc, out, err = run("--check-config", "--config", str(bad))
    assert rc == 2 and out == "", out
    assert re.search(r"bad\.yaml:4:10: log\.level: \"loud\": wants one of", err), err
    for text, where in (("listen: [udp:127.0.0.1:5060]\nlisten: []\n", r":2:1: listen: duplicate"),
                        ("mode: stateful\nfrobnicate: 1\n", r":2:1: frobnicate: unknown key"),
                        ("users: [a, b]\n", r":1:8: users: wants a single value, not a list"),
                        ("log: [\n", r":2:1: did not find expected node")):
        f = config(env, "bad2.yaml", text)
        rc, out, err = run("--check-config", "-c", str(f))
        assert rc == 2 and re.search(r"bad2\.yaml" + where, err), (text, err)
    # The whole is checked too: a users file that is not there names the key.
    f = config(env, "nousers.yaml", "users: %s\n" % (env.work / "missing"))
    rc, out, err = run("--check-config", "-c", str(f))
    assert rc == 2 and re.search(r"users: cannot read .*missing", err), err
    # A file that cannot be read.
    rc, out, err = run("--check-config", "-c", str(env.work / "nope.yaml"))
    assert rc == 2 and "nope.yaml" in err, err
    # A flag with a bad value names the flag.
    rc, out, err = run("--check-config", "-c", str(SAMPLE), "--log-level", "loud")
    assert rc == 2 and re.search(r"--log-level: log\.level: \"loud\"", err), err


def test_flags_override_the_file(env):
    a, b, c = env.port(), env.port(), env.port()
    f = config(env, "sipd.yaml",
               "listen: [\"udp:127.0.0.1:%d\", \"tcp:127.0.0.1:%d\"]\n"
               "domains: [file.example, other.example]\nmode: redirect\n"
               "log: {level: warn}\n" % (a, a))
    d = env.sipd("sipd", "-c", str(f), "--listen", "udp:127.0.0.1:%d" % b,
                 "-l", "udp:127.0.0.1:%d" % c, "--domain", DOMAIN)
    log = d.log()
    # The flags' two listening points replaced the file's; the file's mode stayed.
    assert re.findall(r"^listening on (.*)$", log, re.M) == [
        "udp:127.0.0.1:%d" % b, "udp:127.0.0.1:%d" % c], log
    assert re.search(r"^domain %s \(realm\); 0 users .*; redirecting$" % re.escape(DOMAIN), log,
                     re.M), log
    assert "file.example" not in log
    env.stop_clean(d)
    # Without the flags, the file's.
    d = env.sipd("sipd2", "-c", str(f))
    log = d.log()
    assert re.findall(r"^listening on (.*)$", log, re.M) == [
        "udp:127.0.0.1:%d" % a, "tcp:127.0.0.1:%d" % a], log
    assert re.search(r"^domain file\.example \(realm\), other\.example; ", log, re.M), log
    env.stop_clean(d)


def test_metrics_flag_serves(env):
    import urllib.request
    p = env.port()
    d = env.sipd("sipd", "--listen", "udp:127.0.0.1:%d" % p, "--metrics", "127.0.0.1:0")
    m = d.wait_for(r"^metrics on (http://127\.0\.0\.1:(\d+)/metrics)$")
    assert int(m.group(2)) > 0
    with urllib.request.urlopen(m.group(1), timeout=10) as r:
        assert r.status == 200
    env.stop_clean(d)


def test_pid_file(env):
    p = env.port()
    pid = env.work / "sipd.pid"
    d = env.sipd("sipd", "--listen", "udp:127.0.0.1:%d" % p, "--pid-file", str(pid))
    assert pid.read_text() == "%d\n" % d.p.pid
    env.stop_clean(d)
    assert not pid.exists()


def test_runtime_and_usage_statuses(env):
    # A file that does not load is a usage error (2); a part that cannot start is 1.
    bad = config(env, "bad.yaml", "mode: sideways\n")
    rc, out, err = run("-c", str(bad))
    assert rc == 2 and "bad.yaml:1:7: mode:" in err, err
    holder = env.port()
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", holder))
    try:
        f = config(env, "taken.yaml", "listen: [\"udp:127.0.0.1:%d\"]\n" % holder)
        rc, out, err = run("-c", str(f))
        assert rc == 1 and "listen: cannot listen on udp:127.0.0.1:%d" % holder in err, err
    finally:
        s.close()


def test_systemd_unit_verifies(env):
    # The unit the install ships: systemd-analyze (Debian's systemd package) must accept it. Its
    # ExecStart names the installed sipd; the check runs on a copy naming the built one.
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: install systemd (scripts/deps.sh)"
    unit = Path(tool("SIPD_UNIT")).read_text()
    for word in ("ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes", "StateDirectory=sipd",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE"):
        assert word in unit, word
    m = re.search(r"^ExecStart=(\S+)/sipd ", unit, re.M)
    assert m, unit
    copy = env.work / "sipd.service"
    copy.write_text(unit.replace(m.group(1) + "/sipd", tool("SIPD")))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0 and "sipd.service" not in out, out


def test_listening_points_of_every_kind_from_the_file(env):
    # UDP and TCP on IPv6, WebSocket on IPv4, from the file; a request over IPv6 is answered.
    import socket
    p, w = env.port(), env.port()
    f = config(env, "sipd.yaml", "listen:\n  - \"udp:[::1]:%d\"\n  - tcp:[::1]:%d\n"
               "  - ws:127.0.0.1:%d\ndomains: [%s]\n" % (p, p, w, DOMAIN))
    d = env.sipd("sipd", "-c", str(f))
    assert re.findall(r"^listening on (.*)$", d.log(), re.M) == [
        "udp:[::1]:%d" % p, "tcp:[::1]:%d" % p, "ws:127.0.0.1:%d" % w], d.log()
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    s.settimeout(5)
    me = s.getsockname()[1]
    s.sendto(("OPTIONS sip:nobody@%s SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:%d;branch=z9hG4bKv6\r\n"
              "Max-Forwards: 70\r\nFrom: <sip:v6@%s>;tag=1\r\nTo: <sip:nobody@%s>\r\n"
              "Call-ID: v6@ops\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" %
              (DOMAIN, me, DOMAIN, DOMAIN)).encode(), ("::1", p))
    rsp = s.recv(65535).decode()
    s.close()
    assert rsp.startswith("SIP/2.0 404 "), rsp
    env.stop_clean(d)
