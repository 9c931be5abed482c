# SPDX-License-Identifier: MIT
"""Transports against independent clients and servers, through the Python package (the
script-level side of tests/unit/test_tls_name.c, test_txn_failover.c, test_layers.c and
test_transport_logs.c; tests/lua/test_transport_fixes.lua runs the same cases):

- TLS to a server found by name sends the name as SNI and checks the certificate against it
  (RFC 5922 §4.1, §7.2): `openssl s_server`, certificates made here with the openssl command,
  the name served by a dnsmasq started here;
- RFC 3263 §4.3 failover: a UDP target that never answers (or answers 503) is left for the next
  SRV target before the transaction ends;
- the WebSocket subprotocol is "sip", case-sensitively (RFC 6455 §4.1, RFC 7118 §4), against the
  `websockets` package as client and as server;
- IPv6 addresses in the log lines are written in brackets (`udp:[::1]:5060`).

Every process started here is stopped at the end of its test; every wait is bounded."""

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import libsip

SIP_EIO = libsip._core.SIP_EIO

# Not the sanitizer runtime a sanitized build preloads into the interpreter: the programs
# started here are not ours.
_ENV = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}


def _options(uri, transport="UDP"):
    return libsip.Message.request("OPTIONS", uri, headers=[
        ("Via", f"SIP/2.0/{transport} c.invalid;branch={libsip.branch()}"),
        ("Max-Forwards", 70),
        ("To", "<sip:uas@sip.test>"),
        ("From", f"<sip:uac@sip.test>;tag={libsip.tag()}"),
        ("Call-ID", libsip.call_id("127.0.0.1")),
        ("CSeq", "1 OPTIONS"),
    ])


def _free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


