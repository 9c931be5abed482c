# SPDX-License-Identifier: MIT
# Registration against Kamailio started by the test (tests/interop/kamailio): digest MD5 and
# SHA-256, and calls routed by its location table. Included by tests/CMakeLists.txt.
find_program(KAMAILIO_REG_EXECUTABLE kamailio PATHS /usr/sbin /sbin)
if(KAMAILIO_REG_EXECUTABLE AND TARGET sip-uas AND TARGET sip-uac AND TARGET sip_python)
  add_test(NAME interop_kamailio_reg
    COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
            ${CMAKE_CURRENT_LIST_DIR}/interop/kamailio/test_kamailio_reg.py)
  set(reg_env "SIP_UAS=$<TARGET_FILE:sip-uas>" "SIP_UAC=$<TARGET_FILE:sip-uac>"
    "PYTHONPATH=${LIBSIP_PY_ROOT}" "KAMAILIO_REG_PORT=29000" "PYTHONDONTWRITEBYTECODE=1"
    "PATH=/usr/sbin:/usr/bin:/bin")
  if(LIBSIP_SANITIZE)
    # The Python step loads the instrumented module: the interpreter needs the sanitizer
    # runtime first (as tests/python.cmake gives it); Kamailio must not get it.
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                    OUTPUT_VARIABLE reg_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
    list(APPEND reg_env "KAMAILIO_REG_PY_PRELOAD=${reg_asan}")
  endif()
  set_tests_properties(interop_kamailio_reg PROPERTIES TIMEOUT 300 ENVIRONMENT "${reg_env}")
else()
  # Kamailio is installed by scripts/deps.sh: without it this test must fail, not vanish.
  add_test(NAME interop_kamailio_reg COMMAND ${CMAKE_COMMAND} -E false)
endif()
