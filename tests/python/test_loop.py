# SPDX-License-Identifier: MIT
"""The loop through the Python package: timers, posted work, logging, callback errors, closing,
and objects dropped in any order."""

import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import libsip
from libsip import _core


def test_timers_fire_in_order():
    with libsip.Loop() as loop:
        fired = []
        loop.call_later(0.03, lambda: fired.append("b"))
        loop.call_later(0.01, lambda: fired.append("a"))
        start = time.monotonic()
        loop.run()  # returns when nothing is left to do
        assert fired == ["a", "b"]
        assert time.monotonic() - start >= 0.025


def test_repeating_timer_and_stop():
    with libsip.Loop() as loop:
        ticks = []

        def tick():
            ticks.append(loop.now)
            if len(ticks) == 3:
                t.stop()

        t = libsip.Timer(loop, 0.005, tick, repeat=0.005)
        assert t.active
        loop.run()
        assert len(ticks) == 3
        assert not t.active
        t.stop()  # idempotent


def test_dropped_timer_never_fires():
    with libsip.Loop() as loop:
        fired = []
        libsip.Timer(loop, 0.001, lambda: fired.append(1))  # dropped at once: stopped
        gc.collect()
        loop.call_later(0.02, loop.stop)
        loop.run()
        assert fired == []


def test_post_from_other_threads():
    with libsip.Loop() as loop:
        got = []
        keep = libsip.Timer(loop, 10, lambda: None)  # keeps run() waiting

        def worker(i):
            loop.post(lambda: got.append((i, threading.get_ident())))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        loop.call_later(0.001, lambda: [t.start() for t in threads])

        def check():
            if len(got) == 8:
                loop.stop()

        watch = libsip.Timer(loop, 0.005, check, repeat=0.005)
        loop.call_later(5, loop.stop)
        loop.run()  # releases the GIL: the workers run meanwhile
        for t in threads:
            t.join()
        assert sorted(i for i, _ in got) == list(range(8))
        assert {tid for _, tid in got} == {threading.get_ident()}
        keep.stop()
        watch.stop()


def test_post_after_close_raises_closed():
    loop = libsip.Loop()
    loop.close()
    with pytest.raises(libsip.ClosedError):
        loop.post(lambda: None)
    with pytest.raises(libsip.ClosedError):
        loop.run()
    with pytest.raises(libsip.ClosedError):
        libsip.Timer(loop, 1, lambda: None)
    loop.close()  # idempotent


def test_log_lines_go_to_logging(caplog):
    caplog.set_level(logging.DEBUG, logger="libsip")
    with libsip.Loop() as loop:
        loop.log(libsip.LogLevel.WARN, "test", "careful: \u00e9")
        loop.log(libsip.LogLevel.DEBUG, "test", "details")
        tp = libsip.Transport(loop, ["udp:127.0.0.1:0"])
        port = tp.listeners[0].local_port
        tp.close()
    recs = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert ("libsip", logging.WARNING, "test: careful: \u00e9") in recs
    assert ("libsip", logging.DEBUG, "test: details") in recs
    assert ("libsip", logging.INFO, f"transport: listening on udp:127.0.0.1:{port}") in recs
    assert caplog.records[0].sip_module == "test"


def test_log_level_filters_in_c(caplog):
    caplog.set_level(logging.DEBUG, logger="libsip")
    with libsip.Loop(log_level=logging.WARNING) as loop:
        loop.log(libsip.LogLevel.INFO, "test", "dropped")
        loop.log(libsip.LogLevel.ERROR, "test", "kept")
        loop.set_log_level(libsip.LogLevel.INFO)
        loop.log(libsip.LogLevel.INFO, "test", "now kept")
    assert [r.getMessage() for r in caplog.records] == ["test: kept", "test: now kept"]


