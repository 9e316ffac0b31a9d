// The running host shared by `crmsync sync`, `serve` and `demo`: the store, the loaded connectors,
// the master keys, the config file's integrations registered in the store, and the sync engine
// with its host services, wired to process logging and failure alerts.
#ifndef CRMSYNC_CORE_CLI_HOST_H
#define CRMSYNC_CORE_CLI_HOST_H

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "http/address_policy.h"
#include "metrics/metrics.h"
#include "plugin_host/plugin_host.h"
#include "store/store.h"
#include "sync/engine.h"
#include "sync/host_services.h"

namespace crmsync::alerts {
class Mailer;
}

namespace crmsync::cli {

// Everything a host process runs on. Members are declared in dependency order, so they are
// destroyed in reverse.
struct Host {
  config::Config config;
  std::vector<crypto::MasterKey> keys;  // the config's master key first, if any
  std::unique_ptr<store::Store> store;
  std::unique_ptr<plugin_host::PluginHost> plugins;
  std::unique_ptr<alerts::Mailer> mailer;      // nullptr when alerts.smtp_url is empty
  std::unique_ptr<metrics::Registry> metrics;  // what /metrics shows; connector HTTP calls count
  // What connectors may connect to (config http.allow_private).
  std::shared_ptr<const http::AddressPolicy> address_policy;
  std::unique_ptr<sync::StoreHostServices> services;
  std::unique_ptr<sync::Engine> engine;
  std::string owner;  // this process's lease owner id

  ~Host();
};

// Opens the store, loads the connectors (those enabled in the config, plus the one of every
// stored integration's CRM type found in plugins.dir), registers the config's integrations
// and builds the engine.
Result<std::unique_ptr<Host>> open_host(const config::Config& config);

// Writes a process log line as one JSON object on stderr (DESIGN §8): time, level, integration.
// Lines below $CRMSYNC_LOG_LEVEL (debug, info, warning, error; default info) are dropped.
void log_line(int32_t level, const std::string& integration, const std::string& message);

}  // namespace crmsync::cli

#endif  // CRMSYNC_CORE_CLI_HOST_H
