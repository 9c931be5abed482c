# SPDX-License-Identifier: MIT
"""sipd --script from an installed tree: `cmake --install` of this build into a temporary
prefix (sipd, its systemd unit, the sample configuration), then that prefix's sipd routes
with route.py and route.lua, finding the Python package and the Lua layer where they were
installed (nothing from the build tree)."""
import os
import subprocess

import pytest

from conftest import LANGS, tool


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    build = os.environ.get("LIBSIP_BUILD_DIR")
    cmake = os.environ.get("CMAKE_COMMAND", "cmake")
    if not build:
        pytest.fail("LIBSIP_BUILD_DIR is not set: run this test through ctest")
    p = tmp_path_factory.mktemp("prefix")
    r = subprocess.run([cmake, "--install", build, "--prefix", str(p)], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert (p / "bin" / "sipd").exists()
    # The operator's files: the systemd unit (its ExecStart names the configured prefix's
    # sipd) and the sample configuration.
    unit = (p / "lib" / "systemd" / "system" / "sipd.service").read_text()
    assert "\nExecStart=/" in unit and "/bin/sipd --config " in unit, unit
    assert (p / "share" / "doc" / "sipd" / "sipd.yaml").exists()
    return p


@pytest.mark.parametrize("lang", LANGS)
def test_installed_sipd_runs_a_script(env, prefix, lang, monkeypatch):
    # Nothing of the build tree on the way: the installed sipd finds its own.
    for var in ("PYTHONPATH", "LUA_PATH", "LUA_CPATH", "SIPD_PYTHONPATH", "SIPD_LUA_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SIPD", str(prefix / "bin" / "sipd"))
    assert tool("SIPD").startswith(str(prefix))
    sipd = env.sipd_script(env.script(lang))
    status, headers = env.options(sipd)
    assert status == 200 and headers["x-version"] == "1"
    env.stop_clean(sipd)
