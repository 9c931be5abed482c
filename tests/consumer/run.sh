#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs a build tree into a fresh prefix, then builds and runs tests/consumer against it twice:
# with pkg-config + the C compiler, and as a CMake project using find_package(libsip).
# usage: run.sh BUILD_DIR WORK_DIR CC VERSION [EXTRA_CFLAGS]
set -euo pipefail

build=$1
work=$2
cc=$3
version=$4
extra=${5:-}
CMAKE=${CMAKE:-cmake}
here=$(cd "$(dirname "$0")" && pwd)
headers=$(cd "$here/../../libsip/include/sip" && pwd)

fail() { echo "install_consumer: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
"$CMAKE" --install "$build" --prefix "$prefix" >"$work/install.log" || {
    cat "$work/install.log" >&2; fail "cmake --install failed"; }

# Layout: every public header, the versioned shared library, the archive, both package files.
for h in "$headers"/*.h; do
    [ -f "$prefix/include/sip/$(basename "$h")" ] || fail "header $(basename "$h") not installed"
done
[ -f "$prefix/include/sip/sip.h" ] || fail "umbrella header sip/sip.h not installed"
libdir=$(dirname "$(find "$prefix" -name "libsip.so.$version" -print -quit)")
[ -f "$libdir/libsip.so.$version" ] || fail "libsip.so.$version not installed"
[ "$(readlink "$libdir/libsip.so.${version%%.*}")" = "libsip.so.$version" ] ||
    fail "libsip.so.${version%%.*} does not point at libsip.so.$version"
[ "$(readlink "$libdir/libsip.so")" = "libsip.so.${version%%.*}" ] || fail "no libsip.so link"
[ -f "$libdir/libsip.a" ] || fail "libsip.a not installed"
soname=$(objdump -p "$libdir/libsip.so.$version" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "libsip.so.${version%%.*}" ] || fail "SONAME is '$soname'"
pc=$(find "$prefix" -name libsip.pc -print -quit)
[ -n "$pc" ] || fail "libsip.pc not installed"
[ -n "$(find "$prefix" -name libsipConfig.cmake -print -quit)" ] || fail "no libsipConfig.cmake"
[ -n "$(find "$prefix" -name libsipConfigVersion.cmake -print -quit)" ] ||
    fail "no libsipConfigVersion.cmake"
# The installed tools find the library through their RPATH, without LD_LIBRARY_PATH.
for tool in sip-parse sip-uas sip-uas-txn sip-uac; do
    "$prefix/bin/$tool" --help >/dev/null || fail "installed $tool does not run"
done
# sipd, the server: installed with the tools.
"$prefix/bin/sipd" --help >/dev/null || fail "installed sipd does not run"
[ "$("$prefix/bin/sipd" --version)" = "sipd $version" ] || fail "installed sipd --version"

# 1. pkg-config and the compiler, as a Makefile would.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
[ "$(pkg-config --modversion libsip)" = "$version" ] || fail "pkg-config version mismatch"
[ "$(pkg-config --variable=prefix libsip)" = "$prefix" ] || fail "libsip.pc has the wrong prefix"
# shellcheck disable=SC2046,SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $extra $(pkg-config --cflags libsip) \
    -o "$work/consumer_pc" "$here/consumer.c" $(pkg-config --libs libsip)
LD_LIBRARY_PATH=$libdir "$work/consumer_pc" || fail "pkg-config consumer failed"

# 2. A CMake project with find_package(libsip REQUIRED); shared and static targets.
"$CMAKE" -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $extra" \
    >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; fail "consumer configure failed"; }
"$CMAKE" --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 ||
    { cat "$work/cmake.log" >&2; fail "consumer build failed"; }
LD_LIBRARY_PATH=$libdir "$work/cmake-build/consumer" || fail "CMake consumer (shared) failed"
"$work/cmake-build/consumer_static" || fail "CMake consumer (static) failed"
# The static one must not need libsip.so at run time.
if objdump -p "$work/cmake-build/consumer_static" | grep -q 'NEEDED.*libsip'; then
    fail "consumer_static links libsip.so"
fi
echo "install_consumer: ok"
