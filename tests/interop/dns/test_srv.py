# SPDX-License-Identifier: MIT
"""Three sipd nodes published under one SRV name, served by dnsmasq on 127.0.0.1: node1
(127.0.0.1, priority 10, weight 75), node2 (127.0.0.2, priority 10, weight 25) and node3
(127.0.0.1, priority 20: a backup). libsip's UAs, their resolver pointed at dnsmasq
(sip_resolver_opts_t.servers), register and call through sip:...@dns.test:

- spread: 60 UAs register, and one UA places 60 calls: by RFC 2782 each lands on node1 about
  three times in four, on node2 otherwise, never on the backup while those answer;
- failover, over TCP (a connection refused) and UDP (no response until Timer B/F): a registered
  UA's home node is killed; its next REGISTER (over TCP sent by itself when the flow closes,
  RFC 5626 §4.4) goes to the other node at once, with no failure for the application, and
  every call is answered; with both priority-10 nodes gone, the registration and the calls go
  to the backup.

Each node keeps its own location service: the callee registers at every node by address, so
that any of them can reach it."""
import re
import signal

import pytest

from conftest import DOMAIN

SDP = ("v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\ns=-\\r\\nc=IN IP4 127.0.0.1\\r\\nt=0 0\\r\\n"
       "m=audio 4000 RTP/AVP 0\\r\\na=rtpmap:0 PCMU/8000\\r\\n")

COMMON = r'''
import asyncio, json, os, signal, sys, time, libsip
DNS = "127.0.0.1:%(dns)d"
T = "%(transport)s"
NODES = %(nodes)r
SDP = "%(sdp)s"

def stack(loop, **kw):
    r = libsip.Resolver(servers=DNS, timeout_ms=1000, transports=[T])
    return libsip.Stack([T + ":127.0.0.1:0"], loop=loop, transactions=True, resolver=r, **kw)

def where(msg):
    ni = msg.netinfo
    for name, (host, port, pid) in NODES.items():
        if ni.remote_ip == host and ni.remote_port == port:
            return name
    return "%%s:%%d" %% (ni.remote_ip, ni.remote_port)

async def callee_everywhere(ua, user):
    """user registered at every node by address: any node can reach it."""
    regs = []
    for name, (host, port, pid) in NODES.items():
        regs.append(ua.register("sip:%%s@%(domain)s" %% user, expires=300,
                                registrar="sip:%%s:%%d;transport=%%s" %% (host, port, T)))
    for r in regs:
        await r.registered(10)

    @ua.on_invite
    async def incoming(call):
        await call.answer(sdp=SDP)
    return regs

async def call(caller, user):
    c = caller.invite("sip:%%s@%(domain)s" %% user, sdp=SDP)
    await asyncio.wait_for(c.answered(), 15)
    await c.hangup()
    await asyncio.wait_for(c.ended(), 10)
'''

SPREAD = COMMON + r'''
N = 60

async def main():
    loop = libsip.Loop()
    server = asyncio.ensure_future(loop.serve())
    stacks = [stack(loop) for _ in range(N + 2)]
    uas = [libsip.UA(s) for s in stacks]
    regs = [ua.register("sip:u%%d@%(domain)s" %% i, expires=300) for i, ua in enumerate(uas[:N])]
    counts = {}
    for r in regs:
        await r.registered(15)
        counts[where(r.response)] = counts.get(where(r.response), 0) + 1
    print("REGISTER " + json.dumps(counts, sort_keys=True), flush=True)
    await callee_everywhere(uas[N + 1], "callee")
    for _ in range(N):
        await call(uas[N], "callee")
    print("CALLS done", flush=True)
    for ua in uas:
        ua.close()
    for s in stacks:
        s.close()
    loop.stop()
    await asyncio.wait_for(server, 5)
    loop.close()
    print("OK", flush=True)

asyncio.run(main())
'''

FAILOVER = COMMON + r'''
async def refreshed(reg, before, send=True):
    """A refresh's outcome: the next response the registration gets (bounded); send False
    waits for one the registration sends by itself."""
    if send:
        reg.refresh()
    for _ in range(600):
        if reg.response is not before:
            return reg.response
        await asyncio.sleep(0.02)
    raise SystemExit("no answer to the refresh")

def kill(name):
    """SIGKILL, then a blocking wait (the loop does not run) until the process is gone or a
    zombie: its listening socket is closed by then, so the REGISTER the registration sends
    when its flow closes is refused, not accepted by a dying node and reset afterwards (which
    a transaction only learns from Timer F)."""
    pid = NODES[name][2]
    os.kill(pid, signal.SIGKILL)
    for _ in range(500):
        try:
            with open("/proc/%%d/stat" %% pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.01)
    print("KILLED " + name, flush=True)

async def main():
    loop = libsip.Loop()
    server = asyncio.ensure_future(loop.serve())
    # UDP: a short T1, so that a node that stopped answering is given up in 64*T1 = 1.3 s.
    kw = {"t1_ms": 20} if T == "udp" else {}
    a, b = stack(loop, **kw), stack(loop, **kw)
    alice, bob = libsip.UA(a), libsip.UA(b)
    failures = []
    # A keep-alive period: over TCP the connection is a flow the registration watches (RFC 5626
    # §4.4), and its end brings a new REGISTER at once.
    reg = alice.register("sip:alice@%(domain)s", expires=300, keepalive=30)
    reg.on("failed", lambda status, rsp: failures.append(status))
    await reg.registered(15)
    home = where(reg.response)
    print("HOME " + home, flush=True)
    await callee_everywhere(bob, "bob")
    await call(alice, "bob")
    print("CALL before", flush=True)

    # The home node stops: the next REGISTER goes to the other priority-10 node.
    before = reg.response
    kill(home)
    if T == "tcp":
        # The flow closed: the registration registers again by itself.
        rsp = await refreshed(reg, before, send=False)
    else:
        await asyncio.sleep(0.3)
        rsp = await refreshed(reg, before)
    print("REFRESH %%d %%s failures=%%d" %% (rsp.status, where(rsp), len(failures)), flush=True)
    for i in range(5):
        await call(alice, "bob")
    print("CALLS after one stopped", flush=True)
    # It stays there (its home now), refresh after refresh.
    for i in range(3):
        rsp = await refreshed(reg, reg.response)
        print("REFRESH %%d %%s" %% (rsp.status, where(rsp)), flush=True)

    # The other one stops too: only the backup (priority 20) is left.
    other = where(rsp)
    before = reg.response
    kill(other)
    if T == "tcp":
        rsp = await refreshed(reg, before, send=False)
    else:
        await asyncio.sleep(0.3)
        rsp = await refreshed(reg, before)
    print("REFRESH %%d %%s failures=%%d" %% (rsp.status, where(rsp), len(failures)), flush=True)
    for i in range(3):
        await call(alice, "bob")
    print("CALLS after both stopped", flush=True)
    alice.close(); bob.close(); a.close(); b.close()
    loop.stop()
    await asyncio.wait_for(server, 5)
    loop.close()
    print("OK", flush=True)

asyncio.run(main())
'''


