// Factories of the simulated providers, one per providers/<name>.cpp.
#ifndef CRMSYNC_TESTS_SIM_PROVIDERS_PROVIDERS_H
#define CRMSYNC_TESTS_SIM_PROVIDERS_PROVIDERS_H

#include "../sim.h"

#include <memory>

namespace crmsync::sim {

// YCLIENTS API v1 under /yclients.
std::unique_ptr<Provider> make_yclients();

}  // namespace crmsync::sim

#endif  // CRMSYNC_TESTS_SIM_PROVIDERS_PROVIDERS_H
