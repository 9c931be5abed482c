# SPDX-License-Identifier: MIT
# sipd against real peers on loopback (tests/interop/sipd): its command line and `sipd passwd`;
# sipsak registering with digest; SIPp calls through it (stateless and stateful, -lost 10,
# forking); a chain with Kamailio both ways; libsip's UAs over UDP, TCP and WebSocket; the
# RFC 4475 semantic messages; restarts with --state (SIGTERM and SIGKILL). One ctest case per
# tests/interop/sipd/test_<topic>.py. Included by tests/CMakeLists.txt.
find_program(SIPD_SIPP_EXECUTABLE sipp)
find_program(SIPD_SIPSAK_EXECUTABLE sipsak)
find_program(SIPD_KAMAILIO_EXECUTABLE kamailio PATHS /usr/sbin /sbin)
file(GLOB interop_sipd_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/interop/sipd/test_*.py)
get_filename_component(sipd_shared_dir ${PROJECT_SOURCE_DIR}/../shared ABSOLUTE)
# Each file gets its own 300 ports from 33000 (sipd's range is 33000-35999), so that files run
# in parallel (ctest -j2) never probe the same ports.
set(port 33000)
foreach(src ${interop_sipd_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_sipd_${topic})
  if(SIPD_SIPP_EXECUTABLE AND SIPD_SIPSAK_EXECUTABLE AND SIPD_KAMAILIO_EXECUTABLE AND TARGET sipd
     AND TARGET sip-uas AND TARGET sip-uac AND TARGET sip_python)
    add_test(NAME ${name}
      COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set(sipd_env "SIPD=$<TARGET_FILE:sipd>" "SIP_UAS=$<TARGET_FILE:sip-uas>"
      "SIP_UAC=$<TARGET_FILE:sip-uac>" "PYTHONPATH=${LIBSIP_PY_ROOT}" "SIPD_PORT=${port}"
      "SIP_SHARED_DIR=${sipd_shared_dir}" "PYTHONDONTWRITEBYTECODE=1"
      "PATH=/usr/sbin:/usr/bin:/bin")
    if(LIBSIP_SANITIZE)
      # A Python step loads the instrumented module: the interpreter needs the sanitizer
      # runtime first (as tests/python.cmake gives it); Kamailio and SIPp must not get it.
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                      OUTPUT_VARIABLE sipd_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
      list(APPEND sipd_env "SIPD_PY_PRELOAD=${sipd_asan}")
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT "${sipd_env}")
  else()
    # SIPp, sipsak and Kamailio come from scripts/deps.sh, the programs from this build: without
    # them these tests must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 300")
endforeach()
