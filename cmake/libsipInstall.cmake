# SPDX-License-Identifier: MIT
# Install rules for libsip: headers, shared + static library, CMake package and pkg-config file.
# Included from libsip/CMakeLists.txt, where the targets sip and sip_static are defined.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LIBSIP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/libsip CACHE STRING
    "Where libsipConfig.cmake is installed, relative to the prefix")
set(LIBSIP_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig CACHE STRING
    "Where libsip.pc is installed, relative to the prefix")

# Every public header, so that <sip/sip.h> and each <sip/<module>.h> work from the prefix.
install(FILES ${SIP_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sip
        COMPONENT devel)

# The export set gives consumers libsip::sip (shared) and libsip::sip_static, matching the
# aliases a parent project sees when it adds libsip with add_subdirectory().
install(TARGETS sip sip_static EXPORT libsipTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT devel
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT libsipTargets NAMESPACE libsip:: FILE libsipTargets.cmake
        DESTINATION ${LIBSIP_CMAKE_DIR} COMPONENT devel)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/libsipConfig.cmake.in
    ${PROJECT_BINARY_DIR}/libsipConfig.cmake
    INSTALL_DESTINATION ${LIBSIP_CMAKE_DIR})
# The ABI follows the major version (SOVERSION), so any 0.x asks for 0.y with y >= x.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/libsipConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/libsipConfig.cmake
              ${PROJECT_BINARY_DIR}/libsipConfigVersion.cmake
        DESTINATION ${LIBSIP_CMAKE_DIR} COMPONENT devel)

# pkg-config. `cmake --install --prefix P` may choose another prefix than the one configured, so
# the file is written at install time from a template that still holds @LIBSIP_PC_PREFIX@.
foreach(kind LIBDIR INCLUDEDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
        set(LIBSIP_PC_${kind} "${CMAKE_INSTALL_${kind}}")
    else()
        set(LIBSIP_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
    endif()
endforeach()
set(LIBSIP_PC_PREFIX "@LIBSIP_PC_PREFIX@")
configure_file(${PROJECT_SOURCE_DIR}/cmake/libsip.pc.in ${PROJECT_BINARY_DIR}/libsip.pc.in @ONLY)
unset(LIBSIP_PC_PREFIX)
install(CODE "
    set(LIBSIP_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${PROJECT_BINARY_DIR}/libsip.pc.in\" \"${PROJECT_BINARY_DIR}/libsip.pc\" @ONLY)
" COMPONENT devel)
install(FILES ${PROJECT_BINARY_DIR}/libsip.pc DESTINATION ${LIBSIP_PKGCONFIG_DIR} COMPONENT devel)