def test_callback_exception_is_logged(caplog):
    with libsip.Loop() as loop:
        after = []

        def bad():
            raise ValueError("boom")

        loop.call_later(0.001, bad)
        loop.call_later(0.005, lambda: after.append(1))
        loop.run()
        assert after == [1]  # the loop went on
    errors = [r for r in caplog.records if r.name == "libsip" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info[0] is ValueError
    assert str(errors[0].exc_info[1]) == "boom"


def test_strict_mode_reraises_from_run():
    with libsip.Loop(strict=True) as loop:
        after = []

        def bad():
            raise KeyError("strict")

        loop.call_later(0.001, bad)
        loop.call_later(0.05, lambda: after.append(1))
        with pytest.raises(KeyError, match="strict"):
            loop.run()
        assert after == []
        loop.run()  # the next run goes on where it stopped
        assert after == [1]


def test_exception_in_posted_work_strict():
    with libsip.Loop(strict=True) as loop:
        # Posted work alone does not keep sip_loop_run() going: a timer does.
        keep = libsip.Timer(loop, 5, lambda: None)
        loop.post(lambda: 1 / 0)
        start = time.monotonic()
        with pytest.raises(ZeroDivisionError):
            loop.run()
        assert time.monotonic() - start < 2
        keep.stop()


def test_close_from_callback_and_objects_stay_safe():
    loop = libsip.Loop()
    tp = libsip.Transport(loop, ["udp:127.0.0.1:0"])
    t = libsip.Timer(loop, 10, lambda: None)
    loop.call_later(0.001, loop.close)
    loop.run()
    assert loop.closed
    # Every object is still safe to touch: calls raise ClosedError.
    with pytest.raises(libsip.ClosedError):
        tp.listen("udp:127.0.0.1:0")
    with pytest.raises(libsip.ClosedError):
        tp.send(libsip.Message.request("OPTIONS", "sip:a@b"), "udp:127.0.0.1:9")
    with pytest.raises(libsip.ClosedError):
        loop.now
    assert not t.active
    t.stop()
    tp.close()
    tp.close()
    del loop, tp, t
    gc.collect()


@pytest.mark.parametrize("first", ["loop", "transport", "timer"])
def test_drop_in_any_order(first):
    loop = libsip.Loop()
    tp = libsip.Transport(loop, ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
    t = libsip.Timer(loop, 10, lambda: None)
    objs = {"loop": loop, "transport": tp, "timer": t}
    del loop, tp, t
    order = [first] + [k for k in objs if k != first]
    for k in order:
        del objs[k]
        gc.collect()
    assert objs == {}


def test_cycles_through_handlers_are_collected():
    import weakref
    loop = libsip.Loop()
    stack = libsip.Stack(["udp:127.0.0.1:0"], loop=loop)

    @stack.on_request("OPTIONS")
    def handler(req):
        req.reply(200, headers={"X-Stack": repr(stack)})

    w = weakref.ref(stack)
    wl = weakref.ref(loop)
    del stack, handler, loop
    gc.collect()
    assert w() is None
    assert wl() is None


def test_exit_with_handles_alive():
    code = textwrap.dedent("""
        import libsip, threading
        loop = libsip.Loop()
        stack = libsip.Stack(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"], loop=loop)
        t = libsip.Timer(loop, 60, lambda: print("never"), repeat=1)
        loop.call_later(60, lambda: None)
        msg = libsip.Message.parse(b"SIP/2.0 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
        via = libsip.Uri("sip:x@y")
        cycle = [stack, loop, t, msg, via]
        cycle.append(cycle)
        @stack.on_request()
        def anything(req):
            req.reply(200)
        loop.post(lambda: None)
        loop.run_once(False)
        print("exiting")
    """)
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"exiting\n"
    assert b"Traceback" not in r.stderr and b"Exception ignored" not in r.stderr


def test_error_hook_without_package_hook_uses_unraisable(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))
    _core.set_callback_error_hook(None)
    try:
        with libsip.Loop() as loop:
            loop.call_later(0.001, lambda: [][1])
            loop.run()
    finally:
        from libsip.loop import _callback_error
        _core.set_callback_error_hook(_callback_error)
    assert seen == [IndexError]


@pytest.mark.parametrize("loop_first", [True, False])
def test_core_unref_order(loop_first):
    # The Python objects keep their loop alive; underneath, the C handles may go in any order.
    rc, loop = _core.sip_loop_create()
    assert rc == 0
    rc, tp = _core.sip_transport_create(loop, None)
    assert rc == 0
    assert _core.sip_transport_listen(tp, "udp:127.0.0.1:0") == 0
    rc, timer = _core.sip_timer_start(loop, 1000, 0, lambda t: None)
    assert rc == 0
    if loop_first:
        _core.sip_loop_unref(loop)
        # The last reference of the loop closed it: its children answer SIP_ECLOSED.
        assert _core.sip_transport_listen(tp, "udp:127.0.0.1:0") == _core.SIP_ECLOSED
        _core.sip_timer_unref(timer)
        _core.sip_transport_unref(tp)
    else:
        _core.sip_transport_unref(tp)
        _core.sip_timer_unref(timer)
        assert _core.sip_loop_run_once(loop, 0) == 0
        _core.sip_loop_unref(loop)
    gc.collect()


def test_timer_dropped_on_another_thread_stops_on_the_loop_thread():
    with libsip.Loop() as loop:
        ticks = []
        box = [libsip.Timer(loop, 0.002, lambda: ticks.append(threading.get_ident()),
                            repeat=0.002)]
        dropped = threading.Event()

        def drop():
            box.clear()  # the last reference goes on this thread, while the loop runs
            gc.collect()
            dropped.set()

        counts = []
        started = []

        def sample():
            # The drop starts once the timer has ticked a few times, however loaded the
            # machine is (a fixed delay gave it fewer ticks under ASan on a busy machine).
            if not started and len(ticks) >= 5:
                started.append(threading.Thread(target=drop))
                started[0].start()
            if dropped.is_set():
                counts.append(len(ticks))
            if len(counts) == 3:
                loop.stop()

        sampler = libsip.Timer(loop, 0.01, sample, repeat=0.01)
        loop.call_later(5, loop.stop)
        loop.run()
        sampler.stop()
        started[0].join(5)
        assert len(counts) == 3 and counts[1] == counts[2]  # no tick after the release ran
        assert counts[0] >= 5
        assert set(ticks) == {threading.get_ident()}


def test_signal_watch_runs_on_the_loop():
    import signal
    loop = libsip.Loop()
    got = []
    watch = loop.on_signal("USR1", lambda signum: (got.append(signum), loop.stop()))
    second = loop.on_signal(signal.SIGUSR1, got.append)
    assert watch.active and watch.signum == signal.SIGUSR1
    guard = loop.call_later(5.0, loop.stop)
    loop.call_later(0.01, lambda: os.kill(os.getpid(), signal.SIGUSR1))
    loop.run()
    guard.stop()
    assert sorted(got) == [signal.SIGUSR1, signal.SIGUSR1]
    watch.stop()
    second.stop()
    assert not watch.active
    with pytest.raises(libsip.InvalidError):
        loop.on_signal("NOPE", got.append)
    with pytest.raises(libsip.InvalidError):
        loop.on_signal(signal.SIGKILL, got.append)
    # A watch alone does not keep run() going.
    alone = loop.on_signal("USR2", got.append)
    loop.run()
    alone.stop()
    loop.close()


def test_sigterm_ends_a_script_cleanly():
    # Without a watch SIGTERM would kill the interpreter (exit -15); with one, the script
    # stops its loop and exits normally.
    script = textwrap.dedent("""
        import os, signal, libsip
        loop = libsip.Loop()
        loop.on_signal("TERM", lambda signum: loop.stop())
        loop.call_later(0.01, lambda: os.kill(os.getpid(), signal.SIGTERM))
        keep = loop.call_later(10.0, lambda: print("not stopped"))
        loop.run()
        print("stopped cleanly")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "stopped cleanly\n"
