# SPDX-License-Identifier: MIT
# Several sipd nodes under one DNS SRV name (RFC 3263, RFC 2782), served by a dnsmasq the test
# starts on 127.0.0.1: libsip's UAs spread over them by weight and fail over when one stops
# (tests/interop/dns). One ctest case per tests/interop/dns/test_<topic>.py, each with 300 ports
# from 51000 (this suite's range is 51000-51999). Included by tests/CMakeLists.txt.
find_program(DNS_DNSMASQ_EXECUTABLE dnsmasq PATHS /usr/sbin /sbin)
file(GLOB interop_dns_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/interop/dns/test_*.py)
set(port 51000)
foreach(src ${interop_dns_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_dns_${topic})
  if(DNS_DNSMASQ_EXECUTABLE AND TARGET sipd AND TARGET sip_python)
    add_test(NAME ${name} COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set(dns_env "SIPD=$<TARGET_FILE:sipd>" "PYTHONPATH=${LIBSIP_PY_ROOT}" "SIPD_PORT=${port}"
      "DNSMASQ=${DNS_DNSMASQ_EXECUTABLE}" "PYTHONDONTWRITEBYTECODE=1"
      "PATH=/usr/sbin:/usr/bin:/bin")
    if(LIBSIP_SANITIZE)
      # The UAs' script loads the instrumented module: the interpreter needs the sanitizer
      # runtime first (as tests/python.cmake gives it); dnsmasq must not get it.
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                      OUTPUT_VARIABLE dns_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
      list(APPEND dns_env "SIPD_PY_PRELOAD=${dns_asan}")
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT "${dns_env}")
  else()
    # dnsmasq comes from scripts/deps.sh (dnsmasq-base), sipd and the module from this build:
    # without them these tests must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 300")
endforeach()
