# SPDX-License-Identifier: MIT
# Tests against real peers on loopback (SIPp). Included by tests/CMakeLists.txt.
find_program(SIPP_EXECUTABLE sipp)
# Each program gets its own port range, so that ctest -j2 never starts both on one port.
set(port 20000)
foreach(tool sip-uas sip-uas-txn)
  string(REPLACE "-" "_" name ${tool})
  if(SIPP_EXECUTABLE AND TARGET ${tool})
    add_test(NAME interop_sipp_${name}_options
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/sipp/sip_uas_options.sh $<TARGET_FILE:${tool}>)
    set_tests_properties(interop_sipp_${name}_options PROPERTIES ENVIRONMENT INTEROP_PORT=${port})
  else()
    # SIPp is installed by scripts/deps.sh; without it the interop test must fail, not vanish.
    add_test(NAME interop_sipp_${name}_options COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 500")
endforeach()
