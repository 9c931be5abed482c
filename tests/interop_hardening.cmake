# SPDX-License-Identifier: MIT
# sipd against attackers on loopback (tests/interop/hardening): sipvicious's svmap, svwar and
# svcrack, a scripted UDP flood while a legitimate user registers and calls, 1,500 idle TCP
# connections from one host. One ctest case per tests/interop/hardening/test_<topic>.py, each
# with 200 ports of the guard's range (44500-45499). Included by tests/CMakeLists.txt.
find_program(HARDENING_SVMAP svmap)
find_program(HARDENING_SVWAR svwar)
find_program(HARDENING_SVCRACK svcrack)
find_program(HARDENING_SIPP sipp)
file(GLOB interop_hardening_tests CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/interop/hardening/test_*.py)
set(port 44500)
foreach(src ${interop_hardening_tests})
  get_filename_component(topic ${src} NAME_WE)
  string(REGEX REPLACE "^test_" "" topic ${topic})
  set(name interop_hardening_${topic})
  if(HARDENING_SVMAP AND HARDENING_SVWAR AND HARDENING_SVCRACK AND HARDENING_SIPP
     AND TARGET sipd AND TARGET sip-uas AND TARGET sip-uac)
    add_test(NAME ${name}
      COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${src})
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
      "SIPD=$<TARGET_FILE:sipd>;SIP_UAS=$<TARGET_FILE:sip-uas>;SIP_UAC=$<TARGET_FILE:sip-uac>;HARDENING_PORT=${port};PYTHONDONTWRITEBYTECODE=1")
  else()
    # sipvicious and SIPp come from scripts/deps.sh, the programs from this build: without them
    # these tests must fail, not vanish.
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E false)
  endif()
  math(EXPR port "${port} + 200")
endforeach()
