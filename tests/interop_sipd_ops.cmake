# SPDX-License-Identifier: MIT
# sipd for operators (tests/interop/sipd_ops): --help, --check-config, flags over the file, the
# systemd unit, SIGHUP reloads during a call, refused reloads, SIGTERM during a call, the store
# across a restart and the per-request log line. One ctest case per test_<topic>.py. Included by
# tests/CMakeLists.txt.
find_program(SIPD_OPS_SIPP_EXECUTABLE sipp)
file(GLOB interop_sipd_ops_tests CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/sipd_ops/test_*.py)
# Each file gets its own 200 ports from 43000 (the range is 43000-43999).
set(port 43000)
foreach(src ${interop_sipd_ops_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_sipd_ops_${topic})
  if(SIPD_OPS_SIPP_EXECUTABLE AND TARGET sipd)
    add_test(NAME ${name} COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
      "SIPD=$<TARGET_FILE:sipd>;SIPD_UNIT=${PROJECT_BINARY_DIR}/tools/sipd/sipd.service;SIPD_OPS_PORT=${port};PYTHONDONTWRITEBYTECODE=1;PATH=/usr/sbin:/usr/bin:/bin")
  else()
    # SIPp comes from scripts/deps.sh, sipd from this build: without them these tests fail.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 200")
endforeach()
