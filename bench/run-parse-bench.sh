#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds parse-bench in Release (-O2), runs it pinned to CPU 1 and prints the Markdown table for
# docs/PERFORMANCE.md. Arguments go to parse-bench (e.g. --quick). BUILD_DIR picks the build tree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-parse-bench}"
CORPUS="$ROOT/bench/corpus"

# CMake's Release means -O3; the comparison is made at -O2, the level distributions build with.
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DLIBSIP_BENCH=ON -DLIBSIP_TESTS=OFF -DLIBSIP_SANITIZE=OFF -DLIBSIP_FUZZ=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2 --target parse-bench >/dev/null
BIN="$BUILD_DIR/bench/parse-bench"
if [ ! -x "$BIN" ]; then
    echo "run-parse-bench: $BIN was not built (a peer library is missing? see cmake's warning)" >&2
    exit 1
fi

# Pin to one CPU so the scheduler does not move the loop between caches mid-measurement.
PIN=()
if command -v taskset >/dev/null && taskset -c 1 true 2>/dev/null; then
    PIN=(taskset -c 1)
else
    echo "run-parse-bench: taskset -c 1 unavailable; running unpinned" >&2
fi

OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
rc=0
"${PIN[@]}" "$BIN" "$@" >"$OUT" || rc=$?
cat "$OUT"
echo

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
cc="$(sed -n 's/^CMAKE_C_COMPILER:[^=]*=//p' "$BUILD_DIR/CMakeCache.txt")"
ver() { pkg-config --modversion "$1" 2>/dev/null || echo "?"; }
echo "Measured on ${cpu:-an unknown CPU}, pinned with \`${PIN[*]:-no pinning}\`," \
    "$("$cc" --version | head -n 1), -O2;" \
    "oSIP2 $(ver libosip2), Sofia-SIP $(ver sofia-sip-ua), libre $(ver libre) (Debian packages)."
echo

# One row per message: ns per message for each library, then how many times longer the fastest
# peer takes than libsip (above 1: libsip is faster).
how="median of 3 timed runs of about 0.3 s each"
case " $* " in *" --quick "*) how="--quick: a smoke run, too short to quote" ;; esac
awk -v corpus="$CORPUS" -v how="$how" '
$1 == "parse" { ns[$2 "," $3] = $4 }
END {
    split("invite register ok200 ringing180 options", types, " ")
    split("libsip osip2 sofia libre memchr", libs, " ")
    printf "| Message | Bytes | libsip | oSIP2 | Sofia-SIP | libre | memchr scan |"
    print " fastest peer / libsip |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|"
    for (t = 1; t <= 5; t++) {
        type = types[t]
        cmd = "wc -c < \"" corpus "/" type ".sip\""
        bytes = "?"
        cmd | getline bytes
        close(cmd)
        row = "| " type " | " bytes+0
        for (l = 1; l <= 5; l++) {
            k = libs[l] "," type
            row = row " | " ((k in ns) ? sprintf("%.0f", ns[k]) : "—")
        }
        best = ""
        for (l = 2; l <= 4; l++) {
            k = libs[l] "," type
            if ((k in ns) && (best == "" || ns[k] < best))
                best = ns[k]
        }
        k = "libsip," type
        ratio = (best != "" && (k in ns) && ns[k] > 0) ? sprintf("%.2f×", best / ns[k]) : "—"
        print row " | " ratio " |"
    }
    print ""
    print "Figures are nanoseconds per message (" how ")."
}' "$OUT"

if [ "$rc" -ne 0 ]; then
    echo "run-parse-bench: parse-bench exited with $rc; the table is incomplete" >&2
fi
exit "$rc"
