# SPDX-License-Identifier: MIT
# sip-uas (the UA layer) and sip-uas-txn (the transaction-level one) answering calls statefully,
# against SIPp on loopback. The script knows which one it runs by the program's name. Included
# by tests/CMakeLists.txt.
find_program(SIPP_EXECUTABLE sipp)
# Each program gets its own port range (21000, 22000), so that ctest -j2 never probes the same
# ports for both.
set(port 21000)
foreach(tool sip-uas sip-uas-txn)
  string(REPLACE "-" "_" name ${tool})
  if(SIPP_EXECUTABLE AND TARGET ${tool})
    add_test(NAME interop_sipp_${name}_calls
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/sipp/sip_uas_calls.sh $<TARGET_FILE:${tool}>)
    set_tests_properties(interop_sipp_${name}_calls PROPERTIES TIMEOUT 180
      ENVIRONMENT INTEROP_PORT=${port})
  else()
    # SIPp is installed by scripts/deps.sh; without it the interop test must fail, not vanish.
    add_test(NAME interop_sipp_${name}_calls COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 1000")
endforeach()
