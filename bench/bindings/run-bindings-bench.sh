#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bindings benchmark: the Python and Lua modules against C, in one run on one machine.
#  1. parse: ns per message of Message.parse (and of reading method, Call-ID, top Via branch)
#     on bench/corpus/{invite,options}.sip, against bench/parse-bench --lib libsip;
#  2. callbacks: ns per sip_loop_post and per posted callback run (C into the script and back),
#     against the same in C (callback_bench.c);
#  3. OPTIONS responders under SIPp (bench/options/options.xml), UDP and TCP: tools/sip-uas
#     --stateless, examples/python/options_responder.py (as it is, and with its per-request log
#     line off) and examples/lua/options_responder.lua; CPU time per request from
#     /proc/PID/stat utime+stime over the run.
# Prints Markdown tables. Exits 1 when any SIPp run had a failed request. Asserts no timing.
#
# Environment (all optional):
#   BUILD_DIR=dir      Release build tree (default build-bindbench; configured and built here)
#   RATES="2000 4000"  a script responder runs the higher rate only if it had no failure below
#   COUNT=20000        requests per SIPp run        WARMUP=1000  unmeasured requests first
#   TRANSPORTS="udp tcp"   QUICK=1 (tiny counts: a smoke run, figures mean little)
#   PROFILE=1          also a short cProfile run of the Python responder (UDP)
#   BASE_PORT=25170    loopback ports BASE_PORT..BASE_PORT+5
#   KEEP=1             keep the work directory
#   PY_PACKAGE_DIR=dir the Python package's parent directory (default BUILD_DIR/bindings/python):
#                      to compare another version of the package on the same core module
#   SKIP_MICRO=1       skip parts 1 and 2 (only the SIPp runs)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bindbench}"
QUICK="${QUICK:-0}"
RATES="${RATES:-2000 4000}"
COUNT="${COUNT:-20000}"
WARMUP="${WARMUP:-1000}"
TRANSPORTS="${TRANSPORTS:-udp tcp}"
BASE_PORT="${BASE_PORT:-25170}"
PROFILE="${PROFILE:-0}"
PY=/usr/bin/python3
LUA=/usr/bin/lua5.4
IP=127.0.0.1
QFLAG=()
if [ "$QUICK" = 1 ]; then
    QFLAG=(--quick)
    COUNT=500 WARMUP=100 RATES=500
fi

log() { echo "run-bindings-bench: $*" >&2; }
die() { log "$*"; exit 2; }
# shellcheck source=../lib/procstat.sh
. "$HERE/../lib/procstat.sh"
for tool in sipp ss cc "$PY" "$LUA"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: sip-tester, iproute2, gcc)"
done

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLIBSIP_TESTS=OFF >/dev/null
# Only what this benchmark runs: the rest of the tree may be mid-edit.
cmake --build "$BUILD_DIR" -j2 --target parse-bench sip-uas sip_python sip_lua >/dev/null
PARSE_BENCH="$BUILD_DIR/bench/parse-bench"
SIP_UAS="$BUILD_DIR/tools/sip-uas/sip-uas"
[ -x "$PARSE_BENCH" ] || die "$PARSE_BENCH not built (the benchmark peers are missing?)"
[ -x "$SIP_UAS" ] || die "$SIP_UAS not built"
PY_ENV=(PYTHONPATH="${PY_PACKAGE_DIR:-$BUILD_DIR/bindings/python}" PYTHONDONTWRITEBYTECODE=1)
LUA_ENV=(LUA_CPATH="$BUILD_DIR/bindings/lua/?.so" LUA_PATH="$BUILD_DIR/bindings/lua/?.lua")

