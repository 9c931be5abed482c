#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/script: routing scripts in sipd against Kamailio's KEMI, in one run on one machine.

The calls of bench/proxy's stateful run (SIPp's uac through the proxy to a SIPp uas that
registered behind it with digest, Record-Route, the ACK and BYE loose-routed) at a fixed rate,
with the same routing written five ways (REGISTER authenticated and saved; a routed request
relayed as its Route says; the rest record-routed and relayed to the location lookup's
contacts, 404 without one):

  - sipd, its default routing in C (native: the floor a script adds to);
  - `sipd --script route.py` and Kamailio with app_python3 running kemi.py;
  - `sipd --script route.lua` and Kamailio with app_lua running kemi.lua.

Kamailio's settings are bench/proxy's (kamailio-kemi.cfg: one UDP worker, tm, rr, auth_db on
SQLite, usrloc in memory). The figure is each server's CPU time (utime+stime of its process
tree, from /proc) per call over the run and a tail after it. The machinery (processes, SIPp
runs, users, /proc) is bench/proxy/run-proxy-bench.py's.

usage: bench/script/run-script-bench.py
environment: BUILD_DIR (default build-bench; NO_BUILD=1 uses it as it is), RATE=1000,
             COUNT=10000, WARMUP=1000, TAIL=36, PORT=15950 (uses PORT..PORT+3), PIN=0, KEEP=0,
             RUNS="native py kemi-py lua kemi-lua"
Prints a markdown table: CPU per call, the ratio to Kamailio for each script, and what each
script adds to sipd's native CPU per call. Exits 1 when a run had failed calls.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
os.environ.setdefault("PORT", "15950")
os.environ.setdefault("RATE", "1000")
os.environ.setdefault("COUNT", "10000")
os.environ.setdefault("REG_N", "1")
_spec = importlib.util.spec_from_file_location(
    "run_proxy_bench", os.path.join(ROOT, "bench", "proxy", "run-proxy-bench.py"))
pb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pb)

RUNS = os.environ.get("RUNS", "native py kemi-py lua kemi-lua").split()
LABEL = {
    "native": "sipd (default routing, C)",
    "py": "sipd --script route.py",
    "kemi-py": "Kamailio app_python3 (KEMI)",
    "lua": "sipd --script route.lua",
    "kemi-lua": "Kamailio app_lua (KEMI)",
}


def start(run, kind, db):
    if kind in ("native", "py", "lua"):
        argv = [os.path.join(pb.BUILD, "tools/sipd/sipd"), "--listen",
                "udp:%s:%d" % (pb.IP, pb.PROXY_PORT), "--domain", pb.REALM, "--users",
                os.path.join(run.work, "users"), "--digest", "MD5", "--workers", "1"]
        if kind != "native":
            argv += ["--script", os.path.join(HERE, "route." + kind)]
    else:
        lang = kind.split("-")[1]
        argv = ["kamailio", "-f", os.path.join(HERE, "kamailio-kemi.cfg"),
                "-A", "KAM_PORT=%d" % pb.PROXY_PORT, "-A", 'DB_URL="sqlite://%s"' % db,
                "-A", "KEMI_%s" % lang.upper(),
                "-A", 'KEMI_SCRIPT="%s"' % os.path.join(HERE, "kemi." + lang),
                "-DD", "-E", "-m", "2048", "-M", "16"]
    p = run.start(kind, argv, pin=1)
    pb.wait_udp(pb.PROXY_PORT, kind)
    time.sleep(0.5)
    return p


def main():
    for tool in ("sipp", "kamailio"):
        if not shutil.which(tool):
            raise SystemExit("run-script-bench: %s not found" % tool)
    if os.environ.get("NO_BUILD", "0") != "1":
        subprocess.run(["cmake", "-S", ROOT, "-B", pb.BUILD, "-DCMAKE_BUILD_TYPE=Release",
                        "-DLIBSIP_TESTS=OFF"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", pb.BUILD, "-j2", "--target", "sipd", "sip_python",
                        "sip_lua"], check=True, stdout=subprocess.DEVNULL)
    for port in (pb.PROXY_PORT, pb.UAS_PORT, pb.UAC_PORT, pb.REG_PORT):
        if not pb.port_free(port):
            raise SystemExit("run-script-bench: port %d is in use" % port)
    work = tempfile.mkdtemp(prefix="script-bench.")
    run = pb.Run(work)
    rows = {}
    failed_any = False
    try:
        db = pb.make_users(work)
        for kind in RUNS:
            srv = start(run, kind, db)
            uas = run.start("uas-" + kind, ["sipp", "-sf", os.path.join(ROOT, "bench", "proxy",
                                                                        "sipp_uas_rr.xml"),
                                            "-i", pb.IP, "-p", str(pb.UAS_PORT), "-nostdin",
                                            "-buff_size", "4194304"], pin=0)
            pb.wait_udp(pb.UAS_PORT, "sipp uas")
            pb.register_uas(run, "reg-uas-" + kind)
            uac = ["-sf", os.path.join(ROOT, "bench", "proxy", "sipp_uac_rr.xml"), "-s", "uas",
                   "-p", str(pb.UAC_PORT), "-nr", "%s:%d" % (pb.IP, pb.PROXY_PORT)]
            if pb.WARMUP:
                pb.sipp(run, "warmup-" + kind, uac + ["-r", "500", "-m", str(pb.WARMUP)],
                        pb.WARMUP // 500 + 40)
                time.sleep(pb.TAIL)
            before = pb.cpu_ticks(srv.pid)
            ok, bad = pb.sipp(run, kind, uac + ["-r", str(pb.RATE), "-m", str(pb.COUNT),
                                                "-l", str(pb.RATE * 5)],
                              pb.COUNT // pb.RATE + 60)
            time.sleep(pb.TAIL)
            ticks = pb.cpu_ticks(srv.pid) - before
            run.stop(uas)
            run.stop(srv)
            us = ticks * 1e6 / pb.HZ / ok if ok else float("nan")
            failed_any |= bad != 0 or ok != pb.COUNT
            rows[kind] = (ok, bad, us)
            pb.log("%s: %d of %d, %d failed, %.1f us CPU per call" % (kind, ok, pb.COUNT, bad,
                                                                       us))
    finally:
        run.stop_all()
        if pb.KEEP:
            pb.log("work directory kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    kam = subprocess.run(["kamailio", "-v"], capture_output=True, text=True).stdout
    kv = re.search(r"version: kamailio (\S+)", kam)
    native = rows.get("native", (0, 0, float("nan")))[2]
    print("| Routing | Rate | Done | Failed | CPU us per call | vs Kamailio | vs sipd native |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in RUNS:
        ok, bad, us = rows[kind]
        name = LABEL[kind]
        if kind.startswith("kemi") and kv:
            name = name.replace("Kamailio", "Kamailio " + kv.group(1))
        vs_kam = vs_native = ""
        if kind in ("py", "lua") and ("kemi-" + kind) in rows:
            vs_kam = "%.2fx" % (us / rows["kemi-" + kind][2])
        if kind in ("py", "lua") and native == native:
            vs_native = "+%.0f%%" % ((us / native - 1) * 100)
        print("| %s | %d/s | %d of %d | %d | %.1f | %s | %s |"
              % (name, pb.RATE, ok, pb.COUNT, bad, us, vs_kam, vs_native))
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
