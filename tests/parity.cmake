# SPDX-License-Identifier: MIT
# Python/Lua parity (tests/parity.py): the same public features in both packages (the Lua side
# listed by tests/parity_api.lua), docs/PYTHON.md and docs/LUA.md in the same order. The
# behaviour cases shared by both languages (tests/parity_cases.json) run inside the pytest and
# Lua suites.
if(TARGET sip_python AND LIBSIP_LUA AND NOT LIBSIP_FUZZ)
  # lua_env (tests/lua.cmake, included before this file) reaches this tree's Lua package and,
  # under the sanitizer, preloads its runtimes, which the Python interpreter then needs too.
  set(parity_env ${lua_env} "PYTHONPATH=${LIBSIP_PY_ROOT}" "PYTHONDONTWRITEBYTECODE=1")
  if(LIBSIP_SANITIZE)
    list(APPEND parity_env "ASAN_OPTIONS=detect_leaks=0")
  endif()
  add_test(NAME bindings_parity
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/parity.py --lua /usr/bin/lua5.4)
  set_tests_properties(bindings_parity PROPERTIES ENVIRONMENT "${parity_env}" TIMEOUT 120)
endif()
