// What the store-backed commands share: the opened store with the config file's businesses in it,
// and the clock.
#ifndef CRMSYNC_CORE_CLI_RUNTIME_H
#define CRMSYNC_CORE_CLI_RUNTIME_H

#include <memory>
#include <span>
#include <vector>

#include "base/result.h"
#include "cli/cli.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "store/store.h"

namespace crmsync::cli {

// The store named by the configuration, migrated, with every business of the config file
// registered in it (existing ones are left as they are).
Result<std::unique_ptr<store::Store>> open_store(const config::Config& config);

// The master keys the config names (file and/or environment variable), file first.
Result<std::vector<crypto::MasterKey>> load_master_keys(const config::SecretsConfig& secrets);

// Fails (INVALID_CONFIG, naming the key ids) when stored credentials or webhook secrets are
// sealed under a master key that keys do not hold: a wrong or missing key stops the host at
// start instead of showing secrets as "not set" and failing every sync. Key ids are
// fingerprints of the keys, so a matching id is the right key.
Result<void> check_master_keys(store::Store& store, std::span<const crypto::MasterKey> keys);

// The current time as the store counts it.
store::Timestamp now();

}  // namespace crmsync::cli

#endif  // CRMSYNC_CORE_CLI_RUNTIME_H
