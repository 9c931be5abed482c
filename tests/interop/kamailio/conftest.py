# SPDX-License-Identifier: MIT
"""Lets a fixture know whether its test failed (to print the logs of every process then)."""
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
