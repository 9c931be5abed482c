#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sip-uac against SIPp on loopback: calls over UDP and TCP complete, calls through 10% packet
# loss complete by retransmission, in-dialog requests follow the route set, --prack --reinvite
# --update --info against a scenario that checks each request, a forked INVITE answered by two
# 200s, --session-timer with the callee refreshing, busy and unreachable targets fail with exact counts, and the flags and exit codes hold.
set -euo pipefail
uac=$1
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
work=$(mktemp -d)
sipp_pid=
cleanup() {
    [ -n "$sipp_pid" ] && kill "$sipp_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v sipp >/dev/null || fail "sipp is not installed"

# ---- usage ----------------------------------------------------------------------------------
"$uac" --help >"$work/help" || fail "--help must exit 0"
for flag in --calls --rate --hold --max-concurrent --transport --listen --t1 --timeout --trace \
    --verbose --help; do
    grep -q -- "$flag" "$work/help" || fail "--help does not describe $flag"
done
expect_rc() {
    local want=$1
    shift
    local rc=0
    "$uac" "$@" >"$work/out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$work/out" >&2; fail "'$*' exited $rc, not $want"; }
}
t=sip:service@127.0.0.1:9
expect_rc 2
expect_rc 2 --bogus $t
expect_rc 2 --calls 0 $t
expect_rc 2 --calls -1 $t
expect_rc 2 --calls 5x $t
expect_rc 2 --calls "" $t
expect_rc 2 --rate abc $t
expect_rc 2 --rate 0 $t
expect_rc 2 --rate 1.2.3 $t
expect_rc 2 --hold -5 $t
expect_rc 2 --max-concurrent 0 $t
expect_rc 2 --t1 0 $t
expect_rc 2 --timeout 1s $t
expect_rc 2 --transport sctp $t
expect_rc 2 --transport tcp --listen udp:127.0.0.1:0 $t
expect_rc 2 not-a-uri
expect_rc 2 tel:+15551234
expect_rc 2 'sip:service@127.0.0.1:9?subject=x'
expect_rc 2 "sip:service@127.0.0.1;transport=sctp"
expect_rc 2 $t sip:other@127.0.0.1:9
# A listening point on an address this host does not have: a runtime error.
expect_rc 1 --listen udp:192.0.2.1:0 --timeout 1 $t
grep -q "cannot listen" "$work/out" || fail "no 'cannot listen' message"

