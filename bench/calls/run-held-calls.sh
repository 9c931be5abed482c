#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Held calls: SIPp's built-in uac scenario places CALLS calls at RATE calls/s against sip-uas
# (libsip's UA layer) and keeps each up for HOLD seconds (-d) before its BYE, so that CALLS calls
# are established at once. Prints sip-uas's resident memory idle and with every call up, the
# memory per established call, and the calls completed and failed. Exits 1 when a call failed.
# Asserts no timing.
#
# Environment (all optional):
#   CALLS=100000  RATE=2000  HOLD=  (seconds; default: CALLS/RATE + 70)
#   BUILD_DIR=dir  Release build tree (default build-bench)   PORT=15182 SIPP_PORT=15195
#   MEDIA=1        sip-uas answers with the offer/answer engine (--media)
#   KEEP=1         keep the work directory
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CALLS="${CALLS:-100000}"
RATE="${RATE:-2000}"
HOLD="${HOLD:-$((CALLS / RATE + 70))}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
PORT="${PORT:-15182}"
SIPP_PORT="${SIPP_PORT:-15195}"
IP=127.0.0.1

log() { echo "run-held-calls: $*" >&2; }
die() { log "$*"; exit 2; }
# shellcheck source=../lib/procstat.sh
. "$HERE/../lib/procstat.sh"
command -v sipp >/dev/null || die "sipp not found (Debian: sip-tester)"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLIBSIP_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target sip-uas >/dev/null
SIP_UAS="$BUILD_DIR/tools/sip-uas/sip-uas"
[ -x "$SIP_UAS" ] || die "$SIP_UAS not built"

WORK="$(mktemp -d /tmp/held-calls.XXXXXX)"
UAS_PID=
cleanup() {
    [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null && wait "$UAS_PID" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

ports_free "$PORT" "$SIPP_PORT"
MEDIA_ARGS=()
if [ "${MEDIA:-0}" = 1 ]; then
    printf 'v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n' \
        "$IP" "$IP" >"$WORK/media.sdp"
    MEDIA_ARGS=(--media "$WORK/media.sdp")
fi
"$SIP_UAS" --listen "udp:$IP:$PORT" --listen "tcp:$IP:$PORT" "${MEDIA_ARGS[@]}" >"$WORK/sip-uas.log" 2>&1 &
UAS_PID=$!
wait_listening "$PORT" sip-uas
sleep 0.5
IDLE_KB="$(rss_kb "$UAS_PID")"

RAMP=$((CALLS / RATE + 1))
STAT="$WORK/held.csv"
(cd "$WORK" && timeout $((RAMP + HOLD + 120)) sipp "$IP:$PORT" -sn uac -i "$IP" -p "$SIPP_PORT" \
    -r "$RATE" -m "$CALLS" -l "$CALLS" -d $((HOLD * 1000)) -buff_size 4194304 -nostdin \
    -trace_stat -stf "$STAT" -fd 5 -max_socket 65000 >"$WORK/sipp.screen" 2>&1) &
SIPP_PID=$!
# Every call is placed after RAMP seconds and stays up HOLD seconds: measure in between, once
# the last call's INVITE transaction has ended too (64*T1 = 32 s after its 2xx), so that the
# figure is what established calls alone hold.
sleep $((RAMP + 40))
PEAK_KB="$(rss_kb "$UAS_PID")"
SIPP_RC=0
wait "$SIPP_PID" || SIPP_RC=$?
read -r SENT OK FAILED _ < <(sipp_totals "$STAT")
END_KB="$(rss_kb "$UAS_PID")"

PER_CALL=$(( (PEAK_KB - IDLE_KB) * 1024 / CALLS ))
echo "| calls held | rate | sip-uas RSS idle | with every call up | per call | after the BYEs | completed | failed |"
echo "|---|---|---|---|---|---|---|---|"
echo "| $CALLS | $RATE/s | $((IDLE_KB / 1024)) MiB | $((PEAK_KB / 1024)) MiB | $PER_CALL B | $((END_KB / 1024)) MiB | $OK | $FAILED |"
[ "$FAILED" = 0 ] && [ "$SIPP_RC" = 0 ] || exit 1
