#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sip-uas answering calls statefully: SIPp's built-in uac over UDP and TCP, over UDP with 10%
# packet loss, --code 486 and CANCEL during --ring against own scenarios, an exact check of the
# messages (SDP answer, 2xx retransmission, re-INVITE, BYE, 481, 501, 415, 420, no-ACK timeout),
# calls without BYE ended after --call-timeout, usage errors, and the counters sip-uas prints
# after SIGTERM.
# Run against sip-uas (the UA layer) and sip-uas-txn (the transaction-level baseline); where they
# differ the UA layer follows RFC 3261 and the script says so: the core's Contact, a BYE after
# 64*T1 without ACK (§13.3.1.4), a BYE for a call past --call-timeout, INFO taken in a dialog
# (RFC 6086), the 2xx retransmitted over TCP too (§13.3.1.4), --media.
set -euo pipefail
uas=$1
txn=0
[ "$(basename "$uas")" = sip-uas-txn ] && txn=1
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v sipp >/dev/null || fail "sipp is not installed"

# ---- usage ----------------------------------------------------------------------------------
help=$("$uas" --help)
for f in --ring --code --t1 --call-timeout --stateless; do
    grep -q -- "$f" <<<"$help" || fail "--help does not describe $f"
done
for args in "--code 99" "--code 180" "--code 199" "--code 700" "--code 4860" "--code 486x" \
    "--code -486" "--ring -1" "--ring abc" "--ring 1e3" "--ring 3600001" "--t1 0" "--t1 abc" \
    "--t1 60001" "--call-timeout -1" "--call-timeout 604801" "--call-timeout 1s"; do
    set +e
    # shellcheck disable=SC2086
    "$uas" --listen udp:127.0.0.1:1 $args >/dev/null 2>&1
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "sip-uas $args exited $rc, not 2"
done
set +e
"$uas" --listen udp:127.0.0.1:1 --ring "" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--ring '' must exit 2"
set -e

# ---- helpers --------------------------------------------------------------------------------
# A port free for both UDP and TCP on 127.0.0.1, at or above $1.
free_port() {
    "$py" - "$1" <<'EOF'
import socket, sys
for p in range(int(sys.argv[1]), int(sys.argv[1]) + 2000):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t = socket.socket()
    try:
        u.bind(("127.0.0.1", p)); t.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: u.close(); t.close()
EOF
}

# start NAME PORT ARGS...: runs sip-uas -v in the background with its log in $work/NAME.log.
start() {
    local name=$1 port=$2
    shift 2
    "$uas" --listen "udp:127.0.0.1:$port" --listen "tcp:127.0.0.1:$port" -v "$@" \
        >"$work/$name.log" 2>&1 &
    pids+=($!)
    eval "pid_$name=$!"
    for _ in $(seq 200); do grep -qs "listening on tcp" "$work/$name.log" && return; sleep 0.1; done
    cat "$work/$name.log" >&2
    fail "sip-uas $name did not start"
}

# stop NAME CALLS ANSWERED REJECTED CANCELLED ACKED BYES NO-ACK REINVITES FAILED ACTIVE [EXPIRED]:
# SIGTERM, exit 0, and the counters line sip-uas -v prints at exit exactly so (EXPIRED: 0 unless
# given).
stop() {
    local name=$1 p
    local want="calls $2 answered $3 rejected $4 cancelled $5 acked $6 byes $7 no-ack $8"
    want+=" reinvites $9 failed ${10} active ${11} expired ${12:-0}"
    p=$(eval "echo \$pid_$name")
    kill -TERM "$p"
    wait "$p" || { cat "$work/$name.log" >&2; fail "sip-uas $name exited non-zero after SIGTERM"; }
    # Under -DLIBSIP_SANITIZE=ON a leak fails the exit status; a UBSan report only prints.
    ! grep -Eq "runtime error|Sanitizer" "$work/$name.log" ||
        { cat "$work/$name.log" >&2; fail "$name: sanitizer report"; }
    grep -qx "$want" "$work/$name.log" || {
        tail -5 "$work/$name.log" >&2
        fail "sip-uas $name counted '$(grep '^calls ' "$work/$name.log")', not '$want'"
    }
}

