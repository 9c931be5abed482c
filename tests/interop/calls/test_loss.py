# SPDX-License-Identifier: MIT
"""Calls through 10% packet loss (SIPp -lost 10 drops that share of what it sends and
receives): every call completes because both sides retransmit (RFC 3261 §17: the INVITE, the
BYE and their responses; §13.3.1.4: sip-uas's 200 until the ACK)."""
import re

CALLS = 100


def lossy_calls(env, uas_args=(), scenario="uac_lossy.xml", name="lossy"):
    port = env.port()
    uas = env.uas("uas-" + name, port, *uas_args)
    sipp = env.sipp_client(name, scenario, port, "-lost", "10", calls=CALLS, rate=20,
                           timeout=120)
    env.sipp_ok(sipp, CALLS)
    return uas, sipp


def test_calls_complete_through_loss(env):
    uas, sipp = lossy_calls(env)
    log = env.stop_clean(uas)
    # Every call was answered and ended by the caller's BYE; none waits for its ACK at the end
    # (a BYE before the ACK ends the call too, RFC 3261 §15).
    m = re.search(r"^calls (\d+) answered (\d+) rejected 0 cancelled 0 acked (\d+) byes (\d+) "
                  r"no-ack 0 reinvites 0 failed 0 active 0 expired 0$", uas.log(), re.M)
    assert m, log
    assert int(m.group(1)) == CALLS and int(m.group(2)) == CALLS and int(m.group(4)) == CALLS, log
    # The run proves something only if the loss hit the call: SIPp sent INVITEs and BYEs again.
    screen = sipp.log()
    retrans = {k: int(v) for k, v in re.findall(r"^ +(INVITE|BYE) ---------->\s+\d+\s+(\d+)",
                                                screen, re.M)}
    assert retrans.get("INVITE", 0) > 0 and retrans.get("BYE", 0) > 0, screen
    # ... and SIPp dropped some of the INVITEs' 200s (the Lost column), which only sip-uas
    # sending its 200 again made up for.
    lost = re.search(r"^ +200 <----------(?:\s+\d+){4}\s+(\d+)\s*$", screen, re.M)
    assert lost and int(lost.group(1)) > 0, screen
