# SPDX-License-Identifier: MIT
# The differential parser test (libsip against Sofia-SIP and oSIP2; docs/PARSER-DIFF.md).
# Included by tests/CMakeLists.txt. Not in fuzz builds, whose library is built for libFuzzer.
if(NOT LIBSIP_FUZZ)
  add_subdirectory(${CMAKE_CURRENT_LIST_DIR}/diff ${CMAKE_CURRENT_BINARY_DIR}/diff)
endif()
