# SPDX-License-Identifier: MIT
# sipd --workers N (tests/interop/workers): a TCP-registered and a UDP-registered user calling
# each other through two workers, SIPp with -lost 10 through them, a worker killed with SIGKILL
# (restarted, every registration still there), SIGTERM and SIGKILL of the parent (no worker
# left), SIGHUP reaching every worker, the metrics summed. One ctest case per test_<topic>.py.
# Included by tests/CMakeLists.txt.
find_program(WORKERS_SIPP_EXECUTABLE sipp)
file(GLOB interop_workers_tests CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/workers/test_*.py)
# Each file gets its own 300 ports from 53000 (the range is 53000-53999).
set(port 53000)
foreach(src ${interop_workers_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_workers_${topic})
  if(WORKERS_SIPP_EXECUTABLE AND TARGET sipd AND TARGET sip-uas AND TARGET sip-uac
     AND TARGET sip_python)
    add_test(NAME ${name} COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set(workers_env "SIPD=$<TARGET_FILE:sipd>" "SIP_UAS=$<TARGET_FILE:sip-uas>"
      "SIP_UAC=$<TARGET_FILE:sip-uac>" "PYTHONPATH=${LIBSIP_PY_ROOT}" "WORKERS_PORT=${port}"
      "PYTHONDONTWRITEBYTECODE=1" "PATH=/usr/sbin:/usr/bin:/bin")
    if(LIBSIP_SANITIZE)
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                      OUTPUT_VARIABLE workers_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
      list(APPEND workers_env "SIPD_PY_PRELOAD=${workers_asan}")
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT "${workers_env}")
  else()
    # SIPp comes from scripts/deps.sh, the programs from this build: without them these tests
    # must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 300")
endforeach()
