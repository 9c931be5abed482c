#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sip-uac against sip-uas on loopback over TLS, WS and WSS; sip-uac locating sip-uas by name
# through a local dnsmasq (RFC 3263 NAPTR and SRV, the certificate checked against the SIP
# domain) and failing over from a dead SRV target; sip-uas --tls-verify-client refusing a client
# without a certificate; IPv6 listening points logged in brackets.
# usage: uac_uas_transports.sh SIP-UAC SIP-UAS
set -euo pipefail
uac=$1
uas=$2
py=/usr/bin/python3
[ -x "$py" ] || py=python3
dnsmasq=/usr/sbin/dnsmasq
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$dnsmasq" ] || fail "$dnsmasq is missing (Debian package dnsmasq-base)"
command -v openssl >/dev/null || fail "openssl is missing"

# ---- usage ----------------------------------------------------------------------------------
"$uac" --help >"$work/help" || fail "sip-uac --help must exit 0"
for flag in --transport --dns-server --tls-ca --tls-cert --tls-key sips: tls ws wss; do
    grep -q -- "$flag" "$work/help" || fail "sip-uac --help does not describe $flag"
done
"$uas" --help >"$work/help" || fail "sip-uas --help must exit 0"
for flag in --tls-verify-client --tls-ca; do
    grep -q -- "$flag" "$work/help" || fail "sip-uas --help does not describe $flag"
done
expect_rc() {
    local want=$1
    shift
    local rc=0
    timeout 30 "$uac" "$@" >"$work/out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$work/out" >&2; fail "sip-uac $* exited $rc, not $want"; }
}
expect_rc 2 --transport sctp sip:x@127.0.0.1:9
expect_rc 2 --transport udp sips:x@127.0.0.1:9
expect_rc 2 --transport tcp "sip:x@127.0.0.1:9;transport=tls"
expect_rc 2 --tls-cert a.pem sip:x@127.0.0.1:9
expect_rc 2 --dns-server nonsense sip:x@example.test

