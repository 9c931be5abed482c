#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the dependencies, builds Release into build/, and shows sip-parse at work: the parsed
# fields of a sample INVITE as JSON. Other files (or options) may be given instead.
#   usage: scripts/run.sh [sip-parse arguments...]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"${JOBS:-2}" >/dev/null

if [ $# -eq 0 ]; then
    set -- --json --pretty examples/messages/invite.sip
fi
exec build/tools/sip-parse/sip-parse "$@"
