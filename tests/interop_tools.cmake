# SPDX-License-Identifier: MIT
# sip-uac against sip-uas over TLS, WS and WSS, through a local dnsmasq (RFC 3263), with client
# certificates. Included by tests/CMakeLists.txt.
if(TARGET sip-uac AND TARGET sip-uas)
  add_test(NAME interop_sip_uac_uas_transports
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/tools/uac_uas_transports.sh
      $<TARGET_FILE:sip-uac> $<TARGET_FILE:sip-uas>)
  set_tests_properties(interop_sip_uac_uas_transports PROPERTIES TIMEOUT 180)
else()
  # The tools are part of every build with tests; without them this test must fail, not vanish.
  add_test(NAME interop_sip_uac_uas_transports COMMAND ${CMAKE_COMMAND} -E false)
endif()
# sip-uac's --reinvite, --update and --info against sip-uas and sip-uas-txn on loopback.
if(TARGET sip-uac AND TARGET sip-uas AND TARGET sip-uas-txn)
  add_test(NAME interop_sip_uac_uas_calls
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/interop/tools/uac_uas_calls.sh
      $<TARGET_FILE:sip-uac> $<TARGET_FILE:sip-uas> $<TARGET_FILE:sip-uas-txn>)
  set_tests_properties(interop_sip_uac_uas_calls PROPERTIES TIMEOUT 180)
else()
  add_test(NAME interop_sip_uac_uas_calls COMMAND ${CMAKE_COMMAND} -E false)
endif()
