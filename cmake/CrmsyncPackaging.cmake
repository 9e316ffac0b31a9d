# Install rules of the host and its Debian packages (CPack).
#
# `cmake --install <build>` lays out, under the prefix (DESTDIR honoured):
#   bin/crmsync                      the host (the admin panel is compiled in)    component crmsync
#   lib/crmsync/plugins/<id>.so      the bundled connectors                       component crmsync
#   <sysconfdir>/crmsync/crmsync.yaml   the commented default config           component crmsync
#   lib/systemd/system/crmsync.service  the service                            component crmsync
#   include/crmsync, lib/cmake/crmsync-sdk  the connector SDK (sdk/)         component crmsync-sdk
# The binary and connectors install where they are built (core/cli, crmsync_add_connector); the
# config and unit are written at install time for the prefix in use
# (CrmsyncInstallSystemFiles.cmake). Installing never builds: build first.
#
# `cpack --config <build>/CPackConfig.cmake` builds, with prefix /usr:
#   crmsync_<version>_<arch>.deb   host, connectors, config (a conffile), unit; its maintainer
#                                  scripts create the user crmsync and enable the service
#   crmsync-dev_<version>_all.deb  the SDK
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)  # cpack's "preinstall" would build every test too

install(CODE "
  set(CRMSYNC_PACKAGING_DIR \"${PROJECT_SOURCE_DIR}/packaging\")
  set(CRMSYNC_GENERATED_DIR \"${PROJECT_BINARY_DIR}/packaging\")
  set(CRMSYNC_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(CRMSYNC_PLUGINDIR \"${CRMSYNC_INSTALL_PLUGIN_DIR}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/CrmsyncInstallSystemFiles.cmake\")
" COMPONENT crmsync)

set(CRMSYNC_PACKAGE_MAINTAINER "crmsync maintainers <crmsync@localhost>" CACHE STRING
    "Maintainer field of the Debian packages")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME crmsync)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${CRMSYNC_PACKAGE_MAINTAINER}")
# The config and the unit have absolute destinations (/etc): install into a staging DESTDIR with
# the real prefix /usr rather than under a relocated prefix.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL crmsync crmsync-sdk)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)

set(CPACK_DEBIAN_CRMSYNC_PACKAGE_NAME crmsync)
set(CPACK_DEBIAN_CRMSYNC_PACKAGE_SECTION net)
# First line: the synopsis; the rest is wrapped by CPack.
set(CPACK_DEBIAN_CRMSYNC_DESCRIPTION "CRM-integration engine of a loyalty platform
The crmsync host pulls paid sales out of the CRM and POS systems of partner businesses \
(YCLIENTS, amoCRM, iikoCloud, 1C, Renovatio, CSV, configurable custom APIs) and hands each to \
the loyalty module once. With the bundled connectors, the admin panel and the systemd service \
crmsync.service.")
# The library dependencies come from dpkg-shlibdeps; adduser runs in postinst.
set(CPACK_DEBIAN_CRMSYNC_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_CRMSYNC_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_CRMSYNC_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_CRMSYNC_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_CRMSYNC-SDK_PACKAGE_NAME crmsync-dev)
set(CPACK_DEBIAN_CRMSYNC-SDK_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_CRMSYNC-SDK_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_CRMSYNC-SDK_DESCRIPTION "SDK for crmsync connectors
The C ABI of crmsync connectors (connector.h), its header-only C++ helpers and the CMake \
package crmsync-sdk, whose target crmsync::sdk links a connector so that it exports only its \
entry point.")
include(CPack)
