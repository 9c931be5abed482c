#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole check, as CI runs it: dependencies, a Release build with its tests, the tests again
# under ASan+UBSan, a bounded libFuzzer run of every harness, a warnings-as-errors clang build and
# a formatting check.
# Ends with one line "N passed, N failed" and a non-zero status when anything failed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# The shared test data sits beside the checkout (CI clones it there too).
shared=$(cd "$root/.." && pwd)/shared
jobs=${JOBS:-2}
# 12 harnesses at 15 s each keep the whole run within CI's 20 minutes on 2 cores; the nightly
# depth comes from FUZZ_TIME.
fuzz_time=${FUZZ_TIME:-15}

passed=0
failed=0
failures=()

say() { printf '\n==> %s\n' "$*"; }
fail_item() { failed=$((failed + 1)); failures+=("$1"); echo "FAILED: $1" >&2; }

# configure_build NAME DIR [cmake args...]: configures and builds; a failure counts once.
configure_build() {
    local name=$1 dir=$2
    shift 2
    if ! cmake -S "$root" -B "$dir" "$@"; then
        fail_item "$name: configure"
        return 1
    fi
    if ! cmake --build "$dir" -j"$jobs"; then
        fail_item "$name: build"
        return 1
    fi
}

# run_ctest NAME DIR: runs the tests of a build and adds their counts to the totals.
run_ctest() {
    local name=$1 dir=$2 log
    log=$(mktemp)
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600) 2>&1 | tee "$log"
    local total fail
    total=$(sed -n 's/.*tests failed out of \([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    fail=$(sed -n 's/.* \([0-9][0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
    rm -f "$log"
    if [ -z "$total" ]; then
        # No summary: ctest itself failed, or there were no tests at all.
        fail_item "$name: ctest produced no summary"
        return
    fi
    passed=$((passed + total - fail))
    failed=$((failed + fail))
    [ "$fail" -eq 0 ] || failures+=("$name: $fail of $total tests")
}

# (a) Dependencies (Debian packages; a no-op when everything is installed).
say "dependencies"
if ! bash scripts/deps.sh; then
    echo "scripts/deps.sh failed" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# (b) Release build with the tests (and the benchmarks, which are built but not timed here).
say "Release build (build/)"
if configure_build release build -DCMAKE_BUILD_TYPE=Release -DLIBSIP_TESTS=ON \
    -DLIBSIP_WERROR=ON; then
    say "tests (build/)"
    run_ctest release build
fi

# (c) The same tests under AddressSanitizer + UndefinedBehaviorSanitizer; no benchmarks.
say "ASan+UBSan build (build-asan/)"
if configure_build asan build-asan -DCMAKE_BUILD_TYPE=Debug -DLIBSIP_SANITIZE=ON \
    -DLIBSIP_TESTS=ON -DLIBSIP_BENCH=OFF -DLIBSIP_WERROR=ON; then
    say "tests under ASan+UBSan (build-asan/)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_ctest asan build-asan
fi

# (d) libFuzzer: every harness for a bounded time, seeded from the conformance messages read in
# place; new inputs go to a fresh temporary corpus (the first directory), never into shared/.
say "fuzz build (build-fuzz/, clang)"
if configure_build fuzz build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLIBSIP_FUZZ=ON     -DLIBSIP_TESTS=OFF -DLIBSIP_BENCH=OFF -DLIBSIP_WERROR=ON; then
    seeds=("$shared/conformance/rfc4475" "$shared/conformance/rfc5118/wire")
    for s in "${seeds[@]}"; do
        [ -d "$s" ] || echo "warning: seed directory $s is missing" >&2
    done
    mkdir -p build-fuzz/artifacts
    found=0
    for fz in build-fuzz/tests/fuzz/fuzz_*; do
        [ -f "$fz" ] && [ -x "$fz" ] || continue
        found=1
        name=$(basename "$fz")
        say "fuzz $name (${fuzz_time}s)"
        corpus=$(mktemp -d)
        args=(-max_total_time="$fuzz_time" -timeout=5 -rss_limit_mb=2048
            -artifact_prefix="$root/build-fuzz/artifacts/$name-" -print_final_stats=1)
        dict=$root/tests/fuzz/$name.dict
        [ -f "$dict" ] && args+=(-dict="$dict")
        existing=()
        for s in "${seeds[@]}"; do [ -d "$s" ] && existing+=("$s"); done
        # A harness may have seeds of its own (inputs in its format, not SIP messages).
        [ -d "$root/tests/fuzz/seeds/$name" ] && existing+=("$root/tests/fuzz/seeds/$name")
        if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            "$fz" "${args[@]}" "$corpus" "${existing[@]}" >"build-fuzz/$name.log" 2>&1; then
            passed=$((passed + 1))
            grep -E '^(Done|stat::number_of_executed_units)' "build-fuzz/$name.log" || true
        else
            tail -n 60 "build-fuzz/$name.log" >&2
            fail_item "fuzz: $name (log: build-fuzz/$name.log)"
        fi
        rm -rf "$corpus"
    done
    [ "$found" -eq 1 ] || echo "no fuzz harnesses in tests/fuzz/ yet"
fi

# (e) clang, warnings as errors in the library and tools (the fuzz build above is clang too, but
# instrumented; this one is the plain optimised build a clang user gets).
say "clang build (build-clang/)"
# The library, the tools and the bindings (the tests are compiled by gcc in b and c; leaving
# them out here keeps the run within CI's 20 minutes).
configure_build clang build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release \
    -DLIBSIP_TESTS=OFF -DLIBSIP_BENCH=OFF -DLIBSIP_WERROR=ON || true

# (f) Formatting: the library and the tools follow the project's .clang-format (clang-format 14,
# Debian's). One check, failing with the files that differ and how to fix them.
say "formatting (clang-format)"
unformatted=()
while IFS= read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done < <(git ls-files 'libsip/*.c' 'libsip/*.h' 'tools/*.c' 'tools/*.h')
if [ ${#unformatted[@]} -eq 0 ]; then
    passed=$((passed + 1))
    echo "every library and tool source is formatted"
else
    printf '  %s\n' "${unformatted[@]}" >&2
    echo "run: clang-format -i ${unformatted[*]}" >&2
    fail_item "format: ${#unformatted[@]} file(s) differ from .clang-format"
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "failures:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
