#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install every build, test and benchmark dependency from Debian's packages (idempotent).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config ninja-build clang clang-format libclang-rt-14-dev llvm
  libuv1-dev libssl-dev libc-ares-dev libwslay-dev libsqlite3-dev
  swig python3-dev python3-pytest python3-websockets liblua5.4-dev lua5.4 lua-socket
  libcmocka-dev valgrind
  libosip2-dev libsofia-sip-ua-dev libre-dev
  sip-tester kamailio kamailio-sqlite-modules tshark dnsmasq-base openssl sipsak
  libyaml-dev libmicrohttpd-dev curl sipvicious kamailio-python3-modules kamailio-lua-modules
  systemd
  libhiredis-dev redis-server kamailio-redis-modules
)

missing=()
for p in "${PKGS[@]}"; do
  # dpkg-query is fast; only call apt when something is really missing.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
