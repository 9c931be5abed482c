#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions per parse, print and forward of each corpus message: callgrind on 1000 and on 2000
# rounds of msg-icount, the difference divided by 1000 (start-up cancels out). Load-independent,
# so two versions compare exactly on a busy machine; check wall time afterwards with parse-bench.
# BUILD_DIR picks the build tree (built at -O2 like run-parse-bench.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-parse-bench}"
command -v valgrind >/dev/null || { echo "run-msg-icount: valgrind is needed" >&2; exit 1; }
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DLIBSIP_BENCH=ON -DLIBSIP_TESTS=OFF -DLIBSIP_SANITIZE=OFF -DLIBSIP_FUZZ=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target msg-icount >/dev/null
BIN="$BUILD_DIR/bench/msg-icount"

count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

echo "| Message | parse | print | forward (parse, Via, Max-Forwards, print) |"
echo "|---|---:|---:|---:|"
for t in invite register ok200 ringing180 options; do
    f="$ROOT/bench/corpus/$t.sip"
    row="| $t"
    for mode in parse print fwd; do
        a=$(count "$mode" "$f" 1000)
        b=$(count "$mode" "$f" 2000)
        row="$row | $(((b - a) / 1000))"
    done
    echo "$row |"
done