WORK="$(mktemp -d /tmp/bindings-bench.XXXXXX)"
SERVER_PIDS=()
OWN_PATTERNS=("$SIP_UAS" "$ROOT/examples/")
cleanup() {
    stop_servers
    if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1 and 2: micro-benchmarks ----------------------------------------------------------------

declare -A FIG
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.1f", a / b; else print "—" }'; }
if [ "${SKIP_MICRO:-0}" != 1 ]; then
# Lines "<kind> <lang> <variant> <what> <ns>" (parse-bench's "parse libsip <type> <ns>" too).
collect() {
    local a b c d e
    while read -r a b c d e; do
        if [ "$a" = parse ] && [ "$b" = libsip ]; then
            FIG["parse/c/core/$c"]=$d
        elif [ -n "$e" ]; then
            FIG["$a/$b/$c/$d"]=$e
        fi
    done
}
log "parse: C (parse-bench)"
for type in invite options; do
    collect < <("$PARSE_BENCH" --lib libsip --type "$type" "${QFLAG[@]}")
done
log "parse and callbacks: Python"
collect < <(env "${PY_ENV[@]}" "$PY" "$HERE/micro_bench.py" "$ROOT/bench/corpus" "${QFLAG[@]}")
log "parse and callbacks: Lua"
collect < <(env "${LUA_ENV[@]}" "$LUA" "$HERE/micro_bench.lua" "$ROOT/bench/corpus" "${QFLAG[@]}")
log "callbacks: C"
cc -O2 -std=c11 -Wall -Wextra -I"$ROOT/libsip/include" "$HERE/callback_bench.c" \
    -o "$WORK/callback-bench" "$BUILD_DIR/libsip/libsip.so" -Wl,-rpath,"$BUILD_DIR/libsip"
collect < <("$WORK/callback-bench" "${QFLAG[@]}")


echo "### Parse (ns per message, median of 3)"
echo
echo "| Language | What | invite.sip | × C | options.sip | × C |"
echo "|---|---|---:|---:|---:|---:|"
echo "| C | sip_msg_parse + sip_msg_unref (parse-bench) | ${FIG[parse/c/core/invite]:-—} | 1.0 | ${FIG[parse/c/core/options]:-—} | 1.0 |"
for lang in python lua; do
    for v in core parse parse+fields; do
        case "$v" in
            core) what="flat core: sip_msg_parse + sip_msg_unref" ;;
            parse) what="Message.parse(data)" ;;
            *) what="Message.parse + method, Call-ID, top Via branch" ;;
        esac
        i="${FIG[parse/$lang/$v/invite]:-}" o="${FIG[parse/$lang/$v/options]:-}"
        echo "| ${lang^} | $what | ${i:-—} | $(ratio "$i" "${FIG[parse/c/core/invite]:-}") | ${o:-—} | $(ratio "$o" "${FIG[parse/c/core/options]:-}") |"
    done
done
echo
echo "### Callbacks (ns per callback, median of 3 batches)"
echo
echo "| Language | Layer | sip_loop_post (into C) | × C | posted callback run (C into script and back) | × C |"
echo "|---|---|---:|---:|---:|---:|"
cp="${FIG[callback/c/core/post]:-}" cr="${FIG[callback/c/core/run]:-}"
echo "| C | sip_loop_post | ${cp:-—} | 1.0 | ${cr:-—} | 1.0 |"
for lang in python lua; do
    for v in core package; do
        p="${FIG[callback/$lang/$v/post]:-}" r="${FIG[callback/$lang/$v/run]:-}"
        what="flat core (_core.sip_loop_post)"
        [ "$v" = package ] && what="package (loop.post)"
        [ "$lang" = lua ] && [ "$v" = core ] && what="flat core (libsip_core.sip_loop_post)"
        [ "$lang" = lua ] && [ "$v" = package ] && what="package (loop:post)"
        echo "| ${lang^} | $what | ${p:-—} | $(ratio "$p" "$cp") | ${r:-—} | $(ratio "$r" "$cr") |"
    done
done
echo
fi

# ---- 3: OPTIONS responders under SIPp -----------------------------------------------------------

SIPP_PORT=$((BASE_PORT + 5))
declare -A PORT_OF=([c]=$BASE_PORT [python]=$((BASE_PORT + 1)) [python-quiet]=$((BASE_PORT + 2))
    [lua]=$((BASE_PORT + 3)))
ports_free "${PORT_OF[@]}" "$SIPP_PORT" $((BASE_PORT + 4))



declare -A PID_OF
start_server() {
    local name=$1 port=${PORT_OF[$1]}
    local l=(--listen "udp:$IP:$port" --listen "tcp:$IP:$port")
    case "$name" in
        c) "$SIP_UAS" "${l[@]}" --stateless >"$WORK/$name.log" 2>&1 & ;;
        python) env "${PY_ENV[@]}" "$PY" "$ROOT/examples/python/options_responder.py" "${l[@]}" \
                    >"$WORK/$name.log" 2>&1 & ;;
        python-quiet) env "${PY_ENV[@]}" "$PY" "$HERE/quiet_responder.py" "${l[@]}" \
                    >"$WORK/$name.log" 2>&1 & ;;
        lua) env "${LUA_ENV[@]}" "$LUA" "$ROOT/examples/lua/options_responder.lua" "${l[@]}" \
                    >"$WORK/$name.log" 2>&1 & ;;
    esac
    PID_OF[$name]=$!
    SERVER_PIDS+=("$!")
    wait_listening "$port" "$name"
}

# One SIPp run (as bench/options/run-options-bench.sh); sets OK, FAILED, SIPP_RC.
run_sipp() {
    local port=$1 transport=$2 rate=$3 count=$4 tag=$5
    local t=u1
    [ "$transport" = tcp ] && t=t1
    local stat="$WORK/$tag.csv"
    local limit=$((count / rate + 30))
    rm -f "$stat"
    SIPP_RC=0
    # -nr: no UDP retransmission, so a lost request or answer is a failed call.
    timeout $((limit + 15)) sipp "$IP:$port" -sf "$ROOT/bench/options/options.xml" \
        -i "$IP" -p "$SIPP_PORT" -t "$t" -r "$rate" -rp 1000 -m "$count" -l $((rate * 5)) \
        -buff_size 4194304 -nr -nostdin -trace_stat -stf "$stat" -fd 3600 \
        -timeout "${limit}s" -timeout_error >"$WORK/$tag.screen" 2>&1 || SIPP_RC=$?
    if [ ! -s "$stat" ]; then
        OK=0 FAILED=$count
        return
    fi
    read -r _ OK FAILED _ < <(sipp_totals "$stat")
}

