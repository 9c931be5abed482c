# SPDX-License-Identifier: MIT
# install_consumer: installs this build into a temporary prefix and builds tests/consumer against it
# with pkg-config and with find_package(libsip). Sanitized builds pass their flags on, since the
# installed library then needs the sanitizer runtimes.
set(consumer_flags "")
if(LIBSIP_FUZZ)
  set(consumer_flags "-fsanitize=fuzzer-no-link,address,undefined")
elseif(LIBSIP_SANITIZE)
  set(consumer_flags "-fsanitize=address,undefined")
endif()
add_test(NAME install_consumer
  COMMAND ${CMAKE_COMMAND} -E env CMAKE=${CMAKE_COMMAND}
          bash ${CMAKE_CURRENT_LIST_DIR}/consumer/run.sh ${PROJECT_BINARY_DIR}
          ${CMAKE_CURRENT_BINARY_DIR}/install_consumer ${CMAKE_C_COMPILER} ${PROJECT_VERSION}
          "${consumer_flags}")
set_tests_properties(install_consumer PROPERTIES TIMEOUT 300)

# The sip-parse command-line test lives beside the unit tests; this glob only reaches tests/*.cmake.
include(${CMAKE_CURRENT_LIST_DIR}/unit/test_sip_parse_cli.cmake)