def cluster(env):
    """The three nodes and dnsmasq; returns (dns port, {name: Proc})."""
    p1, p2, p3 = env.port(), env.port(), env.port()
    nodes = {"node1": env.sipd("node1", "127.0.0.1", p1),
             "node2": env.sipd("node2", "127.0.0.2", p2),
             "node3": env.sipd("node3", "127.0.0.1", p3)}
    records = []
    for t in ("udp", "tcp"):
        records += ["srv-host=_sip._%s.%s,node1.%s,%d,10,75" % (t, DOMAIN, DOMAIN, p1),
                    "srv-host=_sip._%s.%s,node2.%s,%d,10,25" % (t, DOMAIN, DOMAIN, p2),
                    "srv-host=_sip._%s.%s,node3.%s,%d,20,10" % (t, DOMAIN, DOMAIN, p3)]
    records += ["host-record=node1.%s,127.0.0.1" % DOMAIN, "host-record=node2.%s,127.0.0.2" % DOMAIN,
                "host-record=node3.%s,127.0.0.1" % DOMAIN]
    return env.dnsmasq(records), nodes


def script_vars(dns, nodes, transport):
    return {"dns": dns, "transport": transport, "domain": DOMAIN, "sdp": SDP,
            "nodes": {n: (p.host, p.port, p.pid) for n, p in nodes.items()}}


def routed(node, method, user):
    """Requests of method for user@DOMAIN a node logged (sipd -v: one line per request)."""
    return len(re.findall(r"\b%s sip:%s@%s\b" % (method, user, re.escape(DOMAIN)), node.log()))


def test_spread_by_weight(env):
    dns, nodes = cluster(env)
    out = env.script("spread", SPREAD % script_vars(dns, nodes, "udp"), timeout=180)
    assert "OK" in out.splitlines(), out
    m = re.search(r"^REGISTER (\{.*\})$", out, re.M)
    assert m, out
    import json
    regs = json.loads(m.group(1))
    # RFC 2782: weights 75 and 25 within priority 10; the priority-20 backup gets nothing.
    assert set(regs) <= {"node1", "node2"}, regs
    assert sum(regs.values()) == 60, regs
    assert regs.get("node1", 0) > regs.get("node2", 0) > 0, regs
    invites = {n: routed(p, "INVITE", "callee") for n, p in nodes.items()}
    assert invites["node3"] == 0, invites
    assert invites["node1"] + invites["node2"] == 60, invites
    assert invites["node1"] > invites["node2"] > 0, invites
    print("registrations", regs, "calls", invites)
    for p in nodes.values():
        env.stop_clean(p)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_failover_when_a_node_stops(env, transport):
    dns, nodes = cluster(env)
    out = env.script("failover", FAILOVER % script_vars(dns, nodes, transport), timeout=180)
    lines = out.splitlines()
    assert "OK" in lines, out
    home = re.search(r"^HOME (node\d)$", out, re.M).group(1)
    assert home in ("node1", "node2"), out
    other = "node2" if home == "node1" else "node1"
    refreshes = re.findall(r"^REFRESH (\d+) (\S+)(?: failures=(\d+))?$", out, re.M)
    # The first refresh after the home stopped: 200 from the other node, no failure heard.
    assert refreshes[0] == ("200", other, "0"), out
    # Then the other node is home.
    assert refreshes[1:4] == [("200", other, "")] * 3, out
    # Both gone: the backup, still no failure heard.
    assert refreshes[4] == ("200", "node3", "0"), out
    assert "CALLS after one stopped" in lines and "CALLS after both stopped" in lines, out
    assert nodes[home].p.wait(5) == -signal.SIGKILL
    assert nodes[other].p.wait(5) == -signal.SIGKILL
    # The backup saw the last three calls only (and bob's registration, and alice's last).
    assert routed(nodes["node3"], "INVITE", "bob") == 3, nodes["node3"].log()[-3000:]
    env.stop_clean(nodes["node3"])
