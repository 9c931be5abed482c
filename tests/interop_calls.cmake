# SPDX-License-Identifier: MIT
# The call layer against real peers on loopback: SIPp scenarios written for libsip's calls
# (tests/interop/calls/sipp) against sip-uas, sip-uac and the b2bua example, one ctest case
# per tests/interop/calls/test_<topic>.py. Included by tests/CMakeLists.txt.
find_program(SIPP_CALLS_EXECUTABLE sipp)
file(GLOB interop_calls_tests CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/calls/test_*.py)
# Each file gets its own port range (26000, 26200, ...), so that two of them run by ctest -j2
# never probe the same ports; the other interop tests take ports from 20000 to 24999 or the kernel's.
set(port 26000)
foreach(src ${interop_calls_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_calls_${topic})
  if(SIPP_CALLS_EXECUTABLE AND TARGET sip-uas AND TARGET sip-uac AND TARGET b2bua)
    add_test(NAME ${name}
      COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
      "SIP_UAS=$<TARGET_FILE:sip-uas>;SIP_UAC=$<TARGET_FILE:sip-uac>;SIP_B2BUA=$<TARGET_FILE:b2bua>;SIPP_CALLS_PORT=${port};PYTHONDONTWRITEBYTECODE=1")
  else()
    # SIPp is installed by scripts/deps.sh and the programs are built with the tests (the b2bua
    # with LIBSIP_EXAMPLES): without them these tests must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 200")
endforeach()
