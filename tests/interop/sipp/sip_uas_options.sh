#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sip-uas against SIPp on loopback: OPTIONS over UDP and TCP must all succeed, the program's
# flags and exit codes must hold, and SIGTERM must end it cleanly.
set -euo pipefail
uas=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

grep -q -- "--listen" <<<"$("$uas" --help)" || fail "--help does not describe --listen"
set +e
"$uas" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no --listen must exit 2"
"$uas" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option must exit 2"
"$uas" --listen nonsense:1 >/dev/null 2>&1; [ $? -eq 1 ] || fail "bad listening point must exit 1"
set -e

# A free port for both transports: bind UDP and TCP to the same number. ctest gives each
# program its own range (INTEROP_PORT), so that the two cases of this script run in parallel
# never probe the same ports.
port=$(python3 -c 'import socket, sys
base = int(sys.argv[1])
for p in range(base, base + 500):
    u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t=socket.socket()
    try:
        u.bind(("127.0.0.1", p)); t.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: u.close(); t.close()' "${INTEROP_PORT:-20000}")
"$uas" --listen udp:127.0.0.1:$port --listen tcp:127.0.0.1:$port --stateless -v \
    >"$work/uas.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
    grep -q "listening on tcp" "$work/uas.log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "listening on tcp:127.0.0.1:$port" "$work/uas.log" ||
    { cat "$work/uas.log" >&2; fail "sip-uas did not start"; }

for t in u1 t1; do
    (cd "$work" && timeout 60 sipp -sf "$here/options.xml" -t $t -m 200 -r 200 -nostdin \
        -timeout 30s -buff_size 4194304 127.0.0.1:$port >"$work/sipp-$t.log" 2>&1) ||
        { cat "$work/sipp-$t.log" >&2; fail "SIPp over $t failed"; }
    grep -Eq "Successful call +\| +[0-9]+ +\| +200 " "$work/sipp-$t.log" ||
        { tail -30 "$work/sipp-$t.log" >&2; fail "not every OPTIONS over $t was answered"; }
done
kill -TERM "$pid"
wait "$pid" || fail "sip-uas exited non-zero after SIGTERM"
pid=
grep -q "^400 requests$" "$work/uas.log" || { cat "$work/uas.log" >&2; fail "request count"; }
grep -q "^OPTIONS from udp:127.0.0.1:" "$work/uas.log" || fail "-v line for UDP"
grep -q "^OPTIONS from tcp:127.0.0.1:" "$work/uas.log" || fail "-v line for TCP"
echo "sip-uas: 200 OPTIONS over UDP and 200 over TCP answered"
