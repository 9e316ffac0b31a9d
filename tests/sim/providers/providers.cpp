// The list of simulated providers: every providers/<name>.cpp defines make_<name>(), and the
// build generates provider_list.inc with one CRMSIM_PROVIDER(<name>) line per file.
#include "../sim.h"

namespace crmsync::sim {

#define CRMSIM_PROVIDER(name) std::unique_ptr<Provider> make_##name();
#include "provider_list.inc"
#undef CRMSIM_PROVIDER

std::vector<std::unique_ptr<Provider>> make_providers() {
  std::vector<std::unique_ptr<Provider>> providers;
#define CRMSIM_PROVIDER(name) providers.push_back(make_##name());
#include "provider_list.inc"
#undef CRMSIM_PROVIDER
  return providers;
}

}  // namespace crmsync::sim
