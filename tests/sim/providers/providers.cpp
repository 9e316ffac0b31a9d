// The list of simulated providers: adding a CRM is one file plus one line here.
#include "providers.h"

namespace crmsync::sim {

std::vector<std::unique_ptr<Provider>> make_providers() {
  std::vector<std::unique_ptr<Provider>> providers;
  providers.push_back(make_yclients());
  return providers;
}

}  // namespace crmsync::sim
