# SPDX-License-Identifier: MIT
# Shared by the server benchmarks (sourced, not run): process trees, their CPU time from /proc,
# UDP receive drops and port checks. Callers define die().

# The process ids of root and of all its descendants (Kamailio forks its workers).
tree_pids() {
    local root=$1
    ps -e -o pid= -o ppid= | awk -v root="$root" '
        { parent[$1] = $2 }
        END {
            for (p in parent) {
                q = p
                while (q != "" && q != 0 && q != 1) {
                    if (q == root) { print p; break }
                    q = parent[q]
                }
            }
        }'
}

# utime+stime in clock ticks, summed over the process tree of $1 (/proc/PID/stat fields 14 and
# 15; for a process they already include all its threads).
cpu_ticks() {
    local pid total=0 rest f
    for pid in $(tree_pids "$1"); do
        rest="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
        # The command name (field 2) may hold spaces: read the fields after its closing ')',
        # so field 3 is f[0] and utime, stime (14, 15) are f[11], f[12].
        read -r -a f <<<"${rest##*) }"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# Time on the CPU in nanoseconds from the scheduler (/proc/PID/task/TID/schedstat, field 1),
# summed over every thread of the tree: a finer cross-check of the tick-based figure.
cpu_ns() {
    local pid total=0 f ns rest
    for pid in $(tree_pids "$1"); do
        for f in /proc/"$pid"/task/*/schedstat; do
            read -r ns rest <"$f" 2>/dev/null || continue
            total=$((total + ns))
        done
    done
    echo "$total"
}

# The kernel's count of UDP datagrams dropped for a full receive buffer (RcvbufErrors).
udp_drops() { awk '/^Udp:/ && $2 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp; }

# Waits until something listens on both UDP and TCP port $1; dies after 10 s.
wait_listening() {
    local port=$1 what=$2
    for _ in $(seq 100); do
        if ss -Hlun "sport = :$port" | grep -q . && ss -Hltn "sport = :$port" | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    die "$what does not listen on udp and tcp port $port"
}

# Dies when any of the ports given is in use: a leftover server would take the traffic.
ports_free() {
    local port
    for port in "$@"; do
        if ss -Hlun "sport = :$port" | grep -q . || ss -Hltn "sport = :$port" | grep -q .; then
            die "port $port is in use on this machine; pick others"
        fi
    done
}

# Resident set size of the process tree of $1 in KiB (VmRSS), summed.
rss_kib() {
    local pid total=0 v
    for pid in $(tree_pids "$1"); do
        v="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# Stops the servers whose ids are in SERVER_PIDS (TERM, then KILL after 5 s), and any process
# of their trees left behind whose command line still names one of OWN_PATTERNS (so an id that
# was reused by another program is never touched).
stop_servers() {
    local pid tree=() pat args=()
    for pat in "${OWN_PATTERNS[@]}"; do args+=(-e "$pat"); done
    for pid in "${SERVER_PIDS[@]}"; do
        mapfile -t -O "${#tree[@]}" tree < <(tree_pids "$pid")
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        # Kamailio's main process stops its children before it exits; give it 5 s.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${tree[@]}"; do
        if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q "${args[@]}"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# Reads SIPp's statistics file (-trace_stat -stf FILE): line 1 names the fields, the last line
# holds the final cumulative counters. Prints "sent successful failed elapsed_seconds".
sipp_totals() {
    awk -F';' '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { last = $0 }
        END {
            n = split(last, f, ";")
            split(f[col["ElapsedTime(C)"]], e, ":")
            printf "%s %s %s %.3f\n", f[col["OutgoingCall(C)"]], f[col["SuccessfulCall(C)"]],
                f[col["FailedCall(C)"]], e[1] * 3600 + e[2] * 60 + e[3] + e[4] / 1e6
        }' "$1"
}

# Books one measured run: sets `failed`, `us` (CPU µs per unit) and `status`, logs the run, and
# appends it to ROWS, CPU_US and FAILED_RUN (and sets ANY_FAILED), which the caller declares.
# Reads COUNT, HZ, OK, FAILED, SENT, SIPP_RC, ELAPSED_S as run_sipp left them.
#   record_run UNIT SERVER TRANSPORT RATE TICKS NS DROPS
record_run() {
    local unit=$1 server=$2 transport=$3 rate=$4 ticks=$5 ns=$6 drops=$7
    failed=$((COUNT - OK))
    [ "$FAILED" -gt "$failed" ] && failed=$FAILED
    us="$(awk -v t="$ticks" -v hz="$HZ" -v n="$COUNT" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
    status=ok
    if [ "$failed" -ne 0 ] || [ "$SIPP_RC" -ne 0 ]; then
        status=FAILED
        ANY_FAILED=1
        FAILED_RUN[$server/$transport/$rate]=1
    fi
    log "$server $transport rate=$rate sent=$SENT ok=$OK failed=$failed sipp_rc=$SIPP_RC" \
        "elapsed=${ELAPSED_S}s cpu_ticks=$ticks (${us} us/$unit, schedstat" \
        "$(awk -v t="$ns" -v n="$COUNT" 'BEGIN { printf "%.2f", t / 1e3 / n }') us/$unit)" \
        "udp_rcvbuf_errors=+$drops $status"
    CPU_US[$server/$transport/$rate]="$us"
    ROWS+=("$server|$transport|$rate|$OK|$failed|$us|$status")
}

# Prints ROWS as the Markdown table of docs/PERFORMANCE.md, each server's CPU figure against
# libsip's at the same transport and rate (NAME_OF names the servers).
#   results_table "req/s" "request"
results_table() {
    local per=$1 unit=$2 row server transport rate ok failed us status cpu ratio lib
    echo "| Server | Transport | Rate ($per) | Completed | Failed | CPU µs/$unit | libsip / this server |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r server transport rate ok failed us status <<<"$row"
        cpu="$us"
        [ "$status" = FAILED ] && cpu="failed run"
        ratio="—"
        lib="${CPU_US[libsip/$transport/$rate]}"
        if [ "$server" != libsip ] && [ "$status" != FAILED ] && [ -n "$lib" ] &&
            [ "${FAILED_RUN[libsip/$transport/$rate]:-0}" = 0 ]; then
            ratio="$(awk -v a="$lib" -v b="$us" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }')"
        fi
        echo "| ${NAME_OF[$server]} | ${transport^^} | $rate | $ok | $failed | $cpu | $ratio |"
    done
}