# sipp_ok LOG N: SIPp's summary says N successful calls and none failed.
sipp_ok() {
    grep -Eq "Successful call +\| +[0-9]+ +\| +$2 *$" "$1" &&
        grep -Eq "Failed call +\| +[0-9]+ +\| +0 *$" "$1" ||
        { tail -40 "$1" >&2; fail "SIPp: not $2 successful calls in $(basename "$1")"; }
}

# run_sipp LOG SIPP-ARGS...: SIPp in the work directory (its error traces land there).
run_sipp() {
    local log=$1
    shift
    (cd "$work" && timeout 90 sipp "$@" -nostdin -buff_size 4194304 -trace_err >"$log" 2>&1) ||
        { tail -40 "$log" >&2; fail "SIPp $* failed"; }
}

# ---- SIPp's uac over UDP and TCP ------------------------------------------------------------
port=$(free_port "${INTEROP_PORT:-21000}")
start calls "$port"
for t in u1 t1; do
    run_sipp "$work/uac-$t.log" -sn uac -t $t -m 200 -r 200 -timeout 60s "127.0.0.1:$port"
    sipp_ok "$work/uac-$t.log" 200
done
stop calls 400 400 0 0 400 400 0 0 0 0
# INVITE, ACK and BYE of each call reach sip-uas (SIPp's retransmissions would add to it).
n=$(sed -n 's/^\([0-9]*\) requests$/\1/p' "$work/calls.log")
[ -n "$n" ] && [ "$n" -ge 1200 ] || fail "calls: $n requests, expected at least 1200"
grep -q "^INVITE from udp:127.0.0.1:" "$work/calls.log" || fail "-v line for an INVITE over UDP"
grep -q "^BYE from tcp:127.0.0.1:" "$work/calls.log" || fail "-v line for a BYE over TCP"

# ---- 10% loss over UDP: retransmissions on both sides complete every call --------------------
# T1 stays 500 ms here, as in SIPp's uac (its retransmission interval is fixed in the scenario):
# with a shorter T1, Timer J (64*T1) would end the BYE transaction while SIPp still retransmits
# a BYE whose 200 it lost, and the late copy would get 481.
# SIPp's uac keeps no CSeq apart: when both its ACK and its BYE are lost, a retransmitted 200 of
# the INVITE passes for the BYE's 200 and SIPp counts the call, which sip-uas keeps until 64*T1
# without an ACK (then no-ack). Every call therefore ends by BYE or is still waiting for its ACK.
port=$(free_port $((port + 1)))
start lossy "$port"
run_sipp "$work/sipp-lossy.log" -sn uac -t u1 -m 100 -r 100 -lost 10 -timeout 60s \
    "127.0.0.1:$port"
sipp_ok "$work/sipp-lossy.log" 100
# shellcheck disable=SC2154 # set by start() through eval
kill -TERM "$pid_lossy"
wait "$pid_lossy" || fail "sip-uas lossy exited non-zero after SIGTERM"
! grep -Eq "runtime error|Sanitizer" "$work/lossy.log" || fail "lossy: sanitizer report"
counts=$(grep '^calls ' "$work/lossy.log")
re='^calls 100 answered 100 rejected 0 cancelled 0 acked ([0-9]+) byes ([0-9]+) no-ack 0 '
re+='reinvites 0 failed 0 active ([0-9]+) expired 0$'
[[ $counts =~ $re ]] || fail "lossy counters: $counts"
[ $((BASH_REMATCH[2] + BASH_REMATCH[3])) -eq 100 ] && [ "${BASH_REMATCH[2]}" -ge 90 ] ||
    fail "lossy: calls neither ended by BYE nor waiting for an ACK: $counts"
# SIPp dropped some of the INVITEs' 200s (the last column of the first "200 <-" row); those
# calls completed only through sip-uas retransmitting the 200.
lost=$(awk '/^ *200 <-/ { print $NF; exit }' "$work/sipp-lossy.log")
[ "${lost:-0}" -ge 1 ] || fail "lossy: SIPp lost no 200 (${lost:-none}); the run proves nothing"

