#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sip-uac against sip-uas (both on the UA layer) and sip-uas-txn on loopback: the requests sip-uac
# sends once a call is up (--reinvite: hold then resume, --update, --info), checked in the
# messages sip-uas received and sent (--trace), in both programs' output lines and exit codes; a
# request the callee refuses failing the call (which still ends with BYE); CANCEL on --timeout
# during the ring; a BYE from the callee; --prack against sip-uas --rel100 (the 180 reliable and
# PRACKed) and against a callee without 100rel (420); --session-timer negotiated with sip-uas
# --session-timer.
# usage: uac_uas_calls.sh SIP-UAC SIP-UAS SIP-UAS-TXN
set -euo pipefail
uac=$1
uas=$2
uas_txn=$3
py=/usr/bin/python3
[ -x "$py" ] || py=python3
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- usage ----------------------------------------------------------------------------------
"$uac" --help >"$work/help" || fail "sip-uac --help must exit 0"
for flag in --reinvite --update --info --prack --session-timer application/dtmf-relay; do
    grep -q -- "$flag" "$work/help" || fail "sip-uac --help does not describe $flag"
done
for tool in "$uas" "$uas_txn"; do
    "$tool" --help >"$work/help" || fail "$tool --help must exit 0"
    grep -q -- "--listen" "$work/help" || fail "$tool --help does not describe --listen"
done
grep -q "sip-uas-txn" <<<"$("$uas_txn" --help)" || fail "sip-uas-txn --help does not name it"
expect_rc() {
    local want=$1
    shift
    local rc=0
    timeout 30 "$uac" "$@" >"$work/out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$work/out" >&2; fail "sip-uac $* exited $rc, not $want"; }
}
for v in 0 89 86401 abc 1800s -90 ""; do
    expect_rc 2 --session-timer "$v" sip:x@127.0.0.1:9
done
expect_rc 2 --reinvite=yes sip:x@127.0.0.1:9
expect_rc 2 --prack=1 sip:x@127.0.0.1:9
for args in "--rel100=bogus" "--rel100=" "--session-timer=89" "--session-timer=86401" \
    "--session-timer=1e3"; do
    rc=0
    "$uas" --listen udp:127.0.0.1:1 "$args" >/dev/null 2>&1 || rc=$?
    [ $rc -eq 2 ] || fail "sip-uas $args exited $rc, not 2"
done
grep -q -- "--rel100" <<<"$("$uas" --help)" || fail "sip-uas --help does not describe --rel100"
grep -q -- "--session-timer" <<<"$("$uas" --help)" ||
    fail "sip-uas --help does not describe --session-timer"

# ---- helpers --------------------------------------------------------------------------------
free_port() {
    "$py" - <<'EOF'
import socket
for p in range(23000, 25000):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t = socket.socket()
    try:
        u.bind(("127.0.0.1", p)); t.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: u.close(); t.close()
EOF
}

# start NAME PROGRAM ARGS...: the callee on udp and tcp 127.0.0.1:$port, -v --trace, its log in
# $work/NAME.log.
start() {
    local name=$1 prog=$2
    shift 2
    port=$(free_port)
    "$prog" --listen "udp:127.0.0.1:$port" --listen "tcp:127.0.0.1:$port" -v --trace "$@" \
        >"$work/$name.log" 2>&1 &
    pids+=($!)
    eval "pid_$name=$!"
    for _ in $(seq 200); do grep -qs "^listening on tcp" "$work/$name.log" && return; sleep 0.1; done
    cat "$work/$name.log" >&2
    fail "$name did not start"
}

# stop NAME COUNTERS: SIGTERM, exit 0, no sanitizer report, and the counters line (from "calls ").
stop() {
    local name=$1 want=$2 p
    p=$(eval "echo \$pid_$name")
    kill -TERM "$p"
    wait "$p" || { tail -20 "$work/$name.log" >&2; fail "$name exited non-zero after SIGTERM"; }
    ! grep -Eq "runtime error|Sanitizer" "$work/$name.log" ||
        { cat "$work/$name.log" >&2; fail "$name: sanitizer report"; }
    grep -qx "$want" "$work/$name.log" ||
        fail "$name counted '$(grep '^calls ' "$work/$name.log")', not '$want'"
}

