# SPDX-License-Identifier: MIT
"""Raw bytes on the wire to the built sip-uas, on loopback: requests lacking mandatory headers
(RFC 3261 §8.1.1, RFC 4475 §3.1.2.18), responses after a TCP connection closed (§18.2.2), split
CRLF keep-alives (RFC 5626 §4.4.1), maddr with rport (RFC 3581 §4), and the stateless answers to
malformed requests (§8.2.6.2, §18.2.2). Every wait is bounded."""

import os
import select
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import libsip

CONFORMANCE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "conformance")
WAIT = 5.0      # the longest any expected answer is waited for, in seconds
QUIET = 0.5     # how long "no answer" is listened for


def _sip_uas():
    """The built sip-uas: tests/python.cmake passes it as SIP_UAS; next to the module otherwise."""
    path = os.environ.get("SIP_UAS")
    if not path:
        build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
            libsip.__file__))))
        path = os.path.join(os.path.dirname(build), "tools", "sip-uas", "sip-uas")
    assert os.access(path, os.X_OK), f"sip-uas not built (looked for {path!r})"
    return path


class Uas:
    """sip-uas on udp and tcp 127.0.0.1 (ephemeral ports), logging to a file."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ)
        if env.get("LIBSIP_SANITIZED"):
            # sip-uas is instrumented: whatever it leaks is reported when it exits.
            env["ASAN_OPTIONS"] = "detect_leaks=1"
        self.p = subprocess.Popen([_sip_uas(), "-v", "--trace", "--listen", "udp:127.0.0.1:0",
                                   "--listen", "tcp:127.0.0.1:0", *args],
                                  stdout=subprocess.PIPE, stderr=self.log, bufsize=0, env=env)
        self.ports = {}
        deadline = time.monotonic() + WAIT
        while len(self.ports) < 2:
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self.p.stdout], [], [], left)[0], \
                "sip-uas did not say where it listens"
            line = self.p.stdout.readline().decode()
            assert line.startswith("listening on "), line
            proto, _, port = line.split()[-1].split(":")
            self.ports[proto] = int(port)

    def stop(self):
        """Stops sip-uas with SIGINT; it must exit cleanly (and, instrumented, without leaks)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        assert self.p.returncode == 0, self.logged()[-4000:]
        assert "Sanitizer" not in self.logged(), self.logged()[-4000:]

    def logged(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@pytest.fixture(params=["stateful", "stateless"])
def uas(request):
    u = Uas(*(["--stateless"] if request.param == "stateless" else []))
    yield u
    u.stop()


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def tcp_to(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_datagram(s, timeout=WAIT):
    """One datagram, or None when none comes within timeout."""
    if not select.select([s], [], [], timeout)[0]:
        return None
    return s.recv(65536)


def recv_stream(s, until, timeout=WAIT):
    """Bytes read from a stream until until(data) holds, the peer closes or timeout passes."""
    data = b""
    deadline = time.monotonic() + timeout
    while not until(data):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            break
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def whole_message(data):
    return b"\r\n\r\n" in data


def request(method, via, drop=(), call_id="wire1", extra=(), uri="sip:uas@127.0.0.1",
            body=b""):
    headers = [("Via", via), ("Max-Forwards", "70"), ("From", "<sip:t@example.com>;tag=ft1"),
               ("To", "<sip:uas@example.com>"), ("Call-ID", call_id), ("CSeq", f"1 {method}")]
    headers = [(n, v) for n, v in headers if n not in drop] + list(extra)
    lines = [f"{method} {uri} SIP/2.0"] + [f"{n}: {v}" for n, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse(data):
    msg = libsip.Message.parse(data)
    assert not msg.is_request
    return msg


def to_tag(msg):
    return msg.headers["To"][0].parsed.tag


# ---- 1. requests without Call-ID, CSeq, To or From: 400 naming the header ----------------------

@pytest.mark.parametrize("missing", ["Call-ID", "CSeq", "To", "From"])
def test_missing_header_udp_answered_400(uas, missing):
    s = udp_socket()
    port = s.getsockname()[1]
    s.sendto(request("OPTIONS", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKmiss1",
                     drop=(missing,)), ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(s)
    s.close()
    assert data is not None, f"no answer to a request without {missing}:\n{uas.logged()}"
    assert data.startswith(f"SIP/2.0 400 Bad Request (Missing {missing} header)\r\n".encode()), \
        data
    rsp = parse(data)
    if missing != "To":
        assert to_tag(rsp), data  # §8.2.6.2
    assert f"{missing} header missing; answered 400" in uas.logged()


@pytest.mark.parametrize("missing", ["Call-ID", "CSeq", "To", "From"])
def test_missing_header_tcp_answered_400(uas, missing):
    s = tcp_to(uas.ports["tcp"])
    s.sendall(request("INVITE", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKmiss2",
                      drop=(missing,), extra=[("Contact", "<sip:t@127.0.0.1>")]))
    data = recv_stream(s, whole_message)
    s.close()
    assert data.startswith(f"SIP/2.0 400 Bad Request (Missing {missing} header)\r\n".encode()), \
        (data, uas.logged())


def test_rfc4475_insuf_answered_400(uas):
    """RFC 4475 §3.1.2.18: no Call-ID, From or To (the first one missing is named); over TCP so
    the answer comes back on the connection (its Via names 192.0.2.95 without rport)."""
    with open(os.path.join(CONFORMANCE, "rfc4475", "insuf.dat"), "rb") as f:
        insuf = f.read()
    s = tcp_to(uas.ports["tcp"])
    s.sendall(insuf.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP", 1))
    data = recv_stream(s, whole_message)
    s.close()
    assert data.startswith(b"SIP/2.0 400 Bad Request (Missing To header)\r\n"), \
        (data, uas.logged())
    rsp = parse(data)
    assert rsp.headers["CSeq"][0].value == "193942 INVITE"


@pytest.mark.parametrize("header,value", [("Call-ID", "wire2"), ("CSeq", "2 OPTIONS"),
                                          ("To", "<sip:other@example.com>"),
                                          ("Max-Forwards", "69")])
def test_repeated_single_header_answered_400(uas, header, value):
    """RFC 3261 §7.3.1, RFC 4475 §3.3.8 multi01: a header that may appear once, twice."""
    s = udp_socket()
    port = s.getsockname()[1]
    s.sendto(request("OPTIONS", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKdup1",
                     extra=[(header, value)]), ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(s)
    s.close()
    assert data is not None, uas.logged()
    assert data.startswith(f"SIP/2.0 400 Bad Request (Duplicate {header} header)\r\n".encode()), \
        data


def test_ack_missing_header_not_answered(uas):
    s = udp_socket()
    port = s.getsockname()[1]
    s.sendto(request("ACK", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKack1;rport",
                     drop=("Call-ID",)), ("127.0.0.1", uas.ports["udp"]))
    assert recv_datagram(s, QUIET) is None
    s.close()
    assert "Call-ID header missing; dropped" in uas.logged()


def test_request_without_via_dropped_and_logged(uas):
    s = udp_socket()
    s.sendto(request("OPTIONS", "unused", drop=("Via",)), ("127.0.0.1", uas.ports["udp"]))
    assert recv_datagram(s, QUIET) is None
    s.close()
    assert "request without Via from udp:127.0.0.1:" in uas.logged()


@pytest.mark.parametrize("missing", ["Call-ID", "CSeq", "To", "From"])
def test_response_missing_header_dropped_and_logged(uas, missing):
    """A response whose Via is the server's own but lacks a mandatory header: dropped, logged."""
    s = udp_socket()
    port = uas.ports["udp"]
    lines = ["SIP/2.0 200 OK", f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrsp1",
             "From: <sip:uas@example.com>;tag=a", "To: <sip:t@example.com>;tag=b",
             "Call-ID: rsp1", "CSeq: 1 OPTIONS", "Content-Length: 0"]
    lines = [l for l in lines if not l.startswith(missing + ":")]
    s.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", port))
    assert recv_datagram(s, QUIET) is None
    s.close()
    assert f"{missing} header missing; dropped" in uas.logged()


# ---- 2. the response after the request's TCP connection closed -----------------------------------

def test_tcp_response_after_close_goes_to_sent_by():
    """RFC 3261 §18.2.2: a new connection to received and the sent-by port, never to the closed
    connection's ephemeral port."""
    u = Uas("--ring", "1000")
    try:
        lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(4)
        sent_by = lsn.getsockname()[1]
        s = tcp_to(u.ports["tcp"])
        s.sendall(request("INVITE", f"SIP/2.0/TCP 127.0.0.1:{sent_by};branch=z9hG4bKclose1",
                          call_id="close1", extra=[("Contact", f"<sip:t@127.0.0.1:{sent_by}>")]))
        ringing = recv_stream(s, lambda d: b"SIP/2.0 180 " in d and whole_message(d))
        assert b"SIP/2.0 180 " in ringing, (ringing, u.logged())
        s.close()
        assert select.select([lsn], [], [], WAIT)[0], \
            f"no connection to the sent-by port:\n{u.logged()}"
        c, _ = lsn.accept()
        data = recv_stream(c, lambda d: b"SIP/2.0 200 " in d and whole_message(d))
        c.close()
        lsn.close()
        assert b"SIP/2.0 200 OK\r\n" in data, data
        assert parse(data[data.index(b"SIP/2.0 200"):]).headers["Call-ID"][0].value == "close1"
    finally:
        u.stop()


# ---- 3. CRLF keep-alives split across segments ------------------------------------------------

@pytest.mark.parametrize("parts", [[b"\r\n", b"\r\n"], [b"\r\n\r", b"\n"],
                                   [b"\r", b"\n", b"\r", b"\n"]])
def test_split_crlf_ping_gets_one_pong(uas, parts):
    s = tcp_to(uas.ports["tcp"])
    for i, part in enumerate(parts):
        if i:
            time.sleep(0.1)  # separate segments, separate reads
        s.sendall(part)
    got = recv_stream(s, lambda d: len(d) >= 2)
    assert got == b"\r\n", (got, uas.logged())
    # Exactly one pong, and the connection still frames messages after it.
    s.sendall(request("OPTIONS", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKka1"))
    data = recv_stream(s, whole_message)
    s.close()
    assert data.startswith(b"SIP/2.0 200 OK\r\n"), data


def test_lone_crlf_gets_no_pong(uas):
    s = tcp_to(uas.ports["tcp"])
    s.sendall(b"\r\n")
    assert recv_stream(s, lambda d: len(d) > 0, QUIET) == b""
    s.close()


# ---- 4. maddr and rport together ---------------------------------------------------------------

def test_maddr_wins_over_rport(uas):
    """RFC 3581 §4 applies rport only without maddr; with maddr the response goes to maddr and
    the sent-by port (RFC 3261 §18.2.2)."""
    src, dst = udp_socket(), udp_socket()
    sent_by = dst.getsockname()[1]
    src.sendto(request("OPTIONS",
                       f"SIP/2.0/UDP 127.0.0.1:{sent_by};branch=z9hG4bKmaddr1;rport;"
                       "maddr=127.0.0.1"), ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(dst)
    assert recv_datagram(src, 0.1) is None
    src.close()
    dst.close()
    assert data is not None and data.startswith(b"SIP/2.0 200 OK\r\n"), (data, uas.logged())


def test_rport_without_maddr_goes_to_source(uas):
    src, other = udp_socket(), udp_socket()
    sent_by = other.getsockname()[1]
    src.sendto(request("OPTIONS", f"SIP/2.0/UDP 127.0.0.1:{sent_by};branch=z9hG4bKrp1;rport"),
               ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(src)
    src.close()
    other.close()
    assert data is not None and data.startswith(b"SIP/2.0 200 OK\r\n"), data


def test_rport_and_received_values_written_by_the_sender_are_replaced(uas):
    """RFC 3581 §4: the server sets rport to the source port (and received to the source
    address), whatever value the client put there."""
    src, other = udp_socket(), udp_socket()
    port = other.getsockname()[1]
    src.sendto(request("OPTIONS", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKrp2;"
                       f"received=192.0.2.66;rport={port}"), ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(src)
    assert recv_datagram(other, 0.1) is None
    src_port = src.getsockname()[1]
    src.close()
    other.close()
    assert data is not None and data.startswith(b"SIP/2.0 200 OK\r\n"), (data, uas.logged())
    via = parse(data).headers["Via"][0].parsed
    assert (via.received, via.rport) == ("127.0.0.1", src_port)


# ---- 5. stateless answers to malformed requests ----------------------------------------------

def malformed(via, version="2.0"):
    """A request the parser refuses (a Max-Forwards that is no number; or a SIP version other
    than 2.0) whose Via, From, To, Call-ID and CSeq are fine, so the answer parses."""
    data = request("OPTIONS", via, drop=("Max-Forwards",), extra=[("Max-Forwards", "x")])
    return data.replace(b"SIP/2.0\r\n", f"SIP/{version}\r\n".encode(), 1)


@pytest.mark.parametrize("version,status", [("2.0", 400), ("3.0", 505)])
def test_malformed_udp_answer_to_sent_by_with_to_tag(uas, version, status):
    src, dst = udp_socket(), udp_socket()
    sent_by = dst.getsockname()[1]
    src.sendto(malformed(f"SIP/2.0/UDP 127.0.0.1:{sent_by};branch=z9hG4bKbad1", version),
               ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(dst)
    stray = recv_datagram(src, 0.1)
    src.close()
    dst.close()
    assert data is not None, (stray, uas.logged())
    assert data.startswith(f"SIP/2.0 {status} ".encode()), data
    assert to_tag(parse(data)), data


def test_malformed_udp_answer_with_rport_to_source(uas):
    src, other = udp_socket(), udp_socket()
    sent_by = other.getsockname()[1]
    src.sendto(malformed(f"SIP/2.0/UDP 127.0.0.1:{sent_by};branch=z9hG4bKbad2;rport"),
               ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(src)
    src.close()
    other.close()
    assert data is not None and data.startswith(b"SIP/2.0 400 "), data
    assert to_tag(parse(data)), data


def test_malformed_udp_answer_ignores_received_and_rport_written_by_the_sender(uas):
    """An unstamped Via's received= and rport= values are the sender's word: the packet's source
    stands for them."""
    src, other = udp_socket(), udp_socket()
    port = other.getsockname()[1]
    src.sendto(malformed(f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbad6;received=127.0.0.1;"
                         f"rport={port}"), ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(src)
    assert recv_datagram(other, 0.1) is None
    src.close()
    other.close()
    assert data is not None and data.startswith(b"SIP/2.0 400 "), data


def test_malformed_udp_with_unparseable_via_answers_source(uas):
    """Without a Via that parses there is nowhere else to answer: the packet's source."""
    src = udp_socket()
    src.sendto(request("OPTIONS", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad3;;"),
               ("127.0.0.1", uas.ports["udp"]))
    data = recv_datagram(src)
    src.close()
    assert data is not None and data.startswith(b"SIP/2.0 400 Bad Request (Malformed Via"), data


def test_malformed_tcp_answer_has_to_tag(uas):
    s = tcp_to(uas.ports["tcp"])
    s.sendall(malformed("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKbad4"))
    data = recv_stream(s, whole_message)
    s.close()
    assert data.startswith(b"SIP/2.0 400 "), data
    assert to_tag(parse(data)), data


def test_malformed_answer_keeps_an_existing_to_tag(uas):
    s = tcp_to(uas.ports["tcp"])
    s.sendall(malformed("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKbad5").replace(
        b"To: <sip:uas@example.com>", b"To: <sip:uas@example.com> ; TAG = kept"))
    data = recv_stream(s, whole_message)
    s.close()
    assert data.startswith(b"SIP/2.0 400 "), data
    assert data.count(b"tag") + data.count(b"TAG") == 2, data  # From's and the kept one
    assert b"To: <sip:uas@example.com> ; TAG = kept\r\n" in data, data