HZ="$(getconf CLK_TCK)"
SERVERS=(c python python-quiet lua)
declare -A NAME_OF=([c]="C: tools/sip-uas --stateless" [python]="Python: examples/python/options_responder.py"
    [python-quiet]="Python: the same, per-request log line off" [lua]="Lua: examples/lua/options_responder.lua")
for s in "${SERVERS[@]}"; do start_server "$s"; done
sleep 0.5

ANY_FAILED=0
ROWS=()
declare -A CPU_US FAILED_AT
for transport in $TRANSPORTS; do
    for s in "${SERVERS[@]}"; do
        run_sipp "${PORT_OF[$s]}" "$transport" 1000 "$WARMUP" "warmup-$s-$transport"
        [ "$OK" = "$WARMUP" ] || log "warm-up against $s/$transport: $OK of $WARMUP answered"
    done
    for rate in $RATES; do
        for s in "${SERVERS[@]}"; do
            if [ -n "${FAILED_AT[$s/$transport]:-}" ]; then
                log "$s $transport rate=$rate skipped: it failed at ${FAILED_AT[$s/$transport]}/s"
                ROWS+=("$s|$transport|$rate|—|—|skipped")
                continue
            fi
            pid=${PID_OF[$s]}
            kill -0 "$pid" 2>/dev/null || die "$s exited (see $WORK)"
            before="$(cpu_ticks "$pid")"
            run_sipp "${PORT_OF[$s]}" "$transport" "$rate" "$COUNT" "$s-$transport-$rate"
            after="$(cpu_ticks "$pid")"
            failed=$((COUNT - OK))
            [ "$FAILED" -gt "$failed" ] && failed=$FAILED
            us="$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$COUNT" \
                'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
            if [ "$failed" -ne 0 ] || [ "$SIPP_RC" -ne 0 ]; then
                ANY_FAILED=1
                FAILED_AT[$s/$transport]=$rate
                us="failed run ($us)"
            else
                CPU_US[$s/$transport/$rate]=$us
            fi
            log "$s $transport rate=$rate ok=$OK failed=$failed sipp_rc=$SIPP_RC cpu_ticks=$((after - before)) $us us/request"
            ROWS+=("$s|$transport|$rate|$OK|$failed|$us")
        done
    done
done

echo "### OPTIONS responders under SIPp (CPU µs per request)"
echo
echo "| Responder | Transport | Rate (req/s) | Completed | Failed | CPU µs/request | × C |"
echo "|---|---|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
    IFS='|' read -r s transport rate ok failed us <<<"$row"
    r="—"
    c="${CPU_US[c/$transport/$rate]:-}" mine="${CPU_US[$s/$transport/$rate]:-}"
    [ -n "$c" ] && [ -n "$mine" ] && r="$(ratio "$mine" "$c")"
    [ "$s" = c ] && [ -n "$mine" ] && r="1.0"
    echo "| ${NAME_OF[$s]} | ${transport^^} | $rate | $ok | $failed | $us | $r |"
done
echo
echo "$COUNT requests per run ($WARMUP unmeasured first per server and transport), $(nproc) CPUs" \
    "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), CLK_TCK $HZ, $(uname -r)," \
    "$("$PY" -V), $("$LUA" -v 2>&1 | cut -d' ' -f1-2), $(sipp -v 2>/dev/null | sed -n 's/^ *\(SIPp v[^ ]*[^ .]\).*/\1/p' | head -n 1)."

if [ "$PROFILE" = 1 ]; then
    port=$((BASE_PORT + 4))
    env "${PY_ENV[@]}" "$PY" "$HERE/profile_responder.py" --listen "udp:$IP:$port" \
        --listen "tcp:$IP:$port" >"$WORK/profile.txt" 2>"$WORK/profile.log" &
    ppid=$!
    SERVER_PIDS+=("$ppid")
    wait_listening "$port" "profiled python responder"
    n=$((QUICK == 1 ? 200 : 6000))
    run_sipp "$port" udp 1000 "$n" profile
    kill -TERM "$ppid"
    for _ in $(seq 100); do kill -0 "$ppid" 2>/dev/null || break; sleep 0.1; done
    echo
    echo "### cProfile of the Python responder ($n OPTIONS over UDP at 1000/s; $OK answered)"
    echo
    echo '```'
    sed -n '/Ordered by/,$p' "$WORK/profile.txt" | sed -e 's/[[:space:]]*$//' -e '/^$/d' | cut -c1-150
    echo '```'
fi
exit "$ANY_FAILED"
