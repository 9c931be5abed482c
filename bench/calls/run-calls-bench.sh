#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stateful call benchmark: SIPp's built-in uac scenario (INVITE, 100/180/200, ACK, BYE/200) at a
# fixed rate against sip-uas (libsip's UA layer: the UA core and its calls), against sip-uas-txn
# (the same program with its own UAS core on the transaction layer, the baseline the UA layer's
# cost per call is measured against) and against Kamailio answering the same
# calls with tm (bench/calls/kamailio-calls.cfg), over UDP and TCP on loopback, and against
# null-uas (bench/calls/null_uas.c), which answers from fixed text with no SIP work: its figure
# is what the kernel and the event loop alone cost for these messages. Prints each
# server's CPU time per call (utime+stime of its process tree from /proc over the run and the
# TAIL after it, while the run's transactions end), the calls
# completed and failed, and the memory per live transaction: for libsip from bench/txn-mem (heap
# per idle server transaction, request and last response included), for Kamailio its shared
# memory in use over the transactions tm holds right after the run (kamcmd core.shmmem, tm.stats).
# Exits 1 when any run had a failed call. Asserts no timing.
#
# Environment (all optional):
#   RATES="2000 4000"   calls per second, one run per rate, server and transport
#   COUNT=40000         calls per run         WARMUP=2000  unmeasured calls first (per transport)
#   TRANSPORTS="udp tcp"
#   BUILD_DIR=dir       Release build tree for sip-uas, sip-uas-txn and txn-mem (default build-bench)
#   UAS_PORT=15082 UAS_TXN_PORT=15085 KAM_PORT=15081 KAM_FM_PORT=15083 NULL_PORT=15084
#   SIPP_PORT=15095     ports
#   PIN=1               pin the servers to CPU 1 and SIPp to CPU 0
#   TAIL=36             seconds measured after each run, while its transactions end
#   KEEP=1              keep the work directory (SIPp statistics, server logs)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RATES="${RATES:-2000 4000}"
COUNT="${COUNT:-40000}"
WARMUP="${WARMUP:-2000}"
TRANSPORTS="${TRANSPORTS:-udp tcp}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
UAS_PORT="${UAS_PORT:-15082}"
UAS_TXN_PORT="${UAS_TXN_PORT:-15085}"
KAM_PORT="${KAM_PORT:-15081}"
KAM_FM_PORT="${KAM_FM_PORT:-15083}"
NULL_PORT="${NULL_PORT:-15084}"
SIPP_PORT="${SIPP_PORT:-15095}"
PIN="${PIN:-0}"
IP=127.0.0.1

log() { echo "run-calls-bench: $*" >&2; }
die() { log "$*"; exit 2; }
# shellcheck source=../lib/procstat.sh
. "$HERE/../lib/procstat.sh"

for tool in sipp kamailio kamcmd ss; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: sip-tester, kamailio, iproute2)"
done

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLIBSIP_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target sip-uas sip-uas-txn txn-mem null-uas >/dev/null
SIP_UAS="$BUILD_DIR/tools/sip-uas/sip-uas"
SIP_UAS_TXN="$BUILD_DIR/tools/sip-uas-txn/sip-uas-txn"
TXN_MEM="$BUILD_DIR/bench/txn-mem"
NULL_UAS="$BUILD_DIR/bench/null-uas"
[ -x "$SIP_UAS" ] || die "$SIP_UAS not built"
[ -x "$SIP_UAS_TXN" ] || die "$SIP_UAS_TXN not built"
[ -x "$TXN_MEM" ] || die "$TXN_MEM not built"
[ -x "$NULL_UAS" ] || die "$NULL_UAS not built"

