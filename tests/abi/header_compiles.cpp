// Compiled as C++17 and C++20 with -pedantic -Werror by ctest; connector.hpp only as C++20.
#include <crmsync/connector.h>
#if __cplusplus >= 202002L
#include <crmsync/connector.hpp>
#endif

int header_compiles_probe();
int header_compiles_probe() {
  const crmsync_str empty = CRMSYNC_STR_LIT("");
  return static_cast<int>(empty.len) + CRMSYNC_IS_RETRYABLE(CRMSYNC_E_TIMEOUT) +
         static_cast<int>(CRMSYNC_CAP_FETCH | CRMSYNC_HTTP_NO_RETRY | CRMSYNC_RECORD_MEDICAL);
}
