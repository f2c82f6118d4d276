# The Debian package `junction`, built by `make package` (cpack -G DEB in build/).
# Included from packaging/CMakeLists.txt.
#
# CPack installs the project into a staging tree with prefix /usr whatever the
# build's CMAKE_INSTALL_PREFIX; packaging/install-files.cmake.in then puts the
# config in /etc and the units where systemd's pkg-config file says.
# Runtime dependencies come from dpkg-shlibdeps (package dpkg-dev).

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME junction)
set(CPACK_PACKAGE_VENDOR "Junction")
set(CPACK_PACKAGE_CONTACT "Junction maintainers <junction@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION "junctiond routes sessions between local clients and the \
providers that register services with it, over a Unix socket, speaking ccnet's \
packet protocol. Includes systemd units (socket-activated, system and per-user), \
the default configuration and man pages.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The maintainer scripts use systemd-sysusers when present, useradd otherwise.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")

# Maintainer scripts, and the config file marked as a conffile so upgrades keep
# the admin's edits.
set(_deb ${CMAKE_CURRENT_BINARY_DIR}/debian)
file(MAKE_DIRECTORY ${_deb})
foreach(script postinst prerm postrm)
  file(COPY ${CMAKE_CURRENT_SOURCE_DIR}/debian/${script} DESTINATION ${_deb}
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                        WORLD_READ WORLD_EXECUTE)
endforeach()
file(WRITE ${_deb}/conffiles "/etc/junction/junctiond.conf\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${_deb}/postinst ${_deb}/prerm ${_deb}/postrm
    ${_deb}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