WORK="$(mktemp -d /tmp/calls-bench.XXXXXX)"
SERVER_PIDS=()
OWN_PATTERNS=("$HERE/kamailio-calls.cfg" "$SIP_UAS" "$SIP_UAS_TXN" "$NULL_UAS")
cleanup() {
    stop_servers
    if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SRV_PIN=()
SIPP_PIN=()
if [ "$PIN" = 1 ]; then
    SRV_PIN=(taskset -c 1)
    SIPP_PIN=(taskset -c 0)
fi

ports_free "$UAS_PORT" "$UAS_TXN_PORT" "$KAM_PORT" "$KAM_FM_PORT" "$NULL_PORT" "$SIPP_PORT"

"${SRV_PIN[@]}" "$SIP_UAS" --listen "udp:$IP:$UAS_PORT" --listen "tcp:$IP:$UAS_PORT" \
    >"$WORK/sip-uas.log" 2>&1 &
UAS_PID=$!
SERVER_PIDS+=("$UAS_PID")
"${SRV_PIN[@]}" "$SIP_UAS_TXN" --listen "udp:$IP:$UAS_TXN_PORT" --listen "tcp:$IP:$UAS_TXN_PORT" \
    >"$WORK/sip-uas-txn.log" 2>&1 &
UAS_TXN_PID=$!
SERVER_PIDS+=("$UAS_TXN_PID")
# -DD: foreground; -E: log to stderr. tm keeps each transaction for its wait timer (5 s) and
# takes about 13 KB of shared memory for one (measured here): 4,000 calls/s, two transactions a
# call, needs over 1 GiB; with less, calls fail for want of memory, not CPU.
start_kamailio() {
    local port=$1 tag=$2
    shift 2
    "${SRV_PIN[@]}" kamailio -f "$HERE/kamailio-calls.cfg" -A "KAM_PORT=$port" \
        -A "CTL_SOCK=\"unix:$WORK/$tag.ctl\"" -DD -E -m 2048 -M 8 "$@" >"$WORK/$tag.log" 2>&1 &
    KAM_STARTED=$!
    SERVER_PIDS+=("$KAM_STARTED")
}
start_kamailio "$KAM_PORT" kamailio
KAM_PID=$KAM_STARTED
start_kamailio "$KAM_FM_PORT" kamailio-fm -x fm -X fm
KAM_FM_PID=$KAM_STARTED
"${SRV_PIN[@]}" "$NULL_UAS" "$NULL_PORT" >"$WORK/null-uas.log" 2>&1 &
NULL_PID=$!
SERVER_PIDS+=("$NULL_PID")
wait_listening "$UAS_PORT" sip-uas
wait_listening "$UAS_TXN_PORT" sip-uas-txn
wait_listening "$KAM_PORT" kamailio
wait_listening "$KAM_FM_PORT" "kamailio -x fm"
wait_listening "$NULL_PORT" null-uas
sleep 0.5

# One SIPp run of the uac scenario; sets SENT, OK, FAILED, ELAPSED_S and SIPP_RC.
run_sipp() {
    local port=$1 transport=$2 rate=$3 count=$4 tag=$5
    local t=u1
    [ "$transport" = tcp ] && t=t1
    local stat="$WORK/$tag.csv"
    local limit=$((count / rate + 40))
    rm -f "$stat"
    SIPP_RC=0
    # -nr: no retransmission by SIPp, so a lost message is a failed call, not a hidden retry.
    # -l: at most 5 s worth of calls in progress.
    (cd "$WORK" && timeout $((limit + 15)) "${SIPP_PIN[@]}" sipp "$IP:$port" -sn uac \
        -i "$IP" -p "$SIPP_PORT" -t "$t" -r "$rate" -rp 1000 -m "$count" -l $((rate * 5)) \
        -buff_size 4194304 -nr -nostdin -trace_stat -stf "$stat" -fd 3600 \
        -timeout "${limit}s" -timeout_error >"$WORK/$tag.screen" 2>&1) || SIPP_RC=$?
    if [ ! -s "$stat" ]; then
        SENT=0 OK=0 FAILED=$count ELAPSED_S=0
        return
    fi
    read -r SENT OK FAILED ELAPSED_S < <(sipp_totals "$stat")
}

# Kamailio's shared memory in use (bytes) and its live transactions, through its ctl socket.
kam_mem() {
    local sock=$1
    local used current
    used="$(kamcmd -s "unix:$sock" core.shmmem | awk '$1 == "used:" { print $2 }')"
    current="$(kamcmd -s "unix:$sock" tm.stats | awk '$1 == "current:" { print $2 }')"
    echo "${used:-0} ${current:-0}"
}

HZ="$(getconf CLK_TCK)"
SERVERS=(libsip libsip-txn kamailio kamailio-fm null)
declare -A PID_OF=([libsip]=$UAS_PID [libsip-txn]=$UAS_TXN_PID [kamailio]=$KAM_PID
    [kamailio-fm]=$KAM_FM_PID [null]=$NULL_PID)
declare -A PORT_OF=([libsip]=$UAS_PORT [libsip-txn]=$UAS_TXN_PORT [kamailio]=$KAM_PORT
    [kamailio-fm]=$KAM_FM_PORT [null]=$NULL_PORT)
declare -A CTL_OF=([kamailio]="$WORK/kamailio.ctl" [kamailio-fm]="$WORK/kamailio-fm.ctl")
ANY_FAILED=0
ROWS=()
declare -A CPU_US FAILED_RUN MEM_OF

# A call's cost includes ending its transactions: libsip's last ones end 64*T1 (32 s) after
# the call, tm's after its wait timer (5 s). Each run is measured until TAIL seconds after SIPp
# stops, so that every transaction it made has ended inside the measured time (and none is
# left to end during the next run).
TAIL="${TAIL:-36}"

for transport in $TRANSPORTS; do
    for server in "${SERVERS[@]}"; do
        if [ "$WARMUP" -gt 0 ]; then
            run_sipp "${PORT_OF[$server]}" "$transport" 500 "$WARMUP" "warmup-$server-$transport"
            [ "$OK" = "$WARMUP" ] || log "warm-up against $server/$transport: $OK of $WARMUP"
        fi
    done
    sleep "$TAIL"
    for rate in $RATES; do
        for server in "${SERVERS[@]}"; do
            pid=${PID_OF[$server]} port=${PORT_OF[$server]}
            kill -0 "$pid" 2>/dev/null || die "$server exited (see $WORK)"
            mem0=
            [ -n "${CTL_OF[$server]:-}" ] && mem0="$(kam_mem "${CTL_OF[$server]}")"
            drops0="$(udp_drops)"
            before="$(cpu_ticks "$pid")"
            before_ns="$(cpu_ns "$pid")"
            run_sipp "$port" "$transport" "$rate" "$COUNT" "$server-$transport-$rate"
            drops1="$(udp_drops)"
            if [ -n "${CTL_OF[$server]:-}" ]; then
                # Right after the run, while tm still holds the transactions of the last 5 s.
                read -r used0 cur0 <<<"$mem0"
                read -r used1 cur1 <<<"$(kam_mem "${CTL_OF[$server]}")"
                if [ "$cur1" -gt "$cur0" ]; then
                    MEM_OF[$server]=$(((used1 - used0) / (cur1 - cur0)))
                fi
                log "$server: shm used $used0 -> $used1 bytes, transactions $cur0 -> $cur1"
            elif [ "$server" = libsip ] || [ "$server" = libsip-txn ]; then
                log "$server: resident $(rss_kib "$pid") KiB right after the run"
            fi
            sleep "$TAIL"
            after="$(cpu_ticks "$pid")"
            after_ns="$(cpu_ns "$pid")"
            record_run call "$server" "$transport" "$rate" $((after - before)) \
                $((after_ns - before_ns)) $((drops1 - drops0))
        done
    done
done

KAM_VERSION="$(kamailio -v | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p')"
declare -A NAME_OF=([libsip]="libsip sip-uas (UA layer)"
    [libsip-txn]="libsip sip-uas-txn (transaction layer)" [kamailio]="Kamailio $KAM_VERSION tm, qm (default)"
    [kamailio-fm]="Kamailio $KAM_VERSION tm, -x fm"
    [null]="null-uas (fixed text, no SIP work: the floor)")
results_table "calls/s" call
echo
echo "Memory per live transaction:"
echo
echo "| Server | Bytes per transaction | How |"
echo "|---|---:|---|"
"$TXN_MEM" 20000 >"$WORK/txn-mem.txt"
awk -F': ' '/^INVITE/ { sub(/ bytes/, "", $2); print "| libsip, INVITE server transaction in Accepted (200 with SDP kept) | " $2 " | bench/txn-mem: heap in use / transactions |" }
    /^non-INVITE/ { sub(/ bytes/, "", $2); print "| libsip, non-INVITE server transaction in Completed | " $2 " | bench/txn-mem |" }' "$WORK/txn-mem.txt"
for server in kamailio kamailio-fm; do
    [ -n "${MEM_OF[$server]:-}" ] &&
        echo "| ${NAME_OF[$server]} | ${MEM_OF[$server]} | shared memory in use / tm's live transactions after the last run |"
done
echo
echo "$COUNT calls per run, $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), pinning: ${SRV_PIN[*]:-none}, CLK_TCK $HZ; $(uname -r); $(sipp -v 2>/dev/null | sed -n 's/^ *\(SIPp v[^ ]*[^ .]\).*/\1/p' | head -n 1)."
exit "$ANY_FAILED"