# ---- callers that never send BYE: ended after --call-timeout ---------------------------
port=$(free_port $((port + 1)))
start nobye "$port" --call-timeout 1
for t in u1 t1; do
    run_sipp "$work/nobye-$t.log" -sf "$here/uac_no_bye.xml" -t $t -m 10 -r 50 -timeout 30s \
        "127.0.0.1:$port"
    sipp_ok "$work/nobye-$t.log" 10
done
# Every call is still there right after the runs, and gone once the timeout has passed.
# sip-uas-txn forgets such a call; sip-uas ends it with a BYE (RFC 3261 §15), to a peer gone.
if [ $txn -eq 1 ]; then gone="call forgotten"; else gone="call ended with BYE"; fi
grep -q "$gone" "$work/nobye.log" && fail "nobye: a call was ended before its time"
sleep 2.5
stop nobye 20 20 0 0 20 0 0 0 0 0 20
[ "$(grep -c "no BYE within --call-timeout, $gone" "$work/nobye.log")" -eq 20 ] ||
    fail "nobye: not one -v line per call past --call-timeout"
# Without the option, an hour: the same calls are still held at exit.
port=$(free_port $((port + 1)))
start keep "$port"
run_sipp "$work/keep.log" -sf "$here/uac_no_bye.xml" -t u1 -m 5 -r 50 -timeout 30s \
    "127.0.0.1:$port"
sipp_ok "$work/keep.log" 5
sleep 1.5
stop keep 5 5 0 0 5 0 0 0 0 5 0

# ---- --code 486 ------------------------------------------------------------------------------
port=$(free_port $((port + 1)))
start busy "$port" --code 486
for t in u1 t1; do
    run_sipp "$work/busy-$t.log" -sf "$here/uas_busy.xml" -t $t -m 20 -r 50 -timeout 30s \
        "127.0.0.1:$port"
    sipp_ok "$work/busy-$t.log" 20
done
stop busy 40 0 40 0 0 0 0 0 0 0

# ---- CANCEL while ringing (--ring 5000) -----------------------------------------------------
port=$(free_port $((port + 1)))
start ring "$port" --ring 5000
start_s=$(date +%s)
for t in u1 t1; do
    run_sipp "$work/cancel-$t.log" -sf "$here/uas_cancel.xml" -t $t -m 10 -r 50 -timeout 30s \
        "127.0.0.1:$port"
    sipp_ok "$work/cancel-$t.log" 10
done
[ $(($(date +%s) - start_s)) -lt 5 ] || fail "the CANCEL runs waited for the ring timer"
# Longer than --ring: a ring timer left behind would answer 200 and count it.
sleep 5.5
stop ring 20 0 0 20 0 0 0 0 0 0
grep -q "^CANCEL from tcp:127.0.0.1:" "$work/ring.log" || fail "-v line for a CANCEL"

# ---- the messages themselves ----------------------------------------------------------------
port=$(free_port $((port + 1)))
start exact "$port" --t1 20 --ring 200
"$py" - "$port" "$txn" <<'EOF' || fail "message checks"
import re, socket, sys, time

port = int(sys.argv[1])
txn = sys.argv[2] == "1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
n = [0]

def check(cond, what):
    if not cond:
        sys.exit("check failed: " + what)

def request(method, cid, cseq, ftag, ttag=None, body=b"", ctype="application/sdp", extra="",
            branch=None):
    n[0] += 1
    branch = branch or "z9hG4bK-chk-%d" % n[0]
    to = "<sip:uas@127.0.0.1:%d>" % port + (";tag=" + ttag if ttag else "")
    head = ("%s sip:uas@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\r\n"
            "From: <sip:chk@127.0.0.1:%d>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\n"
            "CSeq: %d %s\r\nContact: <sip:chk@127.0.0.1:%d>\r\nMax-Forwards: 70\r\n%s"
            % (method, port, me, branch, me, ftag, to, cid, cseq, method, me, extra))
    if body:
        head += "Content-Type: %s\r\n" % ctype
    head += "Content-Length: %d\r\n\r\n" % len(body)
    s.sendto(head.encode() + body, ("127.0.0.1", port))
    return branch

