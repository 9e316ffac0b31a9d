# crmsync_add_connector(NAME SOURCES... [LIBS ...]): builds a connector as a loadable module
# <build>/plugins/<NAME>.so that links only the SDK (and header-only helpers), exports only its
# entry symbol and is installed into lib/crmsync/plugins (component crmsync).
# Exports: hidden visibility hides the connector's own code; linking crmsync::sdk adds the SDK's
# version script and --exclude-libs,ALL (sdk/cmake/crmsync-sdkConnectorLink.cmake), which also hide
# libstdc++'s instantiations, the same options an out-of-tree connector gets from the installed SDK.
function(crmsync_add_connector name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(connector_${name} MODULE ${ARG_SOURCES})
  target_link_libraries(connector_${name} PRIVATE crmsync::sdk crmsync_warnings ${ARG_LIBS})
  set_target_properties(connector_${name} PROPERTIES
    OUTPUT_NAME ${name} PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY ${CRMSYNC_PLUGIN_DIR}
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS ${CRMSYNC_CONNECTOR_MAP})
  if(NOT CRMSYNC_SANITIZE)
    target_link_options(connector_${name} PRIVATE -Wl,--no-undefined)
  endif()
  set_property(GLOBAL APPEND PROPERTY CRMSYNC_CONNECTOR_TARGETS connector_${name})
  install(TARGETS connector_${name} LIBRARY DESTINATION ${CRMSYNC_INSTALL_PLUGIN_DIR}
    COMPONENT crmsync)
endfunction()
