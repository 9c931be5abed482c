# SPDX-License-Identifier: MIT
"""sipd --script route.py and route.lua (tests/interop/script/route.*): routing with SIPp
calls through the script, module state across requests, a script error answered 500 with its
traceback logged, asyncio (Python) and sip.sleep (Lua) inside a route, SIGHUP reloading a good
script and refusing a broken one, and a call in progress across a reload."""
import re
import signal
import time

import pytest

from conftest import LANGS, Proc

TRACEBACK = {"py": r"Traceback \(most recent call last\)", "lua": r"stack traceback"}


def wait_log(p, pattern, timeout=10.0):
    return p.wait_for(pattern, timeout)


@pytest.mark.parametrize("lang", LANGS)
def test_script_routes_calls_and_keeps_module_state(env, lang):
    uas_port = env.port()
    uas = env.sipp_server("uas", "-sn uas", uas_port, calls=3)
    # One process: the module state counts every call (each worker has its own).
    sipd = env.sipd_script(env.script(lang), target_port=uas_port, workers=1)
    uac = env.sipp_client("uac", "-sn uac", sipd.port, calls=3, rate=10)
    env.sipp_ok(uac, 3)
    env.sipp_ok(uas, 3)
    # The script asked for Record-Route.
    assert re.search(r"^Record-Route: <sip:127\.0\.0\.1:%d;lr>" % sipd.port, env.messages(uas),
                     re.M | re.I)
    first = env.options(sipd)
    second = env.options(sipd)
    assert first[0] == 200 and second[0] == 200
    assert first[1]["x-version"] == "1"
    assert int(second[1]["x-count"]) == int(first[1]["x-count"]) + 1
    env.stop_clean(sipd)


@pytest.mark.parametrize("lang", LANGS)
def test_a_script_error_answers_500_and_logs_the_traceback(env, lang):
    sipd = env.sipd_script(env.script(lang))
    status, _ = env.options(sipd, "boom")
    assert status == 500
    wait_log(sipd, TRACEBACK[lang])
    wait_log(sipd, r"boom from the route script")
    # The script goes on routing the next requests.
    status, headers = env.options(sipd)
    assert status == 200 and headers["x-version"] == "1"
    env.stop_clean(sipd)


@pytest.mark.parametrize("lang", LANGS)
def test_a_route_may_wait(env, lang):
    sipd = env.sipd_script(env.script(lang))
    status, headers = env.options(sipd, "sleep")
    assert status == 200 and headers["x-slept"] == "yes"
    env.stop_clean(sipd)


@pytest.mark.parametrize("lang", LANGS)
def test_sighup_reloads_a_good_script_and_refuses_a_broken_one(env, lang):
    path = env.script(lang, "1")
    sipd = env.sipd_script(path)
    assert env.options(sipd)[1]["x-version"] == "1"
    env.script(lang, "2")
    sipd.p.send_signal(signal.SIGHUP)
    end = time.monotonic() + 10
    while env.options(sipd)[1]["x-version"] != "2":
        assert time.monotonic() < end, "the reload did not take:\n" + sipd.log()
        time.sleep(0.1)
    # Module state starts again with the new instance.
    assert int(env.options(sipd)[1]["x-count"]) <= 3
    before = sipd.log()
    env.script(lang, "3", broken=True)
    sipd.p.send_signal(signal.SIGHUP)
    end = time.monotonic() + 10
    while sipd.log() == before or not re.search(r"route\.%s" % lang, sipd.log()[len(before):]):
        assert time.monotonic() < end, "no word of the broken script:\n" + sipd.log()
        time.sleep(0.1)
    time.sleep(0.2)
    status, headers = env.options(sipd)
    assert status == 200 and headers["x-version"] == "2"
    assert sipd.p.poll() is None
    env.stop_clean(sipd)


@pytest.mark.parametrize("lang", LANGS)
def test_a_call_in_progress_completes_across_a_reload(env, lang):
    uas_port = env.port()
    uas = env.sipp_server("uas", "-sn uas", uas_port, calls=1)
    sipd = env.sipd_script(env.script(lang, "1"), target_port=uas_port)
    # The built-in uac holds the call 3 s (-d) between its ACK and its BYE.
    argv = env.sipp_args("uac", "-sn uac", env.port(), "-m", "1", "-d", "3000", "-timeout",
                         "30s", "127.0.0.1:%d" % sipd.port)
    uac = Proc(env, "sipp-uac", ["timeout", "40", *argv])
    end = time.monotonic() + 10
    while not re.search(r"^ACK ", env.messages(uac), re.M):
        assert time.monotonic() < end, "the call was not set up:\n" + sipd.log()
        time.sleep(0.05)
    env.script(lang, "2")
    sipd.p.send_signal(signal.SIGHUP)
    end = time.monotonic() + 10
    while env.options(sipd)[1]["x-version"] != "2":
        assert time.monotonic() < end, "the reload did not take:\n" + sipd.log()
        time.sleep(0.1)
    assert uac.p.poll() is None, "the call ended before the reload"
    uac.wait(40)
    env.sipp_ok(uac, 1)
    env.sipp_ok(uas, 1)
    env.stop_clean(sipd)
