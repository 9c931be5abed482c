# SPDX-License-Identifier: MIT
# Tests against real peers on loopback (SIPp). Included by tests/CMakeLists.txt.
find_program(SIPP_EXECUTABLE sipp)
if(SIPP_EXECUTABLE AND TARGET sip-uas)
  add_test(NAME interop_sipp_sip_uas_options
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/sipp/sip_uas_options.sh $<TARGET_FILE:sip-uas>)
else()
  # SIPp is installed by scripts/deps.sh; without it the interop test must fail, not vanish.
  add_test(NAME interop_sipp_sip_uas_options COMMAND ${CMAKE_COMMAND} -E false)
endif()
