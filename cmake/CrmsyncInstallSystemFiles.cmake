# Runs at install time (install(CODE) in CrmsyncPackaging.cmake): writes the default config and the
# systemd unit for the prefix the install actually uses (cpack installs with /usr, a user may give
# --prefix) and installs them, DESTDIR honoured:
#   <sysconfdir>/crmsync/crmsync.yaml        the commented default config (production layout)
#   <prefix>/lib/systemd/system/crmsync.service
# sysconfdir is /etc for the prefixes / and /usr, <prefix>/etc otherwise (as GNUInstallDirs does).
# Expects CRMSYNC_PACKAGING_DIR (sources), CRMSYNC_GENERATED_DIR (scratch), CRMSYNC_BINDIR and
# CRMSYNC_PLUGINDIR (relative to the prefix).
foreach(var CRMSYNC_PACKAGING_DIR CRMSYNC_GENERATED_DIR CRMSYNC_BINDIR CRMSYNC_PLUGINDIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "CrmsyncInstallSystemFiles.cmake: ${var} is not set")
  endif()
endforeach()

string(REGEX REPLACE "/+$" "" prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "" OR prefix STREQUAL "/usr")
  set(CRMSYNC_CONFIG_DIR /etc/crmsync)
else()
  set(CRMSYNC_CONFIG_DIR ${prefix}/etc/crmsync)
endif()
set(CRMSYNC_BINARY ${prefix}/${CRMSYNC_BINDIR}/crmsync)
set(CRMSYNC_PLUGIN_PATH ${prefix}/${CRMSYNC_PLUGINDIR})

configure_file(${CRMSYNC_PACKAGING_DIR}/crmsync.yaml.in ${CRMSYNC_GENERATED_DIR}/crmsync.yaml
  @ONLY)
configure_file(${CRMSYNC_PACKAGING_DIR}/crmsync.service.in
  ${CRMSYNC_GENERATED_DIR}/crmsync.service @ONLY)
file(INSTALL ${CRMSYNC_GENERATED_DIR}/crmsync.yaml DESTINATION ${CRMSYNC_CONFIG_DIR}
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL ${CRMSYNC_GENERATED_DIR}/crmsync.service DESTINATION ${prefix}/lib/systemd/system
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