# run_uac NAME RC ARGS...: sip-uac with -v, its exit status RC, its output in $work/uac-NAME.out.
run_uac() {
    local name=$1 want=$2 rc=0
    shift 2
    timeout 60 "$uac" -v "$@" >"$work/uac-$name.out" 2>"$work/uac-$name.err" || rc=$?
    ! grep -Eq "runtime error|Sanitizer" "$work/uac-$name.err" ||
        { cat "$work/uac-$name.err" >&2; fail "sip-uac $name: sanitizer report"; }
    [ "$rc" -eq "$want" ] ||
        { cat "$work/uac-$name.out" "$work/uac-$name.err" >&2; fail "sip-uac $name exited $rc"; }
}

# has NAME LINE...: sip-uac's output has exactly these lines, in this order (and no other).
has() {
    local name=$1
    shift
    printf '%s\n' "$@" >"$work/want"
    diff "$work/want" "$work/uac-$name.out" >&2 || fail "sip-uac $name: output differs"
}

# messages LOG: the SIP messages of a --trace log, one JSON object per line: dir (received or
# sent), first line, headers (lower-case names), body.
messages() {
    "$py" - "$1" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
parts = re.split(r"^libsip info trace: (received|sent) \d+ bytes[^\n]*\n", text, flags=re.M)
for i in range(1, len(parts), 2):
    msg = parts[i + 1]
    head, _, rest = msg.partition("\r\n\r\n")
    if not _:
        head, _, rest = msg.partition("\n\n")
    lines = [l.rstrip("\r") for l in head.split("\n")]
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    n = int((hdrs.get("content-length") or ["0"])[0])
    # The trace may print lines with LF alone: Content-Length counts them as CRLF.
    rest = rest.replace("\r\n", "\n")
    k = used = 0
    while k < len(rest) and used < n:
        used += 2 if rest[k] == "\n" else 1
        k += 1
    body = rest[:k]
    print(json.dumps({"dir": parts[i], "first": lines[0], "h": hdrs, "body": body}))
EOF
}

# ---- --reinvite over UDP: hold (sendonly -> recvonly), then resume (sendrecv) ----------------
start reinvite "$uas"
run_uac reinvite 0 --reinvite "sip:service@127.0.0.1:$port"
has reinvite "call 0: re-INVITE (hold) 200" "call 0: re-INVITE (resume) 200" "call 0 completed" \
    "calls: 1 completed, 0 failed"
stop reinvite "calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 1 no-ack 0 reinvites 2 failed 0 active 0 expired 0"
messages "$work/reinvite.log" >"$work/reinvite.json"
"$py" - "$work/reinvite.json" <<'EOF' || fail "--reinvite messages"
import json, re, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
def check(c, what):
    if not c:
        sys.exit("check failed: " + what)
got = [m for m in msgs if m["dir"] == "received"]
methods = [m["first"].split()[0] for m in got]
check(methods == ["INVITE", "ACK", "INVITE", "ACK", "INVITE", "ACK", "BYE"],
      "requests received: %s" % methods)
invites = [m for m in got if m["first"].startswith("INVITE")]
# The re-INVITEs go to the remote target (the Contact of the 200), in the dialog (To tag), with
# CSeq 2 and 3, and offers whose o= version grows by one (RFC 3264 §8).
check(all(m["first"].startswith("INVITE sip:sip-uas@127.0.0.1:") for m in invites[1:]),
      "re-INVITE Request-URI: %s" % [m["first"] for m in invites[1:]])
check([m["h"]["cseq"][0] for m in invites] == ["1 INVITE", "2 INVITE", "3 INVITE"], "CSeqs")
check(all(";tag=" in m["h"]["to"][0] for m in invites[1:]), "re-INVITE To tag")
vers = [re.search(r"^o=\S+ \S+ (\d+) ", m["body"], re.M).group(1) for m in invites]
check(vers == ["1", "2", "3"], "o= versions %s" % vers)
dirs = [re.findall(r"^a=(sendrecv|sendonly|recvonly|inactive)$", m["body"], re.M) for m in invites]
check(dirs == [["sendrecv"], ["sendonly"], ["sendrecv"]], "offered directions %s" % dirs)
oks = [m for m in msgs if m["dir"] == "sent" and m["first"].startswith("SIP/2.0 200")
       and m["h"]["cseq"][0].endswith("INVITE")]
answer = {m["h"]["cseq"][0]: re.findall(r"^a=(sendonly|recvonly|inactive)$", m["body"], re.M)
          for m in oks}
