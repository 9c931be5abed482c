# SPDX-License-Identifier: MIT
# sip-uac placing calls to SIPp on loopback. Included by tests/CMakeLists.txt.
find_program(SIPP_UAC_EXECUTABLE sipp)
if(SIPP_UAC_EXECUTABLE AND TARGET sip-uac)
  add_test(NAME interop_sipp_sip_uac_calls
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/sipp/sip_uac_calls.sh $<TARGET_FILE:sip-uac>)
  set_tests_properties(interop_sipp_sip_uac_calls PROPERTIES TIMEOUT 120)
else()
  # SIPp is installed by scripts/deps.sh; without it the interop test must fail, not vanish.
  add_test(NAME interop_sipp_sip_uac_calls COMMAND ${CMAKE_COMMAND} -E false)
endif()
