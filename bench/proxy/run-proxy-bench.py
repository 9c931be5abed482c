#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/proxy: sipd against Kamailio as a proxy and registrar, in one run on one machine.

SIPp's built-in uac calls (INVITE, 180, 200, ACK, BYE) at a fixed rate through the proxy to a
SIPp uas that registered behind it (REGISTER with digest, so the call is routed by a location
lookup in both servers), one worker each:

  - `sipd --stateless` against Kamailio forwarding with sl (forward() after lookup);
  - `sipd` (transaction-stateful, Record-Route) against Kamailio with tm and rr (t_relay());
  - REGISTER with digest (each registration challenged: 401, then the authorised REGISTER) of
    REG_N different users against sipd's registrar and Kamailio's registrar + auth_db (on SQLite).

WORKERS="1 2" runs every mode with `sipd --workers N` against Kamailio with `children=N`, for
each N (the issue 15 benchmark); the default is one worker each. With several, SIPp's uac uses
a socket per call (-t un), so that the kernel spreads the calls over the workers' shared port.

The figure is each server's CPU time (utime+stime of its process tree, from /proc) per call or
per registration over the run and a tail after it in which the run's transactions end.
Kamailio's config is bench/proxy/kamailio-proxy.cfg; both serve the same users (the
subscriber table and sipd's users file are made from one list) for the realm 127.0.0.1.

usage: bench/proxy/run-proxy-bench.py
environment: BUILD_DIR (default build-bench), RATE=2000, COUNT=20000, WARMUP=1000,
             REG_N=20000, REG_RATE=2000, PORT=15900 (uses PORT..PORT+9), TAIL=36, PIN=0,
             MODES="stateless stateful register", WORKERS="1", KEEP=0
Prints a markdown table; exits 1 when a run had failed calls.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build-bench"))
RATE = int(os.environ.get("RATE", "2000"))
COUNT = int(os.environ.get("COUNT", "20000"))
WARMUP = int(os.environ.get("WARMUP", "1000"))
REG_N = int(os.environ.get("REG_N", "20000"))
REG_RATE = int(os.environ.get("REG_RATE", "2000"))
PORT = int(os.environ.get("PORT", "15900"))
TAIL = float(os.environ.get("TAIL", "36"))
PIN = os.environ.get("PIN", "0") == "1"
MODES = os.environ.get("MODES", "stateless stateful register").split()
KEEP = os.environ.get("KEEP", "0") == "1"
WORKERS = [int(w) for w in os.environ.get("WORKERS", "1").split()]
IP = "127.0.0.1"
REALM = IP
HZ = os.sysconf("SC_CLK_TCK")
KAM_SQL = "/usr/share/kamailio/db_sqlite"  # kamailio-sqlite-modules' schema

PROXY_PORT, UAS_PORT, UAC_PORT, REG_PORT = PORT, PORT + 1, PORT + 2, PORT + 3


def log(*a):
    print("run-proxy-bench:", *a, file=sys.stderr, flush=True)


def tree_pids(root):
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                parent[int(d)] = int(rest[1])
            except (OSError, IndexError):
                pass
    out = []
    for p in parent:
        q = p
        while q > 1:
            if q == root:
                out.append(p)
                break
            q = parent.get(q, 0)
    return out


def cpu_ticks(root):
    total = 0
    for pid in tree_pids(root):
        try:
            with open("/proc/%d/stat" % pid) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])
        except (OSError, IndexError):
            pass
    return total


