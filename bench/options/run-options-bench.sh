#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stateless OPTIONS benchmark: SIPp sends OPTIONS at a fixed rate to sip-uas --stateless and to
# Kamailio (sl_send_reply) over UDP and TCP on loopback; prints each server's CPU time per request
# as the Markdown table of docs/PERFORMANCE.md. Exits 1 when any run had a failed request.
# Kamailio runs twice: with its default memory manager (qm, which keeps debugging records) and
# with -x fm (the fast one), since the allocator alone moves its figure by a third.
#
# Environment (all optional):
#   RATES="2000 4000"   requests per second, one run per rate, server and transport
#   COUNT=45000         requests per run
#   WARMUP=2000         requests sent (not measured) before each server's first run on a transport
#   TRANSPORTS="udp tcp"
#   SIP_UAS=path        use this sip-uas instead of building build-bench/tools/sip-uas/sip-uas
#   BUILD_DIR=dir       build tree for sip-uas (default build-bench)
#   UAS_PORT=15072 KAM_PORT=15071 KAM_FM_PORT=15073 SIPP_PORT=15090   loopback ports
#   PIN=1               pin the servers to CPU 1 and SIPp to CPU 0 (default: no pinning)
#   KEEP=1              keep the work directory (SIPp statistics, server logs)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RATES="${RATES:-2000 4000}"
COUNT="${COUNT:-45000}"
WARMUP="${WARMUP:-2000}"
TRANSPORTS="${TRANSPORTS:-udp tcp}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
UAS_PORT="${UAS_PORT:-15072}"
KAM_PORT="${KAM_PORT:-15071}"
KAM_FM_PORT="${KAM_FM_PORT:-15073}"
SIPP_PORT="${SIPP_PORT:-15090}"
PIN="${PIN:-0}"
IP=127.0.0.1

log() { echo "run-options-bench: $*" >&2; }
die() { log "$*"; exit 2; }
# shellcheck source=../lib/procstat.sh
. "$HERE/../lib/procstat.sh"

for tool in sipp kamailio ss; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: sip-tester, kamailio, iproute2)"
done

