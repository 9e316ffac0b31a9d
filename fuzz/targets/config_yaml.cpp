// The host's YAML configuration reader (strict keys, types, ${env:NAME} references) on arbitrary
// text: every input is a Config or an error with the key path, never a crash.
#include "config/config.h"
#include "harness.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)crmsync::config::parse(std::string_view(reinterpret_cast<const char*>(data), size),
                               "/etc/crmsync");
  return 0;
}