def recv(timeout):
    s.settimeout(timeout)
    try:
        data = s.recv(65535).decode()
    except socket.timeout:
        return None
    return parse(data)

def parse(data):
    head, _, body = data.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    first = lines[0].split()
    if first[0] == "SIP/2.0":
        return {"status": int(first[1]), "h": hdrs, "body": body, "t": time.monotonic()}
    return {"status": 0, "method": first[0], "h": hdrs, "body": body, "t": time.monotonic(),
            "raw": head}

def reply_to(r, status=200):
    """A response to a request sip-uas sent (its BYE)."""
    h = r["h"]
    out = "SIP/2.0 %d OK\r\n" % status
    for k in ("via", "from", "to", "call-id", "cseq"):
        for v in h[k]:
            out += "%s: %s\r\n" % (k.title(), v)
    out += "Content-Length: 0\r\n\r\n"
    s.sendto(out.encode(), ("127.0.0.1", port))

def expect(status, timeout=2.0):
    r = recv(timeout)
    check(r is not None, "no %d within %.1fs" % (status, timeout))
    check(r["status"] == status, "got %d, expected %d" % (r["status"], status))
    return r

def to_tag(r):
    m = re.search(r";tag=([^;>\s]+)", r["h"]["to"][0])
    return m.group(1) if m else None

offer = (b"v=0\r\no=chk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 5004 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
         b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendonly\r\n"
         b"m=video 0 RTP/AVP 31\r\n")

# A call: 180 at once with a To tag and Contact (no 100 Trying: the TU answered within 200 ms,
# RFC 3261 §17.2.1), the 200 after --ring with the answer.
t0 = time.monotonic()
request("INVITE", "call-1", 1, "f1", body=offer)
ring = expect(180)
tag = to_tag(ring)
check(tag and len(tag) == 16, "180 To tag")
# The UA core writes the listening point's Contact (no transport parameter for UDP).
contact = ("<sip:sip-uas@127.0.0.1:%d;transport=udp>" if txn else "<sip:sip-uas@127.0.0.1:%d>") % port
check(ring["h"]["contact"] == [contact], "180 Contact: %s" % ring["h"].get("contact"))
ok = expect(200)
check(ok["t"] - t0 >= 0.18, "200 after %.3fs, before --ring 200" % (ok["t"] - t0))
check(to_tag(ok) == tag, "200 To tag differs from the 180's")
check(ok["h"]["contact"] == [contact], "200 Contact")
check(ok["h"]["content-type"] == ["application/sdp"], "200 Content-Type")
lines = ok["body"].split("\r\n")
want = ["v=0", "s=sip-uas", "c=IN IP4 127.0.0.1", "t=0 0", "m=audio 40000 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000", "a=recvonly", "m=video 0 RTP/AVP 31", ""]
check([l for l in lines if not l.startswith("o=")] == want, "answer:\n" + ok["body"])
check(re.fullmatch(r"o=sip-uas \d+ 1 IN IP4 127\.0\.0\.1", lines[1]) is not None, "o= line")
answer = ok["body"]

# RFC 3261 §13.3.1.4: without an ACK the 200 comes again (T1 20 ms, doubling).
copies = 0
end = time.monotonic() + 0.5
while time.monotonic() < end:
    r = recv(max(0.01, end - time.monotonic()))
    if r:
        check(r["status"] == 200 and r["body"] == answer, "retransmission is the same 200")
        copies += 1
check(copies >= 3, "%d retransmissions of the 200 in 0.5 s" % copies)
request("ACK", "call-1", 1, "f1", tag)
time.sleep(0.05)
while recv(0.01):
    pass
check(recv(0.4) is None, "the 200 was retransmitted after the ACK")

# In the dialog: re-INVITE with the same offer gets the same answer; OPTIONS 200; INFO 501;
# a BYE with another To tag 481.
request("INVITE", "call-1", 2, "f1", tag, body=offer)
r = recv(1.0)
if r and r["status"] == 100:
    r = recv(1.0)
