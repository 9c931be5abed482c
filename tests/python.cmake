# SPDX-License-Identifier: MIT
# Python bindings: pytest on tests/python against the package in the build tree, and the check
# that every public C function is reachable from libsip._core.
if(TARGET sip_python)
  set(py_env "PYTHONPATH=${LIBSIP_PY_ROOT}" "PYTHONDONTWRITEBYTECODE=1")
  # tests/python/test_examples.py drives examples/python/call_answerer.py with sip-uac.
  if(TARGET sip-uac)
    list(APPEND py_env "SIP_UAC=$<TARGET_FILE:sip-uac>")
  endif()
  # tests/python/test_wire.py sends raw bytes to sip-uas.
  if(TARGET sip-uas)
    list(APPEND py_env "SIP_UAS=$<TARGET_FILE:sip-uas>")
  endif()
  if(LIBSIP_SANITIZE)
    # The interpreter is not instrumented: the sanitizer runtime must be loaded first, and
    # CPython's own allocations at exit are not ours to report.
    if(CMAKE_C_COMPILER_ID MATCHES "Clang")
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-runtime-dir
                      OUTPUT_VARIABLE rt_dir OUTPUT_STRIP_TRAILING_WHITESPACE)
      set(asan_path ${rt_dir}/libclang_rt.asan-${CMAKE_SYSTEM_PROCESSOR}.so)
    else()
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                      OUTPUT_VARIABLE asan_path OUTPUT_STRIP_TRAILING_WHITESPACE)
    endif()
    list(APPEND py_env "LD_PRELOAD=${asan_path}" "ASAN_OPTIONS=detect_leaks=0"
         "LIBSIP_SANITIZED=1")
  endif()
  add_test(NAME python
    COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_LIST_DIR}/python)
  set_tests_properties(python PROPERTIES ENVIRONMENT "${py_env}" TIMEOUT 600)
  add_test(NAME bindings_coverage
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/bindings_coverage.py --python)
  set_tests_properties(bindings_coverage PROPERTIES ENVIRONMENT "${py_env}")
endif()