# ---- certificates: a CA, sip-uas's certificate for sip.test and 127.0.0.1, a client's --------
(
    cd "$work"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.pem -days 2 -subj /CN=libsip-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    for n in server:DNS:sip.test,IP:127.0.0.1:serverAuth client:DNS:client.test:clientAuth; do
        f=${n%%:*}
        rest=${n#*:}
        san=${rest%:*}
        eku=${rest##*:}
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$f.key" \
            -out "$f.csr" -subj "/CN=$f"
        printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$san" "$eku" >"$f.ext"
        openssl x509 -req -in "$f.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile "$f.ext" -out "$f.pem"
    done
) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; fail "openssl"; }

# ---- helpers --------------------------------------------------------------------------------
# N ports free for UDP and TCP on 127.0.0.1 and ::1.
free_ports() {
    "$py" - "$1" <<'EOF'
import socket, sys
want, got = int(sys.argv[1]), []
while len(got) < want:
    held = []
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        p = u.getsockname()[1]
        held.append(u)
        for fam, kind, host in ((socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
                                (socket.AF_INET6, socket.SOCK_DGRAM, "::1"),
                                (socket.AF_INET6, socket.SOCK_STREAM, "::1")):
            s = socket.socket(fam, kind)
            held.append(s)
            s.bind((host, p))
        if p not in got:
            got.append(p)
    except OSError:
        pass
    finally:
        for s in held:
            s.close()
print(" ".join(map(str, got)))
EOF
}
# start_uas NAME ARGS...: sip-uas -v in the background, ready once it printed every listening
# point.
start_uas() {
    local name=$1
    shift
    local n=0 a
    for a in "$@"; do [ "$a" = --listen ] && n=$((n + 1)); done
    "$uas" -v "$@" >"$work/uas-$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        [ "$(grep -c '^listening on ' "$work/uas-$name.log")" -eq "$n" ] && return 0
        sleep 0.05
    done
    cat "$work/uas-$name.log" >&2
    fail "sip-uas ($name) did not start"
}
run_uac() {
    local name=$1 want_rc=$2
    shift 2
    local rc=0
    timeout 60 "$uac" "$@" >"$work/uac-$name.out" 2>"$work/uac-$name.err" || rc=$?
    [ "$rc" -eq "$want_rc" ] ||
        { cat "$work/uac-$name.out" "$work/uac-$name.err" >&2; fail "sip-uac ($name) exited $rc"; }
}
summary_is() {
    grep -qx "$2" "$work/uac-$1.out" ||
        { cat "$work/uac-$1.out" "$work/uac-$1.err" >&2; fail "$1: summary is not '$2'"; }
}

read -r p_udp p_tls p_ws p_wss p_v6 p_dead p_vc < <(free_ports 7)

# ---- sip-uas on every transport; its log writes IPv6 addresses in brackets ------------------
start_uas main --listen "udp:127.0.0.1:$p_udp" --listen "tcp:127.0.0.1:$p_udp" \
    --listen "tls:127.0.0.1:$p_tls" --listen "ws:127.0.0.1:$p_ws" \
    --listen "wss:127.0.0.1:$p_wss" --listen "udp:[::1]:$p_v6" \
    --tls-cert "$work/server.pem" --tls-key "$work/server.key"
grep -qx "listening on udp:\[::1\]:$p_v6" "$work/uas-main.log" ||
    { cat "$work/uas-main.log" >&2; fail "IPv6 listening point not logged as udp:[::1]:$p_v6"; }
grep -qx "listening on tls:127.0.0.1:$p_tls" "$work/uas-main.log" || fail "tls listening line"

# ---- sip-uac over TLS, WS and WSS (and IPv6 UDP), the certificate checked by address ---------
ca=(--tls-ca "$work/ca.pem")
run_uac tls 0 -n 3 -r 50 "${ca[@]}" --transport tls "sip:uas@127.0.0.1:$p_tls"
summary_is tls "calls: 3 completed, 0 failed"
run_uac tls-param 0 -n 1 "${ca[@]}" "sip:uas@127.0.0.1:$p_tls;transport=tls"
summary_is tls-param "calls: 1 completed, 0 failed"
run_uac ws 0 -n 3 -r 50 --transport ws "sip:uas@127.0.0.1:$p_ws"
summary_is ws "calls: 3 completed, 0 failed"
run_uac wss 0 -n 3 -r 50 "${ca[@]}" --transport wss "sip:uas@127.0.0.1:$p_wss"
summary_is wss "calls: 3 completed, 0 failed"
run_uac v6 0 -n 1 "sip:uas@[::1]:$p_v6"
summary_is v6 "calls: 1 completed, 0 failed"
grep -q "^INVITE from tls:127.0.0.1:" "$work/uas-main.log" || fail "no INVITE over TLS at sip-uas"
grep -q "^INVITE from wss:127.0.0.1:" "$work/uas-main.log" || fail "no INVITE over WSS at sip-uas"
grep -q "^INVITE from udp:\[::1\]:" "$work/uas-main.log" || fail "-v line for IPv6 not bracketed"
# Without the CA the server is not trusted.
run_uac untrusted 1 -n 1 --timeout 5 --transport tls "sip:uas@127.0.0.1:$p_tls"
summary_is untrusted "calls: 0 completed, 1 failed"

# ---- RFC 3263 through dnsmasq: NAPTR, SRV, A; a dead first SRV target -------------------------
# sip.test: TLS preferred over UDP by NAPTR. srv.test: two UDP targets, the first dead.
dns_port=$(free_ports 1)
"$dnsmasq" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$dns_port" --log-facility=- --pid-file= --local=/test/ \
    --naptr-record=sip.test,10,10,s,SIPS+D2T,,_sips._tcp.sip.test \
    --naptr-record=sip.test,20,10,s,SIP+D2U,,_sip._udp.sip.test \
    --srv-host=_sips._tcp.sip.test,node1.sip.test,"$p_tls",10,10 \
    --srv-host=_sip._udp.sip.test,node1.sip.test,"$p_udp",10,10 \
    --host-record=node1.sip.test,127.0.0.1 \
    --srv-host=_sip._udp.srv.test,dead.srv.test,"$p_dead",10,10 \
    --srv-host=_sip._udp.srv.test,node1.sip.test,"$p_udp",20,10 \
    --host-record=dead.srv.test,127.0.0.1 >"$work/dnsmasq.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -q "started" "$work/dnsmasq.log" 2>/dev/null && break
    sleep 0.05
done
sleep 0.2
dns=(--dns-server "127.0.0.1:$dns_port")
# sip.test by NAPTR: TLS first, checked against the SIP domain sip.test (the SRV target
# node1.sip.test is not in the certificate).
run_uac naptr 0 -n 2 -r 50 "${dns[@]}" "${ca[@]}" sip:uas@sip.test
summary_is naptr "calls: 2 completed, 0 failed"
run_uac sips 0 -n 2 -r 50 "${dns[@]}" "${ca[@]}" sips:uas@sip.test
summary_is sips "calls: 2 completed, 0 failed"
# Asking for UDP takes the UDP NAPTR record.
run_uac naptr-udp 0 -n 1 "${dns[@]}" --transport udp sip:uas@sip.test
summary_is naptr-udp "calls: 1 completed, 0 failed"
[ "$(grep -c "^INVITE from tls:127.0.0.1:" "$work/uas-main.log")" -ge 7 ] ||
    fail "the NAPTR calls did not arrive over TLS"
# The first SRV target never answers: each INVITE moves on to the second (RFC 3263 §4.3).
run_uac failover 0 -n 2 -r 50 --t1 20 --trace "${dns[@]}" sip:uas@srv.test
summary_is failover "calls: 2 completed, 0 failed"
[ "$(grep -c "target udp:127.0.0.1:$p_dead failed; trying the next" "$work/uac-failover.err")" \
    -eq 2 ] || fail "failover: the dead target was not left once per call"
# A name nobody serves.
run_uac nxdomain 1 -n 1 "${dns[@]}" sip:uas@nowhere.test
grep -q "cannot resolve sip:uas@nowhere.test" "$work/uac-nxdomain.err" || fail "nxdomain message"

# ---- sip-uas --tls-verify-client ---------------------------------------------------------------
start_uas vc --listen "tls:127.0.0.1:$p_vc" --tls-cert "$work/server.pem" \
    --tls-key "$work/server.key" --tls-ca "$work/ca.pem" --tls-verify-client
run_uac nocert 1 -n 1 --timeout 5 "${ca[@]}" --transport tls "sip:uas@127.0.0.1:$p_vc"
summary_is nocert "calls: 0 completed, 1 failed"
if grep -q "^INVITE from" "$work/uas-vc.log"; then fail "a client without a certificate got in"; fi
run_uac withcert 0 -n 1 "${ca[@]}" --tls-cert "$work/client.pem" --tls-key "$work/client.key" \
    --transport tls "sip:uas@127.0.0.1:$p_vc"
summary_is withcert "calls: 1 completed, 0 failed"
grep -q "^INVITE from tls:127.0.0.1:" "$work/uas-vc.log" || fail "the client with a certificate"

echo "sip-uac and sip-uas: TLS, WS, WSS, IPv6, NAPTR/SRV through dnsmasq, failover, client certificates"