check(r is not None and r["status"] == 200, "re-INVITE answered 200")
check(r["body"] == answer, "re-INVITE answer changed:\n" + r["body"])
request("ACK", "call-1", 2, "f1", tag)
request("OPTIONS", "call-1", 3, "f1", tag)
r = expect(200)
check("INVITE" in ",".join(r["h"].get("allow", [])), "OPTIONS Allow")
# INFO (RFC 6086): sip-uas takes it in a dialog (200), sip-uas-txn does not know it (501).
request("INFO", "call-1", 4, "f1", tag, body=b"Signal=5\r\nDuration=160\r\n",
        ctype="application/dtmf-relay")
expect(501 if txn else 200)
request("BYE", "call-1", 5, "f1", "0000000000000000")
expect(481)
request("BYE", "call-1", 5, "f1", tag)
expect(200)
request("BYE", "call-1", 6, "f1", tag)
expect(481)

# Another media type than SDP: 415 with Accept; an extension required: 420 with Unsupported.
b = request("INVITE", "call-2", 1, "f2", body=b"hello", ctype="text/plain")
r = recv(1.0)
if r and r["status"] == 100:
    r = recv(1.0)
check(r is not None and r["status"] == 415, "text/plain offer: 415")
check(r["h"].get("accept") == ["application/sdp"], "415 Accept")
# §17.1.1.3: the ACK of a non-2xx final shares the INVITE's branch.
request("ACK", "call-2", 1, "f2", to_tag(r), branch=b)
b = request("INVITE", "call-3", 1, "f3", body=offer, extra="Require: 100rel\r\n")
r = recv(1.0)
if r and r["status"] == 100:
    r = recv(1.0)
check(r is not None and r["status"] == 420, "Require: 420")
check(r["h"].get("unsupported") == ["100rel"], "420 Unsupported")
request("ACK", "call-3", 1, "f3", to_tag(r), branch=b)

# No offer: the 200 carries ours. Never acknowledged: given up after 64*T1 (1.28 s); sip-uas
# then ends the session with a BYE (RFC 3261 §13.3.1.4), sip-uas-txn only stops.
request("INVITE", "call-4", 1, "f4")
expect(180)
r = expect(200)
check("m=audio 40000 RTP/AVP 0 8\r\n" in r["body"], "offer in the 200:\n" + r["body"])
end = time.monotonic() + 1.6
bye = None
while time.monotonic() < end:
    r = recv(max(0.01, end - time.monotonic()))
    if r and r["status"] == 0:
        check(r["method"] == "BYE", "a %s from sip-uas" % r["method"])
        bye = r
        reply_to(r)
check(recv(0.3) is None, "the 200 is still retransmitted after 64*T1")
if txn:
    check(bye is None, "sip-uas-txn sent a BYE")
else:
    check(bye is not None, "no BYE after 64*T1 without ACK")
    check(bye["h"]["call-id"] == ["call-4"], "the BYE's Call-ID")
    check(bye["raw"].startswith("BYE sip:chk@127.0.0.1:%d SIP/2.0" % me), "the BYE's target")
EOF
grep -q "^call call-4: no ACK for the 2xx, call given up$" "$work/exact.log" ||
    { cat "$work/exact.log" >&2; fail "no log line for the call given up"; }
# sip-uas-txn counts every ACK of a 2xx (the INVITE's and the re-INVITE's), sip-uas the calls
# whose 2xx was acknowledged.
if [ $txn -eq 1 ]; then stop exact 2 2 0 0 2 1 1 1 0 0; else stop exact 2 2 0 0 1 1 1 1 0 0; fi