if [ -z "${SIP_UAS:-}" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLIBSIP_TESTS=OFF >/dev/null
    cmake --build "$BUILD_DIR" -j2 --target sip-uas >/dev/null
    SIP_UAS="$BUILD_DIR/tools/sip-uas/sip-uas"
fi
[ -x "$SIP_UAS" ] || die "$SIP_UAS is not an executable"

WORK="$(mktemp -d /tmp/options-bench.XXXXXX)"
SERVER_PIDS=()
OWN_PATTERNS=("$HERE/kamailio-options.cfg" "$SIP_UAS")

# Stops the servers started here and removes the work directory.
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

# Leftovers from an earlier run would make the servers fail to bind or SIPp talk to the wrong one.
ports_free "$UAS_PORT" "$KAM_PORT" "$KAM_FM_PORT" "$SIPP_PORT"

"${SRV_PIN[@]}" "$SIP_UAS" --listen "udp:$IP:$UAS_PORT" --listen "tcp:$IP:$UAS_PORT" \
    --stateless >"$WORK/sip-uas.log" 2>&1 &
UAS_PID=$!
SERVER_PIDS+=("$UAS_PID")
# -DD: stay in the foreground (the pid here is Kamailio's main process); -E: log to stderr.
# -m/-M: 64 MiB shared and 8 MiB private memory, plenty for stateless replies.
start_kamailio() {
    local port=$1 tag=$2
    shift 2
    "${SRV_PIN[@]}" kamailio -f "$HERE/kamailio-options.cfg" -A "KAM_PORT=$port" -DD -E \
        -m 64 -M 8 "$@" >"$WORK/$tag.log" 2>&1 &
    KAM_STARTED=$!
    SERVER_PIDS+=("$KAM_STARTED")
}
start_kamailio "$KAM_PORT" kamailio
KAM_PID=$KAM_STARTED
start_kamailio "$KAM_FM_PORT" kamailio-fm -x fm -X fm
KAM_FM_PID=$KAM_STARTED
wait_listening "$UAS_PORT" sip-uas
wait_listening "$KAM_PORT" kamailio
wait_listening "$KAM_FM_PORT" "kamailio -x fm"
sleep 0.5

# One SIPp run; sets SENT, OK, FAILED, ELAPSED_S and SIPP_RC; its statistics go to $WORK.
run_sipp() {
    local port=$1 transport=$2 rate=$3 count=$4 tag=$5
    local t=u1
    [ "$transport" = tcp ] && t=t1
    local stat="$WORK/$tag.csv"
    local limit=$((count / rate + 30))
    rm -f "$stat"
    SIPP_RC=0
    # -nr: no UDP retransmission, so a lost request or answer is a failed call, not a hidden
    # retry. -timeout bounds the run; timeout(1) bounds SIPp itself should it hang.
    timeout $((limit + 15)) "${SIPP_PIN[@]}" sipp "$IP:$port" -sf "$HERE/options.xml" \
        -i "$IP" -p "$SIPP_PORT" -t "$t" -r "$rate" -rp 1000 -m "$count" -l $((rate * 5)) \
        -buff_size 4194304 -nr -nostdin -trace_stat -stf "$stat" -fd 3600 \
        -timeout "${limit}s" -timeout_error >"$WORK/$tag.screen" 2>&1 || SIPP_RC=$?
    if [ ! -s "$stat" ]; then
        SENT=0 OK=0 FAILED=$count ELAPSED_S=0
        return
    fi
    read -r SENT OK FAILED ELAPSED_S < <(sipp_totals "$stat")
}

HZ="$(getconf CLK_TCK)"
SERVERS=(libsip kamailio kamailio-fm)
declare -A PID_OF=([libsip]=$UAS_PID [kamailio]=$KAM_PID [kamailio-fm]=$KAM_FM_PID)
declare -A PORT_OF=([libsip]=$UAS_PORT [kamailio]=$KAM_PORT [kamailio-fm]=$KAM_FM_PORT)
ANY_FAILED=0
ROWS=()
declare -A CPU_US FAILED_RUN

for transport in $TRANSPORTS; do
    for server in "${SERVERS[@]}"; do
        port=${PORT_OF[$server]}
        if [ "$WARMUP" -gt 0 ]; then
            run_sipp "$port" "$transport" 1000 "$WARMUP" "warmup-$server-$transport"
            [ "$OK" = "$WARMUP" ] || log "warm-up against $server/$transport: $OK of $WARMUP answered"
        fi
    done
    for rate in $RATES; do
        for server in "${SERVERS[@]}"; do
            pid=${PID_OF[$server]} port=${PORT_OF[$server]}
            kill -0 "$pid" 2>/dev/null || die "$server exited (see $WORK)"
            drops0="$(udp_drops)"
            before="$(cpu_ticks "$pid")"
            before_ns="$(cpu_ns "$pid")"
            run_sipp "$port" "$transport" "$rate" "$COUNT" "$server-$transport-$rate"
            after="$(cpu_ticks "$pid")"
            after_ns="$(cpu_ns "$pid")"
            drops1="$(udp_drops)"
            record_run request "$server" "$transport" "$rate" $((after - before)) \
                $((after_ns - before_ns)) $((drops1 - drops0))
        done
    done
done

KAM_VERSION="$(kamailio -v | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p')"
declare -A NAME_OF=([libsip]="libsip sip-uas" [kamailio]="Kamailio $KAM_VERSION, qm (default)"
    [kamailio-fm]="Kamailio $KAM_VERSION, -x fm")
results_table "req/s" request
echo
echo "$COUNT requests per run at each rate, $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), pinning: ${SRV_PIN[*]:-none}, CLK_TCK $HZ;" \
    "net.core.rmem_max $(cat /proc/sys/net/core/rmem_max), rmem_default $(cat /proc/sys/net/core/rmem_default)," \
    "wmem_max $(cat /proc/sys/net/core/wmem_max); $(uname -r); $(sipp -v 2>/dev/null | sed -n 's/^ *\(SIPp v[^ ]*[^ .]\).*/\1/p' | head -n 1)."
exit "$ANY_FAILED"
