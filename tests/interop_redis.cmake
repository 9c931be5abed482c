# SPDX-License-Identifier: MIT
# Several sipd nodes sharing one location service on Redis (tests/interop/redis): a redis-server
# each test starts on 127.0.0.1 without persistence, sipd --store, libsip's UAs; Redis stopped
# and started again. One ctest case per tests/interop/redis/test_<topic>.py, 100 ports each from
# 50200 (this suite's range is 50000-50999). Included by tests/CMakeLists.txt.
find_program(REDIS_SERVER_EXECUTABLE redis-server)
file(GLOB interop_redis_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/interop/redis/test_*.py)
set(port 50200)
foreach(src ${interop_redis_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_redis_${topic})
  if(REDIS_SERVER_EXECUTABLE AND TARGET sipd AND TARGET sip-uas AND TARGET sip-uac)
    add_test(NAME ${name} COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
      "SIPD=$<TARGET_FILE:sipd>;SIP_UAS=$<TARGET_FILE:sip-uas>;SIP_UAC=$<TARGET_FILE:sip-uac>;REDIS_PORT=${port};PYTHONDONTWRITEBYTECODE=1;PATH=/usr/sbin:/usr/bin:/bin")
  else()
    # redis-server comes from scripts/deps.sh, the programs from this build: without them these
    # tests must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 100")
endforeach()
