# SPDX-License-Identifier: MIT
"""The RFC 4475 semantic messages (../shared/conformance/rfc4475, kind "semantic" in its
MANIFEST.tsv) sent to sipd, as a proxy and registrar for example.com (the messages' domain)
with digest users, over UDP; each gets the answer the manifest expects of a proxy or registrar.

Each file is one datagram, read as stored. Only the top Via's sent-protocol and sent-by are
made ours (SIP/2.0/UDP 127.0.0.1:PORT) so that the answer comes back to this test (RFC 3261
§18.2.2 sends it to the Via); everything else goes as the RFC published it. The three REGISTERs
whose point is what gets bound (§3.3.12-3.3.14) are sent again with digest credentials (a new
branch and CSeq: a new transaction) and their 200 must list the binding the manifest names.
Where the manifest leaves a choice, the table below pins sipd's."""
import hashlib
import os
import re
import socket
import time
from pathlib import Path

import pytest

CONF = Path(os.environ.get("SIP_SHARED_DIR", Path(__file__).resolve().parents[4] / "shared")) \
    / "conformance" / "rfc4475"
WAIT = 5.0
USERS = {"watson": "watson-pw", "user": "user-pw"}

# name -> the statuses sipd may answer (a proxy and registrar for example.com: the manifest's
# proxy/registrar column), or None for a message that gets no answer.
EXPECTED = {
    "badbranch": {400, 404},   # a branch of the magic cookie alone: refused, or looked up
                               # (404: no binding; a user of the table or not, the same)
    "insuf": {400},
    "unkscm": {416},
    "novelsc": {416},
    "unksm2": {400},           # registrar: the To (isbn:) is no SIP or SIPS URI
    "bext01": {420},           # proxy: the Proxy-Require tags are unsupported
    "invut": {404},            # proxy: the body is not its business; user has no binding
    "regaut01": {401},         # registrar doing auth: a Digest challenge
    "multi01": {400},
    "mcl01": {400},
    "bcast": None,             # a response not for sipd: dropped, never sent to the broadcast
    "zeromf": {483},           # proxy: Max-Forwards 0
    "cparam01": {401},         # then 200 with the binding (below)
    "cparam02": {401},
    "regescrt": {401},
    "sdp01": {404},            # proxy: Accept is the UAS's business; user has no binding
    "inv2543": {404},          # RFC 2543 INVITE taken (no branch, no tag, no Max-Forwards)
}


def manifest():
    rows = []
    lines = (CONF / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(head, line.split("\t")))
        if row["kind"] == "semantic":
            rows.append(row)
    return rows


def ours(data, port):
    """The message with its top Via's sent-protocol and sent-by made 127.0.0.1:port over UDP."""
    m = re.search(rb"^(Via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*[A-Za-z]+[ \t]+"
                  rb"[^;,\r\n]+", data, re.M | re.I)
    assert m, "no Via"
    return data[:m.start()] + b"Via: SIP/2.0/UDP 127.0.0.1:%d" % port + data[m.end():]


