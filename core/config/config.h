// The host's YAML configuration (DESIGN §8) parsed into plain structs.
//
// Parsing is strict: unknown keys, wrong types and missing required values are errors whose message
// starts with the key path ("businesses[0].integrations[1].connector: required"). String values may
// reference environment variables as ${env:NAME}; an unset variable is an error.
#ifndef CRMSYNC_CORE_CONFIG_CONFIG_H
#define CRMSYNC_CORE_CONFIG_CONFIG_H

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace crmsync::config {

// Where the host keeps its data.
struct StorageConfig {
  std::string backend = "sqlite";  // "sqlite" or "postgres"
  // SQLite database file (backend sqlite); when the file does not set it, ./crmsync.db in the
  // working directory, as without a config file.
  std::string path = "crmsync.db";
  std::string url;  // libpq conninfo or URI (backend postgres)
};

// Which connector libraries to load: <dir>/<id>.so for each enabled id. An empty dir (the key
// absent) means the connectors installed with the host; the tool fills it in (cli::Cli).
struct PluginsConfig {
  std::string dir;
  std::vector<std::string> enabled;
};

// The HTTP server (admin API, webhooks).
struct ServerConfig {
  std::string listen = "127.0.0.1";
  uint16_t port = 8080;
  std::string public_url;  // base URL providers call back; empty: webhooks are not registered
  uint32_t threads = 2;    // HTTP I/O threads
  uint64_t max_body_bytes = 1 << 20;  // larger requests get 413
  uint32_t webhook_workers = 2;       // threads mapping stored webhooks into sales
  // Key `webhook_max_lag`: during a burst, mapping pauses for acknowledgements until its oldest
  // webhook has waited this long (see webhooks::InboxWorkerOptions::max_lag).
  uint32_t webhook_max_lag_seconds = 20;
  uint64_t max_upload_bytes = 10 << 20;  // CSV uploads through the admin API (413 above)
  uint32_t max_connections = 512;        // open connections; more are answered 503 and closed
  // Request bodies held in memory at once (being read or handled); past it, 503.
  uint64_t max_inflight_body_bytes = 256ull << 20;
  uint32_t api_workers = 2;  // threads running admin API requests and imports
};

// Connectors' outbound requests. Key `allow_private`: CIDR ranges or addresses connectors may
// reach although they are loopback, private, link-local... (see http/address_policy.h).
struct HttpConfig {
  std::vector<std::string> allow_private;
};

// Periodic syncs.
struct SchedulerConfig {
  uint32_t interval_seconds = 300;  // key `interval`
  uint32_t workers = 4;
  // Key `run_lease`: how long a run's claim lasts without renewal (it is renewed after every
  // batch); a host that dies mid-run blocks the integration at most this long. Claims of retry
  // and webhook items last as long.
  uint32_t run_lease_seconds = 300;
};

// Where the master key that seals stored credentials comes from.
struct SecretsConfig {
  std::string master_key_file;
  std::string master_key_env;
};

// Alert e-mails about failing integrations.
struct AlertsConfig {
  std::string smtp_url;
  std::string from;
  std::vector<std::string> to;
};

// The loyalty module that receives transactions.
struct LoyaltyConfig {
  std::string url;
};

// One CRM integration of a business.
// How an integration's webhooks are authenticated (DESIGN §7); key `webhook`.
struct WebhookConfig {
  std::string auth = "token";        // token, hmac-sha256, standard-webhooks, iiko-auth-token
  std::vector<std::string> secrets;  // several while rotating; empty: the host generates one
};

struct IntegrationConfig {
  std::string id;
  std::string connector;  // connector id (CRM type), e.g. "yclients"
  bool active = true;
  std::string settings_json = "{}";      // the settings map as a JSON object, secrets included
  std::optional<WebhookConfig> webhook;  // absent: a token endpoint made when first needed
};

// A partner business and its integrations.
struct BusinessConfig {
  std::string id;
  std::string name;
  std::string timezone = "Europe/Moscow";  // IANA zone
  std::string region = "RU";               // default phone region
  std::string currency = "RUB";            // ISO 4217
  std::vector<IntegrationConfig> integrations;
};

// The whole configuration file.
struct Config {
  StorageConfig storage;
  PluginsConfig plugins;
  ServerConfig server;
  HttpConfig http;
  SchedulerConfig scheduler;
  SecretsConfig secrets;
  AlertsConfig alerts;
  LoyaltyConfig loyalty;
  std::vector<BusinessConfig> businesses;
};

// Parses YAML text. Relative paths written in it (plugins.dir, storage.path,
// secrets.master_key_file) are resolved against base_dir; defaults are not.
Result<Config> parse(std::string_view yaml, const std::filesystem::path& base_dir);

// Reads and parses a file; relative paths are resolved against the file's directory. Errors name
// the file.
Result<Config> load_file(const std::filesystem::path& file);

}  // namespace crmsync::config

#endif  // CRMSYNC_CORE_CONFIG_CONFIG_H
