#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/location: registrations per second on each location store, sipd against Kamailio.

SIPp registers REG_N different users (REGISTER, 200; no digest: the registrar and its store are
measured, not the authentication) at REG_RATE per second against one registrar at a time:

  - sipd with its bindings in memory, on SQLite (--state) and on Redis (--store);
  - Kamailio's registrar with usrloc in memory (db_mode 0) and on db_redis in write-through
    mode (db_mode 1: the 200 goes out once the binding is written, as sipd's).

Each row gives the registrations done and failed (and the rate SIPp achieved: the registrations
done over the time SIPp ran, its start and end included), the registrar's CPU time (utime+stime of
its process tree, from /proc) per registration, and Redis's (redis-server, started fresh for
each Redis row without persistence). After a Redis row the bindings in Redis are counted: every
registration that got a 200 must be there (KILL=1 kills sipd with SIGKILL halfway through the
run: the registrations after it fail, and every one acknowledged before it must be kept).

usage: bench/location/run-store-bench.py
environment: BUILD_DIR (default build-bench), REG_N=20000, REG_RATE=5000, PORT=16100 (uses
             PORT..PORT+3), PIN=0 (registrar and Redis on CPU 1, SIPp on CPU 0),
             CONFIGS="sipd-memory sipd-sqlite sipd-redis kamailio-memory kamailio-redis",
             KILL=0, KEEP=0, WORKERS=1 (sipd --workers)
Prints a markdown table; exits 1 when a run had failed registrations or lost a binding.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build-bench"))
REG_N = int(os.environ.get("REG_N", "20000"))
REG_RATE = int(os.environ.get("REG_RATE", "5000"))
PORT = int(os.environ.get("PORT", "16100"))
PIN = os.environ.get("PIN", "0") == "1"
KILL = os.environ.get("KILL", "0") == "1"
KEEP = os.environ.get("KEEP", "0") == "1"
CONFIGS = os.environ.get(
    "CONFIGS", "sipd-memory sipd-sqlite sipd-redis kamailio-memory kamailio-redis").split()
IP = "127.0.0.1"
DOMAIN = "bench.test"
HZ = os.sysconf("SC_CLK_TCK")
SERVER_PORT, SIPP_PORT, REDIS_PORT = PORT, PORT + 1, PORT + 2


def log(*a):
    print("run-store-bench:", *a, file=sys.stderr, flush=True)


