# SPDX-License-Identifier: MIT
# sipd --demo, the sipua example (examples/c) and the Lua routing example (examples/lua) against
# sipd on loopback, one ctest case per tests/interop/demo/test_<topic>.py. Included by
# tests/CMakeLists.txt. Each file gets its own 200 ports from 46500 (the demo's range is
# 46500-47499), so that files run in parallel (ctest -j2) never probe the same ports.
file(GLOB interop_demo_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/interop/demo/test_*.py)
set(port 46500)
foreach(src ${interop_demo_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_demo_${topic})
  if(TARGET sipd AND TARGET sipua AND TARGET sip-uas)
    add_test(NAME ${name} COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
      "SIPD=$<TARGET_FILE:sipd>;SIPUA=$<TARGET_FILE:sipua>;SIP_UAS=$<TARGET_FILE:sip-uas>;DEMO_PORT=${port};PYTHONDONTWRITEBYTECODE=1")
  else()
    # sipd, sip-uas and sipua are built with the tests (sipua with LIBSIP_EXAMPLES): without
    # them these tests must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 200")
endforeach()
