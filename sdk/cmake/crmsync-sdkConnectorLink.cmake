# crmsync_sdk_connector_link_options(OUT MAP): the link options that make a connector export only
# crmsync_connector_entry_v1: the version script MAP (every other symbol local, weak libstdc++
# instantiations included) and --exclude-libs,ALL (nothing from a static archive is exported).
# They apply to MODULE libraries only, as usage requirements of crmsync::sdk: a connector that links
# the SDK gets them, the host and anything else including the headers does not. Used by the build
# tree (sdk/CMakeLists.txt) and by the installed package (crmsync-sdkConfig.cmake).
function(crmsync_sdk_connector_link_options out map)
  set(module "$<STREQUAL:$<TARGET_PROPERTY:TYPE>,MODULE_LIBRARY>")
  set(${out} "$<${module}:LINKER:--version-script=${map}>" "$<${module}:LINKER:--exclude-libs,ALL>"
      PARENT_SCOPE)
endfunction()
