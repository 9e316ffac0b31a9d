# crmsync_add_connector(NAME SOURCES... [LIBS ...]): builds a connector as a loadable module
# <build>/plugins/<NAME>.so that links only the SDK (and header-only helpers) and exports only its
# entry symbol.
function(crmsync_add_connector name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(connector_${name} MODULE ${ARG_SOURCES})
  target_link_libraries(connector_${name} PRIVATE crmsync::sdk crmsync_warnings ${ARG_LIBS})
  set_target_properties(connector_${name} PROPERTIES
    OUTPUT_NAME ${name} PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY ${CRMSYNC_PLUGIN_DIR}
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(NOT CRMSYNC_SANITIZE)
    target_link_options(connector_${name} PRIVATE -Wl,--no-undefined)
  endif()
endfunction()
