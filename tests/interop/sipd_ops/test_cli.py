# SPDX-License-Identifier: MIT
"""sipd's command line around the configuration file: --help names the new flags, the signals
and the exit statuses; --check-config prints "ok" or the error with the file, line, column and
key (exit 0 or 2); flags override the file (a list flag replaces the file's whole list); the
counters scraped from a running sipd's /metrics; listening points of every kind from the file;
the systemd unit the install ships passes `systemd-analyze verify`."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DOMAIN, USERS, config, run, tool

SAMPLE = Path(__file__).resolve().parents[3] / "tools" / "sipd" / "sipd.yaml"


def test_help_names_flags_signals_and_exit_statuses():
    rc, out, err = run("--help")
    assert rc == 0, err
    for word in ("-c, --config FILE", "--check-config", "--script FILE", "--metrics ADDR",
                 "--log-level L", "--trace", "--demo", "--pid-file FILE", "--log-requests",
                 "SIGHUP", "SIGTERM", "shutdown.grace", "Exit status", "sipd passwd"):
        assert word in out, word
    # Every long option sipd takes (main.c's table) is in the text, and every exit status.
    main = (Path(__file__).resolve().parents[3] / "tools" / "sipd" / "main.c").read_text()
    longopts = re.findall(r'^\s*\{"([a-z-]+)", (?:no|required)_argument,', main, re.M)
    assert len(longopts) >= 20, longopts
    docs = (Path(__file__).resolve().parents[3] / "docs" / "SIPD.md").read_text()
    for name in longopts:
        if name.startswith("worker-"):
            # The internal flags a parent gives its worker processes: not for operators, so
            # not in --help, but documented (SIPD.md, "Workers").
            assert name not in out and "--" + name in docs, name
            continue
        assert re.search(r"^ +(-\w, )?--%s\b" % name, out, re.M), name
    for status in ("0 after", "1 on a runtime failure", "2 for a usage error"):
        assert status in out, status


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


def scrape(url):
    """The series of a /metrics page: {'name{labels}': value}."""
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        text = r.read().decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(sip_\S+) (\S+)$", text, re.M)}


def test_metrics_count_what_sipd_does(env):
    # Every counter the operator's guide lists, scraped from a running sipd configured by its
    # file: requests by method, responses by class, transactions, registrations, bindings,
    # dialogs, authentications, drops, and blocked sources once a password guesser is blocked.
    port = env.port()
    users = env.passwd(env.work / "users")
    f = config(env, "sipd.yaml",
               "listen: [\"udp:127.0.0.1:%d\"]\ndomains: [%s]\nusers: \"%s\"\n"
               "limits: {auth_failures: 3, auth_window: 60, auth_block: 60}\n"
               "metrics: {listen: \"127.0.0.1:0\"}\n" % (port, DOMAIN, users))
    # One process: the totals are compared at once, and counted once (docs/SIPD.md, Workers).
    d = env.sipd("sipd", "-c", str(f), "--workers", "1")
    url = d.wait_for(r"^metrics on (http://127\.0\.0\.1:\d+/metrics)$").group(1)
    m = scrape(url)
    for name in ('sip_requests_received_total{method="%s"}' % x for x in
                 ("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "SUBSCRIBE",
                  "NOTIFY", "MESSAGE", "other")):
        assert m[name] == 0, name
    for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "6xx"):
        assert m['sip_responses_sent_total{class="%s"}' % c] == 0
        assert m['sip_responses_received_total{class="%s"}' % c] == 0
    for name in ("sip_requests_sent_total", "sip_transactions_total", "sip_transactions",
                 "sip_dialogs_total", "sip_dialogs", 'sip_registrations_total{result="ok"}',
                 'sip_registrations_total{result="failed"}', "sip_bindings",
                 'sip_auth_total{result="ok"}', 'sip_auth_total{result="failed"}',
                 "sip_blocked_total", "sip_blocked_sources", 'sip_dropped_total{reason="parse"}',
                 'sip_dropped_total{reason="limit"}', 'sip_dropped_total{reason="other"}',
                 "sip_connections_accepted_total", "sip_connections_evicted_total",
                 "sip_connections"):
        assert m[name] == 0, name
    # bob registers (a 401, then a 200); carol's OPTIONS reaches him and he answers 200.
    bob = env.ua("bob")
    assert bob.register(port, "bob", USERS["bob"]).startswith("SIP/2.0 200")
    carol = env.ua("carol")
    cid, _ = carol.request("OPTIONS", "sip:bob@%s" % DOMAIN, port)
    req = bob.recv(want=r"^OPTIONS sip:bob@127\.0\.0\.1:%d" % bob.port)
    assert req, d.log()
    bob.answer(req, 200)
    assert carol.final(cid).startswith("SIP/2.0 200 "), d.log()
    cid, _ = carol.request("OPTIONS", "sip:nobody@%s" % DOMAIN, port)
    assert carol.final(cid).startswith("SIP/2.0 404 "), d.log()
    carol.s.sendto(b"this is not SIP\r\n\r\n", ("127.0.0.1", port))
    carol.s.sendto(b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKm\r\n"
                   b"Content-Length: 0\r\n\r\n", ("127.0.0.1", port))  # no Call-ID, CSeq...
    cid, _ = carol.request("OPTIONS", "sip:after@%s" % DOMAIN, port)
    assert carol.final(cid).startswith("SIP/2.0 404 "), d.log()  # both drops came first
    m = scrape(url)
    assert m['sip_requests_received_total{method="REGISTER"}'] == 2, m
    assert m['sip_requests_received_total{method="OPTIONS"}'] == 3, m
    assert m['sip_responses_sent_total{class="2xx"}'] == 2, m      # bob's 200s
    assert m['sip_responses_sent_total{class="4xx"}'] >= 3, m      # 401, 404, 404
    assert m['sip_responses_received_total{class="2xx"}'] == 1, m  # bob's 200 to OPTIONS
    assert m["sip_requests_sent_total"] == 1, m                    # the OPTIONS forwarded
    assert m["sip_transactions_total"] >= 6, m
    assert m['sip_registrations_total{result="ok"}'] == 1, m
    assert m["sip_bindings"] == 1, m
    assert m['sip_auth_total{result="ok"}'] == 1, m
    assert m['sip_dropped_total{reason="parse"}'] >= 1, m
    assert m["sip_dialogs_total"] == 0, m  # a proxy is no party of a dialog
    # mallory guesses a password three times: blocked, then dropped.
    mallory = env.ua("mallory")
    for i in range(3):
        rsp = mallory.register(port, "alice", "guess-%d" % i)
        assert rsp.startswith("SIP/2.0 401 "), rsp
    d.wait_for(r"guard: blocked 127\.0\.0\.1 for 60 s: 3 failed authentications")
    cid, _ = mallory.request("OPTIONS", "sip:nobody@%s" % DOMAIN, port)
    assert mallory.final(cid, timeout=1.0) is None
    m = scrape(url)
    assert m['sip_auth_total{result="failed"}'] == 3, m
    assert m['sip_registrations_total{result="failed"}'] == 0, m  # challenges, not answers
    assert m["sip_blocked_sources"] == 1, m
    assert m["sip_blocked_total"] >= 1, m
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


def test_tls_and_wss_listening_points_from_the_file(env):
    # tls: and wss: from the file with the tls section's certificate and key; a request over
    # TLS is answered, and the WSS port completes a TLS handshake.
    import socket
    import ssl
    cert, key = env.work / "cert.pem", env.work / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    t, w = env.port(), env.port()
    f = config(env, "sipd.yaml", "listen: [\"tls:127.0.0.1:%d\", \"wss:127.0.0.1:%d\"]\n"
               "domains: [%s]\ntls:\n  cert: %s\n  key: %s\n" % (t, w, DOMAIN, cert, key))
    rc, out, err = run("--check-config", "-c", str(f))
    assert (rc, out) == (0, "ok\n"), err
    d = env.sipd("sipd", "-c", str(f))
    assert re.findall(r"^listening on (.*)$", d.log(), re.M) == [
        "tls:127.0.0.1:%d" % t, "wss:127.0.0.1:%d" % w], d.log()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(cert))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", w), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
    with socket.create_connection(("127.0.0.1", t), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            me = s.getsockname()[1]
            s.sendall(("OPTIONS sip:nobody@%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:%d;"
                       "branch=z9hG4bKtls\r\nMax-Forwards: 70\r\nFrom: <sip:t@%s>;tag=1\r\n"
                       "To: <sip:nobody@%s>\r\nCall-ID: tls@ops\r\nCSeq: 1 OPTIONS\r\n"
                       "Content-Length: 0\r\n\r\n" % (DOMAIN, me, DOMAIN, DOMAIN)).encode())
            rsp = b""
            while b"\r\n\r\n" not in rsp:
                chunk = s.recv(65535)
                assert chunk, rsp
                rsp += chunk
    assert rsp.startswith(b"SIP/2.0 404 "), rsp
    env.stop_clean(d)
