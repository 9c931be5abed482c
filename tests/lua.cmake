# SPDX-License-Identifier: MIT
# Lua tests: tests/lua/run.lua runs every tests/lua/test_*.lua against the module of this build
# tree (bindings/lua/libsip_core.so and libsip.lua).
#
# Coverage list for tests/bindings_coverage.py: the test lua_core_list writes
#   <build>/tests/lua_core_functions.txt
# with the name of every function in the flat core table (libsip_core), one per line, sorted
# (tests/lua/list_core.lua OUT), and the test lua_core_fields <build>/tests/lua_core_fields.txt
# with every struct field a script can set (tests/lua/list_writable.lua OUT); the test
# lua_core_coverage checks both.
if(LIBSIP_LUA AND NOT LIBSIP_FUZZ)
  set(lua_root ${PROJECT_BINARY_DIR}/bindings/lua)
  set(lua_interp /usr/bin/lua5.4)
  # One entry each, without the defaults: the tests must load this tree's module, nothing
  # installed elsewhere. (CMake lists cannot carry Lua's ';' separators.)
  set(lua_env "LUA_CPATH=${lua_root}/?.so" "LUA_PATH=${lua_root}/?.lua")
  # tests/lua/test_examples_call_answerer.lua drives examples/lua/call_answerer.lua with sip-uac.
  if(TARGET sip-uac)
    list(APPEND lua_env "SIP_UAC=$<TARGET_FILE:sip-uac>")
  endif()
  # tests/lua/test_wire.lua sends raw bytes to sip-uas.
  if(TARGET sip-uas)
    list(APPEND lua_env "SIP_UAS=$<TARGET_FILE:sip-uas>")
  endif()
  if(LIBSIP_SANITIZE)
    # The interpreter is not instrumented: the sanitizer runtimes the module needs are preloaded.
    if(CMAKE_C_COMPILER_ID MATCHES "Clang")
      set(lua_rt_names libclang_rt.asan-x86_64.so)
    else()
      set(lua_rt_names libasan.so libubsan.so)
    endif()
    set(lua_preload "")
    foreach(rt ${lua_rt_names})
      execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${rt}
                      OUTPUT_VARIABLE rt_path OUTPUT_STRIP_TRAILING_WHITESPACE)
      string(APPEND lua_preload " ${rt_path}")
    endforeach()
    string(STRIP "${lua_preload}" lua_preload)
    list(APPEND lua_env "LD_PRELOAD=${lua_preload}" "LIBSIP_LUA_SANITIZED=1"
         "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endif()

  add_test(NAME lua_tests COMMAND ${lua_interp} ${CMAKE_CURRENT_LIST_DIR}/lua/run.lua)
  set_tests_properties(lua_tests PROPERTIES ENVIRONMENT "${lua_env}" TIMEOUT 300)

  # The examples run too: a parse-and-rewrite, and a responder answering one OPTIONS it sends
  # itself (--self-test).
  add_test(NAME lua_example_parse_and_rewrite
           COMMAND ${lua_interp} ${PROJECT_SOURCE_DIR}/examples/lua/parse_and_rewrite.lua)
  add_test(NAME lua_example_options_responder
           COMMAND ${lua_interp} ${PROJECT_SOURCE_DIR}/examples/lua/options_responder.lua
                   --listen udp:127.0.0.1:0 --count 1 --self-test)
  set_tests_properties(lua_example_parse_and_rewrite lua_example_options_responder
                       PROPERTIES ENVIRONMENT "${lua_env}" TIMEOUT 60)

  set(lua_core_list ${CMAKE_CURRENT_BINARY_DIR}/lua_core_functions.txt)
  add_test(NAME lua_core_list
           COMMAND ${lua_interp} ${CMAKE_CURRENT_LIST_DIR}/lua/list_core.lua ${lua_core_list})
  set_tests_properties(lua_core_list PROPERTIES ENVIRONMENT "${lua_env}"
                       FIXTURES_SETUP lua_core_list)

  # The fields of the core's structs a script can set (tests/lua/list_writable.lua OUT): every
  # options and netinfo field must be among them.
  set(lua_core_fields ${CMAKE_CURRENT_BINARY_DIR}/lua_core_fields.txt)
  add_test(NAME lua_core_fields
           COMMAND ${lua_interp} ${CMAKE_CURRENT_LIST_DIR}/lua/list_writable.lua ${lua_core_fields})
  set_tests_properties(lua_core_fields PROPERTIES ENVIRONMENT "${lua_env}"
                       FIXTURES_SETUP lua_core_list)

  # The coverage check belongs to the bindings' common tests (tests/bindings_coverage.py); it
  # runs here on the Lua lists. --each: the Lua core alone must bind every public function.
  add_test(NAME lua_core_coverage
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/bindings_coverage.py
                   --each --names ${lua_core_list} --lua-fields ${lua_core_fields})
  set_tests_properties(lua_core_coverage PROPERTIES FIXTURES_REQUIRED lua_core_list)
endif()