@contextlib.contextmanager
def _captured_log():
    """The libsip logger's lines ("<module>: <text>") while the block runs, at every level
    (a loop made inside the block filters at the logger's level when it is made)."""
    lines = []

    class Handler(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger("libsip")
    handler, old = Handler(level=1), logger.level
    logger.setLevel(libsip.TRACE)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


@pytest.fixture
def dnsmasq():
    """A factory: start(*records) runs dnsmasq with only those records on 127.0.0.1 at a free
    port (--no-resolv --no-hosts) and gives the port; each one stops after the test."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(exe):
        pytest.fail("dnsmasq is not installed (scripts/deps.sh installs dnsmasq-base)")
    procs = []

    def start(*records):
        for _ in range(5):
            port = _free_port()
            user = ["--user=root"] if os.geteuid() == 0 else []
            p = subprocess.Popen([exe, "--keep-in-foreground", f"--port={port}",
                                  "--listen-address=127.0.0.1", "--bind-interfaces",
                                  "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                                  # Names under .test are answered here only (NXDOMAIN for
                                  # the others, as an authoritative server would).
                                  "--local=/test/", "--pid-file=", *user, *records],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_ENV)
            procs.append(p)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and p.poll() is None:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    # A query for "." (type A): any answer shows the server is up.
                    s.settimeout(0.1)
                    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01"
                             b"\x00\x01", ("127.0.0.1", port))
                    try:
                        s.recvfrom(512)
                        return port
                    except OSError:
                        pass
            _stop(p)  # the port was taken meanwhile: another one
        pytest.fail("dnsmasq did not start")

    yield start
    for p in procs:
        _stop(p)


# ---- 1. TLS to a server found by name --------------------------------------------------------

@pytest.fixture(scope="module")
def certs():
    """A CA, a server certificate for sip.test and secure.test (no address, not the SRV
    target), one for other.test, all signed by the CA (as tests/unit/test_tls_name.c)."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is not installed (scripts/deps.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="libsip-py-tlsname-") as d:
        script = (
            "set -e; "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout ca.key -out ca.pem -days 2 -subj /CN=libsip-test-ca "
            "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign; "
            "for n in good:DNS:sip.test,DNS:secure.test other:DNS:other.test; do "
            "  f=${n%%:*}; san=${n#*:}; "
            "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $f.key "
            "  -out $f.csr -subj /CN=libsip-test-server; "
            "  printf 'subjectAltName=%s\\nextendedKeyUsage=serverAuth\\n' $san > $f.ext; "
            "  openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            "  -extfile $f.ext -out $f.pem; "
            "done")
        subprocess.run(["sh", "-c", script], cwd=d, check=True, timeout=60, env=_ENV,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield d


class SServer:
    """`openssl s_server` with NAME.pem on a free loopback port. With servername, it wants
    that SNI (-servername_fatal: another name ends the handshake) and prints the name it got
    ("Hostname in TLS extension"); its output then holds what the client sent."""

    def __init__(self, certs, name, servername=None):
        self.out = os.path.join(certs, f"s_server-{name}-{servername}.out")
        cert, key = os.path.join(certs, f"{name}.pem"), os.path.join(certs, f"{name}.key")
        extra = []
        if servername:
            extra = ["-servername", servername, "-cert2", cert, "-key2", key,
                     "-servername_fatal"]
        for _ in range(5):
            self.port = _free_port(socket.SOCK_STREAM)
            with open(self.out, "wb") as f:
                # s_server ends at the end of its input: the pipe stays open until stop().
                self.p = subprocess.Popen(
                    ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", cert,
                     "-key", key, "-ign_eof", *extra],
                    stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT, env=_ENV)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.p.poll() is None:
                if "ACCEPT" in self.output():
                    return
                time.sleep(0.02)
            self.stop()
        pytest.fail("openssl s_server did not start")

    def output(self):
        with open(self.out, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        self.p.stdin.close()
        _stop(self.p)


@pytest.fixture
def s_server(certs):
    started = []

    def start(name, servername=None):
        started.append(SServer(certs, name, servername))
        return started[-1]

    yield start
    for s in started:
        s.stop()


def _send_by_name(dns_port, ca, uri, server=None):
    """Sends an OPTIONS to uri without a destination (RFC 3263 through a Resolver pointed at
    dns_port), trusting ca (the transport option tls_ca_file); gives the send's status, the
    port it went to and the log. With server, waits (bounded) until it printed the request."""
    with _captured_log() as log:
        loop = libsip.Loop(strict=True)
        resolver = libsip.Resolver(servers=f"127.0.0.1:{dns_port}", timeout_ms=1000,
                                   transports=["udp", "tcp", "tls"])
        with libsip.Stack(loop=loop, resolver=resolver, tls_ca_file=ca) as stack:
            req = _options(uri, "TLS")
            op = stack.send(req)
            op.add_done_callback(lambda status: loop.stop())
            guard = loop.call_later(10, loop.stop)
            loop.run()
            guard.stop()
            port = req.netinfo.remote_port if req.netinfo else None
            deadline = time.monotonic() + 3
            while (op.status == 0 and server is not None and time.monotonic() < deadline
                   and "OPTIONS sip:" not in server.output()):
                loop.run_once(False)
                time.sleep(0.02)
        resolver.close()
        loop.close()
    return op.status, port, log


def test_tls_by_name_sends_sni_and_checks_the_name(certs, s_server, dnsmasq):
    ca = os.path.join(certs, "ca.pem")
    s = s_server("good", "sip.test")
    dns = dnsmasq("--host-record=sip.test,127.0.0.1")
    # A name with a port: an A record only; the certificate is checked against the name (it
    # names no address), and the name went out as SNI (another one would end the handshake).
    status, port, log = _send_by_name(dns, ca, f"sip:uas@sip.test:{s.port};transport=tls", s)
    assert status == 0, log
    assert port == s.port
    out = s.output()
    assert 'Hostname in TLS extension: "sip.test"' in out
    assert "OPTIONS sip:uas@sip.test" in out

    # An address keeps address matching: this certificate names no address.
    status, _, log = _send_by_name(dns, ca, f"sip:uas@127.0.0.1:{s.port};transport=tls")
    assert status == SIP_EIO
    assert any("certificate verify failed: IP address mismatch" in line for line in log), log


def test_sips_through_naptr_and_srv_checks_the_sip_domain(certs, s_server, dnsmasq):
    # The certificate names the SIP domain (secure.test), not the SRV target: RFC 5922 §4.1.
    s = s_server("good", "secure.test")
    dns = dnsmasq("--host-record=node1.secure.test,127.0.0.1",
                  "--naptr-record=secure.test,10,10,s,SIPS+D2T,,_sips._tcp.secure.test",
                  f"--srv-host=_sips._tcp.secure.test,node1.secure.test,{s.port},10,10")
    status, port, log = _send_by_name(dns, os.path.join(certs, "ca.pem"),
                                      "sips:uas@secure.test", s)
    assert status == 0, log
    assert port == s.port
    out = s.output()
    assert 'Hostname in TLS extension: "secure.test"' in out
    assert "OPTIONS sips:uas@secure.test" in out


def test_tls_certificate_for_another_name_is_refused(certs, s_server, dnsmasq):
    s = s_server("other")
    dns = dnsmasq("--host-record=sip.test,127.0.0.1")
    status, _, log = _send_by_name(dns, os.path.join(certs, "ca.pem"),
                                   f"sip:uas@sip.test:{s.port};transport=tls")
    assert status == SIP_EIO
    assert any("certificate verify failed: hostname mismatch" in line for line in log), log
    assert "OPTIONS sip:" not in s.output()


# ---- 2. RFC 3263 §4.3 failover ---------------------------------------------------------------

def _branch(data):
    head = data.decode(errors="replace")
    return head.split("branch=", 1)[1].split(";", 1)[0].split("\r", 1)[0]


async def _failover(dnsmasq, domain, first_status):
    """Two SRV targets for domain: the first a UDP socket that never answers (first_status
    None) or a Stack answering first_status, the second a Stack answering 200. Gives the
    final response, what each target saw, and the client's log."""
    with _captured_log() as log:
        return await _failover_logged(dnsmasq, domain, first_status, log)


async def _failover_logged(dnsmasq, domain, first_status, log):
    loop = libsip.Loop(strict=True)
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead.setblocking(False)
    seen = {"first": [], "second": []}
    stacks = []
    try:
        def responder(name, status):
            stack = libsip.Stack("udp:127.0.0.1:0", loop=loop, transactions=True, t1_ms=10)
            stacks.append(stack)

            @stack.on_request("OPTIONS")
            def options(req):
                seen[name].append(req.via.branch)
                req.reply(status)
            return int(stack.address().rsplit(":", 1)[1])

        if first_status is None:
            first = dead.getsockname()[1]
        else:
            first = responder("first", first_status)
        second = responder("second", 200)
        dns = dnsmasq(f"--host-record=one.{domain},127.0.0.1",
                      f"--host-record=two.{domain},127.0.0.1",
                      f"--srv-host=_sip._udp.{domain},one.{domain},{first},10,10",
                      f"--srv-host=_sip._udp.{domain},two.{domain},{second},20,10")
        resolver = libsip.Resolver(servers=f"127.0.0.1:{dns}", timeout_ms=1000,
                                   transports=["udp"])
        # T1 10 ms: Timer F (64*T1) gives up on a silent target in 640 ms.
        uac = libsip.Stack("udp:127.0.0.1:0", loop=loop, transactions=True, t1_ms=10,
                           t4_ms=50, resolver=resolver)
        stacks.append(uac)
        server = asyncio.get_running_loop().create_task(loop.serve())
        try:
            statuses = []
            txn = uac.request(_options(f"sip:uas@{domain}"),
                              on_response=lambda status, rsp: statuses.append(status))
            rsp = await asyncio.wait_for(txn, 15)
            status = rsp.status
            rsp = txn = None
        finally:
            loop.stop()
            await server
        while True:
            try:
                seen["first"].append(_branch(dead.recv(4096)))
            except BlockingIOError:
                break
        resolver.close()
    finally:
        for stack in stacks:
            stack.close()
        loop.close()
        dead.close()
    return status, statuses, seen, log


@pytest.mark.parametrize("first_status", [None, 503], ids=["silent", "503"])
def test_failover_to_the_next_srv_target(dnsmasq, first_status):
    status, statuses, seen, log = asyncio.run(
        _failover(dnsmasq, "silent.test" if first_status is None else "busy.test", first_status))
    # The application hears only the second target's 200.
    assert status == 200
    assert statuses == [200]
    assert seen["first"], "the first target got the request"
    assert len(seen["second"]) == 1
    # A new branch for the new target (RFC 3263 §4.3: a new client transaction).
    assert seen["second"][0] not in seen["first"]


# ---- 3. The WebSocket subprotocol is "sip", case-sensitively ---------------------------------

# Debian's python3-websockets, as tests/interop/ws/ws_client.py (scripts/deps.sh installs it).
import websockets  # noqa: E402


def needs_websockets(fn):
    """Marks the cases that use websockets (kept for readability; it is always installed)."""
    return fn


async def _ws_offer(url, offer):
    """Opens a WebSocket offering one subprotocol; on success sends an OPTIONS and gives the
    answer's first line, else the status of the refusal."""
    try:
        async with websockets.connect(url, subprotocols=[offer], open_timeout=5,
                                      compression=None) as ws:
            assert ws.subprotocol == "sip"
            host = url.split("//", 1)[1].split("/", 1)[0]
            req = _options(f"sip:uas@{host}", "WS")
            await ws.send(str(req))
            rsp = await asyncio.wait_for(ws.recv(), 5)
            return rsp.split("\r\n", 1)[0]
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


@needs_websockets
def test_websocket_server_takes_sip_not_SIP():
    async def main():
        loop = libsip.Loop(strict=True)
        with libsip.Stack("ws:127.0.0.1:0", loop=loop) as uas, _captured_log() as log:
            uas.on_request("OPTIONS")(lambda req: req.reply(200))
            url = "ws://" + uas.address("ws").split(":", 1)[1]
            server = asyncio.get_running_loop().create_task(loop.serve())
            try:
                upper = await _ws_offer(url, "SIP")
                lower = await _ws_offer(url, "sip")
            finally:
                loop.stop()
                await server
        loop.close()
        return upper, lower, log
    upper, lower, log = asyncio.run(main())
    # RFC 6455 §4.1: "SIP" is another protocol; answering it "sip" would be dropped.
    assert upper == 400
    assert any('no "sip" subprotocol offered' in line for line in log), log
    assert lower == "SIP/2.0 200 OK"


@needs_websockets
def test_websocket_client_refuses_a_server_selecting_SIP():
    async def main():
        got = []

        async def handler(ws, path=None):
            got.append(ws.subprotocol)
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                await ws.recv()

        class Upper(websockets.WebSocketServerProtocol):
            # Selects "SIP" whatever the client offered.
            def select_subprotocol(self, client_subprotocols, server_subprotocols):
                return "SIP"

        loop = libsip.Loop(strict=True)
        async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["SIP"],
                                    create_protocol=Upper, compression=None) as ws_server:
            port = ws_server.sockets[0].getsockname()[1]
            with libsip.Stack(loop=loop) as uac, _captured_log() as log:
                server = asyncio.get_running_loop().create_task(loop.serve())
                try:
                    status = await asyncio.wait_for(
                        uac.send(_options(f"sip:uas@127.0.0.1:{port};transport=ws", "WS"),
                                 f"ws:127.0.0.1:{port}"), 10)
                finally:
                    loop.stop()
                    await server
        loop.close()
        return status, got, log
    status, got, log = asyncio.run(main())
    assert got == ["SIP"], "the server answered the handshake"
    assert status < 0
    assert any('WebSocket server did not select the "sip" subprotocol' in line
               for line in log), log


# ---- 4. IPv6 addresses in the log in brackets ------------------------------------------------

def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_addresses_in_logs_in_brackets():
    assert _has_ipv6_loopback(), "the tests need the IPv6 loopback address ::1"
    with _captured_log() as log:
        loop = libsip.Loop(strict=True, trace=True)
        with libsip.Stack("udp:[::1]:0", loop=loop) as uac, \
                libsip.Stack(["udp:[::1]:0", "tcp:[::1]:0"], loop=loop) as uas:
            got = []

            @uas.on_request("OPTIONS")
            def options(req):
                got.append(req.netinfo.transport)
                req.reply(200)
                if len(got) == 2:
                    loop.stop()
            a = int(uac.address("udp").rsplit(":", 1)[1])
            b = int(uas.address("udp").rsplit(":", 1)[1])
            t = int(uas.address("tcp").rsplit(":", 1)[1])
            assert uas.address("udp") == f"udp:[::1]:{b}"
            uac.send(_options(f"sip:uas@[::1]:{b}"), f"udp:[::1]:{b}")
            uac.send(_options(f"sip:uas@[::1]:{t};transport=tcp", "TCP"), f"tcp:[::1]:{t}")
            guard = loop.call_later(5, loop.stop)
            loop.run()
            guard.stop()
        loop.close()
    assert len(got) == 2, log
    text = "\n".join(log)
    assert f"listening on udp:[::1]:{b}" in text
    assert f"listening on tcp:[::1]:{t}" in text
    assert f"to udp:[::1]:{b} (local [::1]:{a})" in text
    assert f"from udp:[::1]:{a} (local [::1]:{b})" in text
    assert f"with [::1]:{t} ready" in text
    # Nowhere an address without its brackets.
    assert "::1:" not in text.replace("[::1]:", ""), text
