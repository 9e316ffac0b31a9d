# Installs the SDK from the build tree into a fresh prefix and builds examples/hello-connector out
# of tree against it, as a third-party author would. Run by ctest:
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DC_COMPILER=... -P build_example.cmake
# The example gets plain flags (no sanitizers): an unsanitized connector loads into an ASan host.
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR C_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "build_example.cmake: ${var} is not set")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "failed (${status}): ${ARGN}\n${out}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --component crmsync-sdk --prefix ${WORK_DIR}/prefix)
foreach(file include/crmsync/connector.h include/crmsync/connector.hpp
             lib/cmake/crmsync-sdk/crmsync-sdkConfig.cmake
             lib/cmake/crmsync-sdk/crmsync-sdkConfigVersion.cmake)
  if(NOT EXISTS ${WORK_DIR}/prefix/${file})
    message(FATAL_ERROR "the SDK install lacks ${file}")
  endif()
endforeach()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G Ninja -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=-Wall -Wextra -pedantic -Werror"
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
if(NOT EXISTS ${WORK_DIR}/build/hello.so)
  message(FATAL_ERROR "the example did not produce hello.so")
endif()