check(answer.get("2 INVITE") == ["recvonly"], "the hold answered recvonly: %s" % answer)
check(answer.get("3 INVITE") == [], "the resume answered sendrecv: %s" % answer)
acks = [m["h"]["cseq"][0] for m in got if m["first"].startswith("ACK")]
check(acks == ["1 ACK", "2 ACK", "3 ACK"], "ACKs %s" % acks)
EOF

# ---- --update and --info over TCP ----------------------------------------------------------
start update "$uas"
run_uac update 0 --update --info --transport tcp "sip:service@127.0.0.1:$port"
has update "call 0: UPDATE 200" "call 0: INFO 200" "call 0 completed" \
    "calls: 1 completed, 0 failed"
stop update "calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 1 no-ack 0 reinvites 1 failed 0 active 0 expired 0"
grep -Eq "^call [0-9a-f]+: INFO application/dtmf-relay Signal=5$" "$work/update.log" ||
    fail "sip-uas -v line for the INFO"
messages "$work/update.log" >"$work/update.json"
"$py" - "$work/update.json" <<'EOF' || fail "--update/--info messages"
import json, re, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
def check(c, what):
    if not c:
        sys.exit("check failed: " + what)
got = [m for m in msgs if m["dir"] == "received"]
methods = [m["first"].split()[0] for m in got]
check(methods == ["INVITE", "ACK", "UPDATE", "INFO", "BYE"], "requests received: %s" % methods)
up, info = got[2], got[3]
check(up["h"]["cseq"] == ["2 UPDATE"] and info["h"]["cseq"] == ["3 INFO"], "CSeqs")
check(up["h"]["content-type"] == ["application/sdp"], "UPDATE offer")
check(re.search(r"^o=\S+ \S+ 2 ", up["body"], re.M), "UPDATE o= version 2")
check(info["h"]["content-type"] == ["application/dtmf-relay"], "INFO Content-Type")
check(info["body"] == "Signal=5\nDuration=160\n", "INFO body %r" % info["body"])
check(all(m["first"].endswith("SIP/2.0") and "transport=tcp" in m["first"] for m in got[2:]),
      "in-dialog requests to the TCP Contact: %s" % [m["first"] for m in got[2:]])
sent = {m["h"]["cseq"][0]: m["first"] for m in msgs if m["dir"] == "sent"}
check(sent.get("2 UPDATE") == "SIP/2.0 200 OK" and sent.get("3 INFO") == "SIP/2.0 200 OK",
      "UPDATE and INFO answered 200: %s" % sent)
EOF

# ---- a callee that refuses the UPDATE (sip-uas-txn: 501): the call fails, and ends with BYE ----
start txn "$uas_txn"
run_uac txn 1 --update "sip:service@127.0.0.1:$port"
has txn "call 0 failed: UPDATE 501 Not Implemented" "calls: 0 completed, 1 failed"
stop txn "calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 1 no-ack 0 reinvites 0 failed 0 active 0 expired 0"

# ---- --timeout while the callee rings: the call is CANCELled (RFC 3261 §9.1) ------------------
start ring "$uas" --ring 10000
run_uac ring 1 --timeout 1 "sip:service@127.0.0.1:$port"
has ring "call 0 failed: overall timeout" "calls: 0 completed, 1 failed"
for _ in $(seq 50); do grep -q "^CANCEL from udp:127.0.0.1:" "$work/ring.log" && break; sleep 0.1; done
sleep 0.3
stop ring "calls 1 answered 0 rejected 0 cancelled 1 acked 0 byes 0 no-ack 0 reinvites 0 failed 0 active 0 expired 0"
grep -q "^SIP/2.0 487 Request Terminated" "$work/ring.log" || fail "ring: no 487 to the INVITE"

# ---- a BYE long after the INVITE's transaction ended (Timer M, 64*T1 = 1.28 s) ---------------
start late "$uas" --t1 20
run_uac late 0 --t1 20 --hold 2000 --info "sip:service@127.0.0.1:$port"
has late "call 0: INFO 200" "call 0 completed" "calls: 1 completed, 0 failed"
stop late "calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 1 no-ack 0 reinvites 0 failed 0 active 0 expired 0"

# ---- the callee ends the call (its --call-timeout) during --hold: completed ----------------
start byepeer "$uas" --call-timeout 1
run_uac byepeer 0 --hold 10000 "sip:service@127.0.0.1:$port"
has byepeer "call 0 completed: BYE from the peer" "calls: 1 completed, 0 failed"
stop byepeer "calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 0 no-ack 0 reinvites 0 failed 0 active 0 expired 1"

