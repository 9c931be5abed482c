# SPDX-License-Identifier: MIT
"""Every test of the Python suite ends with no libsip message, transaction, dialog, user agent,
call, bridge, guard, metrics endpoint, configuration or server left alive
(libsip.live_objects(), sip/live.h): checked once pytest has dropped the test's fixtures and
arguments; a test that leaves one makes the session fail, naming it."""

import gc

import pytest

import libsip

_LEFT = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    yield
    gc.collect()
    live = libsip.live_objects()
    if any(live[k] for k in ("msg", "txn", "dialog", "ua", "call", "bridge", "guard", "metrics",
                             "config", "server")):
        _LEFT.append((item.nodeid, live))


def pytest_sessionfinish(session, exitstatus):
    if _LEFT:
        for nodeid, live in _LEFT:
            print(f"\nlibsip objects left alive after {nodeid}: {live}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
