#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/reg: registrations against Kamailio's registrar on 127.0.0.1 (registrar, usrloc in
# memory, auth_db on a copy of tests/interop/kamailio/db; -A ANY_AOR lets the one subscriber
# alice register every AOR u<i>@example.com).
#
#   1. REGISTER with digest: N registrations at a rate, each challenged (401 + the authorised
#      REGISTER: reg-load --challenge-each drops the cached nonce before each), the rate reached
#      and the client's CPU per registration; with MD5 and with SHA-256.
#      SIPp runs the same MD5 exchange as the peer client, its CPU measured the same way.
#   2. 10,000 registrations from one process (one UA, one socket) granted 60 s, so refreshed
#      every 30 s, held for HOLD seconds: refreshes, failures and missed refreshes (a 2xx later
#      than the previous grant's expiry).
#
# usage: bench/reg/run-reg-bench.sh [BUILD_DIR]   (env: N=20000 RATE=2000 HOLD_N=10000 HOLD=120
#                                                  PORT=25600)
# Run it on an otherwise idle machine; the figures go in docs/PERFORMANCE.md.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$ROOT/build}
LOAD=$BUILD/bench/reg-load
N=${N:-20000}
RATE=${RATE:-2000}
HOLD_N=${HOLD_N:-10000}
HOLD=${HOLD:-120}
PORT=${PORT:-25600}
[ -x "$LOAD" ] || { echo "build reg-load first (cmake --build $BUILD --target reg-load)"; exit 1; }
command -v kamailio >/dev/null || { echo "kamailio not found (Debian: kamailio)"; exit 1; }
WORK=$(mktemp -d)
KPID=
# Kamailio runs in a session (and process group) of its own, KPID leading it, so that its forked
# workers are stopped with it: SIGTERM to the group, up to 5 s for every process of it to end,
# then SIGKILL to the group.
kill_kamailio() {
    [ -n "$KPID" ] || return 0
    kill -TERM "-$KPID" 2>/dev/null || true
    i=0
    while [ $i -lt 50 ] && ps -o stat= -s "$KPID" | grep -qv '^Z'; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "-$KPID" 2>/dev/null || true
    wait "$KPID" 2>/dev/null || true
    KPID=
}
cleanup() {
    kill_kamailio
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

start_kamailio() { # $1: extra -A define or ""
    cp -r "$ROOT/tests/interop/kamailio/db" "$WORK/db-$PORT"
    # shellcheck disable=SC2086
    setsid kamailio -f "$ROOT/tests/interop/kamailio/kamailio-reg.cfg" -A "KAM_PORT=$PORT" \
        -A "DB_URL=\"text://$WORK/db-$PORT\"" -A ANY_AOR $1 -DD -E -m 512 -M 16 \
        >"$WORK/kamailio-$PORT.log" 2>&1 &
    KPID=$!
    sleep 2
}
stop_kamailio() {
    kill_kamailio
    PORT=$((PORT + 1))
}

# The peer's client on the same registrar, same rate: SIPp's MD5 digest REGISTER; its CPU (user +
# system of the sipp process, from wait4) per registration.
start_kamailio ""
echo "== SIPp client, MD5: $N registrations at $RATE/s, each challenged"
/usr/bin/python3 - "$N" "$RATE" "$PORT" "$HERE/sipp_register_auth.xml" "$WORK" <<'PYEOF'
import os, re, subprocess, sys
n, rate, port, scen, work = sys.argv[1:]
log = os.path.join(work, "sipp-reg.log")
with open(log, "w") as out:
    p = subprocess.Popen(["sipp", "-sf", scen, "-m", n, "-r", rate, "-t", "u1", "-nostdin",
                          "-buff_size", "4194304", "-timeout", "120s", "-trace_stat", "-fd", "1",
                          "-stf", os.path.join(work, "sipp-reg.csv"), "127.0.0.1:" + port],
                         stdout=out, stderr=subprocess.STDOUT, cwd=work)
    _, status, ru = os.wait4(p.pid, 0)
text = open(log, errors="replace").read()
ok = re.search(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", text)
bad = re.search(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", text)
good = int(ok.group(1)) if ok else 0
print("registered: %d, failed: %s" % (good, bad.group(1) if bad else "?"))
if good:
    print("cpu per registration: %.1f us (user+system, sipp)"
          % ((ru.ru_utime + ru.ru_stime) * 1e6 / good))
PYEOF
stop_kamailio

for algo in MD5 SHA-256; do
    if [ "$algo" = SHA-256 ]; then start_kamailio "-A WITH_SHA256"; else start_kamailio ""; fi
    echo "== $algo: $N registrations at $RATE/s, each challenged"
    "$LOAD" "sip:127.0.0.1:$PORT" --count "$N" --rate "$RATE" --expires 3600 --duration 0 \
        --user alice --password secret --challenge-each || true
    stop_kamailio
done

start_kamailio ""
echo "== $HOLD_N registrations granted 60 s, held $HOLD s"
"$LOAD" "sip:127.0.0.1:$PORT" --count "$HOLD_N" --rate 2000 --expires 60 --duration "$HOLD" \
    --user alice --password secret
stop_kamailio