# ---- --prack: the 180 goes reliably (RFC 3262 §3) and sip-uac PRACKs it ---------------------
start prack "$uas" --rel100 supported --ring 300
run_uac prack 0 --prack "sip:service@127.0.0.1:$port"
# RFC 3262 §3: the first RSeq is random (1 to 2**31 - 1).
sed -Ei 's/\(RSeq [1-9][0-9]*\)/(RSeq N)/' "$work/uac-prack.out"
has prack "call 0: 180 reliable (RSeq N), PRACK sent" "call 0 completed" \
    "calls: 1 completed, 0 failed"
stop prack "calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 1 no-ack 0 reinvites 0 failed 0 active 0 expired 0"
messages "$work/prack.log" >"$work/prack.json"
"$py" - "$work/prack.json" <<'EOF' || fail "--prack messages"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
def check(c, what):
    if not c:
        sys.exit("check failed: " + what)
def tags(m, name):
    return [t.strip() for v in m["h"].get(name, []) for t in v.split(",")]
got = [m for m in msgs if m["dir"] == "received"]
methods = [m["first"].split()[0] for m in got]
check(methods == ["INVITE", "PRACK", "ACK", "BYE"], "requests received: %s" % methods)
check("100rel" in tags(got[0], "require"), "the INVITE Requires 100rel: %s" % got[0]["h"])
r180 = [m for m in msgs if m["dir"] == "sent" and m["first"].startswith("SIP/2.0 180")]
check(r180 and "100rel" in tags(r180[0], "require") and r180[0]["h"].get("rseq", [""])[0].isdigit(),
      "the 180 is reliable: %s" % (r180 and r180[0]["h"]))
rseq = r180[0]["h"]["rseq"][0]
check(got[1]["h"].get("rack") == [rseq + " 1 INVITE"], "RAck %s" % got[1]["h"].get("rack"))
check(got[1]["h"]["cseq"] == ["2 PRACK"], "PRACK CSeq %s" % got[1]["h"]["cseq"])
sent = [m["first"] + " " + m["h"]["cseq"][0] for m in msgs if m["dir"] == "sent"]
check(sent.index("SIP/2.0 200 OK 2 PRACK") < sent.index("SIP/2.0 200 OK 1 INVITE"),
      "the PRACK answered before the INVITE's 200: %s" % sent)
EOF

# ---- --prack against a callee without 100rel: 420 (RFC 3261 §8.2.2.3), the call fails -------
start norel "$uas"
run_uac norel 1 --prack "sip:service@127.0.0.1:$port"
has norel "call 0 failed: INVITE 420 Bad Extension" "calls: 0 completed, 1 failed"
stop norel "calls 0 answered 0 rejected 0 cancelled 0 acked 0 byes 0 no-ack 0 reinvites 0 failed 0 active 0 expired 0"

# ---- --session-timer: Session-Expires asked for and granted (RFC 4028 §7, §9) ----------------
start timer "$uas" --session-timer 1800
run_uac timer 0 --session-timer 120 "sip:service@127.0.0.1:$port"
has timer "call 0 completed" "calls: 1 completed, 0 failed"
stop timer "calls 1 answered 1 rejected 0 cancelled 0 acked 1 byes 1 no-ack 0 reinvites 0 failed 0 active 0 expired 0"
messages "$work/timer.log" >"$work/timer.json"
"$py" - "$work/timer.json" <<'EOF' || fail "--session-timer messages"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
def check(c, what):
    if not c:
        sys.exit("check failed: " + what)
# Session-Expires may come in its compact form, x (RFC 4028 §4).
inv = [m for m in msgs if m["dir"] == "received" and m["first"].startswith("INVITE")][0]
se = inv["h"].get("session-expires") or inv["h"].get("x") or []
check(se and se[0].split(";")[0].strip() == "120", "INVITE Session-Expires %s" % se)
check("timer" in ",".join(inv["h"].get("supported", [])), "INVITE Supported: timer")
ok = [m for m in msgs if m["dir"] == "sent" and m["first"].startswith("SIP/2.0 200")
      and m["h"]["cseq"] == ["1 INVITE"]][0]
se = ok["h"].get("session-expires") or ok["h"].get("x") or []
check(se and se[0].split(";")[0].strip() == "120" and "refresher=" in se[0],
      "200 Session-Expires %s" % se)
check("timer" in ",".join(ok["h"].get("require", [])), "200 Require: timer")
EOF

echo "sip-uac: --reinvite, --update, --info, --prack, --session-timer, CANCEL and BYE from the callee against sip-uas passed"
