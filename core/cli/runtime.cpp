// Store access shared by the commands (see runtime.h).
#include "cli/runtime.h"

#include <algorithm>
#include <chrono>

namespace crmsync::cli {

Result<std::unique_ptr<store::Store>> open_store(const config::Config& config) {
  store::StorageConfig storage;
  if (config.storage.backend == "postgres") {
    storage.backend = store::Backend::postgres;
    storage.target = config.storage.url;
  } else {
    storage.backend = store::Backend::sqlite;
    storage.target = config.storage.path;
  }
  auto opened = store::open_store(storage);
  if (!opened) return opened.error();
  std::unique_ptr<store::Store>& db = *opened;
  for (const config::BusinessConfig& business : config.businesses) {
    auto existing = db->get_business(business.id);
    if (existing) continue;
    if (existing.error().code != CRMSYNC_E_NOT_FOUND) return existing.error();
    store::Business added_business;
    added_business.id = business.id;
    added_business.name = business.name;
    added_business.timezone = business.timezone;
    added_business.region = business.region;
    added_business.currency = business.currency;
    added_business.created_at = now();
    auto added = db->add_business(added_business);
    if (!added) return added.error();
  }
  return std::move(*opened);
}

Result<std::vector<crypto::MasterKey>> load_master_keys(const config::SecretsConfig& secrets) {
  std::vector<crypto::MasterKey> keys;
  if (!secrets.master_key_file.empty()) {
    auto key = crypto::load_master_key_file(secrets.master_key_file);
    if (!key) return fail(key.error().code, "secrets.master_key_file: " + key.error().message);
    keys.push_back(std::move(*key));
  }
  if (!secrets.master_key_env.empty()) {
    auto key = crypto::load_master_key_env(secrets.master_key_env);
    if (!key) return fail(key.error().code, "secrets.master_key_env: " + key.error().message);
    keys.push_back(std::move(*key));
  }
  return keys;
}

Result<void> check_master_keys(store::Store& store, std::span<const crypto::MasterKey> keys) {
  auto sealed = store.sealed_key_ids();
  if (!sealed) return sealed.error();
  std::string missing;
  for (const std::string& id : *sealed) {
    const bool held = std::any_of(keys.begin(), keys.end(),
                                  [&](const crypto::MasterKey& key) { return key.id == id; });
    if (!held) missing += (missing.empty() ? "" : ", ") + id;
  }
  if (missing.empty()) return {};
  std::string configured;
  for (const crypto::MasterKey& key : keys) {
    configured += (configured.empty() ? "" : ", ") + key.id;
  }
  return fail(CRMSYNC_E_INVALID_CONFIG,
              "wrong master key: stored secrets are sealed under key " + missing +
                  (configured.empty() ? ", and no key is configured"
                                      : ", which the configured key " + configured + " is not") +
                  " (secrets.master_key_file / secrets.master_key_env); configure the key they "
                  "were sealed with, or re-seal them with `crmsync keys rotate`");
}

store::Timestamp now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace crmsync::cli