def wait_udp(port, what, timeout=10.0):
    """Waits until a UDP socket is bound to the port (/proc/net/udp's local addresses)."""
    end = time.time() + timeout
    suffix = ":%04X" % port
    while time.time() < end:
        with open("/proc/net/udp") as f:
            if any(line.split()[1].endswith(suffix) for line in f.readlines()[1:]):
                return
        time.sleep(0.1)
    raise SystemExit("run-proxy-bench: %s does not listen on udp port %d" % (what, port))


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((IP, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Run:
    def __init__(self, work):
        self.work = work
        self.procs = []

    def start(self, name, argv, pin=None):
        if PIN and pin is not None:
            argv = ["taskset", "-c", str(pin)] + argv
        out = open(os.path.join(self.work, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.work,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def sipp(run, tag, argv, timeout):
    """Runs SIPp to completion; returns (successful, failed)."""
    stat = os.path.join(run.work, tag + ".screen")
    with open(stat, "w") as out:
        cmd = ["sipp"] + argv + ["-nostdin", "-buff_size", "4194304", "-i", IP,
                                 "-timeout", "%ds" % timeout, "-timeout_error"]
        if PIN:
            cmd = ["taskset", "-c", "0"] + cmd
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=run.work,
                       timeout=timeout + 30)
    text = open(stat, errors="replace").read()
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", text)
    bad = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", text)
    return (int(ok[-1]) if ok else 0, int(bad[-1]) if bad else -1)


def make_users(work):
    """One list of users for both servers: uas (the callee) and u1..uN, password pw<i>."""
    users = [("uas", "uaspw")] + [("u%d" % i, "pw%d" % i) for i in range(1, REG_N + 1)]
    with open(os.path.join(work, "users"), "w") as f:
        for u, pw in users:
            for alg, h in (("MD5", hashlib.md5), ("SHA-256", hashlib.sha256)):
                f.write("%s:%s:%s:%s\n" % (u, REALM, alg,
                                            h(("%s:%s:%s" % (u, REALM, pw)).encode()).hexdigest()))
    os.chmod(os.path.join(work, "users"), 0o600)
    # Kamailio's subscriber table on SQLite (db_sqlite, indexed by user and domain, Kamailio's own
    # schema): db_text scans the whole table for each check, which at 20,000 users is what
    # would be measured.
    db = os.path.join(work, "subscriber.sqlite")
    con = sqlite3.connect(db)
    for f in ("standard-create.sql", "auth_db-create.sql"):
        with open(os.path.join(KAM_SQL, f)) as sql:
            con.executescript(sql.read())
    con.executemany("INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)",
                    [(u, REALM, pw) for u, pw in users])
    con.commit()
    con.close()
    for name, sel in (("uas.csv", users[:1]), ("reg.csv", users[1:])):
        with open(os.path.join(work, name), "w") as f:
            f.write("SEQUENTIAL\n")
            for u, pw in sel:
                f.write("%s;[authentication username=%s password=%s]\n" % (u, u, pw))
    return db


def start_server(run, server, mode, db, workers=1):
    if server == "sipd":
        argv = [os.path.join(BUILD, "tools/sipd/sipd"), "--listen", "udp:%s:%d" % (IP, PROXY_PORT),
                "--domain", REALM, "--users", os.path.join(run.work, "users"),
                # SIPp answers MD5 only, and Kamailio challenges with MD5.
                "--digest", "MD5", "--workers", str(workers)]
        if mode == "stateless":
            argv.append("--stateless")
    else:
        argv = ["kamailio", "-f", os.path.join(HERE, "kamailio-proxy.cfg"),
                "-A", "KAM_PORT=%d" % PROXY_PORT, "-A", 'DB_URL="sqlite://%s"' % db,
                "-A", "KAM_CHILDREN=%d" % workers, "-DD", "-E", "-m", "2048", "-M", "16"]
        if mode == "stateless":
            argv += ["-A", "STATELESS"]
    # One worker is pinned to the second core (SIPp has the first); several share both.
    p = run.start("%s-%s-%d" % (server, mode, workers), argv, pin=1 if workers == 1 else None)
    wait_udp(PROXY_PORT, server)
    time.sleep(0.5)
    return p


def register_uas(run, tag):
    ok, bad = sipp(run, tag, ["-sf", os.path.join(HERE, "sipp_register.xml"), "-inf",
                              os.path.join(run.work, "uas.csv"), "-key", "domain", REALM,
                              "-key", "contact", "%s:%d" % (IP, UAS_PORT), "-m", "1",
                              "-p", str(REG_PORT), "%s:%d" % (IP, PROXY_PORT)], 20)
    if ok != 1:
        raise SystemExit("run-proxy-bench: the uas could not register (%s)" % tag)


def main():
    for tool in ("sipp", "kamailio", "taskset"):
        if not shutil.which(tool):
            raise SystemExit("run-proxy-bench: %s not found" % tool)
    subprocess.run(["cmake", "-S", ROOT, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release",
                    "-DLIBSIP_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", BUILD, "-j2", "--target", "sipd"], check=True,
                   stdout=subprocess.DEVNULL)
    for port in (PROXY_PORT, UAS_PORT, UAC_PORT, REG_PORT):
        if not port_free(port):
            raise SystemExit("run-proxy-bench: port %d is in use" % port)
    work = tempfile.mkdtemp(prefix="proxy-bench.")
    run = Run(work)
    rows = []
    failed_any = False
    try:
        db = make_users(work)
        for workers, mode in [(w, m) for w in WORKERS for m in MODES]:
            for server in ("sipd", "kamailio"):
                srv = start_server(run, server, mode, db, workers)
                if mode == "register":
                    before = cpu_ticks(srv.pid)
                    ok, bad = sipp(run, "%s-register" % server,
                                   ["-sf", os.path.join(HERE, "sipp_register.xml"), "-inf",
                                    os.path.join(work, "reg.csv"), "-key", "domain", REALM,
                                    "-key", "contact", "%s:%d" % (IP, UAC_PORT), "-m",
                                    str(REG_N), "-r", str(REG_RATE), "-p", str(REG_PORT),
                                    "%s:%d" % (IP, PROXY_PORT)], REG_N // REG_RATE + 60)
                    time.sleep(2)
                    ticks = cpu_ticks(srv.pid) - before
                    what, n = "registration", REG_N
                else:
                    uas = run.start("uas-%s-%s" % (server, mode),
                                    ["sipp", "-sf", os.path.join(HERE, "sipp_uas_rr.xml"),
                                     "-i", IP, "-p", str(UAS_PORT),
                                     "-nostdin", "-buff_size", "4194304"], pin=0)
                    wait_udp(UAS_PORT, "sipp uas")
                    register_uas(run, "reg-uas-%s-%s" % (server, mode))
                    # Stateless: SIPp's built-in uac (no Record-Route: the ACK and BYE are
                    # routed by their Request-URI); stateful: the uac that follows the
                    # Record-Route, so in-dialog requests are loose-routed (§16.4).
                    scen = ["-sn", "uac"] if mode == "stateless" else \
                        ["-sf", os.path.join(HERE, "sipp_uac_rr.xml")]
                    uac = scen + ["-s", "uas", "-p", str(UAC_PORT), "-nr",
                                  "%s:%d" % (IP, PROXY_PORT)]
                    if workers > 1:
                        uac += ["-t", "un", "-max_socket", "10000"]
                    if WARMUP:
                        sipp(run, "warmup-%s-%s" % (server, mode),
                             uac + ["-r", "500", "-m", str(WARMUP)], WARMUP // 500 + 40)
                        time.sleep(TAIL)
                    before = cpu_ticks(srv.pid)
                    ok, bad = sipp(run, "%s-%s" % (server, mode),
                                   uac + ["-r", str(RATE), "-m", str(COUNT),
                                          "-l", str(RATE * 5)], COUNT // RATE + 60)
                    time.sleep(TAIL)
                    ticks = cpu_ticks(srv.pid) - before
                    run.stop(uas)
                    what, n = "call", COUNT
                run.stop(srv)
                us = ticks * 1e6 / HZ / ok if ok else float("nan")
                failed_any |= bad != 0 or ok != n
                rows.append((mode, workers, server, what, n, ok, bad, us))
                log("%s x%d %s: %d of %d, %d failed, %.1f us CPU per %s"
                    % (mode, workers, server, ok, n, bad, us, what))
    finally:
        run.stop_all()
        if KEEP:
            log("work directory kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    kam = subprocess.run(["kamailio", "-v"], capture_output=True, text=True).stdout
    kv = re.search(r"version: kamailio (\S+)", kam)
    print("| Mode | Workers | Server | Rate | Done | Failed | CPU us per call/registration"
          " | vs Kamailio | vs 1 worker |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    by = {(m, w, s): us for m, w, s, _, _, _, _, us in rows}
    nan = float("nan")
    for mode, workers, server, what, n, ok, bad, us in rows:
        rate = REG_RATE if mode == "register" else RATE
        ratio = by[(mode, workers, "sipd")] / by.get((mode, workers, "kamailio"), nan) \
            if server == "sipd" else nan
        scale = us / by.get((mode, 1, server), nan) if workers > 1 else nan
        name = server if server == "sipd" else "Kamailio %s" % (kv.group(1) if kv else "")
        print("| %s | %d | %s | %d/s | %d of %d | %d | %.1f | %s | %s |"
              % (mode, workers, name, rate, ok, n, bad, us,
                 "%.2fx" % ratio if ratio == ratio else "",
                 "%.2fx" % scale if scale == scale else ""))
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
