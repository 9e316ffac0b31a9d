// The admin REST API under /api/v1 (DESIGN §8, spec 8.2.2 and 8.3.1-8.3.5), served by the same
// listener as the webhooks: businesses and their integrations (credentials write-only, settings
// checked against the connector's schema field by field), test connection, manual sync and its
// run, logs, statistics, CSV uploads as import jobs, the connectors with their schemas, API keys;
// plus /healthz, /readyz and /metrics. Every /api/v1 route needs an API key (`Authorization: Bearer
// KEY`): a platform admin sees everything, a business owner only their business (anything else is
// 404). The routes and their shapes are documented in api/openapi.yaml.
#ifndef CRMSYNC_CORE_ADMIN_API_H
#define CRMSYNC_CORE_ADMIN_API_H

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "crypto/crypto.h"
#include "http/address_policy.h"
#include "plugin_host/plugin_host.h"
#include "server/server.h"
#include "store/store.h"
#include "sync/engine.h"

namespace crmsync::admin {

// What the API needs besides the store, the connectors and the engine.
struct ApiOptions {
  std::filesystem::path csv_connector;        // plugins.dir/csv.so, for uploads
  std::filesystem::path upload_dir;           // where uploads wait while they are imported
  uint64_t max_csv_bytes = 10 * 1024 * 1024;  // larger uploads are 413
  // What trial runs of settings may connect to (null: any address).
  std::shared_ptr<const http::AddressPolicy> address_policy;
  int workers = 2;                        // threads for the API's store and CRM work
  std::string owner;                      // lease owner for import runs
  std::function<store::Timestamp()> now;  // the clock
  // Starts a run of an integration now and returns its id (the scheduler's trigger).
  std::function<Result<int64_t>(const std::string& integration_id)> trigger;
  // The body of GET /metrics (Prometheus text format); without it /metrics is not served.
  std::function<std::string()> metrics;
  int expected_schema_version = 0;  // /readyz wants the store migrated at least this far
};

// The API's handlers. Thread-safe; requests run on its own worker threads, not the server's.
class Api {
 public:
  // store, host and engine must outlive the API; keys open and seal integration credentials
  // (the first one seals).
  Api(store::Store& store, const plugin_host::PluginHost& host, sync::Engine& engine,
      std::vector<crypto::MasterKey> keys, ApiOptions options);
  // Waits for requests and imports in flight.
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Adds every route of the API to router.
  void add_routes(server::Router& router);

  struct State;  // private; public for the implementation

 private:
  std::shared_ptr<State> state_;
};

// What is wrong with a new business, field by field: an id that fits a URL, a name, a known IANA
// time zone, a two-letter region and a three-letter currency code. Empty when it is fine.
std::vector<plugin_host::FieldError> business_errors(const store::Business& business);

// A new API key: stored hashed, its secret shown once.
struct NewApiKey {
  store::ApiKey key;
  std::string secret;  // "csk_" + 43 characters of base64url randomness
};

// Creates an API key of role "admin" or "owner" (owners need the business, which must exist).
Result<NewApiKey> create_api_key(store::Store& store, const std::string& role,
                                 const std::optional<std::string>& business_id,
                                 store::Timestamp now);

}  // namespace crmsync::admin

#endif  // CRMSYNC_CORE_ADMIN_API_H