def final_answer(sock, timeout=WAIT):
    """The first final response received within timeout (provisionals skipped), or None."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except socket.timeout:
            return None
        m = re.match(rb"SIP/2\.0 (\d{3}) ", data)
        if m and int(m.group(1)) >= 200:
            return data


def header(data, name):
    m = re.search(rb"^" + name.encode() + rb"[ \t]*:[ \t]*(.*?)\r$", data, re.M | re.I)
    return m.group(1).decode(errors="replace") if m else None


def authorize(data, challenge, user, password, port):
    """The REGISTER again as a new transaction (branch and CSeq changed) with Digest
    credentials answering the challenge (RFC 7616 §3.4, MD5, qop auth)."""
    www = [l for l in re.findall(rb"^WWW-Authenticate:[ \t]*(.*?)\r$", challenge, re.M | re.I)
           if b"MD5" in l or b"algorithm" not in l]
    assert www, challenge
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', www[0].decode()))
    realm, nonce = params["realm"], params["nonce"]
    uri = re.match(rb"REGISTER (\S+) ", data).group(1).decode()
    ha1 = hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
    ha2 = hashlib.md5(("REGISTER:%s" % uri).encode()).hexdigest()
    cnonce, nc = "0a4f113b", "00000001"
    resp = hashlib.md5(("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2)).encode())
    auth = ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=MD5, cnonce="%s", qop=auth, nc=%s' %
            (user, realm, nonce, uri, resp.hexdigest(), cnonce, nc))
    if "opaque" in params:
        auth += ', opaque="%s"' % params["opaque"]
    out = re.sub(rb"(branch=z9hG4bK[^;,\r\n]*)", rb"\1-auth", data, count=1)
    out = re.sub(rb"^(CSeq[ \t]*:[ \t]*)(\d+)", lambda m: m.group(1) + str(
        int(m.group(2)) + 1).encode(), out, count=1, flags=re.M | re.I)
    # The credentials go right after the request line.
    line_end = out.index(b"\r\n") + 2
    return out[:line_end] + auth.encode() + b"\r\n" + out[line_end:]


@pytest.fixture
def sipd(env):
    users = env.passwd(env.work / "users", USERS, "example.com")
    return env.sipd("sipd", "--users", str(users), domain="example.com", users=False,
                    listen=["udp:127.0.0.1:%d" % env.port()])


def test_manifest_rows_are_all_covered():
    names = {r["name"] for r in manifest()}
    assert names == set(EXPECTED), names ^ set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_semantic_message(env, sipd, name):
    rows = {r["name"]: r for r in manifest()}
    row = rows[name]
    raw = (CONF / (name + ".dat")).read_bytes()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", env.port(tcp=False)))
    port = s.getsockname()[1]
    try:
        data = raw if EXPECTED[name] is None else ours(raw, port)
        s.sendto(data, ("127.0.0.1", sipd.port))
        rsp = final_answer(s, 1.0 if EXPECTED[name] is None else WAIT)
        if EXPECTED[name] is None:
            assert rsp is None, (row["expected"], rsp)
        else:
            assert rsp is not None, "%s (%s): no answer" % (name, row["expected"])
            status = int(rsp[8:11])
            assert status in EXPECTED[name], (name, row["expected"], rsp.decode(errors="replace"))
            check_details(name, rsp)
            if name in ("cparam01", "cparam02", "regescrt"):
                check_binding(s, sipd, name, data, rsp, port)
    finally:
        s.close()
    # sipd is still there.
    assert sipd.p.poll() is None, sipd.log()
    env.stop_clean(sipd)


def check_details(name, rsp):
    if name == "bext01":
        unsup = header(rsp, "Unsupported") or ""
        assert "noProxiesSupportThis" in unsup and "norDoAnyProxiesSupportThis" in unsup, rsp
    if name == "regaut01":
        assert re.search(rb"^WWW-Authenticate:[ \t]*Digest ", rsp, re.M | re.I), rsp


def check_binding(s, sipd, name, data, challenge, port):
    user = "watson" if name.startswith("cparam") else "user"
    again = authorize(data, challenge, user, USERS[user], port)
    s.sendto(again, ("127.0.0.1", sipd.port))
    rsp = final_answer(s)
    assert rsp is not None and rsp.startswith(b"SIP/2.0 200 "), rsp
    contacts = " ".join(v.decode(errors="replace") for v in
                        re.findall(rb"^(?:Contact|m)[ \t]*:[ \t]*(.*?)\r$", rsp, re.M | re.I))
    if name == "cparam01":
        # ";unknownparam" is a contact parameter: the bound URI has no such URI parameter.
        assert re.search(r"<sip:\+19725552222@gw1\.example\.net>", contacts), contacts
    elif name == "cparam02":
        assert "<sip:+19725552222@gw1.example.net;unknownparam>" in contacts, contacts
    else:
        assert "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>" in contacts, contacts