def cpu_ticks(root):
    """utime+stime of root and every process below it."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                pass
    total = 0
    for p in parent:
        q = p
        while q > 1 and q != root:
            q = parent.get(q, 0)
        if q != root:
            continue
        try:
            with open("/proc/%d/stat" % p) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])
        except (OSError, IndexError):
            pass
    return total


def redis(*args):
    """One command through redis-cli on REDIS_PORT: its output, stripped."""
    return subprocess.run(["redis-cli", "-p", str(REDIS_PORT)] + list(args), capture_output=True,
                          text=True, timeout=30).stdout.strip()


def wait_until(cond, what, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise SystemExit("run-store-bench: %s not within %.0f s" % (what, timeout))


def udp_bound(port):
    suffix = ":%04X" % port
    with open("/proc/net/udp") as f:
        return any(line.split()[1].endswith(suffix) for line in f.readlines()[1:])


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

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            os.killpg(p.pid, sig)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def sipp(run, tag, timeout, during=None):
    """Registers REG_N users at REG_RATE (during(), when given, runs halfway through); returns
    (successful, failed)."""
    stat = os.path.join(run.work, tag + ".screen")
    cmd = ["sipp", "-sf", os.path.join(HERE, "sipp_register_plain.xml"),
           "-inf", os.path.join(run.work, "users.csv"), "-key", "domain", DOMAIN,
           "-key", "contact", "%s:%d" % (IP, SIPP_PORT), "-m", str(REG_N), "-r", str(REG_RATE),
           "-l", str(REG_RATE * 2), "-p", str(SIPP_PORT), "-nostdin", "-buff_size", "4194304",
           "-i", IP, "-timeout", "%ds" % timeout, "-timeout_error",
           "%s:%d" % (IP, SERVER_PORT)]
    if PIN:
        cmd = ["taskset", "-c", "0"] + cmd
    with open(stat, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=run.work)
        if during:
            time.sleep(REG_N / REG_RATE / 2)
            during()
        p.wait(timeout + 30)
    text = open(stat, errors="replace").read()
    ok = re.findall(r"Successful call\s+\|\s+\d+\s+\|\s+(\d+)", text)
    bad = re.findall(r"Failed call\s+\|\s+\d+\s+\|\s+(\d+)", text)
    return (int(ok[-1]) if ok else 0, int(bad[-1]) if bad else -1)


def start_redis(run):
    p = run.start("redis", ["redis-server", "--port", str(REDIS_PORT), "--bind", IP,
                            "--save", "", "--appendonly", "no"], pin=1)
    wait_until(lambda: redis("PING") == "PONG", "redis-server")
    # Kamailio's db_redis checks the table version in Redis (its documentation's setup).
    redis("HMSET", "version:table_name::location", "table_version", "9")
    return p


def start_server(run, config):
    server, store = config.split("-", 1)
    if server == "sipd":
        argv = [os.path.join(BUILD, "tools/sipd/sipd"), "--listen",
                "udp:%s:%d" % (IP, SERVER_PORT), "--domain", DOMAIN,
                "--workers", os.environ.get("WORKERS", "1")]
        if store == "sqlite":
            argv += ["--state", os.path.join(run.work, "state")]
        elif store == "redis":
            argv += ["--store", "redis://%s:%d" % (IP, REDIS_PORT)]
    else:
        argv = ["kamailio", "-f", os.path.join(HERE, "kamailio-registrar.cfg"),
                "-A", "KAM_PORT=%d" % SERVER_PORT, "-DD", "-E", "-m", "1024", "-M", "16"]
        if store == "redis":
            argv += ["-A", "DB_REDIS", "-A", 'REDIS_URL="redis://%s:%d/0"' % (IP, REDIS_PORT)]
    p = run.start(config, argv, pin=1)
    wait_until(lambda: udp_bound(SERVER_PORT), "%s listening" % config)
    time.sleep(0.5)
    return p


def main():
    for tool in ["sipp"] + (["kamailio"] if any(c.startswith("kamailio") for c in CONFIGS)
                            else []) + (["redis-server", "redis-cli"] if any(
                                c.endswith("redis") for c in CONFIGS) else []):
        if not shutil.which(tool):
            raise SystemExit("run-store-bench: %s not found" % tool)
    if any(c.startswith("sipd") for c in CONFIGS):
        subprocess.run(["cmake", "-S", ROOT, "-B", BUILD, "-DCMAKE_BUILD_TYPE=Release"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", BUILD, "-j2", "--target", "sipd"], check=True,
                       stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="store-bench.")
    with open(os.path.join(work, "users.csv"), "w") as f:
        f.write("SEQUENTIAL\n" + "".join("u%d\n" % i for i in range(1, REG_N + 1)))
    run = Run(work)
    rows, failed_any = [], False
    try:
        for config in CONFIGS:
            rds = start_redis(run) if config.endswith("redis") else None
            srv = start_server(run, config)
            before = cpu_ticks(srv.pid)
            rbefore = cpu_ticks(rds.pid) if rds else 0
            # KILL=1: sipd is killed (SIGKILL) halfway through; what it acknowledged must be
            # in Redis all the same.
            killed = [0]

            def kill():
                killed[0] = cpu_ticks(srv.pid) - before
                run.stop(srv, signal.SIGKILL)

            kill_now = kill if KILL and rds and config.startswith("sipd") else None
            t0 = time.time()
            ok, bad = sipp(run, config, 10 if kill_now else REG_N // REG_RATE + 60, kill_now)
            elapsed = time.time() - t0
            time.sleep(1)
            ticks = killed[0] if kill_now else cpu_ticks(srv.pid) - before
            rticks = cpu_ticks(rds.pid) - rbefore if rds else 0
            kept = ""
            if rds:
                # sipd's bindings are libsip:loc:b:*; Kamailio's db_redis keeps one
                # location:entry:<ruid> hash per binding.
                pattern = "libsip:loc:b:*" if config.startswith("sipd") else "location:entry:*"
                n = int(redis("EVAL", "return #redis.call('KEYS', ARGV[1])", "0", pattern) or 0)
                kept = "%d" % n
                failed_any |= n < ok
            run.stop(srv)
            if rds:
                run.stop(rds)
            us = ticks * 1e6 / HZ / ok if ok else float("nan")
            rus = rticks * 1e6 / HZ / ok if ok and rds else float("nan")
            failed_any |= not kill_now and (bad != 0 or ok != REG_N)
            rows.append((config, ok, bad, us, rus, kept, ok / elapsed if elapsed else 0))
            log("%s: %d of %d, %d failed, %.1f us CPU per registration (Redis %.1f), kept %s"
                % (config, ok, REG_N, bad, us, rus, kept or "-"))
    finally:
        run.stop_all()
        if KEEP:
            log("work directory kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("| Registrar and store | Rate asked | Rate done | Done | Failed | Registrar CPU µs per "
          "reg. | Redis CPU µs per reg. | Bindings in Redis after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for config, ok, bad, us, rus, kept, rate in rows:
        print("| %s | %d/s | %.0f/s | %d of %d | %d | %.1f | %s | %s |"
              % (config, REG_RATE, rate, ok, REG_N, bad, us, "%.1f" % rus if rus == rus else "",
                 kept))
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