# ---- helpers --------------------------------------------------------------------------------
# A port free for both UDP and TCP on 127.0.0.1.
free_port() {
    "$py" -c 'import socket
for _ in range(200):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: u.close(); t.close()'
}
# Starts SIPp as the callee: start_sipp NAME PORT u1|t1 ARGS...
start_sipp() {
    local name=$1 port=$2 mode=$3
    shift 3
    (cd "$work" && exec timeout 60 sipp "$@" -t "$mode" -i 127.0.0.1 -p "$port" -nostdin \
        -buff_size 4194304 -timeout 50s -trace_err >"$work/sipp-$name.log" 2>&1) &
    sipp_pid=$!
    local kind=SOCK_DGRAM
    [ "$mode" = t1 ] && kind=SOCK_STREAM
    # Ready once SIPp holds the port.
    for _ in $(seq 100); do
        "$py" -c "import socket, sys
s = socket.socket(socket.AF_INET, socket.$kind)
try: s.bind(('127.0.0.1', $port))
except OSError: sys.exit(0)
sys.exit(1)" && return 0
        sleep 0.05
    done
    fail "SIPp ($name) did not start"
}
# Waits for SIPp and checks its exit status and its count of successful calls.
check_sipp() {
    local name=$1 want=$2 rc=0
    wait "$sipp_pid" || rc=$?
    sipp_pid=
    if [ "$rc" -ne 0 ]; then
        tail -40 "$work/sipp-$name.log" >&2
        cat "$work"/*_errors.log 2>/dev/null | head -60 >&2
        fail "SIPp ($name) exited $rc"
    fi
    grep -Eq "Successful call +\| +[0-9]+ +\| +$want " "$work/sipp-$name.log" ||
        { tail -40 "$work/sipp-$name.log" >&2; fail "SIPp ($name) did not count $want calls"; }
}
run_uac() {
    local name=$1 want_rc=$2
    shift 2
    local rc=0
    "$uac" "$@" >"$work/uac-$name.out" 2>"$work/uac-$name.err" || rc=$?
    [ "$rc" -eq "$want_rc" ] ||
        { cat "$work/uac-$name.out" "$work/uac-$name.err" >&2; fail "sip-uac ($name) exited $rc"; }
}
summary_is() {
    local name=$1 line=$2
    [ "$(grep -c '^calls: ' "$work/uac-$name.out")" -eq 1 ] || fail "$name: not one summary line"
    grep -qx "$line" "$work/uac-$name.out" ||
        { cat "$work/uac-$name.out" >&2; fail "$name: summary is not '$line'"; }
}

# ---- 200 calls over UDP, with a hold and a line per call ------------------------------------
port=$(free_port)
start_sipp udp "$port" u1 -sn uas -m 200
run_uac udp 0 --calls 200 --rate 100 --hold 50 -v "sip:service@127.0.0.1:$port"
summary_is udp "calls: 200 completed, 0 failed"
[ "$(grep -c '^call [0-9]* completed$' "$work/uac-udp.out")" -eq 200 ] || fail "udp: -v lines"
check_sipp udp 200

# ---- 200 calls over TCP, at most 20 at once -------------------------------------------------
port=$(free_port)
start_sipp tcp "$port" t1 -sn uas -m 200
run_uac tcp 0 --calls 200 --rate 100 --transport tcp --max-concurrent 20 \
    "sip:service@127.0.0.1:$port"
summary_is tcp "calls: 200 completed, 0 failed"
check_sipp tcp 200

# ---- a callee behind record-routing proxies: SIPp checks the ACK and BYE it gets ------------
port=$(free_port)
start_sipp rr "$port" u1 -sf "$here/uac_record_route.xml" -m 10
run_uac rr 0 --calls 10 --rate 100 --hold 20 "sip:service@127.0.0.1:$port"
summary_is rr "calls: 10 completed, 0 failed"
check_sipp rr 10

# ---- 100 calls over UDP while SIPp loses 10% of the packets ---------------------------------
port=$(free_port)
start_sipp lossy "$port" u1 -sf "$here/uac_uas_short_t1.xml" -m 100 -lost 10 -rtcheck loose
run_uac lossy 0 --calls 100 --rate 50 --t1 100 "sip:service@127.0.0.1:$port"
summary_is lossy "calls: 100 completed, 0 failed"
check_sipp lossy 100
# The loss was repaired by retransmission: SIPp resent 200s to INVITEs (each needing the ACK
# again) and saw BYEs again (Timer E after a lost 200).
read -r ok_retrans bye_retrans < <(awk '$1 == "---------->" && $2 == "INVITE" { n = 0 }
    $1 == "<----------" && $2 == "200" { if (++n == 1) ok = $4 }
    $1 == "---------->" && $2 == "BYE" { bye = $4 }
    END { print ok + 0, bye + 0 }' "$work/sipp-lossy.log")
[ "$ok_retrans" -gt 0 ] && [ "$bye_retrans" -gt 0 ] ||
    fail "lossy: no retransmissions seen (200: $ok_retrans, BYE: $bye_retrans)"

# ---- a busy callee: every call fails, and SIPp gets every ACK of the 486 --------------------
port=$(free_port)
start_sipp busy "$port" u1 -sf "$here/uac_busy.xml" -m 20
run_uac busy 1 --calls 20 --rate 200 -v "sip:service@127.0.0.1:$port"
summary_is busy "calls: 0 completed, 20 failed"
[ "$(grep -c '^call [0-9]* failed: INVITE 486 Busy Here$' "$work/uac-busy.out")" -eq 20 ] ||
    fail "busy: -v lines"
check_sipp busy 20

# ---- 100rel, re-INVITE, UPDATE, INFO: SIPp checks each request (uas_100rel_modify.xml) -------
for t in u1 t1; do
    port=$(free_port)
    start_sipp "modify-$t" "$port" "$t" -sf "$here/uas_100rel_modify.xml" -m 3
    tr=udp
    [ "$t" = t1 ] && tr=tcp
    run_uac "modify-$t" 0 --calls 3 --rate 20 --transport "$tr" --prack --reinvite --update \
        --info -v "sip:service@127.0.0.1:$port"
    summary_is "modify-$t" "calls: 3 completed, 0 failed"
    for line in "180 reliable (RSeq 7), PRACK sent" "re-INVITE (hold) 200" \
        "re-INVITE (resume) 200" "UPDATE 200" "INFO 200"; do
        [ "$(grep -c "^call [0-2]: $line\$" "$work/uac-modify-$t.out")" -eq 3 ] ||
            { cat "$work/uac-modify-$t.out" >&2; fail "modify-$t: not 3 lines '$line'"; }
    done
    check_sipp "modify-$t" 3
done

# ---- a forked INVITE: two 180s and two 200s with different To tags (uas_fork.xml) -----------
# Each 2xx gets its ACK in its own dialog, the second fork a BYE at once (SIPp checks the
# Request-URIs and tags), the first a BYE after --hold.
port=$(free_port)
start_sipp fork "$port" u1 -sf "$here/uas_fork.xml" -m 5
run_uac fork 0 --calls 5 --rate 20 --hold 200 "sip:service@127.0.0.1:$port"
summary_is fork "calls: 5 completed, 0 failed"
check_sipp fork 5

# ---- --session-timer: the callee grants it, refreshes it by UPDATE (uas_session_timer.xml) ---
port=$(free_port)
start_sipp timer "$port" u1 -sf "$here/uas_session_timer.xml" -m 3
run_uac timer 0 --calls 3 --rate 20 --hold 300 --session-timer 120 \
    "sip:service@127.0.0.1:$port"
summary_is timer "calls: 3 completed, 0 failed"
check_sipp timer 3

# ---- nothing listens: the overall timeout fails every call ----------------------------------
port=$(free_port)
start=$(date +%s%N)
run_uac void 1 --calls 3 --rate 10 --timeout 2 "sip:service@127.0.0.1:$port"
summary_is void "calls: 0 completed, 3 failed"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -lt 4000 ] || fail "void: --timeout 2 took $elapsed ms"
run_uac void-tcp 1 --calls 3 --rate 10 --timeout 2 --transport tcp \
    "sip:service@127.0.0.1:$port"
summary_is void-tcp "calls: 0 completed, 3 failed"

echo "sip-uac: 200 calls over UDP and TCP, 100 through 10% loss, 100rel, re-INVITE, UPDATE, INFO, a forked INVITE, busy and unreachable targets"
