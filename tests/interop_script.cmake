# SPDX-License-Identifier: MIT
# sipd --script route.py / route.lua against SIPp and raw OPTIONS on loopback
# (tests/interop/script): routing, module state, a script error (500 and its traceback),
# waits inside a route, SIGHUP reloads (good and broken) and a call across a reload. One ctest
# case per tests/interop/script/test_<topic>.py, each with 300 ports of 45500-46399; and
# sipd --script run from an installed tree (cmake --install into a temporary prefix).
# Included by tests/CMakeLists.txt.
find_program(SCRIPT_SIPP_EXECUTABLE sipp)
file(GLOB interop_script_tests CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/interop/script/test_*.py)
set(port 45500)
foreach(src ${interop_script_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_script_${topic})
  if(SCRIPT_SIPP_EXECUTABLE AND TARGET sipd AND TARGET sip_python AND TARGET sip_lua)
    add_test(NAME ${name}
      COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set(script_env "SIPD=$<TARGET_FILE:sipd>" "SIP_UAS=$<TARGET_FILE:sip-uas>"
      "SIP_UAC=$<TARGET_FILE:sip-uac>" "PYTHONPATH=${LIBSIP_PY_ROOT}" "SCRIPT_PORT=${port}"
      "PYTHONDONTWRITEBYTECODE=1" "PATH=/usr/sbin:/usr/bin:/bin"
      "CMAKE_COMMAND=${CMAKE_COMMAND}" "LIBSIP_BUILD_DIR=${PROJECT_BINARY_DIR}")
    if(LIBSIP_SANITIZE)
      # sipd suppresses the interpreter's own allocations (script_py.c): a leak of libsip's
      # objects is reported, and fails the test (its log is checked).
      list(APPEND script_env "ASAN_OPTIONS=detect_leaks=1")
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT "${script_env}")
  else()
    # SIPp comes from scripts/deps.sh, sipd and the bindings from this build: without them
    # these tests must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 300")
endforeach()