# ---- sip-uas only: the 2xx over TCP, --media, --rel100 ------------------------------------------
if [ $txn -eq 0 ]; then
    # Usage: --media with --stateless is refused, an unreadable file is a runtime error.
    rc=0; "$uas" --listen udp:127.0.0.1:1 --stateless --media /dev/null >/dev/null 2>&1 || rc=$?
    [ $rc -eq 2 ] || fail "--media with --stateless exited $rc, not 2"
    rc=0; "$uas" --listen udp:127.0.0.1:1 --media "$work/none.sdp" >/dev/null 2>&1 || rc=$?
    [ $rc -eq 1 ] || fail "--media of a missing file exited $rc, not 1"
    grep -q -- "--media" <<<"$("$uas" --help)" || fail "--help does not describe --media"
    # The capabilities as a text editor writes them (LF line ends): PCMA and telephone-event.
    printf 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n%s\n%s\n%s\n' \
        "m=audio 4000 RTP/AVP 8 101" "a=rtpmap:8 PCMA/8000" \
        "a=rtpmap:101 telephone-event/8000" >"$work/caps.sdp"
    port=$(free_port $((port + 1)))
    start media "$port" --t1 50 --media "$work/caps.sdp"
    "$py" - "$port" <<'EOF' || fail "TCP and --media checks"
import socket, sys, time

port = int(sys.argv[1])

def check(cond, what):
    if not cond:
        sys.exit("check failed: " + what)

class Tcp:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.me = self.s.getsockname()[1]
        self.buf = b""

    def send(self, method, cid, cseq, ttag=None, body=b"", branch="z9hG4bK-t"):
        to = "<sip:uas@127.0.0.1:%d>" % port + (";tag=" + ttag if ttag else "")
        head = ("%s sip:uas@127.0.0.1:%d;transport=tcp SIP/2.0\r\n"
                "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=%s-%s-%d\r\n"
                "From: <sip:chk@127.0.0.1>;tag=ft\r\nTo: %s\r\nCall-ID: %s\r\n"
                "CSeq: %d %s\r\nContact: <sip:chk@127.0.0.1:%d;transport=tcp>\r\n"
                "Max-Forwards: 70\r\n"
                % (method, port, self.me, branch, cid, cseq, to, cid, cseq, method, self.me))
        if body:
            head += "Content-Type: application/sdp\r\n"
        head += "Content-Length: %d\r\n\r\n" % len(body)
        self.s.sendall(head.encode() + body)

    def recv(self, timeout):
        end = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = self.buf[:i].decode()
                n = 0
                for l in head.split("\r\n"):
                    if l.lower().startswith(("content-length:", "l:")):
                        n = int(l.split(":", 1)[1])
                if len(self.buf) >= i + 4 + n:
                    body = self.buf[i + 4:i + 4 + n].decode()
                    self.buf = self.buf[i + 4 + n:]
                    first = head.split("\r\n")[0].split()
                    tag = None
                    for l in head.split("\r\n"):
                        if l.lower().startswith(("to:", "t:")) and ";tag=" in l:
                            tag = l.split(";tag=")[1].split(";")[0].strip()
                    return {"status": int(first[1]) if first[0] == "SIP/2.0" else 0,
                            "tag": tag, "body": body}
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                return None
            if not data:
                return None
            self.buf += data

    def final(self, timeout=2.0):
        while True:
            r = self.recv(timeout)
            if r is None or r["status"] >= 200:
                return r

def offer(fmts, rtpmaps):
    return ("v=0\r\no=chk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 5004 RTP/AVP %s\r\n%s" % (fmts, "".join("a=rtpmap:%s\r\n" % m
                                                              for m in rtpmaps))).encode()

# RFC 3261 §13.3.1.4: the 2xx goes again at T1, 2*T1... until the ACK on every transport, TCP
# included; an offer of PCMU, PCMA and telephone-event is answered with what --media can do.
t = Tcp()
t.send("INVITE", "tcp-1", 1, body=offer("0 8 101", ["0 PCMU/8000", "8 PCMA/8000",
                                                    "101 telephone-event/8000"]))
ok = t.final()
check(ok is not None and ok["status"] == 200, "200 over TCP")
m = [l for l in ok["body"].split("\r\n") if l.startswith("m=")]
check(m == ["m=audio 4000 RTP/AVP 8 101"], "--media answer: %s" % ok["body"])
copies = 0
end = time.monotonic() + 0.5
while time.monotonic() < end:
    r = t.recv(end - time.monotonic())
    if r:
        check(r["status"] == 200, "a %d over TCP" % r["status"])
        copies += 1
