/* Compiled as C99 and C11 with -pedantic -Werror by ctest: connector.h must stay plain C. */
#include <crmsync/connector.h>

/* Uses the macros too, so that they are checked in each language mode. */
static const crmsync_str kEmpty = CRMSYNC_STR_LIT("");

int header_compiles_probe(void);
int header_compiles_probe(void) {
  return (int)kEmpty.len + CRMSYNC_IS_RETRYABLE(CRMSYNC_E_TIMEOUT) +
         (int)(CRMSYNC_CAP_FETCH | CRMSYNC_HTTP_NO_RETRY | CRMSYNC_RECORD_MEDICAL);
}
