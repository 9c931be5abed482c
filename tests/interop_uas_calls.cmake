# SPDX-License-Identifier: MIT
# sip-uas answering calls statefully, against SIPp on loopback. Included by tests/CMakeLists.txt.
find_program(SIPP_EXECUTABLE sipp)
if(SIPP_EXECUTABLE AND TARGET sip-uas)
  add_test(NAME interop_sipp_sip_uas_calls
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/sipp/sip_uas_calls.sh $<TARGET_FILE:sip-uas>)
  set_tests_properties(interop_sipp_sip_uas_calls PROPERTIES TIMEOUT 180)
else()
  # SIPp is installed by scripts/deps.sh; without it the interop test must fail, not vanish.
  add_test(NAME interop_sipp_sip_uas_calls COMMAND ${CMAKE_COMMAND} -E false)
endif()