check(copies >= 2, "%d retransmissions of the 200 over TCP in 0.5 s (T1 50 ms)" % copies)
t.send("ACK", "tcp-1", 1, ok["tag"], branch="z9hG4bK-a")
time.sleep(0.05)
while t.recv(0.01):
    pass
check(t.recv(0.3) is None, "the 200 went on after the ACK")
t.send("BYE", "tcp-1", 2, ok["tag"], branch="z9hG4bK-b")
r = t.final()
check(r is not None and r["status"] == 200, "BYE over TCP")

# An offer with no codec in common: 488 (RFC 3264 §6, RFC 3261 §13.3.1.3).
t.send("INVITE", "tcp-2", 1, body=offer("18", ["18 G729/8000"]))
r = t.final()
check(r is not None and r["status"] == 488, "no common codec: %s" % (r and r["status"]))
t.send("ACK", "tcp-2", 1, r["tag"], branch="z9hG4bK-t")
EOF
    stop media 1 1 0 0 1 1 0 0 0 0
    grep -q '^call tcp-2: INVITE refused by the call (offer, 100rel or session timer)$' \
        "$work/media.log" || fail "no -v line for the 488"
fi
if [ $txn -eq 0 ]; then
    # A caller that Requires 100rel and PRACKs the reliable 180 (RFC 3262), then holds, resumes
    # (re-INVITE) and offers again (UPDATE): uac_100rel_modify.xml checks every answer. The ring
    # keeps the 200 after the PRACK's exchange, as the scenario expects.
    port=$(free_port $((port + 1)))
    start rel100 "$port" --rel100 supported --ring 300
    for t in u1 t1; do
        run_sipp "$work/rel100-$t.log" -sf "$here/uac_100rel_modify.xml" -t $t -m 5 -r 20 \
            -timeout 30s "127.0.0.1:$port"
        sipp_ok "$work/rel100-$t.log" 5
    done
    stop rel100 10 10 0 0 10 10 0 30 0 0
    # A caller that asks for a session timer and refreshes it by UPDATE (RFC 4028):
    # uac_session_timer.xml checks the Session-Expires and Require: timer of both 200s.
    port=$(free_port $((port + 1)))
    start timer "$port" --session-timer 1800
    for t in u1 t1; do
        run_sipp "$work/timer-$t.log" -sf "$here/uac_session_timer.xml" -t $t -m 5 -r 20 \
            -timeout 30s "127.0.0.1:$port"
        sipp_ok "$work/timer-$t.log" 5
    done
    stop timer 10 10 0 0 10 10 0 10 0 0
    # --rel100 required: an INVITE without 100rel gets 421 with Require: 100rel (RFC 3262 §4),
    # and no call. (Without --rel100, Require: 100rel gets 420: the message checks above.)
    port=$(free_port $((port + 1)))
    start required "$port" --rel100 required
    "$py" - "$port" <<'EOF' || fail "--rel100 required"
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
s.settimeout(2)
head = ("INVITE sip:uas@127.0.0.1:%d SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-req-1\r\n"
        "From: <sip:chk@127.0.0.1>;tag=fr\r\nTo: <sip:uas@127.0.0.1:%d>\r\n"
        "Call-ID: req-1\r\nCSeq: 1 INVITE\r\nContact: <sip:chk@127.0.0.1:%d>\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (port, me, port, me))
s.sendto(head.encode(), ("127.0.0.1", port))
while True:
    r = s.recv(65535).decode()
    if not r.startswith("SIP/2.0 100"):
        break
if not r.startswith("SIP/2.0 421"):
    sys.exit("not 421: " + r)
if "\r\nRequire: 100rel\r\n" not in r:
    sys.exit("421 without Require: 100rel: " + r)
EOF
    grep -q '^call req-1: INVITE refused by the call' "$work/required.log" ||
        fail "no -v line for the 421"
    stop required 0 0 0 0 0 0 0 0 0 0
fi
echo "sip-uas: calls over UDP, TCP and lossy UDP, --code, CANCEL and message checks passed"
