#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what is missing (scripts/deps.sh), builds Release into build/, and runs `sipd --demo`:
# two libsip user agents (alice and bob) register with sipd and call each other through it, the
# call's ladder is printed, and sipd then keeps serving on its embedded defaults (udp and tcp on
# 127.0.0.1:5060, domain localhost, bindings in memory) until Ctrl-C. Other sipd arguments may be
# given instead of the demo (docs/SIPD.md).
#   usage: scripts/sipd.sh [sipd arguments...]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${JOBS:-2}" --target sipd >/dev/null

if [ $# -eq 0 ]; then
    set -- --demo
fi
exec build/tools/sipd/sipd "$@"
